//! The build identity document: the body of a service's `GET /version` and the output of
//! `ARTIFACT version --json` (the same document; `/version` adds `pid` and `generation`).

use serde::{Deserialize, Serialize};

/// The build identity of a service binary.
///
/// Every hotel-api ever built sends `service`, `version`, `commit`, `build_time`, `label` and
/// `build_id`; `dirty` exists since 2026-12-02 (older builds mark a dirty tree only by a
/// `-dirty` version suffix, see [`Version::is_dirty`]); `pid` and `generation` are only on
/// `/version` (a running process), never in `version --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Service name (`hotel-api`).
    pub service: String,
    /// Package version; `-dirty` appended for a build from a tree with uncommitted changes.
    pub version: String,
    /// Full git commit hash, or `unknown`.
    pub commit: String,
    /// Built from a tree with uncommitted changes to tracked files; `None` from a build that
    /// predates the flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
    /// UTC build time.
    pub build_time: String,
    /// Release label; empty when the build has none (the wire has always carried it so).
    pub label: String,
    /// Unique id of this build: version, commit, build time and label.
    pub build_id: String,
    /// Pid of the serving process (`/version` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    /// Generation of the serving worker under a master (`/version` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
}

impl Version {
    /// A build from a dirty tree: the flag, or a version ending in `-dirty` (also from a build
    /// that predates the flag).
    pub fn is_dirty(&self) -> bool {
        self.dirty == Some(true) || self.version.ends_with("-dirty")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURRENT: &str = r#"{"service":"hotel-api","version":"0.1.0","commit":"abc","dirty":false,"build_time":"t","label":"v2","build_id":"id2","pid":7,"generation":3}"#;

    #[test]
    fn reads_the_current_document_and_writes_it_back_unchanged() {
        let v: Version = serde_json::from_str(CURRENT).unwrap();
        assert_eq!(
            (v.pid, v.generation, v.dirty),
            (Some(7), Some(3), Some(false))
        );
        assert_eq!(serde_json::to_string(&v).unwrap(), CURRENT);
    }

    #[test]
    fn reads_a_build_that_predates_the_dirty_flag() {
        let old = r#"{"service":"hotel-api","version":"0.1.0-dirty","commit":"abc","build_time":"t","label":"","build_id":"b"}"#;
        let v: Version = serde_json::from_str(old).unwrap();
        assert_eq!((v.dirty, v.pid, v.generation), (None, None, None));
        assert!(v.is_dirty(), "the version suffix marks it");
        assert_eq!(serde_json::to_string(&v).unwrap(), old, "nothing invented");
    }

    #[test]
    fn a_document_without_a_build_id_is_refused() {
        assert!(serde_json::from_str::<Version>("{}").is_err());
        let no_id = r#"{"service":"s","version":"1","commit":"c","build_time":"t","label":""}"#;
        assert!(serde_json::from_str::<Version>(no_id).is_err());
    }
}
