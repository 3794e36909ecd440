//! X.509 client DNs: from a TLS client certificate, or from a trusted proxy's
//! header; never from anyone else's header. Slash and RFC 4514 forms compare
//! equal; the publisher lists decide allowed / banned / unknown.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::Value;
use tally::domain::dn::Dn;
use tally::service::cloud;

use crate::helpers::{TestApp, TestDb};

const HEADER: &str = "X-SSL-Client-S-DN";

async fn whoami(app: &TestApp, dn_header: Option<&str>) -> Value {
    let mut request = app.client.get(app.url("/api/v1/whoami"));
    if let Some(dn) = dn_header {
        request = request.header(HEADER, dn);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn list_publishers(app: &TestApp) {
    let db = &app.db.conn;
    let allowed = Dn::parse("/C=XX/O=XX/OU=XX/L=XX/CN=allowed_host.test").unwrap();
    cloud::set_publisher(db, &allowed, "allowed", None)
        .await
        .unwrap();
    let banned = Dn::parse("/C=XX/O=XX/OU=XX/L=XX/CN=allowed_host2.test").unwrap();
    cloud::set_publisher(db, &banned, "banned", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn dn_header_is_believed_only_from_trusted_proxies() {
    let db = TestDb::empty().await;
    let config = db.config_with(&[("TALLY_TRUSTED_PROXIES", "127.0.0.1/32")]);
    let app = TestApp::spawn_with(db, config).await;
    list_publishers(&app).await;

    let cases = [
        (
            Some("/C=XX/O=XX/OU=XX/L=XX/CN=allowed_host.test"),
            Some("allowed"),
        ),
        // The same DN in RFC 4514 form.
        (
            Some("CN=allowed_host.test,L=XX,OU=XX,O=XX,C=XX"),
            Some("allowed"),
        ),
        (
            Some("/C=XX/O=XX/OU=XX/L=XX/CN=allowed_host2.test"),
            Some("banned"),
        ),
        (
            Some("/C=XX/O=XX/OU=XX/L=XX/CN=prohibited_host.test"),
            Some("unknown"),
        ),
        (Some("not a dn"), None),
        (None, None),
    ];
    for (header, publisher) in cases {
        let answer = whoami(&app, header).await;
        assert_eq!(
            answer["publisher"].as_str(),
            publisher,
            "{header:?}: {answer}"
        );
        if publisher.is_some() {
            assert_eq!(
                answer["clientDn"],
                Dn::parse(header.unwrap()).unwrap().to_slash()
            );
        } else {
            assert_eq!(answer["clientDn"], Value::Null);
        }
    }
}

#[tokio::test]
async fn dn_header_from_an_untrusted_address_is_ignored() {
    let db = TestDb::empty().await;
    // Only a proxy network the test client is not in is trusted.
    let config = db.config_with(&[("TALLY_TRUSTED_PROXIES", "10.0.0.0/8")]);
    let app = TestApp::spawn_with(db, config).await;
    list_publishers(&app).await;
    let answer = whoami(&app, Some("/C=XX/O=XX/OU=XX/L=XX/CN=allowed_host.test")).await;
    assert_eq!(answer["clientDn"], Value::Null);
    assert_eq!(answer["publisher"], Value::Null);
    // And with no trusted proxies at all.
    let app = TestApp::spawn().await;
    let answer = whoami(&app, Some("/C=XX/O=XX/OU=XX/L=XX/CN=allowed_host.test")).await;
    assert_eq!(answer["clientDn"], Value::Null);
}

/// A CA, a server certificate for 127.0.0.1 and client certificates, in PEM.
struct Pki {
    dir: std::path::PathBuf,
    ca_pem: String,
}

impl Pki {
    fn new() -> (Self, Issuer<'static, KeyPair>) {
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
        (Self { dir, ca_pem }, Issuer::new(params, key))
    }

    /// A certificate signed by `issuer` for `names` with subject `subject`;
    /// returns (certificate PEM, key PEM).
    fn issue(
        issuer: &Issuer<'_, KeyPair>,
        names: &[&str],
        subject: &[(DnType, &str)],
    ) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        // rcgen starts with a default CN; the subject is exactly what is given.
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in subject {
            params.distinguished_name.push(kind.clone(), *value);
        }
        let cert = params.signed_by(&key, issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client(pki: &Pki, identity: Option<(String, String)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap());
    if let Some((cert, key)) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn tls_client_certificates_identify_publishers() {
    let (pki, issuer) = Pki::new();
    let (server_cert, server_key) = Pki::issue(
        &issuer,
        &["localhost", "127.0.0.1"],
        &[(DnType::CommonName, "localhost")],
    );
    std::fs::write(pki.dir.join("server.pem"), server_cert).unwrap();
    std::fs::write(pki.dir.join("server.key"), server_key).unwrap();
    let subject = [
        (DnType::CountryName, "XX"),
        (DnType::OrganizationName, "XX"),
        (DnType::OrganizationalUnitName, "XX"),
        (DnType::LocalityName, "XX"),
        (DnType::CommonName, "allowed_host.test"),
    ];
    let publisher = Pki::issue(&issuer, &[], &subject);

    let db = TestDb::empty().await;
    let config = db.config_with(&[
        ("TALLY_TLS_CERT", &pki.path("server.pem")),
        ("TALLY_TLS_KEY", &pki.path("server.key")),
        ("TALLY_TLS_CLIENT_CA", &pki.path("ca.pem")),
    ]);
    let app = TestApp::spawn_with(db, config).await;
    list_publishers(&app).await;
    let url = format!("https://localhost:{}/api/v1/whoami", app.addr.port());

    let answer: Value = client(&pki, Some(publisher))
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["clientDn"],
        "/C=XX/O=XX/OU=XX/L=XX/CN=allowed_host.test"
    );
    assert_eq!(answer["publisher"], "allowed");

    // Without a certificate: served, but without a DN (`SSLVerifyClient optional`).
    let answer: Value = client(&pki, None)
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["clientDn"], Value::Null);

    // A certificate from another CA is refused in the handshake.
    let (_other_pki, other_issuer) = Pki::new();
    let stranger = Pki::issue(&other_issuer, &[], &subject);
    assert!(client(&pki, Some(stranger)).get(&url).send().await.is_err());

    // Plain HTTP to the TLS port does not work.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{}/healthz", app.addr.port()))
            .await
            .is_err()
    );
}
