DROP TABLE audit_events;
DROP TABLE auth_tokens;
DROP TABLE user_group_memberships;
DROP TABLE users;
DROP TABLE user_groups;
DROP TABLE user_role_features;
DROP TABLE user_roles;
DROP TABLE tenants;
