//! TLS set-up shared by every HTTP client of the process (providers, Prometheus).
//! reqwest and kube-style clients need a process-wide rustls crypto provider; we use
//! ring everywhere (it builds in seconds, unlike aws-lc).

/// Installs ring as the process's rustls provider. Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
