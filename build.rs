//! Rebuilds when a migration is added: `embed_migrations!` cannot see new files itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
