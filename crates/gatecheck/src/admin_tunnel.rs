//! Reaching a master's loopback admin endpoint from this machine: a local TCP listener on
//! `127.0.0.1:0` whose connections are carried to `127.0.0.1:PORT` on the host through the
//! environment's deployctl transport (an SSH tunnel, or a plain connect for `local`), through
//! deployctl's public [`HostLink`].

use std::net::SocketAddr;

use deployctl::access::HostLink;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running forwarder; dropping it stops accepting and closes the transport's use.
#[derive(Debug)]
pub struct Forwarder {
    /// Where hurl connects (`http://{local_addr}/restart`).
    pub local_addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Forwarder {
    /// `http://127.0.0.1:PORT` for the suites' `admin_url` variable.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Starts forwarding local connections to `remote_port` on the transport's host.
pub async fn start(link: HostLink, remote_port: u16) -> std::io::Result<Forwarder> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let local_addr = listener.local_addr()?;
    let accept = tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let link = link.clone();
            tokio::spawn(async move {
                match link.tunnel(remote_port).await {
                    Ok(mut outbound) => {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                    Err(e) => eprintln!("gatecheck: admin tunnel to {}: {e}", link.host()),
                }
            });
        }
    });
    Ok(Forwarder { local_addr, accept })
}
