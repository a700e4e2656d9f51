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
use crate::scripts::{self, files, lb as sh, Script, ScriptError};
use std::time::{Duration, Instant};

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
    read(r, "read lb config", &s.owned_file()).await
}

/// The contents of `path` on the host (empty when there is no file).
pub async fn read(r: &RemoteHost, what: &str, path: &str) -> Result<String, HostError> {
    let out = r.script(what, &files::READ, &[path]).await?;
    Ok(files::parse_read(&out)?.unwrap_or_default().to_string())
}

/// Upload `text` to `path` on the host (not retried: the caller decides).
pub async fn upload(r: &RemoteHost, path: &str, text: &str) -> Result<(), HostError> {
    let put = r
        .script_stdin("upload", &files::WRITE, &[path], text.as_bytes())
        .await?;
    if !put.ok() {
        return Err(HostError::Command {
            what: format!("upload {path}"),
            status: put.status,
            stderr: put.stderr_str(),
        });
    }
    Ok(files::parse_write(&String::from_utf8_lossy(&put.stdout))?)
}

/// Apply `conf` (rendered with `serial`) on nginx LB host `r`, unless it routes like the file
/// in force and nginx serves that file.
/// `e`, and the restore's failure too when the previous files could not be put back: the
/// caller learns the LB's live routing may differ from what it believes.
pub fn with_restore(e: HostError, restored: Result<(), HostError>) -> HostError {
    match restored {
        Ok(()) => e,
        Err(r) => HostError::Check(format!(
            "{e}; restoring the previous LB files failed too: {r}"
        )),
    }
}

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
    crate::accesslog::fetch::rotate(r, s).await?;
    upload(r, &tmp, conf).await?;
    let main = lb::main_conf(s);
    let test = main.replace(&s.upstream_conf(), &tmp);
    let (dir, main_conf, up, pid) = (s.dir(), s.main_conf(), s.upstream_conf(), s.pid_file());
    let args = [&dir, &main_conf, &up, &pid, &s.nginx, &tmp, &main, &test].map(String::as_str);
    let apply = (&sh::NGINX_APPLY, &args[..], sh::parse_nginx_apply as Parse);
    let change = run_once(r, s, "nginx -t and reload", apply, serial).await?;
    if let Err(e) = confirm(r, s, serial).await {
        let back = [&up, &main_conf, &s.nginx, &pid].map(String::as_str);
        let restored = async {
            let out = r
                .script("restore upstreams", &sh::NGINX_RESTORE, &back)
                .await?;
            Ok(sh::parse_nginx_restore(&out)?)
        };
        return Err(with_restore(e, restored.await));
    }
    Ok(change)
}

/// The parser of an apply script's answer.
pub type Parse = fn(&str) -> Result<Change, ScriptError>;

/// Run a non-idempotent LB step once, bounded by the step timeout. When the connection is
/// lost during it, or it does not answer in time, reconnect and read the served serial:
/// `serial` in force means the step completed.
pub async fn run_once(
    r: &RemoteHost,
    s: &LbSettings,
    what: &str,
    (script, args, parse): (&Script, &[&str], Parse),
    serial: &str,
) -> Result<Change, HostError> {
    let argv = scripts::argv(script, args);
    let lost = match tokio::time::timeout(r.step_timeout, r.t.exec(&argv, None)).await {
        Ok(Ok(out)) if out.ok() => return Ok(parse(&String::from_utf8_lossy(&out.stdout))?),
        Ok(Ok(out)) => {
            return Err(HostError::Command {
                what: what.into(),
                status: out.status,
                stderr: out.stderr_str(),
            })
        }
        Ok(Err(e)) if e.is_transient() => format!("connection lost ({e})"),
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => format!(
            "no answer within {}s (step timeout)",
            r.step_timeout.as_secs()
        ),
    };
    let _ = r.t.reconnect().await;
    match confirm(r, s, serial).await {
        Ok(()) => Ok(Change::Reloaded),
        Err(_) => Err(HostError::Check(format!(
            "{what}: {lost}; the LB does not serve serial {serial} (re-read, not retried)"
        ))),
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
