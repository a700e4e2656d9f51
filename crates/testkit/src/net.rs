//! Addresses without a race. A process under test binds port 0 and reports its address
//! ([`crate::master`]); where the address must be known before the process starts (an
//! inventory names it, workers bind it themselves with `SO_REUSEPORT`), a [`Reserved`] port
//! holds it: a socket bound with `SO_REUSEADDR` and never listening, kept for the test's
//! life. The kernel hands that port to no one else (no `bind(0)`, no outgoing connection),
//! while a process that binds it with `SO_REUSEADDR` and listens gets it. Nothing listens
//! on a reserved port until then: a connection is refused, which also makes it a "down host".

use socket2::{Domain, Socket, Type};
use std::net::SocketAddr;

/// A loopback port held for this test (see the module doc).
#[derive(Debug)]
pub struct Reserved {
    _socket: Socket,
    pub addr: SocketAddr,
}

impl Reserved {
    /// A fresh loopback port, reserved until dropped.
    pub fn new() -> Reserved {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let addr = s.local_addr().unwrap().as_socket().unwrap();
        Reserved { _socket: s, addr }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Default for Reserved {
    fn default() -> Self {
        Reserved::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_port_refuses_connections_and_can_be_taken_with_reuseaddr() {
        let r = Reserved::new();
        assert!(std::net::TcpStream::connect(r.addr).is_err(), "refused");
        // A bind without SO_REUSEADDR is refused while the port is reserved.
        let plain = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        assert!(plain.bind(&r.addr.into()).is_err());
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        s.bind(&r.addr.into()).unwrap();
        s.listen(8).unwrap();
        assert!(std::net::TcpStream::connect(r.addr).is_ok(), "taken");
    }
}
