//! The playground (`docs/playground.md`): every example operation of
//! `playground/*.graphql` runs against the demo data and its answer is pinned by
//! a snapshot; `/playground` serves GraphiQL from the installed assets, or from
//! the CDN with an install notice when they are missing; the asset route serves
//! its fixed list of files and nothing else.
//!
//! Adding an example is adding `playground/NAME.graphql` (and, if it takes
//! variables, `NAME.variables.json`): the test below finds it, runs each of its
//! operations, and asks for its snapshot (`INSTA_UPDATE=always` writes it;
//! review it and commit it under `tests/snapshots/`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use async_graphql::parser::types::DocumentOperations;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha384};
use tally::playground::{EXAMPLES, INSTALL_COMMAND, VENDORED};
use tally::service::{demo, users};

use crate::helpers::{TestApp, TestDb, world::PASSWORD};

fn playground_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("playground")
}

/// The example files on disk: `(name, operations text, variables)`.
fn example_files() -> Vec<(String, String, Value)> {
    let dir = playground_dir();
    let mut files: Vec<(String, String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "graphql"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let query = std::fs::read_to_string(&path).unwrap();
            let variables = dir.join(format!("{name}.variables.json"));
            let variables = if variables.is_file() {
                serde_json::from_str(&std::fs::read_to_string(&variables).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", variables.display()))
            } else {
                json!({})
            };
            (name, query, variables)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// The names of the operations of one document (`None` when it holds one).
fn operations(name: &str, query: &str) -> Vec<Option<String>> {
    let document = async_graphql::parser::parse_query(query)
        .unwrap_or_else(|e| panic!("playground/{name}.graphql does not parse: {e}"));
    match document.operations {
        // One operation: sent without a name, snapshot named after the file.
        DocumentOperations::Single(_) => vec![None],
        DocumentOperations::Multiple(map) => {
            let mut names: Vec<Option<String>> = map.keys().map(|n| Some(n.to_string())).collect();
            names.sort();
            names
        }
    }
}

/// Dates and times depend on the day the demo was loaded: replaced by
/// placeholders (ids and cursors are redacted by insta's selectors).
fn redact_times(value: &mut Value) {
    match value {
        Value::String(text) => {
            let bytes = text.as_bytes();
            let is_date = bytes.len() >= 10
                && bytes[..10].iter().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        *b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            if is_date {
                *text = if bytes.len() == 10 {
                    "[date]".to_owned()
                } else {
                    "[timestamp]".to_owned()
                };
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_times),
        Value::Object(map) => map.values_mut().for_each(redact_times),
        _ => {}
    }
}

/// Empty connections at any depth: an example must show something.
fn empty_connections(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let here = format!("{path}.{key}");
                if (key == "nodes" || key == "edges") && child.as_array().is_some_and(Vec::is_empty)
                {
                    found.push(here.clone());
                }
                empty_connections(child, &here, found);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                empty_connections(item, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_example_runs_against_the_demo_data() {
    let files = example_files();
    assert!(!files.is_empty(), "playground/*.graphql holds no example");
    // The page offers exactly the files on disk (build.rs embeds them).
    let on_disk: BTreeSet<&str> = files.iter().map(|(name, _, _)| name.as_str()).collect();
    let embedded: BTreeSet<&str> = EXAMPLES.iter().map(|e| e.name).collect();
    assert_eq!(embedded, on_disk, "the binary embeds every example file");

    let db = TestDb::new().await;
    demo::load(&db.conn, &db.bus(), 1).await.unwrap();
    let admin = users::add(&db.conn, "demo-admin", None, PASSWORD, true)
        .await
        .unwrap();
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let token = app.token_for(admin.id);

    let mut ran = 0;
    for (name, query, variables) in &files {
        for operation in operations(name, query) {
            let label = format!("{name}.graphql {}", operation.as_deref().unwrap_or(""));
            let response = app
                .client
                .post(app.url("/graphql"))
                .bearer_auth(&token)
                .json(&json!({
                    "query": query,
                    "operationName": operation,
                    "variables": variables,
                }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let mut answer: Value = response.json().await.unwrap();
            assert_eq!(status, 200, "{label}: {answer}");
            assert!(answer.get("errors").is_none(), "{label}: {answer}");
            let data = answer["data"]
                .as_object()
                .unwrap_or_else(|| panic!("{label}: {answer}"));
            assert!(!data.is_empty(), "{label}: empty data");
            for (field, value) in data {
                assert!(!value.is_null(), "{label}: {field} is null");
            }
            let mut empty = Vec::new();
            empty_connections(&answer["data"], "data", &mut empty);
            assert!(empty.is_empty(), "{label}: empty lists {empty:?}");

            redact_times(&mut answer);
            let snapshot = match &operation {
                Some(operation) => format!("{name}__{operation}"),
                None => name.clone(),
            };
            insta::assert_json_snapshot!(snapshot, answer, {
                ".**.id" => "[id]",
                ".**.userId" => "[id]",
                ".**.scopeId" => "[id]",
                ".**.cursor" => "[cursor]",
                ".**.startCursor" => "[cursor]",
                ".**.endCursor" => "[cursor]",
            });
            ran += 1;
        }
    }
    assert!(ran >= files.len());
}

/// A directory laid out like an installed `node_modules`, with marked copies
/// of the files the page needs, and a file that must never be served.
fn fake_assets() -> (PathBuf, Cleanup) {
    let dir = std::env::temp_dir().join(format!(
        "tally-playground-{}",
        uuid::Uuid::new_v4().simple()
    ));
    for vendored in VENDORED {
        let path = dir.join(vendored.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("/* {} */", vendored.name)).unwrap();
    }
    std::fs::write(dir.join("secret.txt"), "not for the web").unwrap();
    std::fs::write(dir.join("graphiql/package.json"), "{}").unwrap();
    (dir.clone(), Cleanup(dir))
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn app_with_assets(dir: &Path) -> TestApp {
    let db = TestDb::new().await;
    let config = db.config_with(&[("TALLY_PLAYGROUND_ASSETS", dir.to_str().unwrap())]);
    TestApp::spawn_with(db, config).await
}

async fn page(app: &TestApp) -> (reqwest::header::HeaderMap, String) {
    let response = app.get("/playground").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    (headers, response.text().await.unwrap())
}

#[tokio::test]
async fn the_page_uses_the_installed_assets() {
    let (dir, _cleanup) = fake_assets();
    let app = app_with_assets(&dir).await;
    let (headers, html) = page(&app).await;
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(!policy.contains("cdn"), "{policy}");
    for vendored in VENDORED {
        let url = format!("playground/assets/{}?v={}", vendored.name, vendored.version);
        assert!(html.contains(&url), "{url} in {html}");
    }
    assert!(!html.contains("cdn.jsdelivr.net"), "{html}");
    assert!(!html.contains("tally-cdn-notice"), "{html}");
    assert!(html.contains("playground/assets/tally-playground.js"));
    // Every example: a link, and its text in the page's data.
    for example in EXAMPLES {
        assert!(html.contains(&format!("href=\"playground?example={}\"", example.name)));
        let first_line = example.query.lines().next().unwrap();
        let encoded = serde_json::to_string(first_line).unwrap();
        assert!(html.contains(encoded.trim_matches('"')), "{first_line}");
    }

    // The assets themselves, with their types and caching.
    for vendored in VENDORED {
        let response = app
            .get(&format!(
                "/playground/assets/{}?v={}",
                vendored.name, vendored.version
            ))
            .await;
        assert_eq!(response.status(), 200, "{}", vendored.name);
        let expected_type = if vendored.name.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(response.headers()["content-type"], expected_type);
        assert_eq!(response.headers()["cache-control"], "public, max-age=86400");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let last_modified = response.headers()["last-modified"].clone();
        assert_eq!(
            response.text().await.unwrap(),
            format!("/* {} */", vendored.name)
        );
        // Revalidation: unchanged since then.
        let again = app
            .client
            .get(app.url(&format!("/playground/assets/{}", vendored.name)))
            .header("if-modified-since", last_modified)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{}", vendored.name);
    }

    // Tally's own script, revalidated by its entity tag.
    let response = app.get("/playground/assets/tally-playground.js").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = response.headers()["etag"].clone();
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("tally.playground.token")
    );
    let again = app
        .client
        .get(app.url("/playground/assets/tally-playground.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let css = app.get("/playground/assets/tally-playground.css").await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

#[tokio::test]
async fn without_assets_the_page_loads_the_cdn_and_says_how_to_install() {
    let dir = std::env::temp_dir().join(format!(
        "tally-playground-empty-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    let app = app_with_assets(&dir).await;

    let (headers, html) = page(&app).await;
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src 'self' https://cdn.jsdelivr.net;"),
        "{policy}"
    );
    for vendored in VENDORED {
        let tag = format!(
            "\"https://cdn.jsdelivr.net/npm/{}@{}/{}\" integrity=\"{}\" crossorigin=\"anonymous\"",
            vendored.package, vendored.version, vendored.file, vendored.integrity
        );
        assert!(html.contains(&tag), "{tag} in {html}");
        assert!(!html.contains(&format!("playground/assets/{}", vendored.name)));
    }
    assert!(html.contains("id=\"tally-cdn-notice\""), "{html}");
    assert!(html.contains(INSTALL_COMMAND), "{html}");
    assert!(html.contains("TALLY_PLAYGROUND_ASSETS"), "{html}");
    // Tally's own files do not depend on the installation.
    assert_eq!(
        app.get("/playground/assets/tally-playground.js")
            .await
            .status(),
        200
    );

    // A listed asset that is not installed: 404 that says how to install it.
    let (status, body) = app.get_as(None, "/playground/assets/graphiql.min.js").await;
    assert_eq!(status, 404);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(INSTALL_COMMAND),
        "{body}"
    );

    // Installing them needs no restart.
    for vendored in VENDORED {
        let path = dir.join(vendored.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "/* installed */").unwrap();
    }
    let (_, html) = page(&app).await;
    assert!(!html.contains("tally-cdn-notice"));
    assert!(html.contains("playground/assets/graphiql.min.js"));
    assert_eq!(
        app.get("/playground/assets/graphiql.min.js").await.status(),
        200
    );
}

#[tokio::test]
async fn the_asset_route_serves_only_its_list() {
    let (dir, _cleanup) = fake_assets();
    let app = app_with_assets(&dir).await;
    for path in [
        "/playground/assets/secret.txt",
        "/playground/assets/..%2Fsecret.txt",
        "/playground/assets/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/playground/assets/graphiql%2Fpackage.json",
        "/playground/assets/graphiql/package.json",
        "/playground/assets/graphiql/graphiql.min.js",
        "/playground/assets/%2Fetc%2Fpasswd",
        "/playground/assets/GRAPHIQL.MIN.JS",
        "/playground/assets/",
        // Listed, but not installed in this directory.
        "/playground/assets/graphiql.min.js.map",
    ] {
        let (status, body) = app.get_as(None, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(body["error"]["code"], "NOT_FOUND", "{path}");
        assert!(!body.to_string().contains("not for the web"));
    }
    // Only GET (and HEAD).
    let response = app
        .client
        .post(app.url("/playground/assets/graphiql.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

/// The versions the page names (and the CDN hashes) are the ones the lockfile
/// installs; when they are installed, the hashes are those of the files.
#[test]
fn the_lockfile_pins_what_the_page_loads() {
    let read = |file: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(playground_dir().join(file)).unwrap())
            .unwrap()
    };
    let manifest = read("package.json");
    let lock = read("package-lock.json");
    for vendored in VENDORED {
        assert_eq!(
            manifest["dependencies"][vendored.package], vendored.version,
            "package.json pins {} exactly",
            vendored.package
        );
        assert_eq!(
            lock["packages"][format!("node_modules/{}", vendored.package)]["version"],
            vendored.version,
            "package-lock.json installs {}@{}",
            vendored.package,
            vendored.version
        );
    }
    let installed = playground_dir().join("node_modules");
    if !tally::playground::installed(&installed) {
        eprintln!(
            "skipped: the integrity hashes are checked when `{INSTALL_COMMAND}` has installed them"
        );
        return;
    }
    for vendored in VENDORED {
        let bytes = std::fs::read(installed.join(vendored.path())).unwrap();
        let hash = format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&bytes))
        );
        assert_eq!(hash, vendored.integrity, "{}", vendored.name);
    }
}
