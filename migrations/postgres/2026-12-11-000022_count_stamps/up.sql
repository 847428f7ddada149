-- Change stamps: the API caches a filtered page's counts under the region's change stamp
-- and recounts only when the stamp moved. Every transaction that writes a table the
-- API's lists read (inventory, providers, tenants, tags) adds one to a stamp row as it
-- commits: a deferred trigger, so the row is locked only while the transaction commits,
-- and one of 16 slots by backend, so concurrent refreshes of different providers do not
-- queue behind one row. The stamp is the sum of the slots: a snapshot that sees one more
-- committed writer sees a larger sum, so equal sums mean equal data.
CREATE TABLE change_stamps (slot INTEGER PRIMARY KEY, n BIGINT NOT NULL);
INSERT INTO change_stamps (slot, n) SELECT g, 0 FROM generate_series(0, 15) g;

-- One row per writing transaction, inserted by the first write and gone at commit.
CREATE TABLE change_stamp_pending (txid BIGINT PRIMARY KEY);

CREATE FUNCTION steward_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('steward.change_noted', true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config('steward.change_noted', 'yes', true);
        INSERT INTO change_stamp_pending (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION steward_bump_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_stamps SET n = n + 1 WHERE slot = pg_backend_pid() % 16;
    DELETE FROM change_stamp_pending WHERE txid = NEW.txid;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER change_stamp_bump AFTER INSERT ON change_stamp_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION steward_bump_stamp();

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['providers', 'tenants', 'container_projects', 'container_nodes',
        'container_image_registries', 'container_images', 'container_replicators',
        'container_services', 'container_groups', 'containers', 'container_service_groups',
        'categories', 'tags', 'taggings']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE FUNCTION steward_note_change()', t || '_change_stamp', t);
    END LOOP;
END $$;

-- A page of pods sorted by name is read off this index, labels included (a label filter
-- is checked on the index entry, no heap visit), instead of sorting every match.
CREATE INDEX container_groups_live_by_name ON container_groups (name COLLATE "C", id)
    INCLUDE (labels_jsonb) WHERE deleted_on IS NULL;
