DROP TABLE inventory_changes;
