//! The accept loop: HTTP/1 over plain TCP or TLS (rustls), with a header read timeout and
//! a bounded graceful stop.
//!
//! Our own loop instead of `axum::serve` because that one cannot terminate TLS and runs
//! hyper without a timer, which leaves hyper's header read timeout inactive: a client that
//! never finishes its headers would hold its connection forever.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// How long a clean stop waits for requests in flight before it gives up on them: under
/// the 30 s most supervisors (Kubernetes, many systemd units) allow before SIGKILL, so the
/// final sync of the log still runs.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// PEM files of the certificate chain and private key the server presents.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How connections are served.
#[derive(Clone)]
pub struct ListenConfig {
    /// TLS settings; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Longest time a client may take to send a request's headers (and, with TLS, its
    /// handshake); an idle keep-alive connection is closed after the same time.
    pub header_read_timeout: Duration,
}

/// Reads the certificate chain and key, failing with the file and the reason.
pub fn tls_config(files: &TlsFiles) -> std::io::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let fail = |path: &Path, what: String| {
        std::io::Error::other(format!("--tls-cert/--tls-key {}: {what}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| fail(&files.cert, format!("cannot read certificates: {e}")))?;
    if certs.is_empty() {
        return Err(fail(&files.cert, "no certificate in the file".to_string()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| fail(&files.key, format!("cannot read a private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| std::io::Error::other(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| fail(&files.cert, format!("certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets
/// requests in flight finish (at most [`SHUTDOWN_GRACE`]) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ListenConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let acceptor = config.tls.clone().map(TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let timeout = config.header_read_timeout;
        tokio::spawn(async move {
            let builder = {
                let mut b = http1::Builder::new();
                b.timer(TokioTimer::new())
                    .header_read_timeout(timeout)
                    .max_headers(HYPER_MAX_HEADERS);
                b
            };
            let served = match acceptor {
                None => serve_io(builder, stream, service, watcher).await,
                Some(acceptor) => {
                    // The handshake gets the header timeout too, or a client that never
                    // sends its hello would hold the connection.
                    let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            return;
                        }
                    };
                    serve_io(builder, stream, service, watcher).await
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_s = SHUTDOWN_GRACE.as_secs(),
            "requests still in flight after the shutdown grace; stopping anyway"
        );
    }
    Ok(())
}

/// Most header fields hyper parses; above [`crate::http::layers::MAX_HEADERS`] so the API
/// refuses too many with its own JSON 431 rather than hyper's empty one.
pub(crate) const HYPER_MAX_HEADERS: usize = 400;

async fn serve_io<IO>(
    builder: http1::Builder,
    io: IO,
    service: TowerToHyperService<Router>,
    watcher: hyper_util::server::graceful::Watcher,
) -> hyper::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = builder.serve_connection(TokioIo::new(io), service);
    watcher.watch(conn).await
}

/// Errors of one connection (the peer reset it before we took it) are not the listener's;
/// anything else (out of file descriptors) would recur at once, so wait a moment.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
