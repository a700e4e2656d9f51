//! Applying a rendered upstream file on an LB host: upload to a temporary name, `nginx -t`
//! against a test copy of nginx.conf that includes the candidate, and only then swap it in
//! (previous file kept as `.prev`) and reload (or start nginx on first use). The reload is
//! confirmed by the serial served at `/__deployctl/config`; on any failure the previous file
//! is put back, nginx is reloaded with it, and the error says why.

use crate::lb::{self, LbSettings};
use crate::probe;
use crate::remote::{HostError, RemoteHost};
use std::time::{Duration, Instant};

const APPLY: &str = r#"set -u
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
    [ -e "$up.prev" ] && mv -f "$up.prev" "$up"
    "$nginx" -s reload -c "$main" >/dev/null 2>&1
    echo "nginx reload failed, previous file restored: $out" >&2; exit 4
  fi
  echo reloaded
else
  if ! out=$("$nginx" -c "$main" 2>&1); then echo "nginx did not start: $out" >&2; exit 5; fi
  echo started
fi"#;

const RESTORE: &str = r#"up=$1; main=$2; nginx=$3
[ -e "$up.prev" ] && mv -f "$up.prev" "$up" && "$nginx" -s reload -c "$main""#;

/// Read the upstream file currently in place (empty when none).
pub async fn current(r: &RemoteHost, s: &LbSettings) -> Result<String, HostError> {
    r.script(
        "read upstreams",
        r#"cat "$1" 2>/dev/null; true"#,
        &[&s.upstream_conf()],
    )
    .await
}

/// Apply `conf` (rendered with `serial`) on LB host `r`.
pub async fn apply(
    r: &RemoteHost,
    s: &LbSettings,
    conf: &str,
    serial: &str,
) -> Result<(), HostError> {
    let tmp = format!("{}.new-{serial}", s.upstream_conf());
    r.run("mkdir", &["mkdir".into(), "-p".into(), s.dir.clone()])
        .await?;
    let put = r
        .script_stdin(
            "upload upstreams",
            r#"cat > "$1""#,
            &[&tmp],
            conf.as_bytes(),
        )
        .await?;
    if !put.ok() {
        return Err(HostError::Command {
            what: "upload upstreams".into(),
            status: put.status,
            stderr: put.stderr_str(),
        });
    }
    let main = lb::main_conf(s);
    let test = main.replace(&s.upstream_conf(), &tmp);
    r.script(
        "nginx -t and reload",
        APPLY,
        &[
            &s.dir,
            &s.main_conf(),
            &s.upstream_conf(),
            &s.pid_file(),
            &s.nginx,
            &tmp,
            &main,
            &test,
        ],
    )
    .await?;
    if let Err(e) = confirm(r, s, serial).await {
        let _ = r
            .script(
                "restore upstreams",
                RESTORE,
                &[&s.upstream_conf(), &s.main_conf(), &s.nginx],
            )
            .await;
        return Err(e);
    }
    Ok(())
}

/// Wait (bounded, 15 s) until nginx serves `serial` at `/__deployctl/config`.
pub async fn confirm(r: &RemoteHost, s: &LbSettings, serial: &str) -> Result<(), HostError> {
    let t0 = Instant::now();
    let mut last = String::new();
    while t0.elapsed() < Duration::from_secs(15) {
        if let Ok(stream) = r.t.tunnel(s.listen).await {
            let fut = probe::request(
                stream,
                "GET",
                "localhost",
                "/__deployctl/config",
                "lb config",
            );
            match tokio::time::timeout(Duration::from_secs(3), fut).await {
                Ok(Ok(resp)) if resp.status == 200 && resp.body.trim() == serial => return Ok(()),
                Ok(Ok(resp)) => last = format!("{} {}", resp.status, resp.body.trim()),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "timed out".into(),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(HostError::Check(format!(
        "nginx did not serve config {serial} within 15s (last: {last})"
    )))
}
