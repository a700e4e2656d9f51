//! `netcheck`: one [`crate::fleet::netcheck_all`] measurement.

use super::{emit, Ctx};
use crate::exit::Exit;
use crate::fleet::{self, HostNet};
use crate::netcheck::Icmp;

// The arguments of `netcheck` (its help text is on `cli::Command::Netcheck`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, short)]
    pub env: String,
}

/// Exit [`Exit::Aborted`] (what a rollout would do) when a host is past the thresholds.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    let env = ctx.env(&args.env)?;
    let n = fleet::netcheck_all(&env).await;
    emit(ctx, &n, |n| human(n))?;
    Ok(Exit::success_or(
        n.iter().all(|h| h.verdict.ok),
        Exit::Aborted,
    ))
}

fn human(n: &[HostNet]) {
    for h in n {
        let s = h.stats.as_ref();
        let ms = |v: Option<f64>| v.map(|l| format!("{l:.2}ms")).unwrap_or("-".into());
        let icmp = match s.map(|s| &s.icmp) {
            Some(Icmp::Measured(i)) => {
                format!("icmp loss {:.0}% rtt avg {}", i.loss_pct, ms(i.rtt_avg_ms))
            }
            Some(Icmp::Unavailable { reason }) => format!("icmp unavailable ({reason})"),
            None => "icmp -".into(),
        };
        println!(
            "{:<14} {} tcp loss {} latency p50 {} max {} | {} {}",
            h.host,
            if h.verdict.ok { "ok  " } else { "BAD " },
            s.map(|s| format!("{:.0}%", s.loss_pct))
                .unwrap_or("-".into()),
            ms(s.and_then(|s| s.latency_p50_ms)),
            ms(s.and_then(|s| s.latency_max_ms)),
            icmp,
            h.verdict.reasons.join("; ")
        );
    }
}
