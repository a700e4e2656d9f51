//! `deployctl` binary: parse arguments, run the command, return its exit code.
use clap::Parser;
use deployctl::exit::Exit;

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
            return Exit::Error.into();
        }
    };
    match rt.block_on(deployctl::cli::run(cli)) {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("deployctl: {e:#}");
            deployctl::commands::exit_of(&e).into()
        }
    }
}
