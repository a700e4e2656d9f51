//! Console output: on a terminal, colour (console) and one progress bar per host (indicatif);
//! otherwise plain timestamped lines; with `--json`, nothing but the final JSON document.
//! The outcome line is always the last line of human output.

use crate::outcome::Outcome;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;

enum Mode {
    Bars {
        multi: MultiProgress,
        bars: Mutex<HashMap<String, ProgressBar>>,
    },
    Plain,
    Quiet,
}

/// Where human progress goes.
pub struct Ui {
    mode: Mode,
}

/// Steps of one host's rollout, for the progress bar length.
pub const HOST_STEPS: u64 = 6;

impl Ui {
    /// Human progress: bars when stdout is a terminal, plain lines otherwise.
    pub fn human() -> Ui {
        let mode = if console::Term::stdout().is_term() {
            Mode::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Mode::Plain
        };
        Ui { mode }
    }

    /// A UI that prints nothing (`--json`, library callers, tests).
    pub fn quiet() -> Ui {
        Ui { mode: Mode::Quiet }
    }

    fn bar(&self, host: &str) -> Option<ProgressBar> {
        let Mode::Bars { multi, bars } = &self.mode else {
            return None;
        };
        let mut bars = bars.lock().expect("bars");
        Some(
            bars.entry(host.to_string())
                .or_insert_with(|| {
                    let pb = multi.add(ProgressBar::new(HOST_STEPS));
                    pb.set_style(
                        ProgressStyle::with_template(
                            "{prefix:>14.bold} [{bar:24.cyan/blue}] {elapsed:>4} {msg}",
                        )
                        .expect("template")
                        .progress_chars("=> "),
                    );
                    pb.set_prefix(host.to_string());
                    pb
                })
                .clone(),
        )
    }

    /// A general line (above the bars on a terminal).
    pub fn info(&self, msg: &str) {
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(msg);
            }
            Mode::Plain => println!("{} {msg}", chrono::Utc::now().format("%H:%M:%S%.3f")),
            Mode::Quiet => {}
        }
    }

    /// `host` started `step`.
    pub fn step(&self, host: &str, step: &str) {
        match &self.mode {
            Mode::Bars { .. } => {
                if let Some(pb) = self.bar(host) {
                    pb.set_message(step.to_string());
                }
            }
            Mode::Plain => self.info(&format!("{host}: {step}")),
            Mode::Quiet => {}
        }
    }

    /// `host` finished a step.
    pub fn advance(&self, host: &str) {
        if let Some(pb) = self.bar(host) {
            pb.inc(1);
        }
    }

    /// `host` is done (verified or failed).
    pub fn done(&self, host: &str, ok: bool, msg: &str) {
        let text = if ok {
            console::style(format!("ok {msg}")).green().to_string()
        } else {
            console::style(format!("FAILED {msg}")).red().to_string()
        };
        match &self.mode {
            Mode::Bars { .. } => {
                if let Some(pb) = self.bar(host) {
                    pb.finish_with_message(text);
                }
            }
            Mode::Plain => self.info(&format!(
                "{host}: {}",
                if ok {
                    format!("ok {msg}")
                } else {
                    format!("FAILED {msg}")
                }
            )),
            Mode::Quiet => {}
        }
    }

    /// The final outcome line.
    pub fn outcome(&self, out: Outcome, summary: &str) {
        let outcome = out.as_str();
        let styled = match out {
            Outcome::Success => console::style(outcome).green().bold(),
            Outcome::PartialSuccess => console::style(outcome).yellow().bold(),
            _ => console::style(outcome).red().bold(),
        };
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.clear();
                println!("outcome: {styled} {summary}");
            }
            Mode::Plain => println!("outcome: {outcome} {summary}"),
            Mode::Quiet => {}
        }
    }
}
