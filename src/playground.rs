//! The GraphiQL playground at `/playground` (`docs/playground.md`).
//!
//! Tally serves the page itself, with the example operations of
//! `playground/*.graphql` as its tabs (embedded at build time by `build.rs`).
//! GraphiQL and React are not in git: `npm ci --prefix playground` installs the
//! versions pinned by `playground/package-lock.json` into the directory named
//! by `TALLY_PLAYGROUND_ASSETS`, and Tally serves a fixed list of files from it
//! at `/playground/assets/NAME` — nothing else under it, whatever the path says.
//!
//! Whether those files are installed is looked at on every page request, so
//! installing them needs no restart. When they are not, the page loads the
//! same versions from a CDN, pinned by their Subresource Integrity hashes, and
//! shows how to install them for sites without internet access.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;
use tower_http::services::ServeFile;

use crate::app::AppState;
use crate::error::Error;

/// The command that installs the playground's assets, as the page and the
/// docs show it.
pub const INSTALL_COMMAND: &str = "npm ci --prefix playground";

/// Where the page loads GraphiQL from when it is not installed.
pub const CDN: &str = "https://cdn.jsdelivr.net";

/// One example operation: `playground/NAME.graphql` and its optional
/// `playground/NAME.variables.json`.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// The file name without `.graphql`.
    pub name: &'static str,
    /// The operations (one or more) of the file.
    pub query: &'static str,
    /// The variables (a JSON object), if the example has a variables file.
    pub variables: Option<&'static str>,
}

/// Every example, sorted by name.
pub const EXAMPLES: &[Example] = include!(concat!(env!("OUT_DIR"), "/playground_examples.rs"));

/// A file of an npm package that the page uses.
#[derive(Debug, Clone, Copy)]
pub struct Vendored {
    /// Its name under `/playground/assets/`.
    pub name: &'static str,
    /// The npm package.
    pub package: &'static str,
    /// The package version, as `playground/package-lock.json` pins it.
    pub version: &'static str,
    /// The file inside the package.
    pub file: &'static str,
    /// Its Subresource Integrity hash, checked by browsers that load it from
    /// the CDN.
    pub integrity: &'static str,
}

impl Vendored {
    /// The file's path relative to the `node_modules` directory.
    #[must_use]
    pub fn path(&self) -> PathBuf {
        Path::new(self.package).join(self.file)
    }

    /// The file's URL on the CDN.
    #[must_use]
    pub fn cdn_url(&self) -> String {
        format!("{CDN}/npm/{}@{}/{}", self.package, self.version, self.file)
    }
}

/// The files the page needs, in the order it loads them: React, then
/// GraphiQL's UMD bundle (which expects `React` and `ReactDOM` globals, and
/// brings its own copy of `graphql`), and its stylesheet.
pub const VENDORED: &[Vendored] = &[
    Vendored {
        name: "react.production.min.js",
        package: "react",
        version: "18.3.1",
        file: "umd/react.production.min.js",
        integrity: "sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z",
    },
    Vendored {
        name: "react-dom.production.min.js",
        package: "react-dom",
        version: "18.3.1",
        file: "umd/react-dom.production.min.js",
        integrity: "sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1",
    },
    Vendored {
        name: "graphiql.min.js",
        package: "graphiql",
        version: "3.8.3",
        file: "graphiql.min.js",
        integrity: "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    },
    Vendored {
        name: "graphiql.min.css",
        package: "graphiql",
        version: "3.8.3",
        file: "graphiql.min.css",
        integrity: "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    },
];

/// GraphiQL's source maps: served when installed (browser developer tools ask
/// for them), never needed by the page.
const SOURCE_MAPS: &[(&str, &str)] = &[
    ("graphiql.min.js.map", "graphiql/graphiql.min.js.map"),
    ("graphiql.min.css.map", "graphiql/graphiql.min.css.map"),
];

/// The page, with `{{…}}` placeholders filled per request.
const PAGE: &str = include_str!("../playground/index.html");

/// Tally's own script and stylesheet of the page, embedded in the binary.
static OWN: LazyLock<[Own; 2]> = LazyLock::new(|| {
    [
        Own::new(
            "tally-playground.js",
            "text/javascript; charset=utf-8",
            include_str!("../playground/playground.js"),
        ),
        Own::new(
            "tally-playground.css",
            "text/css; charset=utf-8",
            include_str!("../playground/playground.css"),
        ),
    ]
});

/// An embedded file, with the entity tag that lets browsers revalidate it.
struct Own {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    etag: String,
}

impl Own {
    fn new(name: &'static str, content_type: &'static str, body: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        let etag = format!("\"{}\"", hex::encode(&digest[..16]));
        Self {
            name,
            content_type,
            body,
            etag,
        }
    }
}

/// How long browsers keep an installed GraphiQL or React file. Their URLs
/// carry the version, so an upgrade is fetched at once.
const VENDORED_CACHE_CONTROL: &str = "public, max-age=86400";

/// The routes: the page and its assets.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/playground", get(page))
        .route("/playground/assets/{name}", get(asset))
}

/// Whether every file of [`VENDORED`] is installed under `assets`.
#[must_use]
pub fn installed(assets: &Path) -> bool {
    VENDORED.iter().all(|v| assets.join(v.path()).is_file())
}

/// Set once the missing assets have been logged, so the log says it once.
static MISSING_LOGGED: AtomicBool = AtomicBool::new(false);

/// `GET /playground`: the GraphiQL page.
async fn page(State(state): State<AppState>) -> Response {
    let assets = &state.config.playground_assets;
    let local = installed(assets);
    if !local && !MISSING_LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            path = %assets.display(),
            "the playground's GraphiQL files are not installed there \
             (TALLY_PLAYGROUND_ASSETS): /playground loads them from {CDN}; \
             `{INSTALL_COMMAND}` installs them"
        );
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The page changes when the assets are installed: always revalidate.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(local)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    (StatusCode::OK, headers, render(local)).into_response()
}

/// The page's Content Security Policy: scripts and styles only from Tally
/// (and, without local assets, the CDN), requests only to Tally, no framing.
/// GraphiQL sets inline styles, hence `'unsafe-inline'` for styles only.
fn content_security_policy(local: bool) -> String {
    let cdn = if local {
        String::new()
    } else {
        format!(" {CDN}")
    };
    format!(
        "default-src 'none'; script-src 'self'{cdn}; style-src 'self' 'unsafe-inline'{cdn}; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The page's HTML: local asset URLs when `local`, else the CDN's and the
/// notice that says how to install them.
#[must_use]
pub fn render(local: bool) -> String {
    let mut stylesheets = String::new();
    let mut scripts = String::new();
    for vendored in VENDORED {
        let tag = if local {
            let url = format!("playground/assets/{}?v={}", vendored.name, vendored.version);
            if vendored.name.ends_with(".css") {
                format!("<link rel=\"stylesheet\" href=\"{url}\">\n")
            } else {
                format!("<script src=\"{url}\"></script>\n")
            }
        } else if vendored.name.ends_with(".css") {
            format!(
                "<link rel=\"stylesheet\" href=\"{}\" integrity=\"{}\" crossorigin=\"anonymous\">\n",
                vendored.cdn_url(),
                vendored.integrity
            )
        } else {
            format!(
                "<script src=\"{}\" integrity=\"{}\" crossorigin=\"anonymous\"></script>\n",
                vendored.cdn_url(),
                vendored.integrity
            )
        };
        if vendored.name.ends_with(".css") {
            stylesheets.push_str(&tag);
        } else {
            scripts.push_str(&tag);
        }
    }
    let notice = if local {
        String::new()
    } else {
        format!(
            "<div class=\"tally-notice\" id=\"tally-cdn-notice\" role=\"note\">GraphiQL is not \
             installed on this server, so this page loads it from <code>{}</code> (the same \
             pinned versions, checked by their hashes). For a site without internet access, \
             install it once with <code>{INSTALL_COMMAND}</code> in Tally's working directory, \
             or point <code>TALLY_PLAYGROUND_ASSETS</code> at a <code>node_modules</code> \
             directory that holds it; no restart is needed.</div>\n",
            CDN.trim_start_matches("https://")
        )
    };
    let links: String = EXAMPLES
        .iter()
        .map(|example| {
            let name = escape_html(example.name);
            format!("<a href=\"playground?example={name}\">{name}</a>\n")
        })
        .collect();
    PAGE.replace("{{stylesheets}}", &stylesheets)
        .replace("{{scripts}}", &scripts)
        .replace("{{notice}}", &notice)
        .replace("{{example_links}}", &links)
        .replace("{{examples}}", &examples_json())
}

/// The examples as JSON for the page's script, safe inside `<script>`: `<`,
/// `>` and `&` (which can occur only inside JSON strings) are escaped.
fn examples_json() -> String {
    let examples: Vec<serde_json::Value> = EXAMPLES
        .iter()
        .map(|example| {
            serde_json::json!({
                "name": example.name,
                "query": example.query,
                "variables": example.variables,
            })
        })
        .collect();
    serde_json::Value::Array(examples)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /playground/assets/{name}`: one file of the fixed list, or 404.
async fn asset(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    request: Request,
) -> Response {
    if let Some(own) = OWN.iter().find(|own| own.name == name) {
        return own_file(own, request.headers());
    }
    let found = VENDORED
        .iter()
        .find(|v| v.name == name)
        .map(|v| (v.path(), VENDORED_CACHE_CONTROL))
        .or_else(|| {
            SOURCE_MAPS
                .iter()
                .find(|(map, _)| *map == name)
                .map(|(_, path)| (PathBuf::from(path), "no-cache"))
        });
    let Some((relative, cache_control)) = found else {
        return Error::NotFound(format!("no playground asset {name:?}")).into_response();
    };
    let path = state.config.playground_assets.join(relative);
    if !path.is_file() {
        return Error::NotFound(format!(
            "playground asset {name:?} is not installed (`{INSTALL_COMMAND}` installs it)"
        ))
        .into_response();
    }
    // ServeFile answers conditional and range requests from the file's mtime.
    let mut response = match ServeFile::new(&path).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(infallible) => match infallible {},
    };
    let content_type = if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else if name.ends_with(".map") {
        "application/json"
    } else {
        "text/javascript; charset=utf-8"
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// One of Tally's own files: revalidated on every use, 304 when unchanged.
fn own_file(own: &Own, request_headers: &HeaderMap) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&own.etag) {
        headers.insert(header::ETAG, etag);
    }
    let unchanged = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == own.etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(own.content_type),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    (StatusCode::OK, headers, own.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_has_operations_and_object_variables() {
        assert!(!EXAMPLES.is_empty(), "playground/*.graphql holds examples");
        for example in EXAMPLES {
            let document = async_graphql::parser::parse_query(example.query)
                .unwrap_or_else(|e| panic!("playground/{}.graphql: {e}", example.name));
            assert!(document.operations.iter().next().is_some());
            if let Some(variables) = example.variables {
                let value: serde_json::Value = serde_json::from_str(variables)
                    .unwrap_or_else(|e| panic!("{}.variables.json: {e}", example.name));
                assert!(value.is_object(), "{}.variables.json", example.name);
            }
        }
    }

    #[test]
    fn examples_cannot_break_out_of_the_script_element() {
        let json = examples_json();
        assert!(!json.contains('<') && !json.contains('>'));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_array().unwrap().len(), EXAMPLES.len());
    }

    #[test]
    fn every_placeholder_is_filled() {
        for local in [true, false] {
            let page = render(local);
            assert!(!page.contains("{{"), "{page}");
        }
    }
}
