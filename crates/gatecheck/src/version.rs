//! Build identity: what a host reports on `GET /version` and what an artifact reports with
//! `ARTIFACT version --json` (same fields; the host adds `pid` and `generation`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub use protocol::Version as VersionInfo;

/// Why a version could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("GET {url}: {detail}")]
    Http { url: String, detail: String },
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u32 },
    #[error("{source_name}: not a version document: {detail}")]
    Parse { source_name: String, detail: String },
    #[error("{path}: `version --json` failed: {detail}")]
    Artifact { path: String, detail: String },
}

/// `GET {base_url}{path}` with bounded connect and total time.
pub fn fetch(base_url: &str, path: &str, timeout: Duration) -> Result<VersionInfo, VersionError> {
    let url = format!("{}{}", base_url.trim_end_matches('/'), path);
    let http = |detail: String| VersionError::Http {
        url: url.clone(),
        detail,
    };
    let mut body = Vec::new();
    let mut easy = curl::easy::Easy::new();
    easy.url(&url).map_err(|e| http(e.to_string()))?;
    easy.connect_timeout(timeout.min(Duration::from_secs(5)))
        .and_then(|()| easy.timeout(timeout))
        .map_err(|e| http(e.to_string()))?;
    {
        let mut transfer = easy.transfer();
        transfer
            .write_function(|data| {
                body.extend_from_slice(data);
                Ok(data.len())
            })
            .map_err(|e| http(e.to_string()))?;
        transfer.perform().map_err(|e| http(e.to_string()))?;
    }
    let status = easy.response_code().map_err(|e| http(e.to_string()))?;
    if status != 200 {
        return Err(VersionError::Status { url, status });
    }
    parse(&url, &body)
}

/// Parses a version document.
pub fn parse(source_name: &str, bytes: &[u8]) -> Result<VersionInfo, VersionError> {
    serde_json::from_slice(bytes).map_err(|e| VersionError::Parse {
        source_name: source_name.to_string(),
        detail: e.to_string(),
    })
}

/// Runs `ARTIFACT version --json`.
pub fn of_artifact(path: &Path) -> Result<VersionInfo, VersionError> {
    let err = |detail: String| VersionError::Artifact {
        path: path.display().to_string(),
        detail,
    };
    let out = Command::new(path)
        .args(["version", "--json"])
        .output()
        .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse(&path.display().to_string(), &out.stdout)
}

/// Shortest abbreviated hash accepted when one side is not a full hash.
pub const MIN_ABBREV: usize = 12;

/// Length of a full (SHA-1) commit hash.
const FULL: usize = 40;

/// Whether a reported commit is `wanted`. Two full hashes must be equal; when one side is
/// abbreviated, it must be a prefix of the other of at least [`MIN_ABBREV`] hex digits.
/// `unknown` never matches.
pub fn commit_matches(reported: &str, wanted: &str) -> bool {
    let (a, b) = (
        reported.trim().to_ascii_lowercase(),
        wanted.trim().to_ascii_lowercase(),
    );
    let hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    if !hex(&a) || !hex(&b) || a.len() > FULL || b.len() > FULL {
        return false;
    }
    if a.len() == FULL && b.len() == FULL {
        return a == b;
    }
    a.len().min(b.len()) >= MIN_ABBREV && (a.starts_with(&b) || b.starts_with(&a))
}

/// Parity's reading of a build identity.
pub trait Parity {
    /// Whether this build is exactly `commit`: never for a dirty build.
    fn is_commit(&self, commit: &str) -> bool;
}

impl Parity for VersionInfo {
    fn is_commit(&self, commit: &str) -> bool {
        !self.is_dirty() && commit_matches(&self.commit, commit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL_A: &str = "0123456789abcdef0123456789abcdef01234567";
    const FULL_B: &str = "0123456789abcdef0123456789abcdef0123456f";

    #[test]
    fn full_hashes_are_compared_whole() {
        assert!(commit_matches(FULL_A, FULL_A));
        assert!(commit_matches(&FULL_A.to_uppercase(), FULL_A));
        assert!(
            !commit_matches(FULL_A, FULL_B),
            "same 39-digit prefix, other commit"
        );
    }

    #[test]
    fn abbreviations_need_twelve_digits() {
        assert!(commit_matches(&FULL_A[..12], FULL_A));
        assert!(commit_matches(FULL_A, &FULL_A[..12]));
        assert!(!commit_matches(FULL_A, &FULL_A[..7]), "7 digits: ambiguous");
        assert!(!commit_matches("abc1234", "abc1234def567"));
        assert!(!commit_matches("unknown", "unknown"));
        assert!(!commit_matches("", FULL_A));
        assert!(!commit_matches(&format!("{FULL_A}00"), FULL_A));
    }

    #[test]
    fn a_dirty_build_is_never_its_commit() {
        let doc = format!(
            r#"{{"service":"hotel-api","version":"0.1.0","commit":"{FULL_A}","build_time":"t","label":"","build_id":"b"}}"#
        );
        let clean = parse("x", doc.as_bytes()).unwrap();
        assert!(!clean.is_dirty() && clean.is_commit(FULL_A));
        let mut dirty = clean.clone();
        dirty.dirty = Some(true);
        assert!(!dirty.is_commit(FULL_A));
        let mut marked = clean.clone();
        marked.version = "0.1.0-dirty".into();
        assert!(marked.is_dirty() && !marked.is_commit(FULL_A));
    }

    #[test]
    fn parses_the_contract_document() {
        let v = parse(
            "x",
            br#"{"service":"hotel-api","version":"0.1.0","commit":"abc1234","build_time":"t","label":"","build_id":"b1","pid":7,"generation":2}"#,
        )
        .unwrap();
        assert_eq!((v.pid, v.generation), (Some(7), Some(2)));
        assert!(parse("x", b"{}").is_err());
    }

    #[test]
    fn unreachable_host_is_an_http_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let err = fetch(
            &format!("http://127.0.0.1:{port}"),
            "/version",
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert!(matches!(err, VersionError::Http { .. }), "{err}");
    }
}
