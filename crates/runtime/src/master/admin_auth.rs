//! Who may drive the admin endpoint. A Unix socket is authenticated by its file mode (0600, or
//! 0660 with `--admin-group`); with `--admin-token-file`, `POST /restart` also needs
//! `Authorization: Bearer <token>` (on TCP and on a socket). Reads (`GET /metrics`,
//! `GET /status`) stay open to whoever can connect (loopback or the socket's owner/group).

use std::path::Path;

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// The secret itself (for the `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a presented `Authorization` header value in constant time.
    pub fn accepts(&self, header: Option<&str>) -> bool {
        let Some(presented) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        let (a, b) = (self.0.as_bytes(), presented.trim().as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

/// Why a token file or group cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unreadable.
    #[error("admin token file {0:?}")]
    Read(std::path::PathBuf, #[source] std::io::Error),
    /// Readable by others.
    #[error("admin token file {0:?} is readable by group or others (mode {1:o}); chmod 600 it")]
    Exposed(std::path::PathBuf, u32),
    /// Too short to be a secret.
    #[error("admin token in {0:?} is shorter than 16 characters")]
    Short(std::path::PathBuf),
    /// No such group.
    #[error("admin group {0:?} not found in /etc/group")]
    NoGroup(String),
}

/// Reads a token file: one line, at least 16 characters. `private` also requires that the file
/// is not readable by group or others (the master's own file; `ctl` only reads it).
pub fn read_token(path: &Path, private: bool) -> Result<Token, AuthError> {
    let read = |e| AuthError::Read(path.to_path_buf(), e);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(read)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(AuthError::Exposed(path.to_path_buf(), mode & 0o777));
        }
    }
    #[cfg(not(unix))]
    let _ = private;
    let text = std::fs::read_to_string(path).map_err(read)?;
    let token = text.trim();
    if token.chars().count() < 16 {
        return Err(AuthError::Short(path.to_path_buf()));
    }
    Ok(Token(token.to_string()))
}

/// A group name or numeric gid, resolved through `/etc/group`.
pub fn resolve_group(name: &str) -> Result<u32, AuthError> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    std::fs::read_to_string("/etc/group")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let mut f = l.split(':');
                (f.next()? == name).then_some(())?;
                f.nth(1)?.parse().ok()
            })
        })
        .ok_or_else(|| AuthError::NoGroup(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison_and_redaction() {
        let t = Token("0123456789abcdef".into());
        assert!(t.accepts(Some("Bearer 0123456789abcdef")));
        assert!(!t.accepts(Some("Bearer 0123456789abcdeX")));
        assert!(!t.accepts(Some("Bearer 0123456789abcdef0")));
        assert!(!t.accepts(Some("0123456789abcdef")));
        assert!(!t.accepts(None));
        assert!(!format!("{t:?}").contains("0123"));
    }

    #[test]
    fn group_by_name_or_gid() {
        assert_eq!(resolve_group("0").unwrap(), 0);
        assert_eq!(resolve_group("root").unwrap(), 0);
        assert!(resolve_group("no-such-group-zz").is_err());
    }
}
