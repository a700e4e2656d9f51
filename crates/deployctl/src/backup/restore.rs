//! Restore a backup: every file is first staged next to its target (`.NAME.restore-RUN`),
//! its sha256 checked against the manifest and its mode set; only when every file is staged
//! and verified is each renamed over its target (atomic per file). Any failure before the
//! swap removes the staged copies and leaves the host as it was; the error says why.

use super::{dir_of, Backup};
use crate::remote::{HostError, Layout, RemoteHost};
use crate::scripts::backup as sh;

/// Put backup `b` back in place; an error names the file and the reason.
pub async fn restore(
    r: &RemoteHost,
    l: &Layout,
    b: &Backup,
    run_id: &str,
) -> Result<(), HostError> {
    let m = &b.manifest;
    if let Some(why) = m.invalid() {
        return Err(HostError::Check(format!("backup {}: {why}", b.id)));
    }
    let dir = dir_of(l, &b.id);
    let mut args = vec![run_id.to_string()];
    for f in &m.files {
        args.push(format!("{dir}/files/{}", f.path));
        args.push(m.target(f));
        args.push(f.sha256.clone());
        args.push(f.mode.clone());
        args.push(if f.sudo { "1" } else { "0" }.to_string());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = r.script("restore backup", &sh::RESTORE, &argv).await?;
    sh::parse_restore(&out)?;
    Ok(())
}
