DROP INDEX container_projects_live;
DROP INDEX container_nodes_live;
DROP INDEX container_image_registries_live;
DROP INDEX container_images_live;
DROP INDEX container_replicators_live;
DROP INDEX container_services_live;
DROP INDEX container_groups_live;
DROP INDEX containers_live;
