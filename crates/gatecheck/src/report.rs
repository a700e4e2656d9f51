//! E2E reports: the console table, JUnit XML (one `<testsuite>` per host, one `<testcase>`
//! per suite) and JSON.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::suite::{SuiteRun, Verdict};
use crate::targets::Kind;

/// All suites against one target: an app host, or a load balancer's external URL.
#[derive(Debug, Clone, Serialize)]
pub struct HostRun {
    pub host: String,
    pub base_url: String,
    pub target: Kind,
    /// Suites meant for this target: all of them for an app host; through a load balancer
    /// those that need no `admin_url` (host suites, such as a restart, are not run there).
    pub suites: usize,
    pub runs: Vec<SuiteRun>,
}

impl HostRun {
    fn count(&self, v: Verdict) -> usize {
        self.runs.iter().filter(|r| r.verdict == v).count()
    }
}

/// The whole E2E gate.
#[derive(Debug, Clone, Serialize)]
pub struct E2eReport {
    pub env: String,
    pub passed: bool,
    pub suites: usize,
    pub hosts: Vec<HostRun>,
}

impl E2eReport {
    /// Builds the report; it passes only when every suite meant for a target passed on it,
    /// and every app host was meant to run all `suites`.
    pub fn new(env: &str, suites: usize, hosts: Vec<HostRun>) -> Self {
        let passed = !hosts.is_empty()
            && hosts.iter().all(|h| {
                (h.target == Kind::Lb || h.suites == suites)
                    && h.runs.len() == h.suites
                    && h.runs.iter().all(|r| r.verdict == Verdict::Passed)
            });
        E2eReport {
            env: env.to_string(),
            passed,
            suites,
            hosts,
        }
    }

    /// One line per suite and host, then a verdict line.
    pub fn console(&self) -> String {
        let mut s = String::new();
        for h in &self.hosts {
            for r in &h.runs {
                let label = match r.verdict {
                    Verdict::Passed => "PASS",
                    Verdict::Failed => "FAIL",
                    Verdict::Error => "ERROR",
                };
                let _ = writeln!(
                    s,
                    "{label:<5} {:<32} {:<12} {} ({} ms, {} requests)",
                    r.suite, h.host, h.base_url, r.duration_ms, r.requests
                );
            }
        }
        let bad: usize = self
            .hosts
            .iter()
            .map(|h| h.count(Verdict::Failed) + h.count(Verdict::Error))
            .sum();
        let _ = writeln!(
            s,
            "e2e gate for env {}: {} ({} suites x {} hosts, {} not passed)",
            self.env,
            if self.passed { "PASSED" } else { "FAILED" },
            self.suites,
            self.hosts.len(),
            bad
        );
        s
    }

    /// JUnit XML as understood by CI systems.
    pub fn junit_xml(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let all: Vec<&SuiteRun> = self.hosts.iter().flat_map(|h| h.runs.iter()).collect();
        let _ = writeln!(
            s,
            "<testsuites name=\"gatecheck e2e {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
            xml(&self.env),
            all.len(),
            all.iter().filter(|r| r.verdict == Verdict::Failed).count(),
            all.iter().filter(|r| r.verdict == Verdict::Error).count(),
            secs(all.iter().map(|r| r.duration_ms).sum())
        );
        for h in &self.hosts {
            let _ = writeln!(
                s,
                "  <testsuite name=\"{}.{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
                xml(&self.env),
                xml(&h.host),
                h.runs.len(),
                h.count(Verdict::Failed),
                h.count(Verdict::Error),
                secs(h.runs.iter().map(|r| r.duration_ms).sum())
            );
            let _ = writeln!(
                s,
                "    <properties><property name=\"base_url\" value=\"{}\"/></properties>",
                xml(&h.base_url)
            );
            for r in &h.runs {
                let _ = write!(
                    s,
                    "    <testcase classname=\"{}.{}\" name=\"{}\" time=\"{}\"",
                    xml(&self.env),
                    xml(&h.host),
                    xml(&r.suite),
                    secs(r.duration_ms)
                );
                if r.verdict == Verdict::Passed {
                    s.push_str("/>\n");
                    continue;
                }
                s.push_str(">\n");
                for f in &r.failures {
                    let _ = writeln!(
                        s,
                        "      <failure message=\"{}\">{}</failure>",
                        xml(first_line(f)),
                        xml(f)
                    );
                }
                for e in &r.errors {
                    let _ = writeln!(
                        s,
                        "      <error message=\"{}\">{}</error>",
                        xml(first_line(e)),
                        xml(e)
                    );
                }
                s.push_str("    </testcase>\n");
            }
            s.push_str("  </testsuite>\n");
        }
        s.push_str("</testsuites>\n");
        s
    }

    /// Writes `junit.xml` and `e2e.json` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        write_atomic(&dir.join("junit.xml"), self.junit_xml().as_bytes())?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        write_atomic(&dir.join("e2e.json"), (json + "\n").as_bytes())
    }
}

/// Writes through a temporary file and a rename, so readers never see half a report.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 forbids.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(suite: &str, verdict: Verdict) -> SuiteRun {
        SuiteRun {
            suite: suite.into(),
            verdict,
            duration_ms: 1500,
            requests: 2,
            failures: if verdict == Verdict::Failed {
                vec!["Assert failure <\"x\"> & more\n  line 2".into()]
            } else {
                vec![]
            },
            errors: if verdict == Verdict::Error {
                vec!["HTTP connection\x01 refused".into()]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn junit_counts_and_escapes() {
        let report = E2eReport::new(
            "uat",
            2,
            vec![
                HostRun {
                    host: "uat-1".into(),
                    base_url: "http://a".into(),
                    target: Kind::App,
                    suites: 2,
                    runs: vec![
                        run("01-health", Verdict::Passed),
                        run("02-version", Verdict::Failed),
                    ],
                },
                HostRun {
                    host: "uat-2".into(),
                    base_url: "http://b".into(),
                    target: Kind::App,
                    suites: 2,
                    runs: vec![
                        run("01-health", Verdict::Error),
                        run("02-version", Verdict::Passed),
                    ],
                },
            ],
        );
        assert!(!report.passed);
        let x = report.junit_xml();
        assert!(
            x.contains("tests=\"4\" failures=\"1\" errors=\"1\" time=\"6.000\""),
            "{x}"
        );
        assert!(
            x.contains("<failure message=\"Assert failure &lt;&quot;x&quot;&gt; &amp; more\">"),
            "{x}"
        );
        assert!(
            x.contains("<error message=\"HTTP connection refused\">"),
            "{x}"
        );
        assert!(x.contains("<testcase classname=\"uat.uat-1\" name=\"01-health\" time=\"1.500\"/>"));
        assert!(report
            .console()
            .contains("FAILED (2 suites x 2 hosts, 2 not passed)"));
    }

    #[test]
    fn a_host_that_ran_fewer_suites_or_no_hosts_do_not_pass() {
        let one = HostRun {
            host: "h".into(),
            base_url: "u".into(),
            target: Kind::App,
            suites: 1,
            runs: vec![run("a", Verdict::Passed)],
        };
        assert!(E2eReport::new("e", 1, vec![one.clone()]).passed);
        assert!(!E2eReport::new("e", 2, vec![one]).passed);
        assert!(!E2eReport::new("e", 1, vec![]).passed);
    }
}
