//! `deployctl` binary: parse arguments, run the library command, map the outcome to an exit code.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = deployctl::cli::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("deployctl: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match rt.block_on(deployctl::cli::run(cli)) {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("deployctl: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
