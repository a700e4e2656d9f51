//! `cargo xtask testbed up N [--name NAME] | down [--name NAME] | loss NAME K PCT | status`:
//! the deployctl test bed (hosts as network + mount + UTS namespaces, each with its own
//! OpenSSH server). A thin front for `scripts/testbed.sh`, which does the work (root needed).

use anyhow::{bail, Context};
use std::path::Path;

#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct TestbedArgs {
    /// Arguments for scripts/testbed.sh, e.g. `up 3 --name uat` or `down --name uat`.
    #[arg(allow_hyphen_values = true, required = true)]
    args: Vec<String>,
}

pub fn run(a: TestbedArgs) -> anyhow::Result<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/testbed.sh");
    let st = std::process::Command::new(&script)
        .args(&a.args)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !st.success() {
        bail!("testbed.sh {} failed ({st})", a.args.join(" "));
    }
    Ok(())
}
