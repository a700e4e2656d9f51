//! The lease script ([`crate::lease`]) and its parser.

use super::{lines, Record, Script, ScriptError};
use crate::lease::{LeaseInfo, Verdict};

pub const LEASE: Script = super::script!("lease");

const KEYS: [&str; 9] = [
    "verdict",
    "now",
    "run",
    "controller",
    "user",
    "pid",
    "started",
    "heartbeat",
    "expires",
];

/// [`LEASE`]'s answer: the verdict and the lease shown with it. HELD, TAKEOVER and REMOVED
/// always show one, LOST when one is there, the other verdicts never.
pub fn parse_lease(out: &str) -> Result<(Verdict, Option<LeaseInfo>), ScriptError> {
    let all = lines(&LEASE, out)?;
    if let Some(l) = all.first().filter(|l| l.key != "verdict") {
        return Err(l.bad(&LEASE, "the verdict comes first"));
    }
    let r = Record::new(&LEASE, all, &KEYS)?;
    let word = r.req("verdict")?;
    let verdict = Verdict::ALL
        .into_iter()
        .find(|v| v.as_str() == word)
        .ok_or_else(|| {
            r.line("verdict")
                .expect("read")
                .bad(&LEASE, "unknown verdict")
        })?;
    let shown = r.line("now").is_some();
    let shows = match verdict {
        Verdict::Held | Verdict::Takeover | Verdict::Removed => Some(true),
        Verdict::Lost => None,
        _ => Some(false),
    };
    if shows.is_some_and(|s| s != shown) {
        let l = r.line("verdict").expect("read");
        return Err(l.bad(
            &LEASE,
            if shown {
                "with a lease"
            } else {
                "without its lease"
            },
        ));
    }
    if !shown {
        if let Some(l) = KEYS[2..].iter().find_map(|k| r.line(k)) {
            return Err(l.bad(&LEASE, "lease field without now="));
        }
        return Ok((verdict, None));
    }
    let time = |k: &'static str| -> Result<Option<i64>, ScriptError> {
        r.line(k).map(|_| r.num(k)).transpose()
    };
    let text = |k: &str| r.opt(k).unwrap_or_default().to_string();
    let info = LeaseInfo {
        run_id: text("run"),
        controller: text("controller"),
        user: text("user"),
        pid: text("pid"),
        started: time("started")?,
        heartbeat: time("heartbeat")?,
        expires: time("expires")?,
        host_now: r.num("now")?,
    };
    Ok((verdict, Some(info)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELD: &str = "verdict=HELD\nnow=100\nrun=a\ncontroller=ctl\nuser=ops\npid=7\nstarted=90\nheartbeat=95\nexpires=160\n";

    #[test]
    fn verdicts_come_with_the_lease_they_saw() {
        let (v, info) = parse_lease(HELD).unwrap();
        let info = info.unwrap();
        assert_eq!(v, Verdict::Held);
        assert_eq!((info.run_id.as_str(), info.pid.as_str()), ("a", "7"));
        assert_eq!(
            (info.started, info.heartbeat, info.expires, info.host_now),
            (Some(90), Some(95), Some(160), 100)
        );
        assert_eq!(
            parse_lease("verdict=ACQUIRED\n"),
            Ok((Verdict::Acquired, None))
        );
        assert_eq!(parse_lease("verdict=LOST\n"), Ok((Verdict::Lost, None)));
        // A damaged lease file: the script shows only the fields it could read.
        let (v, info) = parse_lease("verdict=TAKEOVER\nnow=100\nrun=a\n").unwrap();
        let info = info.unwrap();
        assert_eq!(v, Verdict::Takeover);
        assert_eq!((info.expires, info.user.as_str()), (None, ""));
        for (out, want) in [
            ("", "no `verdict=`"),
            ("HELD", "not key=value"),
            ("now=1\nverdict=HELD", "the verdict comes first"),
            ("verdict=MAYBE", "unknown verdict"),
            ("verdict=HELD", "without its lease"),
            ("verdict=ACQUIRED\nnow=1", "with a lease"),
            ("verdict=RENEWED\nrun=a", "lease field without now="),
            ("verdict=HELD\nnow=x", "not a decimal number"),
            ("verdict=HELD\nnow=1\nexpires=-5", "not a decimal number"),
            ("verdict=HELD\nnow=1\nnow=2", "repeated key"),
            ("verdict=HELD\nnow=1\ncolour=red", "unknown key"),
        ] {
            let e = parse_lease(out).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("script lease"),
                "{out:?}: {e}"
            );
        }
    }
}
