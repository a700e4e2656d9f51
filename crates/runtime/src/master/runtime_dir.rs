//! The master's private runtime directory (per-worker sd_notify sockets). Where it goes, in
//! order: `RUNTIME_DIRECTORY` (set by systemd's `RuntimeDirectory=`; the first entry if several),
//! then `XDG_RUNTIME_DIR`, then the temporary directory. Inside that base the master creates a
//! fresh directory atomically with `mkdtemp` (mode 0700, random name, fails rather than reuse or
//! follow anything that exists), and at exit removes only that directory: never what it did not
//! create.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// A directory this process created; removed (without following symlinks) when dropped.
#[derive(Debug)]
pub(crate) struct RuntimeDir(PathBuf);

impl RuntimeDir {
    /// Creates the directory under the first usable base.
    pub(crate) fn create() -> Result<Self, (PathBuf, std::io::Error)> {
        let base = base_dir();
        make_private_dir(&base)
            .map(RuntimeDir)
            .map_err(|e| (base, e))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        // `remove_dir_all` does not follow symlinks; the directory is ours (mkdtemp).
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn base_dir() -> PathBuf {
    if let Some(first) = std::env::var_os("RUNTIME_DIRECTORY")
        .and_then(|v| std::env::split_paths(&v).next())
        .filter(|p| p.is_absolute())
    {
        return first;
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

/// `mkdtemp(base/zdrun-XXXXXX)`: atomic, mode 0700, a name nobody could predict.
fn make_private_dir(base: &Path) -> std::io::Result<PathBuf> {
    let mut template = base.join("zdrun-XXXXXX").into_os_string().into_vec();
    template.push(0);
    let template = CString::from_vec_with_nul(template)
        .map_err(|_| std::io::Error::other("NUL byte in the runtime directory path"))?;
    let raw = template.into_raw();
    // SAFETY: `raw` is a NUL-terminated buffer we own; mkdtemp rewrites the XXXXXX in place.
    let made = unsafe { libc::mkdtemp(raw) };
    // SAFETY: retaking ownership of the buffer from `into_raw` above.
    let buf = unsafe { CString::from_raw(raw) };
    if made.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    Ok(PathBuf::from(OsString::from_vec(buf.into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_dir_is_fresh_0700_and_only_it_is_removed() {
        let base = tempfile::tempdir().unwrap();
        let keep = base.path().join("keep");
        std::fs::write(&keep, "x").unwrap();
        let a = RuntimeDir(make_private_dir(base.path()).unwrap());
        let b = RuntimeDir(make_private_dir(base.path()).unwrap());
        assert_ne!(a.path(), b.path());
        let mode = std::fs::metadata(a.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(a
            .path()
            .as_os_str()
            .as_bytes()
            .starts_with(base.path().as_os_str().as_bytes()));
        let (pa, pb) = (a.path().to_path_buf(), b.path().to_path_buf());
        drop(a);
        drop(b);
        assert!(!pa.exists() && !pb.exists());
        assert!(keep.exists(), "never remove what it did not create");
    }
}
