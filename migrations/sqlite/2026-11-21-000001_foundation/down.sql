DROP TABLE assigned_server_roles;
DROP TABLE server_roles;
DROP TABLE servers;
DROP TABLE zones;
DROP TABLE regions;
