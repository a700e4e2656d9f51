//! `deployctl` binary: everything is in the library ([`deployctl::cli::main`]).

fn main() -> std::process::ExitCode {
    deployctl::cli::main()
}
