//! The `steward` binary: see the library's `cli` module.

fn main() -> std::process::ExitCode {
    steward::tls::init_process();
    steward::cli::main()
}
