//! The `steward` binary: see the library's `cli` module.

fn main() -> std::process::ExitCode {
    steward::cli::main()
}
