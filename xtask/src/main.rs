//! Project automation: `cargo xtask <command>`. One module per command.

use clap::{Parser, Subcommand};

mod gate;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pre-merge gates: fmt, clippy, file size, change size (<= 400 lines), diff coverage (>= 50%).
    Gate(gate::GateArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Gate(args) => gate::run(args),
    }
}
