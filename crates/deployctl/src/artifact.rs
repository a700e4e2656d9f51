//! The build being shipped: the binary (and config files) read once, their sha256, and the
//! build id the hosts must serve afterwards (from `ARTIFACT version --json`, run locally).
//! A run that must ship the build judged (`gray --analyze --auto` promoting) is refused when
//! the bytes read do not hash to the judged sha256: the bytes uploaded are the bytes hashed.

use crate::hostrun::Payload;
use crate::inventory::Environment;
use crate::ops::rollout::{RunError, RunOptions};
use crate::probe;
use crate::remote::Layout;
use crate::upload::sha256_hex;
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// The artifact being deployed.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactInfo {
    pub path: PathBuf,
    pub sha256: String,
    pub build_id: String,
    pub label: String,
    pub bytes: usize,
}

/// Read the artifact and its build id (`ARTIFACT version --json`) plus config payloads.
pub async fn prepare(
    env: &Environment,
    opts: &RunOptions,
) -> Result<(ArtifactInfo, Vec<Payload>), RunError> {
    let given = opts
        .artifact
        .clone()
        .unwrap_or_else(|| env.artifact.binary.clone());
    let err = |reason: String| RunError::Artifact {
        path: given.clone(),
        reason,
    };
    // Absolute, so that `version --json` runs this file and never one found on PATH.
    let path = std::path::absolute(&given).map_err(|e| err(e.to_string()))?;
    let data = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
    let sha = sha256_hex(&data);
    if let Some(judged) = opts.within.as_ref().and_then(|w| w.sha256.as_deref()) {
        if sha != judged {
            return Err(err(format!(
                "changed since it was judged: its sha256 is {sha}, the gray hosts served \
                 {judged} during the analysis; refused, nothing touched"
            )));
        }
    }
    let build = probe::artifact_build(&path).await.map_err(err)?;
    let l = Layout::of(env);
    let info = ArtifactInfo {
        path: path.clone(),
        sha256: sha.clone(),
        build_id: build.build_id,
        label: build.label,
        bytes: data.len(),
    };
    let mut payloads = vec![Payload {
        data,
        sha256: sha,
        dest: l.binary.clone(),
        // Always 0755: a group-writable local build must not stay group-writable on hosts.
        mode: 0o755,
        privileged: None,
    }];
    for (c, (dest, _)) in env.artifact.config.iter().zip(&l.configs) {
        let data = std::fs::read(&c.src).map_err(|e| RunError::Artifact {
            path: c.src.clone(),
            reason: e.to_string(),
        })?;
        let mode = match &c.mode {
            // Validated when the inventory was loaded (an error with file:line there).
            Some(m) => crate::inventory::parse_mode(m).ok_or_else(|| RunError::Artifact {
                path: c.src.clone(),
                reason: format!("invalid mode `{m}`"),
            })?,
            None => std::fs::metadata(&c.src)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0o640),
        };
        payloads.push(Payload {
            sha256: sha256_hex(&data),
            data,
            dest: dest.clone(),
            mode,
            privileged: c.sudo.then(|| c.owner.clone().unwrap_or_default()),
        });
    }
    Ok((info, payloads))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::rollout::{Mode, Within};

    #[tokio::test]
    async fn an_artifact_that_is_not_the_judged_build_is_refused_before_it_runs() {
        let inv = crate::inventory::Inventory::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy.toml"
        ))
        .unwrap();
        let env = inv.env("local").unwrap();
        let d = tempfile::tempdir().unwrap();
        let art = d.path().join("app");
        std::fs::write(&art, b"overwritten since it was judged").unwrap();
        let opts = |sha: &str| RunOptions {
            state_dir: d.path().to_path_buf(),
            artifact: Some(art.clone()),
            dry_run: false,
            mode: Mode::Promote,
            within: Some(Within {
                run_id: None,
                sha256: Some(sha.to_string()),
            }),
        };
        let judged = "0".repeat(64);
        let Err(RunError::Artifact { reason, .. }) = prepare(env, &opts(&judged)).await else {
            panic!("refused");
        };
        assert!(reason.contains("changed since it was judged"), "{reason}");
        assert!(reason.contains(&judged), "{reason}");
        // The same bytes' sha256 passes the check (then `version --json` is asked of a file
        // that is not a program).
        let sha = sha256_hex(b"overwritten since it was judged");
        let Err(RunError::Artifact { reason, .. }) = prepare(env, &opts(&sha)).await else {
            panic!("not a program");
        };
        assert!(!reason.contains("judged"), "{reason}");
    }
}
