//! LCOV tracefile parser (the `--lcov` output of cargo-llvm-cov).
//!
//! Only `SF:` (source file), `DA:` (line, hits[, checksum]) and `end_of_record` matter for
//! line coverage; every other record is skipped. A line listed by `DA:` is executable; it is
//! covered when its hit count is above zero. Repeated records for the same file are merged
//! by adding hits.

use std::collections::BTreeMap;
use std::fmt;

/// Line hits per source path, exactly as written in `SF:` records.
pub type LineHits = BTreeMap<String, BTreeMap<u32, u64>>;

/// A malformed tracefile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcovParseError {
    /// 1-based line in the tracefile.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for LcovParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lcov line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for LcovParseError {}

/// Parses an LCOV tracefile into line hits per source file.
pub fn parse_lcov(text: &str) -> Result<LineHits, LcovParseError> {
    let mut out = LineHits::new();
    let mut current: Option<String> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let err = |reason: &str| LcovParseError {
            line: idx + 1,
            reason: reason.to_string(),
        };
        if let Some(path) = line.strip_prefix("SF:") {
            if current.is_some() {
                return Err(err("SF without end_of_record for the previous file"));
            }
            out.entry(path.to_string()).or_default();
            current = Some(path.to_string());
        } else if let Some(rest) = line.strip_prefix("DA:") {
            let path = current
                .as_ref()
                .ok_or_else(|| err("DA outside a SF record"))?;
            let mut fields = rest.split(',');
            let number: u32 = fields
                .next()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| err("DA line number is not a number"))?;
            let hits_field = fields.next().ok_or_else(|| err("DA without a hit count"))?;
            // Some producers write negative counts for unreachable lines: treat as 0.
            let hits: i128 = hits_field
                .trim()
                .parse()
                .map_err(|_| err("DA hit count is not a number"))?;
            let hits = u64::try_from(hits.max(0)).unwrap_or(u64::MAX);
            let slot = out
                .get_mut(path)
                .expect("entry created at SF")
                .entry(number)
                .or_insert(0);
            *slot = slot.saturating_add(hits);
        } else if line == "end_of_record" {
            current = None;
        }
    }
    if current.is_some() {
        return Err(LcovParseError {
            line: text.lines().count(),
            reason: "tracefile ends without end_of_record".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_merges_records() {
        let text = "TN:\nSF:/r/src/a.rs\nFN:1,f\nDA:1,3\nDA:2,0,abc\nLF:2\nLH:1\nend_of_record\nSF:/r/src/a.rs\nDA:2,4\nDA:9,-1\nend_of_record\n";
        let hits = parse_lcov(text).unwrap();
        let a = &hits["/r/src/a.rs"];
        assert_eq!(a[&1], 3);
        assert_eq!(a[&2], 4);
        assert_eq!(a[&9], 0);
    }

    #[test]
    fn malformed_tracefiles_are_errors() {
        assert_eq!(parse_lcov("DA:1,1\n").unwrap_err().line, 1);
        assert!(parse_lcov("SF:x\nDA:one,1\nend_of_record\n").is_err());
        assert!(parse_lcov("SF:x\nDA:1\nend_of_record\n").is_err());
        assert!(parse_lcov("SF:x\nDA:1,1\n").is_err());
        assert!(parse_lcov("SF:x\nSF:y\n").is_err());
        assert!(parse_lcov("").unwrap().is_empty());
    }
}
