//! Role detection scripts ([`crate::detect`]) and their parsers.

use super::{digits, records, Script, ScriptError};

pub const LISTEN: Script = super::script!("detect_listen");
pub const OWNERS: Script = super::script!("detect_owners");

/// The files [`LISTEN`] reads on a host.
pub const PROC_NET_TCP: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];

/// [`LISTEN`]'s answer: (port, socket inode) of every listening socket.
pub fn parse_listen(out: &str) -> Result<Vec<(u16, String)>, ScriptError> {
    records(&LISTEN, out, "listen", &["listen", "inode"])?
        .into_iter()
        .map(|r| {
            let inode = r.check("inode", "a socket inode", digits)?;
            Ok((r.num("listen")?, inode.to_string()))
        })
        .collect()
}

/// [`OWNERS`]'s answer: (socket inode, process name when readable) per owning process.
pub fn parse_owners(out: &str) -> Result<Vec<(String, Option<String>)>, ScriptError> {
    records(&OWNERS, out, "inode", &["inode", "comm"])?
        .into_iter()
        .map(|r| {
            let inode = r.check("inode", "a socket inode", digits)?;
            Ok((inode.to_string(), r.opt("comm").map(str::to_string)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1538 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn the_listen_script_reads_listening_sockets_of_both_files() {
        let d = tempfile::tempdir().unwrap();
        let (tcp, tcp6) = (d.path().join("tcp"), d.path().join("tcp6"));
        std::fs::write(&tcp, TCP).unwrap();
        std::fs::write(&tcp6, TCP6).unwrap();
        let missing = d.path().join("none");
        let paths = [&tcp, &tcp6, &missing].map(|p| p.to_str().unwrap().to_string());
        let args: Vec<&str> = paths.iter().map(String::as_str).collect();
        let argv = super::super::argv(&LISTEN, &args);
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let got = parse_listen(&String::from_utf8(out.stdout).unwrap()).unwrap();
        let want = [(8080, "1"), (80, "2"), (443, "77")].map(|(p, i)| (p, i.to_string()));
        assert_eq!(got, want);
    }

    #[test]
    fn listen_answers_are_ports_with_inodes() {
        assert_eq!(parse_listen(""), Ok(vec![]));
        for (out, want) in [
            ("listen=80", "no `inode=`"),
            ("listen=70000\ninode=1", "out of range"),
            ("listen=1F90\ninode=1", "not a decimal number"),
            ("listen=80\ninode=socket", "not a socket inode"),
            ("inode=1", "before the first `listen=`"),
            ("listen=80\ninode=1\ninode=2", "repeated key"),
            ("listen=80\ninode=1\nuid=0", "unknown key"),
            ("0: 00000000:1F90", "not key=value"),
        ] {
            let e = parse_listen(out).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("detect_listen"),
                "{out:?}: {e}"
            );
        }
    }

    #[test]
    fn owner_answers_are_inodes_with_process_names() {
        let got = parse_owners("inode=2\ncomm=nginx\ninode=2\ninode=3\ncomm=my prog\n").unwrap();
        let want = vec![
            ("2".to_string(), Some("nginx".to_string())),
            ("2".to_string(), None),
            ("3".to_string(), Some("my prog".to_string())),
        ];
        assert_eq!(got, want);
        for (out, want) in [
            ("comm=nginx", "before the first `inode=`"),
            ("inode=x\ncomm=nginx", "not a socket inode"),
            ("inode=2\ncomm=a\ncomm=b", "repeated key"),
            ("inode=2\npid=1", "unknown key"),
            ("2 nginx", "not key=value"),
        ] {
            let e = parse_owners(out).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("detect_owners"),
                "{out:?}: {e}"
            );
        }
    }
}
