DROP INDEX container_groups_live_by_name;
DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['providers', 'tenants', 'container_projects', 'container_nodes',
        'container_image_registries', 'container_images', 'container_replicators',
        'container_services', 'container_groups', 'containers', 'container_service_groups',
        'categories', 'tags', 'taggings']
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_change_stamp', t);
    END LOOP;
END $$;
DROP TABLE change_stamp_pending;
DROP TABLE change_stamps;
DROP FUNCTION steward_bump_stamp();
DROP FUNCTION steward_note_change();
