//! LB access logs for canary analysis. deployctl configures every LB to write one JSON object
//! per request to `{lb dir}/access.json` ([`nginx_directives`], [`haproxy_directives`]), and
//! [`fetch`] reads the lines written since the last read over the existing transport.
//!
//! Both kinds log the same facts, with the units the LB has: time, pool (its backend name,
//! `deployctl_stable` or `deployctl_gray`), upstream address, method, route group (`search`,
//! `bookings`: `/bookings` and `/bookings/*`, `other`), status, request and upstream time, and
//! `h` = "1" when the gray header routed the request, and `c`, a hash of the split key (the
//! unit of the sticky split; never the key): haproxy `sdbm`, nginx one of 100 `split_clients`
//! buckets.
//! [`parse_line`] turns either into a [`Record`].
//!
//! nginx: `log_format ... escape=json` (every variable JSON-escaped). haproxy 2.6 runs
//! daemonised (`-W -D`), so `log stdout` has nowhere to go, and its rings are memory-only
//! until 2.7's backing files; it logs `format raw` datagrams to a unix socket in the LB's
//! directory, where a `socat UNIX-RECV` receiver (socat is already the runtime API client)
//! appends them to the file. Every logged value is a number, a backend/server name or
//! address deployctl chose, a variable set from a fixed string, or the method (an HTTP token,
//! which cannot contain `"` or `\`), so the haproxy line is valid JSON without an escaper.

pub mod fetch;

use crate::lb::LbSettings;
use serde::Serialize;
use serde_json::Value;

/// The access log file on the LB host.
pub fn log_path(s: &LbSettings) -> String {
    format!("{}/access.json", s.dir())
}

/// haproxy's log socket (read by the receiver).
pub fn haproxy_socket(s: &LbSettings) -> String {
    format!("{}/access.sock", s.dir())
}

/// Pid file of haproxy's log receiver.
pub fn receiver_pid(s: &LbSettings) -> String {
    format!("{}/access-receiver.pid", s.dir())
}

/// Which pool served a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    Stable,
    Gray,
}

/// Route group of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Search,
    Bookings,
    Other,
}

impl Group {
    pub const ALL: [Group; 3] = [Group::Search, Group::Bookings, Group::Other];
    pub fn name(self) -> &'static str {
        match self {
            Group::Search => "search",
            Group::Bookings => "bookings",
            Group::Other => "other",
        }
    }
}

/// One request as the LB saw it (both kinds, normalised to milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// When the LB logged it (end of the request), Unix milliseconds.
    pub at_ms: i64,
    pub pool: Pool,
    pub upstream: String,
    pub method: String,
    pub group: Group,
    pub status: u16,
    /// Client-facing time of the request at the LB.
    pub request_ms: f64,
    /// Time the upstream(s) took; `None` when no upstream answered.
    pub upstream_ms: Option<f64>,
    /// The gray header routed it (excluded from the comparison).
    pub by_header: bool,
    /// A hash of the client's split key (never the raw key): the unit of the sticky split.
    pub client: Option<String>,
}

/// Buckets of the client hash nginx logs (`split_clients` takes whole hundredths of a percent;
/// 100 buckets of 1% keep the file short and still separate a heavy client from the rest).
const NGINX_CLIENT_BUCKETS: u32 = 100;

/// nginx has no hash function in its configuration, but `split_clients` hashes (MurmurHash2):
/// the split key with a suffix (so the buckets are independent of the gray split) falls into
/// one of [`NGINX_CLIENT_BUCKETS`] buckets, logged as `c`. Never the key itself.
fn nginx_client_hash(split_key: &str) -> String {
    let mut o = format!("split_clients \"{split_key}#client\" $deployctl_client {{\n");
    for b in 0..NGINX_CLIENT_BUCKETS - 1 {
        o.push_str(&format!("    1% c{b};\n"));
    }
    o.push_str(&format!("    * c{};\n}}\n", NGINX_CLIENT_BUCKETS - 1));
    o
}

/// The nginx part: route group, header and client-hash maps, the JSON log format (all at
/// `http` level, in the owned upstream file). `gray` = gray mode on (the header routes only
/// then).
pub fn nginx_directives(header_var: &str, split_key: &str, gray: bool) -> String {
    let by_header = if gray {
        format!("map {header_var} $deployctl_by_header {{\n    \"1\" 1;\n    default 0;\n}}\n")
    } else {
        format!("map {header_var} $deployctl_by_header {{\n    default 0;\n}}\n")
    };
    format!(
        "map $uri $deployctl_group {{\n    /search search;\n    /bookings bookings;\n    ~^/bookings/ bookings;\n    default other;\n}}\n{by_header}{client}\
         log_format deployctl_json escape=json '{{\"t\":$msec,\"pool\":\"$deployctl_pool\",\"up\":\"$upstream_addr\",\"m\":\"$request_method\",\"g\":\"$deployctl_group\",\"s\":$status,\"rt\":$request_time,\"ut\":\"$upstream_response_time\",\"h\":\"$deployctl_by_header\",\"c\":\"$deployctl_client\"}}';\n",
        client = nginx_client_hash(split_key)
    )
}

/// The nginx `server {}` line that writes the log.
pub fn nginx_access_log(s: &LbSettings) -> String {
    format!("    access_log {} deployctl_json;\n", log_path(s))
}

/// haproxy: the `defaults` log target.
pub fn haproxy_log_target(s: &LbSettings) -> String {
    format!(
        "    log {} format raw local0\n    option dontlognull\n",
        haproxy_socket(s)
    )
}

/// haproxy: the frontend's group and header variables and the JSON log format.
pub fn haproxy_directives() -> &'static str {
    "    http-request set-var(txn.deployctl_group) str(other)\n\
     \x20   http-request set-var(txn.deployctl_group) str(search) if { path /search }\n\
     \x20   http-request set-var(txn.deployctl_group) str(bookings) if { path /bookings } || { path_beg /bookings/ }\n\
     \x20   http-request set-var(txn.deployctl_hdr) str(0)\n\
     \x20   http-request set-var(txn.deployctl_hdr) str(1) if deployctl_on deployctl_header\n\
     \x20   log-format '{\"t_ms\":%[date(0,ms)],\"pool\":\"%b\",\"up\":\"%si:%sp\",\"m\":\"%HM\",\"g\":\"%[var(txn.deployctl_group)]\",\"s\":%ST,\"rt_ms\":%Ta,\"ut_ms\":%Tr,\"h\":\"%[var(txn.deployctl_hdr)]\",\"c\":\"%[var(txn.deployctl_client)]\"}'\n"
}

/// Why a line is not a record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LineError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("field {0} missing or malformed")]
    Field(&'static str),
    /// Not routed to a pool (e.g. `/__deployctl/config`, answered by the LB itself).
    #[error("no pool ({0})")]
    NoPool(String),
}

/// Sum of an nginx time list (`"0.003, 0.004"` after a retry; `"-"` when none), in ms.
fn nginx_times_ms(v: &str) -> Option<f64> {
    let mut total = None;
    for part in v.split([',', ':']) {
        if let Ok(x) = part.trim().parse::<f64>() {
            total = Some(total.unwrap_or(0.0) + x * 1000.0);
        }
    }
    total
}

/// The records of complete log lines (`bytes` ends at a line end), the lines that are not
/// records, and the first malformed one (a line routed to no pool is not malformed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lines {
    pub records: Vec<Record>,
    pub skipped: usize,
    pub first_error: Option<String>,
}

pub fn parse_lines(bytes: &[u8]) -> Lines {
    let mut out = Lines::default();
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let parsed = std::str::from_utf8(line)
            .map_err(|_| LineError::Json("not UTF-8".into()))
            .and_then(parse_line);
        match parsed {
            Ok(r) => out.records.push(r),
            Err(e) => {
                out.skipped += 1;
                if out.first_error.is_none() && !matches!(e, LineError::NoPool(_)) {
                    out.first_error = Some(e.to_string());
                }
            }
        }
    }
    out
}

/// One access-log line of either kind.
pub fn parse_line(line: &str) -> Result<Record, LineError> {
    let v: Value = serde_json::from_str(line).map_err(|e| LineError::Json(e.to_string()))?;
    let s = |k: &'static str| v[k].as_str().ok_or(LineError::Field(k));
    let pool = match s("pool")? {
        "deployctl_stable" => Pool::Stable,
        "deployctl_gray" => Pool::Gray,
        other => return Err(LineError::NoPool(other.to_string())),
    };
    let group = match s("g")? {
        "search" => Group::Search,
        "bookings" => Group::Bookings,
        _ => Group::Other,
    };
    // haproxy logs -1 when no answer was sent (the client or the server gave up): status 0.
    let status = match v["s"].as_i64() {
        Some(-1) => 0,
        s => s
            .and_then(|x| u16::try_from(x).ok())
            .ok_or(LineError::Field("s"))?,
    };
    let (at_ms, request_ms, upstream_ms) = if let Some(t) = v["t"].as_f64() {
        let rt = v["rt"].as_f64().ok_or(LineError::Field("rt"))?;
        (
            (t * 1000.0).round() as i64,
            rt * 1000.0,
            nginx_times_ms(s("ut")?),
        )
    } else {
        let t = v["t_ms"].as_i64().ok_or(LineError::Field("t_ms"))?;
        let rt = v["rt_ms"].as_f64().ok_or(LineError::Field("rt_ms"))?;
        let ut = v["ut_ms"].as_f64().filter(|x| *x >= 0.0);
        (t, rt, ut)
    };
    Ok(Record {
        at_ms,
        pool,
        upstream: s("up")?.to_string(),
        method: s("m")?.to_string(),
        group,
        status,
        request_ms,
        upstream_ms,
        by_header: s("h")? == "1",
        client: v["c"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests;
