//! Noticing that a client left while its query runs.
//!
//! actix-web neither drops nor wakes a handler whose client disconnected (actix-web issue
//! 3462), so a query whose client gave up would walk storage to its deadline, holding a
//! query slot. Each connection therefore keeps a duplicate of its socket
//! ([`on_connect`]); while a query runs, [`watch`] peeks at it every [`PROBE_EVERY`] and
//! raises the query's [`Cancel`] once the peer has closed its side, as Prometheus does when
//! its request context ends. A peek consumes nothing: actix reads the socket as before.

use std::any::Any;
use std::future::Future;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::dev::Extensions;
use fedstore_storage::Cancel;

/// How often a running query looks at its client's socket: one `recv(MSG_PEEK)` each time,
/// so a query outliving its client by at most this much (plus its next storage check).
pub const PROBE_EVERY: Duration = Duration::from_millis(50);

/// A connection's socket, shared with actix (a duplicated descriptor of the same socket).
#[derive(Debug, Clone)]
pub struct PeerSocket(Arc<TcpStream>);

impl PeerSocket {
    /// Whether the peer has closed the connection (or it broke). Pending bytes (a pipelined
    /// request) mean it is still there; so does a socket with nothing to read.
    pub fn gone(&self) -> bool {
        match self.0.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
        }
    }
}

/// `HttpServer::on_connect`: keeps a duplicate of the connection's socket in the
/// connection's data, plain or TLS (under TLS the peer's close still ends the TCP stream).
/// A connection whose descriptor cannot be duplicated (out of descriptors) is just not
/// watched.
pub fn on_connect(conn: &dyn Any, data: &mut Extensions) {
    let tcp = conn
        .downcast_ref::<actix_web::rt::net::TcpStream>()
        .or_else(|| {
            conn.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>>()
                .map(|tls| tls.get_ref().0)
        });
    if let Some(fd) = tcp.and_then(|t| t.as_fd().try_clone_to_owned().ok()) {
        // The duplicate shares the original's non-blocking mode, so a peek never waits.
        data.insert(PeerSocket(Arc::new(TcpStream::from(fd))));
    }
}

/// The socket of `req`'s connection, when [`on_connect`] kept it.
pub fn of(req: &HttpRequest) -> Option<PeerSocket> {
    req.conn_data::<PeerSocket>().cloned()
}

/// Awaits `work`; if `peer` closes meanwhile, raises `cancel`, calls `left` once, and goes on
/// awaiting `work` (which stops at its next check of `cancel`).
pub async fn watch<F: Future>(
    work: F,
    peer: Option<&PeerSocket>,
    cancel: &Cancel,
    left: impl FnOnce(),
) -> F::Output {
    let Some(peer) = peer else {
        return work.await;
    };
    tokio::pin!(work);
    // The first probe one period from now: an interval's immediate first tick is not
    // immediate (the timer wheel fires it at its next millisecond, which cost every quick
    // query ~2 ms).
    let first = tokio::time::Instant::now() + PROBE_EVERY;
    let mut probe = tokio::time::interval_at(first, PROBE_EVERY);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = probe.tick() => {
                if peer.gone() {
                    cancel.cancel();
                    left();
                    return work.await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, PeerSocket) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (client, PeerSocket(Arc::new(server)))
    }

    #[test]
    fn a_quiet_client_is_there_and_a_closed_one_gone() {
        let (client, peer) = pair();
        assert!(!peer.gone());
        drop(client);
        // The FIN arrives asynchronously on loopback; it is there within a few ms.
        let gone = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            peer.gone()
        });
        assert!(gone, "a closed client must be seen as gone");
    }

    #[test]
    fn pending_bytes_are_not_a_close_and_are_not_consumed() {
        let (mut client, peer) = pair();
        client.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(!peer.gone());
        let mut buf = [0u8; 16];
        assert_eq!(
            peer.0.peek(&mut buf).unwrap(),
            16,
            "peek left the bytes in place"
        );
    }

    #[test]
    fn watch_cancels_when_the_client_leaves_and_waits_for_the_work() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (client, peer) = pair();
        let cancel = Cancel::default();
        let seen = cancel.clone();
        // Work that ends only once it sees the cancel, as a storage walk does.
        let work = async move {
            while seen.stopped().is_none() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            "stopped"
        };
        let mut left = 0;
        let out = rt.block_on(async {
            let closer = async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                drop(client);
                std::future::pending::<()>().await;
            };
            tokio::select! {
                out = watch(work, Some(&peer), &cancel, || left += 1) => out,
                () = closer => unreachable!(),
            }
        });
        assert_eq!((out, left), ("stopped", 1));
        assert!(cancel.stopped().is_some());
    }

    #[test]
    fn watch_without_a_socket_just_awaits() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cancel = Cancel::default();
        let out = rt.block_on(watch(async { 7 }, None, &cancel, || panic!("no peer")));
        assert_eq!(out, 7);
        assert!(cancel.stopped().is_none());
    }
}
