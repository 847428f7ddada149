//! The `steward` binary: see the library's `cli` module.

/// Attributes heap memory to the worker that allocated it (see `workers::memory`).
#[global_allocator]
static ALLOCATOR: steward::workers::memory::AccountingAllocator =
    steward::workers::memory::AccountingAllocator;

fn main() -> std::process::ExitCode {
    steward::workers::memory::tune_system_allocator();
    steward::tls::init_process();
    steward::cli::main()
}
