//! `manifest.json` of a backup: what a complete backup holds, checked before it is listed or
//! restored. Every file is named by its path relative to the declared root (`/`), so two files
//! with the same name in different directories never collide.

use serde::{Deserialize, Serialize};

/// Manifest format written by this version.
pub const FORMAT: u32 = 1;

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the manifest's root; stored under `files/<path>` in the backup.
    pub path: String,
    /// Octal permission bits (`stat -c %a`).
    pub mode: String,
    /// `uid:gid` of the original.
    pub owner: String,
    pub sha256: String,
    /// Read and written through `sudo -n`.
    pub sudo: bool,
}

/// Everything a backup records about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    pub root: String,
    /// The run that took it (also the backup's id).
    pub run_id: String,
    /// Build the host served when the backup was taken (empty: nothing answered).
    pub build_id: String,
    /// UTC time the backup was completed (RFC 3339, milliseconds): listing order.
    pub created: String,
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// Why this manifest cannot describe a complete backup, if it cannot.
    pub fn invalid(&self) -> Option<String> {
        if self.format != FORMAT {
            return Some(format!(
                "manifest format {} (expected {FORMAT})",
                self.format
            ));
        }
        if self.root != "/" {
            return Some(format!("manifest root {:?} (expected \"/\")", self.root));
        }
        if self.files.is_empty() {
            return Some("manifest lists no file".into());
        }
        self.files.iter().find_map(invalid_entry)
    }

    /// Absolute path of `f` on the host.
    pub fn target(&self, f: &FileEntry) -> String {
        format!("/{}", f.path)
    }
}

fn invalid_entry(f: &FileEntry) -> Option<String> {
    let bad_path = f.path.is_empty()
        || f.path.starts_with('/')
        || f.path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad_path {
        return Some(format!(
            "manifest path {:?} is not a clean relative path",
            f.path
        ));
    }
    if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(format!("{}: sha256 {:?} malformed", f.path, f.sha256));
    }
    if f.mode.is_empty() || f.mode.len() > 4 || !f.mode.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Some(format!("{}: mode {:?} malformed", f.path, f.mode));
    }
    None
}

/// Parse and check a manifest's JSON text.
pub fn parse(text: &str) -> Result<Manifest, String> {
    let m: Manifest =
        serde_json::from_str(text).map_err(|e| format!("manifest unreadable: {e}"))?;
    match m.invalid() {
        Some(why) => Err(why),
        None => Ok(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            mode: "755".into(),
            owner: "0:0".into(),
            sha256: "a".repeat(64),
            sudo: false,
        }
    }

    fn manifest(files: Vec<FileEntry>) -> Manifest {
        Manifest {
            format: FORMAT,
            root: "/".into(),
            run_id: "r".into(),
            build_id: "b".into(),
            created: "2026-01-01T00:00:00.000Z".into(),
            files,
        }
    }

    #[test]
    fn clean_manifests_pass_and_unsafe_paths_do_not() {
        let ok = manifest(vec![entry("srv/a/app.toml"), entry("srv/b/app.toml")]);
        assert_eq!(ok.invalid(), None);
        assert_eq!(ok.target(&ok.files[0]), "/srv/a/app.toml");
        for p in ["/etc/x", "srv/../etc", "srv//x", "", "./x"] {
            assert!(manifest(vec![entry(p)]).invalid().is_some(), "{p}");
        }
        assert!(manifest(vec![]).invalid().is_some());
        let text = serde_json::to_string(&ok).unwrap();
        assert_eq!(parse(&text).unwrap(), ok);
        assert!(parse("{}").is_err());
    }
}
