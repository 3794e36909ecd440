//! Native HTTPS with optional client certificates (rustls).
//!
//! APEL publishers authenticate with X.509 host certificates: upstream runs
//! Apache with `SSLVerifyClient optional` and reads the signer's DN from
//! mod_ssl. Tally does the same when `TALLY_TLS_CERT`/`TALLY_TLS_KEY` are set:
//! a client may present a certificate signed by `TALLY_TLS_CLIENT_CA`; its
//! subject DN is attached to every request of the connection as
//! [`ClientCertDn`]. A client without a certificate is served too (and is
//! then anonymous as far as DNs go).
//!
//! Connections are served as `axum::serve` serves plain HTTP: with hyper's
//! upgrades enabled, so that `/graphql/ws` can switch to WebSocket, and
//! watched for a graceful stop. An upgraded connection leaves the watch; the
//! WebSocket handler closes it when the server stops ([`crate::shutdown`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::auth::identity::ClientCertDn;
use crate::config::TlsConfig;
use crate::domain::dn::Dn;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the TLS acceptor from the configured files.
///
/// # Errors
/// A file cannot be read or holds no usable certificate or key; the message
/// names the variable.
pub fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert)
        .and_then(|iter| iter.collect::<Result<_, _>>())
        .map_err(|e| format!("TALLY_TLS_CERT {}: {e}", config.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "TALLY_TLS_CERT {}: no certificate",
            config.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key)
        .map_err(|e| format!("TALLY_TLS_KEY {}: {e}", config.key.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match &config.client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("TALLY_TLS_CLIENT_CA {}: {e}", path.display()))?
            {
                let cert =
                    cert.map_err(|e| format!("TALLY_TLS_CLIENT_CA {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("TALLY_TLS_CLIENT_CA {}: {e}", path.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("TALLY_TLS_CLIENT_CA {}: {e}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("TALLY_TLS_CERT/TALLY_TLS_KEY: {e}"))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The subject DN of a DER certificate, most significant attribute first.
#[must_use]
pub fn subject_dn(cert: &CertificateDer<'_>) -> Option<Dn> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let registry = x509_parser::objects::oid_registry();
    let mut parts = Vec::new();
    for rdn in parsed.subject().iter() {
        for attribute in rdn.iter() {
            let oid = attribute.attr_type();
            let kind = x509_parser::objects::oid2abbrev(oid, registry)
                .map(str::to_owned)
                .unwrap_or_else(|_| oid.to_id_string());
            let value = attribute.as_str().ok()?.to_owned();
            parts.push((kind, value));
        }
    }
    Dn::from_parts(parts).ok()
}

/// Serves HTTPS on `listener` until `shutdown` completes, then waits for open
/// connections to finish (the caller bounds that wait).
///
/// # Errors
/// Never in practice: accept errors are logged and the loop goes on.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let router = router.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await else {
                        tracing::debug!(%peer, "TLS handshake failed or timed out");
                        return;
                    };
                    let dn = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(subject_dn);
                    let service = router.map_request(move |mut request: axum::http::Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                        request.extensions_mut().insert(ClientCertDn(dn.clone()));
                        request
                    });
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(service));
                    if let Err(error) = watcher.watch(connection).await {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
