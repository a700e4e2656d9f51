//! `report RUN_ID [--out FILE]`: [`crate::report::write`] (one self-contained HTML file).
//! The inventory is optional: without it (or without the run's environment in it) the report
//! has no master log lines, and says so.

use super::{emit, Ctx};
use crate::exit::Exit;
use crate::inventory::Inventory;
use std::path::PathBuf;

// The arguments of `report` (its help text is on `cli::Command::Report`).
#[derive(Debug, clap::Args)]
pub struct Args {
    pub run_id: String,
    /// Output file [default: RUN_ID.html].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("{}.html", args.run_id)));
    let inv = Inventory::load(&ctx.inventory).ok();
    let env_of = |name: &str| inv.as_ref().and_then(|i| i.env(name).ok()).cloned();
    crate::report::write(env_of, &ctx.state_dir, &args.run_id, &out).await?;
    let written = serde_json::json!({ "run_id": args.run_id, "report": out });
    emit(ctx, &written, |_| println!("{}", out.display()))?;
    Ok(Exit::Success)
}
