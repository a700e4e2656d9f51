//! The `local` transport: commands run on this machine, no SSH. Behind `--env local`.

use super::{BoxFuture, ExecOutput, Transport, TransportError, Tunnel};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// Runs argument vectors directly (no shell in between).
#[derive(Debug)]
pub struct LocalTransport {
    name: String,
}

impl LocalTransport {
    pub fn new(name: &str) -> Self {
        LocalTransport {
            name: name.to_string(),
        }
    }

    fn err(&self, detail: impl ToString) -> TransportError {
        TransportError::Other {
            host: self.name.clone(),
            detail: detail.to_string(),
        }
    }

    async fn run(
        &self,
        argv: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError> {
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| self.err("empty command"))?;
        let mut child = tokio::process::Command::new(prog)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| self.err(format!("{prog}: {e}")))?;
        let input = child.stdin.take();
        let feed = async {
            if let (Some(mut w), Some(data)) = (input, stdin) {
                w.write_all(data).await?;
                w.shutdown().await?;
            }
            Ok::<_, std::io::Error>(())
        };
        let (fed, out) = tokio::join!(feed, child.wait_with_output());
        let out = out.map_err(|e| self.err(e))?;
        fed.map_err(|e| self.err(format!("writing stdin: {e}")))?;
        Ok(ExecOutput {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

impl Transport for LocalTransport {
    fn host(&self) -> &str {
        &self.name
    }
    fn exec<'a>(
        &'a self,
        argv: &'a [String],
        stdin: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(self.run(argv, stdin))
    }
    fn tunnel(&self, port: u16) -> BoxFuture<'_, Result<Box<dyn Tunnel>, TransportError>> {
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| self.err(format!("127.0.0.1:{port}: {e}")))?;
            Ok(Box::new(s) as Box<dyn Tunnel>)
        })
    }
    fn reconnect(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async { Ok(()) })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_argv_without_a_shell_and_feeds_stdin() {
        let t = LocalTransport::new("local");
        let argv: Vec<String> = vec![
            "sh".into(),
            "-c".into(),
            "cat; echo \"$0\" >&2; exit 3".into(),
            "a b;c".into(),
        ];
        let out = t.exec(&argv, Some(b"hello")).await.unwrap();
        assert_eq!(out.status, 3);
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr_str(), "a b;c");
        let err = t
            .exec(&["/nonexistent/x".to_string()], None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x"));
    }
}
