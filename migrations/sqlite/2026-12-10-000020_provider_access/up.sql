-- How a provider is reached, issue 11: a kubeconfig is stored as content (encrypted in
-- `credentials`) with the context chosen for it; plain http:// API servers only when
-- asked; Prometheus with its own authentication and CA.
ALTER TABLE providers ADD COLUMN kubeconfig_context TEXT NOT NULL DEFAULT '';
ALTER TABLE providers ADD COLUMN allow_insecure_http BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE providers ADD COLUMN prometheus_auth TEXT NOT NULL DEFAULT 'none';
ALTER TABLE providers ADD COLUMN prometheus_credentials TEXT NOT NULL DEFAULT '';
ALTER TABLE providers ADD COLUMN prometheus_ca_cert TEXT NOT NULL DEFAULT '';
-- Providers registered with http:// before keep working: they asked for it then.
UPDATE providers SET allow_insecure_http = 1 WHERE api_url LIKE 'http://%';
-- Kubeconfig paths on the server are no longer read: such providers must be
-- registered again with the kubeconfig's content.
UPDATE providers
   SET status = 'error',
       status_message = 'kubeconfig paths on the server are no longer read; update the provider with the kubeconfig content (steward provider update --kubeconfig FILE)'
 WHERE kubeconfig_path <> '';
