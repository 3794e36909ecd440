//! A throwaway PKI for the TLS tests: a CA, a server certificate for
//! `localhost` and 127.0.0.1, client certificates, and clients that trust the
//! CA. Nothing is read from `tests/keys`: every test makes its own.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tally::Config;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::TestDb;

/// A CA in a temporary directory (removed on drop).
pub struct Pki {
    dir: std::path::PathBuf,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    /// A new CA, `Tally Test CA`.
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("tally-pki-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Tally Test CA");
        let ca = params.self_signed(&key).unwrap();
        let ca_pem = ca.pem();
        std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
        Self {
            dir,
            ca_pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate signed by this CA for `names` with exactly the subject
    /// `subject`; returns (certificate PEM, key PEM).
    pub fn issue(&self, names: &[&str], subject: &[(DnType, &str)]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        // rcgen starts with a default CN; the subject is exactly what is given.
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in subject {
            params.distinguished_name.push(kind.clone(), *value);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A configuration for `db` that serves HTTPS with a certificate of this
    /// CA for `localhost` and 127.0.0.1, and accepts client certificates of
    /// this CA.
    pub fn config(&self, db: &TestDb) -> Config {
        let (cert, key) = self.issue(
            &["localhost", "127.0.0.1"],
            &[(DnType::CommonName, "localhost")],
        );
        std::fs::write(self.dir.join("server.pem"), cert).unwrap();
        std::fs::write(self.dir.join("server.key"), key).unwrap();
        db.config_with(&[
            ("TALLY_TLS_CERT", &self.path("server.pem")),
            ("TALLY_TLS_KEY", &self.path("server.key")),
            ("TALLY_TLS_CLIENT_CA", &self.path("ca.pem")),
        ])
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// An HTTPS client that trusts this CA, presenting `identity`
    /// (certificate PEM, key PEM) if given.
    pub fn client(&self, identity: Option<(String, String)>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap());
        if let Some((cert, key)) = identity {
            builder = builder
                .identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
        }
        builder.build().unwrap()
    }

    /// A TLS connection to `localhost` at `addr` that trusts this CA, for
    /// clients that bring their own protocol (WebSocket).
    pub async fn connect(&self, addr: std::net::SocketAddr) -> TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = TcpStream::connect(addr).await.unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
