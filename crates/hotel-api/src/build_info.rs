//! What build this binary is: package version, git commit, build time and an optional release
//! label. The label lives in a fixed slot of the executable so `hotel-api stamp` can write a
//! copy of the binary with another label (a distinct build, as a release pipeline stamps one)
//! without recompiling.

use std::path::Path;

use protocol::Version;

const MARKER: &[u8; 24] = b"@@HOTEL_API_LABEL_SLOT@@";
const LABEL_MAX: usize = 47;
const SLOT_LEN: usize = MARKER.len() + LABEL_MAX + 1;

const fn make_slot(label: &str) -> [u8; SLOT_LEN] {
    let mut slot = [0u8; SLOT_LEN];
    let mut i = 0;
    while i < MARKER.len() {
        slot[i] = MARKER[i];
        i += 1;
    }
    let bytes = label.as_bytes();
    let mut j = 0;
    while j < bytes.len() && j < LABEL_MAX {
        slot[MARKER.len() + j] = bytes[j];
        j += 1;
    }
    slot
}

#[used]
static LABEL_SLOT: [u8; SLOT_LEN] = make_slot(match option_env!("HOTEL_API_RELEASE") {
    Some(l) => l,
    None => "",
});

/// The slot as it is in the running executable.
fn read_slot() -> [u8; SLOT_LEN] {
    // SAFETY: a plain read of an immutable static; volatile so the compiler cannot fold the
    // compile-time contents in (the file may have been stamped after linking).
    unsafe { std::ptr::read_volatile(&LABEL_SLOT) }
}

/// Errors of `stamp`.
#[derive(Debug, thiserror::Error)]
pub enum StampError {
    /// Labels are short and plain.
    #[error("invalid label {0:?}: use 1 to 47 characters from A-Z a-z 0-9 . _ -")]
    InvalidLabel(String),
    /// The executable has no label slot (or more than one).
    #[error("{0:?} does not contain exactly one label slot")]
    NoSlot(std::path::PathBuf),
    /// File access.
    #[error("{path:?}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Whether the tree this was built from had uncommitted changes to tracked files.
const DIRTY: bool = matches!(env!("HOTEL_API_DIRTY").as_bytes(), b"1");

/// Package version, with `-dirty` for a build from a dirty tree.
const VERSION: &str = if DIRTY {
    concat!(env!("CARGO_PKG_VERSION"), "-dirty")
} else {
    env!("CARGO_PKG_VERSION")
};

/// Identity of this build, as served by `/version` (which adds `pid` and `generation`) and
/// printed by `hotel-api version --json`: the `protocol` crate's [`Version`] document.
pub fn current() -> Version {
    let slot = read_slot();
    let raw = &slot[MARKER.len()..];
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    let label = String::from_utf8_lossy(&raw[..end]).into_owned();
    let version = VERSION;
    let commit = env!("HOTEL_API_COMMIT");
    let epoch = env!("HOTEL_API_BUILD_EPOCH");
    let short = commit.get(..12).unwrap_or(commit);
    let mut build_id = format!("{version}-{short}-{epoch}");
    if !label.is_empty() {
        build_id.push('-');
        build_id.push_str(&label);
    }
    Version {
        service: "hotel-api".into(),
        version: version.into(),
        commit: commit.into(),
        dirty: Some(DIRTY),
        build_time: env!("HOTEL_API_BUILD_TIME").into(),
        label,
        build_id,
        pid: None,
        generation: None,
    }
}

/// Writes a copy of the executable `src` to `out` with `label` in its label slot. The copy is
/// written to a temporary file next to `out`, made executable, then renamed into place.
pub fn stamp(src: &Path, out: &Path, label: &str) -> Result<(), StampError> {
    if label.is_empty()
        || label.len() > LABEL_MAX
        || !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(StampError::InvalidLabel(label.into()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StampError::Io { path, source }
    };
    let mut bytes = std::fs::read(src).map_err(io(src))?;
    // The marker is taken from the slot itself, so the executable holds exactly one copy of it.
    let marker = &read_slot()[..MARKER.len()];
    let mut hits = bytes
        .windows(MARKER.len())
        .enumerate()
        .filter(|(_, w)| *w == marker)
        .map(|(i, _)| i);
    let (Some(at), None) = (hits.next(), hits.next()) else {
        return Err(StampError::NoSlot(src.to_path_buf()));
    };
    let field = &mut bytes[at + MARKER.len()..at + SLOT_LEN];
    field.fill(0);
    field[..label.len()].copy_from_slice(label.as_bytes());
    let tmp = out.with_file_name(format!(
        ".{}.tmp.{}",
        out.file_name().and_then(|n| n.to_str()).unwrap_or("stamp"),
        std::process::id()
    ));
    std::fs::write(&tmp, &bytes).map_err(io(&tmp))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, out).map_err(io(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dirty_build_says_so_in_its_version_and_build_id() {
        let b = current();
        assert_eq!(b.dirty, Some(b.version.ends_with("-dirty")));
        assert!(b.build_id.starts_with(&b.version));
        assert!(
            b.commit == "unknown" || b.commit.len() == 40,
            "full hash: {}",
            b.commit
        );
    }

    #[test]
    fn labels_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x");
        for bad in ["", "a b", "x/y", &"a".repeat(48)] {
            assert!(matches!(
                stamp(Path::new("/bin/sh"), &out, bad),
                Err(StampError::InvalidLabel(_))
            ));
        }
        assert!(matches!(
            stamp(Path::new("/bin/sh"), &out, "v2"),
            Err(StampError::NoSlot(_))
        ));
    }
}
