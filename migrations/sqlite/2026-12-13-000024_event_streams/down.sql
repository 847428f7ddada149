DROP TABLE event_positions;
DROP TABLE event_streams;
