//! X.509 client DNs: from a TLS client certificate, or from a trusted proxy's
//! header; never from anyone else's header. Slash and RFC 4514 forms compare
//! equal; the publisher lists decide allowed / banned / unknown.

use rcgen::DnType;
use serde_json::Value;
use tally::domain::dn::Dn;
use tally::service::cloud;

use crate::helpers::pki::Pki;
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

#[tokio::test]
async fn tls_client_certificates_identify_publishers() {
    let pki = Pki::new();
    let subject = [
        (DnType::CountryName, "XX"),
        (DnType::OrganizationName, "XX"),
        (DnType::OrganizationalUnitName, "XX"),
        (DnType::LocalityName, "XX"),
        (DnType::CommonName, "allowed_host.test"),
    ];
    let publisher = pki.issue(&[], &subject);

    let db = TestDb::empty().await;
    let config = pki.config(&db);
    let app = TestApp::spawn_with(db, config).await;
    list_publishers(&app).await;
    let url = format!("https://localhost:{}/api/v1/whoami", app.addr.port());

    let answer: Value = pki
        .client(Some(publisher))
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
    let answer: Value = pki
        .client(None)
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["clientDn"], Value::Null);

    // A certificate from another CA is refused in the handshake.
    let stranger = Pki::new().issue(&[], &subject);
    assert!(pki.client(Some(stranger)).get(&url).send().await.is_err());

    // Plain HTTP to the TLS port does not work.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{}/healthz", app.addr.port()))
            .await
            .is_err()
    );
}
