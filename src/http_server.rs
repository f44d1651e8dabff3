//! The HTTP/1.1 accept loop. `axum::serve` runs hyper without a timer, which silently drops
//! hyper's header-read timeout: a client could hold a connection open forever by sending its
//! headers a byte at a time, or by never sending a request at all. This loop sets that
//! timeout and caps how many connections are open at once.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt};

/// Bounds on client connections (for all clients together: the cap is not per address).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time to send a request's headers, counted from the first moment the server waits for
    /// them; an idle keep-alive connection is closed after the same time.
    pub header_read_timeout: Duration,
    /// Connections open at once; further clients wait in the kernel's accept queue. Keep it
    /// below the process's file-descriptor limit, or accepts fail first (and are retried).
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `stop` completes, then stops accepting and waits for
/// the open connections to finish their requests (the caller bounds that wait).
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = accept(&mut listener, &open) => accepted,
        };
        let Some((permit, io, peer)) = accepted else {
            break;
        };
        // What `into_make_service_with_connect_info` does: the peer address for the limits.
        let service = axum::Extension(ConnectInfo(peer))
            .layer(router.clone())
            .map_request(|request: hyper::Request<Incoming>| request.map(Body::new));
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            // A connection ends in an error for many ordinary reasons (the client went away,
            // the header timeout, a malformed request): nothing to report.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Waits for a free connection slot, then for a client. `None` only if the slots are gone,
/// which never happens: the semaphore is never closed.
async fn accept(
    listener: &mut TcpListener,
    open: &Arc<Semaphore>,
) -> Option<(
    tokio::sync::OwnedSemaphorePermit,
    tokio::net::TcpStream,
    SocketAddr,
)> {
    let permit = open.clone().acquire_owned().await.ok()?;
    // axum's listener retries failed accepts (running out of file descriptors, say) itself.
    let (io, peer) = Listener::accept(listener).await;
    // Small responses go out at once rather than waiting for more to send.
    let _ = io.set_nodelay(true);
    Some((permit, io, peer))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;
    use tokio::time::{Instant, timeout};

    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(10),
        max_connections: 100,
    };

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

    struct Running {
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        server: JoinHandle<()>,
    }

    /// A server whose one route answers with the peer address it was given.
    async fn start(limits: ConnectionLimits) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, limits, async {
            let _ = stopped.await;
        }));
        Running { addr, stop, server }
    }

    /// Reads one response (it is small, and the connection stays open).
    async fn response(stream: &mut TcpStream) -> String {
        let mut buffer = vec![0; 4096];
        let read = stream.read(&mut buffer).await.unwrap();
        String::from_utf8_lossy(&buffer[..read]).into_owned()
    }

    /// A connection that has had one request answered, and is now idle.
    async fn answered_connection(addr: SocketAddr) -> TcpStream {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(REQUEST).await.unwrap();
        let answer = response(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        stream
    }

    /// Whether the server closed the connection (end of stream or a reset) within `within`.
    async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
        let mut rest = Vec::new();
        timeout(within, stream.read_to_end(&mut rest)).await.is_ok()
    }

    /// The connection lasted the configured timeout (not hyper's default of 30 s).
    fn assert_is_the_timeout(lasted: Duration) {
        let timeout = LIMITS.header_read_timeout;
        assert!(
            lasted >= timeout && lasted < timeout + Duration::from_secs(1),
            "{lasted:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_is_answered_with_the_peer_address() {
        let running = start(LIMITS).await;
        let mut client = TcpStream::connect(running.addr).await.unwrap();
        client.write_all(REQUEST).await.unwrap();
        let answer = response(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.ends_with(&client.local_addr().unwrap().to_string()),
            "{answer}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn headers_sent_too_slowly_end_the_connection_at_the_timeout() {
        let running = start(LIMITS).await;
        let mut client = TcpStream::connect(running.addr).await.unwrap();
        let started = Instant::now();
        client.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        assert!(closed_within(&mut client, Duration::from_secs(60)).await);
        assert_is_the_timeout(started.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_ends_at_the_timeout() {
        let running = start(LIMITS).await;
        let mut client = answered_connection(running.addr).await;
        let idle_since = Instant::now();
        assert!(closed_within(&mut client, Duration::from_secs(60)).await);
        assert_is_the_timeout(idle_since.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_over_the_connection_cap_waits_for_a_free_slot() {
        let running = start(ConnectionLimits {
            max_connections: 1,
            ..LIMITS
        })
        .await;
        let first = answered_connection(running.addr).await;

        let mut second = TcpStream::connect(running.addr).await.unwrap();
        second.write_all(REQUEST).await.unwrap();
        let mut buffer = [0; 64];
        assert!(
            timeout(Duration::from_secs(1), second.read(&mut buffer))
                .await
                .is_err(),
            "answered while the only slot was taken"
        );
        drop(first);
        let answer = timeout(Duration::from_secs(1), response(&mut second))
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_closes_idle_connections_and_returns() {
        let running = start(LIMITS).await;
        let mut client = answered_connection(running.addr).await;
        running.stop.send(()).unwrap();
        timeout(Duration::from_secs(1), running.server)
            .await
            .unwrap()
            .unwrap();
        assert!(closed_within(&mut client, Duration::from_secs(1)).await);
        assert!(TcpStream::connect(running.addr).await.is_err());
    }
}
