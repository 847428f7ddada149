DROP INDEX alerts_by_update;
CREATE INDEX event_streams_by_ref ON event_streams (provider_id, ems_ref);
