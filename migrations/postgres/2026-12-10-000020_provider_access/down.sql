ALTER TABLE providers DROP COLUMN prometheus_ca_cert;
ALTER TABLE providers DROP COLUMN prometheus_credentials;
ALTER TABLE providers DROP COLUMN prometheus_auth;
ALTER TABLE providers DROP COLUMN allow_insecure_http;
ALTER TABLE providers DROP COLUMN kubeconfig_context;
