//! TLS set-up for the whole process.
//!
//! - HTTP clients (providers, Prometheus) use rustls with ring, installed as the
//!   process-wide crypto provider (ring builds in seconds, unlike aws-lc).
//! - libpq uses OpenSSL. By default OpenSSL registers an `atexit` cleanup that frees
//!   its global tables; if a pool thread is opening a PostgreSQL connection (TLS
//!   negotiation with `sslmode=prefer`) while the process exits, that thread reads
//!   freed memory and the process dies with SIGSEGV instead of its exit code. We
//!   initialise OpenSSL ourselves, first thing, with `OPENSSL_INIT_NO_ATEXIT`
//!   (openssl-sys does this), so there is no cleanup to race with.

/// Call first thing in `main`, before any thread exists.
pub fn init_process() {
    openssl_sys::init();
    install_crypto_provider();
}

/// Installs ring as the process's rustls provider. Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
