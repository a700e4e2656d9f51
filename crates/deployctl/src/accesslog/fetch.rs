//! Reading the new access-log lines of one LB host: a [`Cursor`] remembers the file (inode) and
//! the offset of the last complete line read; a rotated or truncated file is read from its
//! start and the reset reported. At most [`MAX_BYTES`] per read, and [`fetch`] reads again
//! until it has everything written so far (at most [`MAX_READS`] reads). Each answer carries
//! the LB's clock, from which [`open`] measures its offset to the controller's.

use super::{haproxy_socket, log_path, receiver_pid, Record};
use crate::lb::{LbKind, LbSettings};
use crate::remote::{HostError, RemoteHost};
use crate::scripts::{self, Script};
use crate::transport::exec_retry;

/// Reads the log bytes after an offset (header line, then raw bytes; parsed by [`advance`]).
pub const READ: Script = scripts::script!("accesslog_read");
/// Starts haproxy's log receiver when it is not running.
pub const RECEIVER: Script = scripts::script!("accesslog_receiver", lib = "lib_owned_pid");
/// Rotates the log over its limit and has its writer reopen it.
pub const ROTATE: Script = scripts::script!("accesslog_rotate", lib = "lib_owned_pid");

/// Bytes read per read at most.
pub const MAX_BYTES: u64 = 16 << 20;
/// Reads per fetch at most (1 GiB: a window of 10,000 req/s for 10 minutes is ~1.3 GiB at
/// 230 bytes a line, so keep windows at a minute or two at that rate).
pub const MAX_READS: usize = 64;

/// Where the last read of one LB's log ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cursor {
    pub inode: Option<String>,
    pub offset: u64,
}

/// What one read brought.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    pub records: Vec<Record>,
    /// Lines that are not requests routed to a pool, or malformed (first error kept).
    pub skipped: usize,
    pub first_error: Option<String>,
    /// `rotated` / `truncated` when the file was read again from its start.
    pub reset: Option<String>,
    /// The file has more bytes than this read brought.
    pub more: bool,
    /// The LB's clock when it answered (Unix ms).
    pub lb_now_ms: i64,
    /// Reads this fetch took.
    pub reads: usize,
}

/// Why the reader's answer is unusable.
fn bad(detail: &str) -> HostError {
    HostError::Check(format!("access log read: {detail}"))
}

/// Apply the reader's raw answer to `cursor` (pure): only complete lines are consumed.
pub fn advance(cursor: &mut Cursor, out: &[u8]) -> Result<Fetched, HostError> {
    let nl = out
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| bad("no header"))?;
    let head = std::str::from_utf8(&out[..nl]).map_err(|_| bad("header not UTF-8"))?;
    let f: Vec<&str> = head.split_whitespace().collect();
    let [tag, inode, start, end, reset, size, now] = f[..] else {
        return Err(bad(head));
    };
    if tag != "deployctl-accesslog" {
        return Err(bad(head));
    }
    let num = |v: &str| v.parse::<u64>().map_err(|_| bad(head));
    let (start, end, size) = (num(start)?, num(end)?, num(size)?);
    let lb_now_ms = now.parse::<i64>().map_err(|_| bad(head))?;
    let body = &out[nl + 1..];
    let complete = body.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let mut fetched = Fetched {
        reset: (reset != "-").then(|| reset.to_string()),
        more: end < size,
        lb_now_ms,
        reads: 1,
        ..Fetched::default()
    };
    let lines = super::parse_lines(&body[..complete]);
    fetched.records = lines.records;
    fetched.skipped = lines.skipped;
    fetched.first_error = lines.first_error;
    cursor.inode = (inode != "-").then(|| inode.to_string());
    cursor.offset = start + complete as u64;
    Ok(fetched)
}

async fn read(
    r: &RemoteHost,
    s: &LbSettings,
    inode: &str,
    offset: &str,
) -> Result<Vec<u8>, HostError> {
    let max = MAX_BYTES.to_string();
    let argv = scripts::argv(&READ, &[&log_path(s), inode, offset, &max]);
    let out = r
        .bounded("read access log", async {
            Ok(exec_retry(r.t.as_ref(), &argv, None).await?)
        })
        .await?;
    if !out.ok() {
        return Err(HostError::Command {
            what: "read access log".into(),
            status: out.status,
            stderr: out.stderr_str(),
        });
    }
    Ok(out.stdout)
}

/// A cursor at the current end of the LB's log (what is already there is not analysed) and
/// the LB clock's offset to this controller's (LB minus controller, ms; measured against the
/// middle of the round trip).
pub async fn open(r: &RemoteHost, s: &LbSettings) -> Result<(Cursor, i64), HostError> {
    rotate(r, s).await?;
    if s.kind == LbKind::Haproxy {
        ensure_receiver(r, s).await?;
    }
    let mut c = Cursor::default();
    let before = chrono::Utc::now().timestamp_millis();
    let f = advance(&mut c, &read(r, s, "", "end").await?)?;
    let after = chrono::Utc::now().timestamp_millis();
    Ok((c, f.lb_now_ms - (before + after) / 2))
}

/// Every line written since `cursor` (as many reads as it takes, at most [`MAX_READS`]);
/// advances it only when every read succeeded (after a failed read the next fetch reads the
/// same lines again: none is lost, none counted twice).
pub async fn fetch(
    r: &RemoteHost,
    s: &LbSettings,
    cursor: &mut Cursor,
) -> Result<Fetched, HostError> {
    let mut at = cursor.clone();
    let mut all = Fetched::default();
    for n in 1..=MAX_READS {
        let inode = at.inode.clone().unwrap_or_default();
        let out = read(r, s, &inode, &at.offset.to_string()).await?;
        let f = advance(&mut at, &out)?;
        all.records.extend(f.records);
        all.skipped += f.skipped;
        all.first_error = all.first_error.or(f.first_error);
        all.reset = all.reset.or(f.reset);
        (all.more, all.lb_now_ms, all.reads) = (f.more, f.lb_now_ms, n);
        if !f.more {
            break;
        }
    }
    *cursor = at;
    Ok(all)
}

/// Start haproxy's log receiver when it is not running (idempotent).
/// Keep the LB's access log within `[lb] access_log_max_mb`: over it, the log becomes
/// `access.json.1` and its writer reopens a new one (haproxy's receiver is started again by
/// [`ensure_receiver`], which every caller runs next). True when it rotated.
pub async fn rotate(r: &RemoteHost, s: &LbSettings) -> Result<bool, HostError> {
    let max = s.access_log_max_mb.saturating_mul(1 << 20).to_string();
    let (pid, prog, kind) = match s.kind {
        LbKind::Nginx => (s.pid_file(), s.nginx.clone(), "nginx"),
        LbKind::Haproxy => (receiver_pid(s), s.socat.clone(), "haproxy"),
    };
    let args = [log_path(s), max, pid, prog, kind.to_string()];
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = r.script("rotate access log", &ROTATE, &argv).await?;
    let rec = scripts::Record::of(&ROTATE, &out, &["rotated"])?;
    Ok(rec.one_of("rotated", &["yes", "no"])? == "yes")
}

pub async fn ensure_receiver(r: &RemoteHost, s: &LbSettings) -> Result<(), HostError> {
    r.run("mkdir", &["mkdir".into(), "-p".into(), s.dir()])
        .await?;
    r.script(
        "haproxy access-log receiver",
        &RECEIVER,
        &[&s.socat, &haproxy_socket(s), &log_path(s), &receiver_pid(s)],
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::RemoteHost;

    const LINE: &str = r#"{"t_ms":5,"pool":"deployctl_gray","up":"a:1","m":"GET","g":"search","s":200,"rt_ms":3,"ut_ms":2,"h":"0"}"#;

    fn answer(head: &str, body: &str) -> Vec<u8> {
        format!("{head}\n{body}").into_bytes()
    }

    #[test]
    fn only_complete_lines_are_consumed() {
        let mut c = Cursor::default();
        let body = format!("{LINE}\n{LINE}\n{{\"t_ms\":");
        let f = advance(
            &mut c,
            &answer("deployctl-accesslog 77 100 400 - 400 5", &body),
        )
        .unwrap();
        assert_eq!(f.records.len(), 2);
        assert_eq!(c.inode.as_deref(), Some("77"));
        assert_eq!(c.offset, 100 + 2 * (LINE.len() as u64 + 1));
        assert_eq!((f.reset, f.more, f.lb_now_ms), (None, false, 5));
    }

    #[test]
    fn resets_and_junk_are_reported() {
        let mut c = Cursor {
            inode: Some("1".into()),
            offset: 999,
        };
        let no_pool = r#"{"t_ms":5,"pool":"deployctl","up":"-:-","m":"GET","g":"other","s":200,"rt_ms":0,"ut_ms":-1,"h":"0"}"#;
        let body = format!("{LINE}\nnot json\n{no_pool}\n");
        let f = advance(
            &mut c,
            &answer("deployctl-accesslog 2 0 60 rotated 90 5", &body),
        )
        .unwrap();
        assert_eq!((f.records.len(), f.skipped), (1, 2));
        assert_eq!(f.reset.as_deref(), Some("rotated"));
        assert!(f.more, "60 of 90 bytes read");
        assert!(f.first_error.unwrap().contains("not JSON"));
        assert_eq!(c.offset, body.len() as u64);
    }

    #[test]
    fn a_missing_file_and_a_bad_answer() {
        let mut c = Cursor::default();
        let f = advance(&mut c, &answer("deployctl-accesslog - 0 0 - 0 5", "")).unwrap();
        assert!(f.records.is_empty());
        assert_eq!(c, Cursor::default());
        assert!(advance(&mut c, b"garbage").is_err());
        assert!(advance(&mut c, b"something else entirely\n").is_err());
    }

    /// A line of `len` bytes (padding in the upstream field).
    fn line(len: usize) -> String {
        let head = r#"{"t_ms":5,"pool":"deployctl_gray","up":""#;
        let tail = r#"","m":"GET","g":"search","s":200,"rt_ms":3,"ut_ms":2,"h":"0"}"#;
        format!(
            "{head}{}{tail}\n",
            "a".repeat(len - head.len() - tail.len() - 1)
        )
    }

    #[tokio::test]
    async fn a_log_grown_past_one_read_is_drained_in_one_fetch() {
        // 40 MiB written since the cursor: three reads of at most 16 MiB, every line once.
        let dir = tempfile::tempdir().unwrap();
        let s = LbSettings {
            dir: dir.path().display().to_string(),
            ..LbSettings::default()
        };
        let r = RemoteHost::local_for_tests();
        let path = std::path::PathBuf::from(log_path(&s));
        std::fs::write(&path, line(200)).unwrap();
        let (mut c, offset) = open(&r, &s).await.unwrap();
        assert!(
            offset.abs() < 2_000,
            "same machine, same clock: {offset} ms"
        );
        let one = line(256);
        let n = (40usize << 20) / one.len();
        std::fs::write(&path, format!("{}{}", line(200), one.repeat(n))).unwrap();
        let f = fetch(&r, &s, &mut c).await.unwrap();
        assert_eq!(f.records.len(), n);
        assert_eq!((f.reads, f.more, f.skipped), (3, false, 0));
        assert_eq!(c.offset, std::fs::metadata(&path).unwrap().len());
    }

    use crate::transport::{BoxFuture, ExecOutput, Transport, TransportError, Tunnel};

    /// The local transport, but exec number `fail_at` (from 1) fails.
    struct FailingAt {
        inner: crate::transport::local::LocalTransport,
        calls: std::sync::atomic::AtomicUsize,
        fail_at: usize,
    }

    impl Transport for FailingAt {
        fn host(&self) -> &str {
            "local"
        }
        fn exec<'a>(
            &'a self,
            argv: &'a [String],
            stdin: Option<&'a [u8]>,
        ) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
            let n = 1 + self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n == self.fail_at {
                return Box::pin(async {
                    Err(TransportError::Other {
                        host: "local".into(),
                        detail: "injected".into(),
                    })
                });
            }
            self.inner.exec(argv, stdin)
        }
        fn tunnel(&self, port: u16) -> BoxFuture<'_, Result<Box<dyn Tunnel>, TransportError>> {
            self.inner.tunnel(port)
        }
        fn reconnect(&self) -> BoxFuture<'_, Result<(), TransportError>> {
            self.inner.reconnect()
        }
        fn close(&self) -> BoxFuture<'_, ()> {
            self.inner.close()
        }
    }

    #[tokio::test]
    async fn a_read_failing_mid_fetch_loses_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let s = LbSettings {
            dir: dir.path().display().to_string(),
            ..LbSettings::default()
        };
        // Call 1 opens, call 2 is the fetch's first read, call 3 (its second read) fails.
        let t = FailingAt {
            inner: crate::transport::local::LocalTransport::new("local"),
            calls: Default::default(),
            fail_at: 3,
        };
        let r = RemoteHost::new(RemoteHost::local_for_tests().host, Box::new(t));
        let path = std::path::PathBuf::from(log_path(&s));
        std::fs::write(&path, "").unwrap();
        let (mut c, _) = open(&r, &s).await.unwrap();
        let before = c.clone();
        let one = line(256);
        let n = (40usize << 20) / one.len();
        std::fs::write(&path, one.repeat(n)).unwrap();
        assert!(fetch(&r, &s, &mut c).await.is_err());
        assert_eq!(
            c, before,
            "the cursor moves only when the whole fetch succeeded"
        );
        let f = fetch(&r, &s, &mut c).await.unwrap();
        assert_eq!(f.records.len(), n, "every line, once");
    }
}
