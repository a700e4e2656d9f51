//! Applying a rendered upstream file on an nginx LB host: upload to a temporary name, `nginx -t`
//! against a test copy of nginx.conf that includes the candidate, and only then swap it in
//! (previous file kept as `.prev`) and reload (or start nginx on first use). The reload is
//! confirmed by the serial served at `/__deployctl/config`; on any failure the previous file
//! is put back, nginx is reloaded with it, and the error says why.
//!
//! A file that routes exactly like the one in force (only the serial differs) is not applied:
//! nothing is written and nginx is not reloaded (a reload cuts idle keep-alive clients). The
//! apply step is never blindly re-run: when the connection is lost during it, the served
//! serial is read again and decides.

use crate::lb::{self, LbSettings};
use crate::probe;
use crate::remote::{HostError, RemoteHost};
use std::time::{Duration, Instant};

const APPLY: &str = r#"set -eu
dir=$1; main=$2; up=$3; pid=$4; nginx=$5; tmp=$6; maintext=$7; testtext=$8
mkdir -p "$dir/tmp"
[ -e "$main" ] || printf '%s' "$maintext" > "$main"
printf '%s' "$testtext" > "$dir/nginx.test.conf"
if ! out=$("$nginx" -t -c "$dir/nginx.test.conf" 2>&1); then
  rm -f "$tmp"; echo "nginx -t rejected the new upstreams (previous file kept): $out" >&2; exit 3
fi
if [ -e "$up" ]; then cp -p "$up" "$up.prev"; else rm -f "$up.prev"; fi
mv -f "$tmp" "$up"
if [ -s "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then
  if ! out=$("$nginx" -s reload -c "$main" 2>&1); then
    if [ -e "$up.prev" ]; then mv -f "$up.prev" "$up"; fi
    "$nginx" -s reload -c "$main" >/dev/null 2>&1 || true
    echo "nginx reload failed, previous file restored: $out" >&2; exit 4
  fi
  echo reloaded
else
  if ! out=$("$nginx" -c "$main" 2>&1); then echo "nginx did not start: $out" >&2; exit 5; fi
  echo started
fi"#;

const RESTORE: &str = r#"set -eu
up=$1; main=$2; nginx=$3
if [ -e "$up.prev" ]; then mv -f "$up.prev" "$up" && "$nginx" -s reload -c "$main"; fi"#;

/// What an apply did on one LB host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Same routing already in force: nothing written, nothing reloaded.
    Unchanged,
    /// haproxy: live state changed through the runtime API (files rewritten, no reload).
    Runtime,
    /// The LB reloaded its configuration.
    Reloaded,
    /// The LB was not running and was started.
    Started,
}

/// Read the owned file currently in place (empty when none).
pub async fn current(r: &RemoteHost, s: &LbSettings) -> Result<String, HostError> {
    r.script(
        "read lb config",
        &crate::scripts::Script::inline(r#"cat "$1" 2>/dev/null || true"#),
        &[&s.owned_file()],
    )
    .await
}

/// Upload `text` to `path` on the host (not retried: the caller decides).
pub async fn upload(r: &RemoteHost, path: &str, text: &str) -> Result<(), HostError> {
    let put = r
        .script_stdin(
            "upload",
            &crate::scripts::Script::inline(r#"cat > "$1""#),
            &[path],
            text.as_bytes(),
        )
        .await?;
    if !put.ok() {
        return Err(HostError::Command {
            what: format!("upload {path}"),
            status: put.status,
            stderr: put.stderr_str(),
        });
    }
    Ok(())
}

/// Apply `conf` (rendered with `serial`) on nginx LB host `r`, unless it routes like the file
/// in force and nginx serves that file.
pub async fn apply(
    r: &RemoteHost,
    s: &LbSettings,
    conf: &str,
    serial: &str,
) -> Result<Change, HostError> {
    let cur = current(r, s).await?;
    if let Some(cur_serial) = lb::parse_serial(&cur) {
        if lb::without_serial(&cur) == lb::without_serial(conf)
            && served(r, s).await.as_deref() == Some(cur_serial.as_str())
        {
            return Ok(Change::Unchanged);
        }
    }
    let tmp = format!("{}.new-{serial}", s.upstream_conf());
    r.run("mkdir", &["mkdir".into(), "-p".into(), s.dir()])
        .await?;
    upload(r, &tmp, conf).await?;
    let main = lb::main_conf(s);
    let test = main.replace(&s.upstream_conf(), &tmp);
    let argv = script_argv(
        APPLY,
        &[
            &s.dir(),
            &s.main_conf(),
            &s.upstream_conf(),
            &s.pid_file(),
            &s.nginx,
            &tmp,
            &main,
            &test,
        ],
    );
    let change = run_once(r, s, "nginx -t and reload", &argv, serial).await?;
    if let Err(e) = confirm(r, s, serial).await {
        let _ = r
            .script(
                "restore upstreams",
                &crate::scripts::Script::inline(RESTORE),
                &[&s.upstream_conf(), &s.main_conf(), &s.nginx],
            )
            .await;
        return Err(e);
    }
    Ok(change)
}

/// `sh -c SCRIPT sh ARGS...`.
pub fn script_argv(script: &'static str, args: &[&str]) -> Vec<String> {
    crate::scripts::argv(&crate::scripts::Script::inline(script), args)
}

/// Run a non-idempotent LB step once. When the connection is lost during it, reconnect and
/// read the served serial: `serial` in force means the step completed.
pub async fn run_once(
    r: &RemoteHost,
    s: &LbSettings,
    what: &str,
    argv: &[String],
    serial: &str,
) -> Result<Change, HostError> {
    match r.t.exec(argv, None).await {
        Ok(out) if out.ok() => Ok(match String::from_utf8_lossy(&out.stdout).lines().last() {
            Some("started") => Change::Started,
            Some("runtime") => Change::Runtime,
            _ => Change::Reloaded,
        }),
        Ok(out) => Err(HostError::Command {
            what: what.into(),
            status: out.status,
            stderr: out.stderr_str(),
        }),
        Err(e) if e.is_transient() => {
            let _ = r.t.reconnect().await;
            match confirm(r, s, serial).await {
                Ok(()) => Ok(Change::Reloaded),
                Err(_) => Err(HostError::Check(format!(
                    "{what}: connection lost ({e}); the LB does not serve serial {serial} (re-read, not retried)"
                ))),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The serial the LB serves at `/__deployctl/config` right now (one bounded probe).
pub async fn served(r: &RemoteHost, s: &LbSettings) -> Option<String> {
    let stream = r.t.tunnel(s.listen).await.ok()?;
    let fut = probe::request(
        stream,
        "GET",
        "localhost",
        "/__deployctl/config",
        "lb config",
    );
    match tokio::time::timeout(Duration::from_secs(3), fut).await {
        Ok(Ok(resp)) if resp.status == 200 => Some(resp.body.trim().to_string()),
        _ => None,
    }
}

/// Wait (bounded, 15 s) until the LB serves `serial` at `/__deployctl/config`.
pub async fn confirm(r: &RemoteHost, s: &LbSettings, serial: &str) -> Result<(), HostError> {
    let t0 = Instant::now();
    let mut last = String::from("nothing served");
    while t0.elapsed() < Duration::from_secs(15) {
        match served(r, s).await {
            Some(got) if got == serial => return Ok(()),
            Some(got) => last = got,
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(HostError::Check(format!(
        "the load balancer did not serve config {serial} within 15s (last: {last})"
    )))
}
