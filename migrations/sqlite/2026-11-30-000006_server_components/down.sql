DROP TABLE server_components;
