-- (provider_id, ems_ref) is the prefix of the unique event_streams_occurrence index:
-- one index fewer to update per stored event.
DROP INDEX event_streams_by_ref;
-- The live feed's `alerts` topic follows alerts by their last change.
CREATE INDEX alerts_by_update ON alerts (updated_on);
