//! Project automation: `cargo xtask <command>`. One module per command.

use clap::{Parser, Subcommand};

mod bench;
mod demo;
mod gate;
mod load;
mod service;
mod testbed;

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
    /// Live zero-downtime demo: hotel-api under load through several graceful restarts.
    Demo(demo::DemoArgs),
    /// Benchmarks (figures and a final JSON line).
    #[command(subcommand)]
    Bench(bench::Bench),
    /// deployctl test bed: `up N [--name NAME]`, `down [--name NAME]`, `loss NAME K PCT`.
    Testbed(testbed::TestbedArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Gate(args) => gate::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Bench(b) => bench::run(b),
        Command::Testbed(a) => testbed::run(a),
    }
}
