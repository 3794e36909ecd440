//! The EOSC Accounting System's REST API (`/accounting-system/…`, eosc.md),
//! release 1.6.1's routes and wire format.
//!
//! This module holds what every route shares: the error body
//! `{"code", "message"}` ([`Failure`]), the caller (a bearer token; eosc.md
//! §5), JSON bodies (415 for another content type, upstream's message for an
//! empty one), the pagination parameters and envelope of §3 ([`PageParams`],
//! [`Page`]), and the date-range parameters of metric listings
//! ([`DateRange`]). The routes live in one module per collection and only
//! parse, call [`crate::service`] and shape the answer.
//!
//! Ids on the wire are upstream's 24-hex ObjectIds, derived from row ids
//! ([`crate::service::eosc::external_id`]); providers and projects keep their
//! own text ids (a provider's `external_id`, a project's grant id `eosc_id`).

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::auth::{AuthFailure, Caller, Principal};
use crate::error::Error;

/// Upstream's answer to a caller without the right (403).
pub(crate) const NOT_PERMITTED: &str = crate::service::eosc::FORBIDDEN;

mod catalogue;
mod metrics;
mod projects;

/// The routes, under `/accounting-system`.
pub fn routes() -> Router<AppState> {
    let inner = Router::new()
        .merge(catalogue::routes())
        .merge(metrics::routes())
        .merge(projects::routes());
    Router::new().nest("/accounting-system", inner)
}

/// An error in upstream's body, `{"code": <status>, "message": "<text>"}`
/// (`InformativeResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The status, also written as `code`.
    pub(crate) status: StatusCode,
    /// The message.
    pub(crate) message: String,
}

impl Failure {
    /// A failure with `status` and `message`.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400 with `message`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 with `message`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 403: the caller may not do this here.
    pub(crate) fn not_permitted() -> Self {
        Self::new(StatusCode::FORBIDDEN, NOT_PERMITTED)
    }
}

#[derive(Serialize)]
struct FailureBody<'a> {
    code: u16,
    message: &'a str,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = FailureBody {
            code: self.status.as_u16(),
            message: &self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        match error {
            Error::BadRequest(message) | Error::Unprocessable(message) => {
                Self::bad_request(message)
            }
            Error::Unauthenticated => Self::new(
                StatusCode::UNAUTHORIZED,
                "The request was not authenticated.",
            ),
            Error::Forbidden(message) => Self::new(StatusCode::FORBIDDEN, message),
            Error::NotFound(message) => Self::not_found(message),
            Error::Conflict(message) => Self::new(StatusCode::CONFLICT, message),
            Error::LimitExceeded(message) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, message),
            Error::TimedOut(message) => Self::new(StatusCode::REQUEST_TIMEOUT, message),
            Error::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is unavailable. Try again later.",
            ),
            // The cause is logged under the id; the client sees only the id.
            Error::Internal { id } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Internal error (id {id})."),
            ),
        }
    }
}

impl From<sea_orm::DbErr> for Failure {
    fn from(error: sea_orm::DbErr) -> Self {
        Error::from(error).into()
    }
}

impl From<AuthFailure> for Failure {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Internal(error) => error.into(),
            // Upstream (Quarkus OIDC) answers 401; the reason is ours.
            other => Self::new(StatusCode::UNAUTHORIZED, other.to_string()),
        }
    }
}

/// The caller: every route is `@Authenticated` upstream (a bearer token).
pub(crate) async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, Failure> {
    match state.auth.bearer(&state.db, headers).await? {
        Caller::Authenticated(principal) => Ok(principal),
        Caller::Anonymous => Err(Error::Unauthenticated.into()),
    }
}

/// A JSON body: 415 "Cannot consume content type." unless the content type
/// is JSON (as upstream's `@Consumes`), 400 "The request body is empty." for
/// an empty one, 400 with the parser's reason for one that does not parse.
pub(crate) fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, Failure> {
    require_json(headers)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::bad_request("The request body is empty."));
    }
    serde_json::from_slice(body)
        .map_err(|e| Failure::bad_request(format!("The request body is not valid: {e}")))
}

/// 415 "Cannot consume content type." unless the request says JSON.
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), Failure> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            let media = media.trim();
            media.eq_ignore_ascii_case("application/json")
                || media
                    .rsplit_once('+')
                    .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
        });
    if json {
        Ok(())
    } else {
        Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Cannot consume content type.",
        ))
    }
}

/// The value of query parameter `name` (names are case-sensitive upstream).
pub(crate) fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// `page` and `size` (eosc.md §3): page ≥ 1 (default 1), size 1..=`max`
/// (default 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageParams {
    /// The page, from 1.
    pub(crate) page: u64,
    /// Items per page.
    pub(crate) size: u64,
}

impl PageParams {
    /// The most items a page may hold on most routes.
    pub(crate) const MAX_SIZE: u64 = 100;

    /// Parses `page` and `size` with upstream's messages; `max` is the
    /// route's largest page.
    pub(crate) fn parse(query: &[(String, String)], max: u64) -> Result<Self, Failure> {
        let number = |name: &str, default: u64, message: &str| match param(query, name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| Failure::bad_request(message)),
        };
        let page_message = "Page number must be >= 1.";
        let size_message = format!("Page size must be between 1 and {max}.");
        let page = number("page", 1, page_message)?;
        let size = number("size", 10, &size_message)?;
        if page < 1 {
            return Err(Failure::bad_request(page_message));
        }
        if !(1..=max).contains(&size) {
            return Err(Failure::bad_request(size_message));
        }
        Ok(Self { page, size })
    }

    /// Rows to skip.
    pub(crate) fn offset(self) -> u64 {
        self.size.saturating_mul(self.page - 1)
    }
}

/// A link of the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Link {
    href: String,
    rel: &'static str,
}

/// Upstream's page envelope (`PageResource`), fields in its order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Page<T> {
    /// Items on this page (not the size asked for).
    size_of_page: u64,
    number_of_page: u64,
    total_elements: u64,
    /// ⌈total / size⌉, and 1 when there is nothing.
    total_pages: u64,
    content: Vec<T>,
    links: Vec<Link>,
}

impl<T> Page<T> {
    /// The envelope of `content`, page `params` of `total` items, with links
    /// to `base` (`scheme://host/accounting-system/path`): none when there is
    /// one page or the page is past the last; otherwise `first`, `last`,
    /// `self`, then `prev` and `next` where they exist. As upstream, the links
    /// carry only `page` and `size`, and their `size` is the number of items
    /// on this page.
    pub(crate) fn new(content: Vec<T>, total: u64, params: PageParams, base: &str) -> Self {
        let on_page = u64::try_from(content.len()).unwrap_or(u64::MAX);
        let total_pages = if total == 0 {
            1
        } else {
            total.div_ceil(params.size)
        };
        let page = params.page;
        let mut links = Vec::new();
        if total_pages > 1 && page <= total_pages {
            let link = |n: u64, rel| Link {
                href: format!("{base}?page={n}&size={on_page}"),
                rel,
            };
            links.push(link(1, "first"));
            links.push(link(total_pages, "last"));
            links.push(link(page, "self"));
            if page > 1 && on_page > 0 {
                links.push(link(page - 1, "prev"));
            }
            if page < total_pages {
                links.push(link(page + 1, "next"));
            }
        }
        Self {
            size_of_page: on_page,
            number_of_page: page,
            total_elements: total,
            total_pages,
            content,
            links,
        }
    }
}

/// `scheme://host/accounting-system{path}`, the base of a page's links, from
/// the request's `Host` (upstream uses its configured `api.server.url`).
pub(crate) fn link_base(state: &AppState, headers: &HeaderMap, path: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| !host.is_empty())
        .unwrap_or("localhost");
    let scheme = if state.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}/accounting-system{path}")
}

/// The `start` and `end` parameters of a metric listing (eosc.md §4):
/// `yyyy-MM-dd` each, start strictly before end when both are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DateRange {
    /// Metrics whose period starts at or after this midnight (and, with
    /// `end`, also ends at or after it).
    pub(crate) start: Option<DateTime<Utc>>,
    /// With `start`: metrics whose start and end are at or before this
    /// midnight (the *start* of the end day, as upstream). Alone: metrics
    /// that end before the day after it.
    pub(crate) end: Option<NaiveDate>,
}

impl DateRange {
    /// Parses `start` and `end` with upstream's messages.
    pub(crate) fn parse(query: &[(String, String)]) -> Result<Self, Failure> {
        let day = |name: &str| -> Result<Option<NaiveDate>, Failure> {
            param(query, name)
                .map(|text| {
                    parse_day(text).ok_or_else(|| {
                        Failure::bad_request("The date format must be as follows YYYY-MM-DD")
                    })
                })
                .transpose()
        };
        let (start, end) = (day("start")?, day("end")?);
        if let (Some(start), Some(end)) = (start, end)
            && start >= end
        {
            return Err(Failure::bad_request("start cannot be after end."));
        }
        Ok(Self {
            start: start
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            end,
        })
    }
}

/// A day written as upstream's `yyyy-MM-dd` pattern reads it: exactly four
/// digits, two, two (Java's fixed-width fields refuse `2024-3-1`, which
/// chrono's `%m` alone would accept).
pub(crate) fn parse_day(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn pages_are_bounded_with_upstreams_messages() {
        assert_eq!(
            PageParams::parse(&query(&[]), 100).unwrap(),
            PageParams { page: 1, size: 10 }
        );
        for (pairs, message) in [
            (vec![("page", "0")], "Page number must be >= 1."),
            (vec![("page", "x")], "Page number must be >= 1."),
            (vec![("size", "0")], "Page size must be between 1 and 100."),
            (
                vec![("size", "101")],
                "Page size must be between 1 and 100.",
            ),
            (vec![("size", "-3")], "Page size must be between 1 and 100."),
        ] {
            assert_eq!(
                PageParams::parse(&query(&pairs), 100).unwrap_err().message,
                message
            );
        }
    }

    #[test]
    fn the_envelope_is_upstreams() {
        let params = PageParams { page: 2, size: 2 };
        let page = Page::new(vec![3, 4], 5, params, "http://h/accounting-system/x");
        assert_eq!(page.total_pages, 3);
        let rels: Vec<&str> = page.links.iter().map(|l| l.rel).collect();
        assert_eq!(rels, ["first", "last", "self", "prev", "next"]);
        assert_eq!(
            page.links[0].href,
            "http://h/accounting-system/x?page=1&size=2"
        );
        let empty: Page<i32> = Page::new(Vec::new(), 0, params, "b");
        assert_eq!((empty.total_pages, empty.links.len()), (1, 0));
        let past = Page::<i32>::new(Vec::new(), 5, PageParams { page: 9, size: 2 }, "b");
        assert!(past.links.is_empty());
        let last = Page::new(vec![5], 5, PageParams { page: 3, size: 2 }, "b");
        let rels: Vec<&str> = last.links.iter().map(|l| l.rel).collect();
        assert_eq!(rels, ["first", "last", "self", "prev"]);
        assert_eq!(
            last.links[0].href, "b?page=1&size=1",
            "upstream's size quirk"
        );
    }

    #[test]
    fn days_have_upstreams_fixed_width_shape() {
        assert_eq!(parse_day("2024-03-01"), NaiveDate::from_ymd_opt(2024, 3, 1));
        for text in [
            "2024-3-1",
            "2024-03-1",
            "24-03-01",
            "2024-02-30",
            "2024/03/01",
            "",
        ] {
            assert_eq!(parse_day(text), None, "{text}");
        }
    }

    #[test]
    fn date_ranges_follow_upstream() {
        assert!(DateRange::parse(&query(&[])).unwrap().start.is_none());
        assert_eq!(
            DateRange::parse(&query(&[("start", "2024-13-01")]))
                .unwrap_err()
                .message,
            "The date format must be as follows YYYY-MM-DD"
        );
        assert_eq!(
            DateRange::parse(&query(&[("start", "2024-01-02"), ("end", "2024-01-02")]))
                .unwrap_err()
                .message,
            "start cannot be after end."
        );
    }

    #[test]
    fn only_json_is_consumed() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            require_json(&headers).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        headers.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(require_json(&headers).is_ok());
        let empty: Result<serde_json::Value, _> = json_body(&headers, &Bytes::from_static(b" "));
        assert_eq!(empty.unwrap_err().message, "The request body is empty.");
    }
}
