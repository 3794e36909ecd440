//! Metrics: create, read, update, delete under an installation, the
//! listings per installation, project, provider, group and user, and
//! `/metrics/search` (eosc.md §1.1, §1.2, §2); beyond upstream, a bulk post
//! (`/installations/{id}/metrics/bulk`, all or nothing).
//!
//! Path parameters are named `{id}` in the first position (the installation
//! or project) so that the routes merge with the collections' own routes
//! under the same prefixes.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use super::catalogue::{DefinitionView, window};
use super::{DateRange, Failure, Page, PageParams, caller, json_body, link_base, param};
use crate::app::AppState;
use crate::auth::EoscAction;
use crate::entity::metrics;
use crate::service::eosc::{MetricInput, external_id};
use crate::service::eosc_metrics::{
    self, ListedMetric, Listing, MetricPatch, Period, Posted, Refusal, RefusalKind,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/installations/{id}/metrics",
            post(create).get(list_installation),
        )
        .route("/installations/{id}/metrics/bulk", post(create_bulk))
        .route(
            "/installations/{id}/metrics/{metric_id}",
            get(read).patch(update).delete(remove),
        )
        .route("/projects/{id}/metrics", get(list_project))
        .route(
            "/projects/{id}/providers/{provider_id}/metrics",
            get(list_provider),
        )
        .route(
            "/projects/projects/{id}/groups/{group_id}/metrics",
            get(list_group),
        )
        .route(
            "/projects/projects/{id}/users/{user_id}/metrics",
            get(list_user),
        )
        .route(
            "/installations/{id}/metric-definitions",
            get(definitions_of_installation),
        )
        .route(
            "/projects/{id}/metric-definitions",
            get(definitions_of_project),
        )
        .route(
            "/projects/{id}/providers/{provider_id}/metric-definitions",
            get(definitions_of_provider),
        )
        .route("/operands", get(operands))
        .route("/operators", get(operators))
}

/// An instant as upstream writes it (`Instant.toString()`: seconds, a
/// fraction only when there is one, `Z`).
fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// One metric (create, GET-one and PATCH), fields in upstream's order; null
/// ids omitted.
#[derive(Debug, Serialize)]
struct MetricBody {
    metric_id: String,
    metric_definition_id: String,
    time_period_start: String,
    time_period_end: String,
    value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
}

impl From<&metrics::Model> for MetricBody {
    fn from(row: &metrics::Model) -> Self {
        Self {
            metric_id: external_id(row.id),
            metric_definition_id: external_id(row.metric_definition_id),
            time_period_start: instant(row.period_start),
            time_period_end: instant(row.period_end),
            value: row.value,
            group_id: row.group_id.clone(),
            user_id: row.user_id.clone(),
        }
    }
}

/// A metric definition inside a listed metric.
#[derive(Debug, Serialize)]
struct DefinitionBody {
    metric_definition_id: String,
    metric_name: String,
    metric_description: Option<String>,
    unit_type: String,
    metric_type: String,
    creator_id: Option<String>,
}

/// A listed metric (upstream's `MetricProjection`), fields in its order.
#[derive(Debug, Serialize)]
struct ListedBody {
    id: String,
    time_period_start: String,
    time_period_end: String,
    value: f64,
    project: Option<String>,
    provider: String,
    installation_id: String,
    project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    metric_definition: DefinitionBody,
}

impl From<ListedMetric> for ListedBody {
    fn from(m: ListedMetric) -> Self {
        Self {
            id: external_id(m.id),
            time_period_start: instant(m.start),
            time_period_end: instant(m.end),
            value: m.value,
            project: m.project_acronym,
            provider: m.provider,
            installation_id: external_id(m.installation_id),
            project_id: m.project_grant,
            resource: m.resource,
            group_id: m.group_id,
            user_id: m.user_id,
            metric_definition: DefinitionBody {
                metric_definition_id: external_id(m.definition_id),
                metric_name: m.definition_name,
                metric_description: m.definition_description,
                unit_type: m.unit_type,
                metric_type: m.metric_type,
                creator_id: m.definition_creator,
            },
        }
    }
}

/// The `Idempotency-Key` header, if any (400 when it is not text).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Failure> {
    headers
        .get("idempotency-key")
        .map(|value| {
            value.to_str().map(str::to_owned).map_err(|_| {
                Failure::bad_request("idempotency key must be 1 to 255 visible characters.")
            })
        })
        .transpose()
}

fn status_of(kind: RefusalKind) -> StatusCode {
    match kind {
        RefusalKind::NotFound => StatusCode::NOT_FOUND,
        RefusalKind::Forbidden => StatusCode::FORBIDDEN,
        RefusalKind::Conflict => StatusCode::CONFLICT,
        RefusalKind::Invalid => StatusCode::BAD_REQUEST,
    }
}

fn created(
    state: &AppState,
    headers: &HeaderMap,
    installation: &str,
    row: &metrics::Model,
) -> Response {
    let location = link_base(
        state,
        headers,
        &format!(
            "/installations/{installation}/metrics/{}",
            external_id(row.id)
        ),
    );
    let mut response = (StatusCode::CREATED, axum::Json(MetricBody::from(row))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `POST /installations/{id}/metrics` → 201 + `Location`. A retried post
/// with the same `Idempotency-Key` (and content) answers the stored metric.
async fn create(
    State(state): State<AppState>,
    Path(installation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let principal = caller(&state, &headers).await?;
    let input: MetricInput = json_body(&headers, &body)?;
    let key = idempotency_key(&headers)?;
    let scope = principal.eosc_installations(EoscAction::WriteMetrics);
    let posted = eosc_metrics::post(
        &state.db,
        &state.events,
        &scope,
        &installation,
        Some(&principal.name),
        &[(input, key)],
    )
    .await?;
    match posted {
        Posted::Stored(rows) => match rows.first() {
            Some(row) => Ok(created(&state, &headers, &installation, row)),
            None => Err(Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The metric was not stored.",
            )),
        },
        Posted::Refused(refusals) => {
            let first = refusals.into_iter().next().map_or_else(
                || Failure::bad_request("The metric was refused."),
                |r| Failure::new(status_of(r.kind), r.message),
            );
            Err(first)
        }
    }
}

/// The answer to a refused bulk post.
#[derive(Debug, Serialize)]
struct BulkRefusal {
    code: u16,
    message: String,
    errors: Vec<BulkError>,
}

#[derive(Debug, Serialize)]
struct BulkError {
    index: usize,
    code: u16,
    message: String,
}

#[derive(Debug, Serialize)]
struct BulkStored {
    metrics: Vec<MetricBody>,
}

/// `POST /installations/{id}/metrics/bulk` (beyond upstream): a JSON array
/// of metric bodies, each with an optional `idempotency_key`; all stored
/// (201 `{"metrics": [...]}`) or none (the status of the first refusal, with
/// `errors` listing every refused item by its index).
async fn create_bulk(
    State(state): State<AppState>,
    Path(installation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let principal = caller(&state, &headers).await?;
    let items: Vec<Value> = json_body(&headers, &body)?;
    if items.is_empty() {
        return Err(Failure::bad_request("The request body is empty."));
    }
    if items.len() > MAX_BULK {
        return Err(Failure::bad_request(format!(
            "A bulk post holds at most {MAX_BULK} metrics."
        )));
    }
    let mut batch = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let key = match item.get("idempotency_key") {
            None | Some(Value::Null) => None,
            Some(Value::String(key)) => Some(key.clone()),
            Some(_) => {
                errors.push(BulkError {
                    index,
                    code: 400,
                    message: "idempotency key must be 1 to 255 visible characters.".to_owned(),
                });
                None
            }
        };
        match serde_json::from_value::<MetricInput>(item) {
            Ok(input) => batch.push((input, key)),
            Err(e) => errors.push(BulkError {
                index,
                code: 400,
                message: format!("The metric is not valid: {e}"),
            }),
        }
    }
    if !errors.is_empty() {
        return Ok(bulk_refused(StatusCode::BAD_REQUEST, errors));
    }
    let scope = principal.eosc_installations(EoscAction::WriteMetrics);
    let posted = eosc_metrics::post(
        &state.db,
        &state.events,
        &scope,
        &installation,
        Some(&principal.name),
        &batch,
    )
    .await?;
    match posted {
        Posted::Stored(rows) => Ok((
            StatusCode::CREATED,
            axum::Json(BulkStored {
                metrics: rows.iter().map(MetricBody::from).collect(),
            }),
        )
            .into_response()),
        Posted::Refused(refusals) => {
            let status = refusals
                .first()
                .map_or(StatusCode::BAD_REQUEST, |r| status_of(r.kind));
            let errors = refusals
                .into_iter()
                .map(
                    |Refusal {
                         index,
                         kind,
                         message,
                     }| BulkError {
                        index,
                        code: status_of(kind).as_u16(),
                        message,
                    },
                )
                .collect();
            Ok(bulk_refused(status, errors))
        }
    }
}

/// The most metrics a bulk post holds.
const MAX_BULK: usize = 1000;

fn bulk_refused(status: StatusCode, errors: Vec<BulkError>) -> Response {
    let body = BulkRefusal {
        code: status.as_u16(),
        message: format!(
            "{} of the metrics were refused; nothing was stored.",
            errors.len()
        ),
        errors,
    };
    (status, axum::Json(body)).into_response()
}

/// `GET /installations/{id}/metrics/{metric_id}`.
async fn read(
    State(state): State<AppState>,
    Path((installation, metric)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let principal = caller(&state, &headers).await?;
    let scope = principal.eosc_installations(EoscAction::ReadMetrics);
    let row = eosc_metrics::get(&state.db, &scope, &installation, &metric).await?;
    Ok(axum::Json(MetricBody::from(&row)).into_response())
}

/// `PATCH /installations/{id}/metrics/{metric_id}`.
async fn update(
    State(state): State<AppState>,
    Path((installation, metric)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let principal = caller(&state, &headers).await?;
    let patch: MetricPatch = json_body(&headers, &body)?;
    let scope = principal.eosc_installations(EoscAction::WriteMetrics);
    let row = eosc_metrics::update(
        &state.db,
        &state.events,
        &scope,
        &installation,
        &metric,
        &patch,
    )
    .await?;
    Ok(axum::Json(MetricBody::from(&row)).into_response())
}

#[derive(Serialize)]
struct Informative {
    code: u16,
    message: &'static str,
}

/// `DELETE /installations/{id}/metrics/{metric_id}`.
async fn remove(
    State(state): State<AppState>,
    Path((installation, metric)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let principal = caller(&state, &headers).await?;
    let scope = principal.eosc_installations(EoscAction::WriteMetrics);
    eosc_metrics::delete(&state.db, &state.events, &scope, &installation, &metric).await?;
    Ok(axum::Json(Informative {
        code: 200,
        message: "Metric has been deleted successfully.",
    })
    .into_response())
}

/// A page of `listing`'s metrics; `definitions` whether the route takes
/// `metric-definition-id`.
async fn listing(
    state: &AppState,
    headers: &HeaderMap,
    query: &[(String, String)],
    listing: Listing,
    path: &str,
    definitions: bool,
) -> Result<Response, Failure> {
    let principal = caller(state, headers).await?;
    let params = PageParams::parse(query, PageParams::MAX_SIZE)?;
    let range = DateRange::parse(query)?;
    let definition = if definitions {
        param(query, "metric-definition-id")
    } else {
        None
    };
    let scope = principal.eosc_installations(EoscAction::ReadMetrics);
    let (items, total) = eosc_metrics::list(
        &state.db,
        &scope,
        &listing,
        Period {
            start: range.start,
            end: range.end,
        },
        definition,
        params.offset(),
        params.size,
    )
    .await?;
    let content: Vec<ListedBody> = items.into_iter().map(ListedBody::from).collect();
    let base = link_base(state, headers, path);
    Ok(axum::Json(Page::new(content, total, params, &base)).into_response())
}

type Pairs = Query<Vec<(String, String)>>;

/// A page of the metric definitions used under `listing` (eosc.md §1.2), for
/// a caller who may read its metrics.
async fn used_definitions(
    state: &AppState,
    headers: &HeaderMap,
    query: &[(String, String)],
    listing: Listing,
    path: &str,
) -> Result<Response, Failure> {
    let principal = caller(state, headers).await?;
    let params = PageParams::parse(query, PageParams::MAX_SIZE)?;
    let scope = principal.eosc_installations(EoscAction::ReadMetrics);
    let (rows, total) =
        eosc_metrics::used_definitions(&state.db, &scope, &listing, window(params)).await?;
    let content: Vec<DefinitionView> = rows.into_iter().map(DefinitionView::from).collect();
    let base = link_base(state, headers, path);
    Ok(axum::Json(Page::new(content, total, params, &base)).into_response())
}

async fn definitions_of_installation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Failure> {
    let path = format!("/installations/{id}/metric-definitions");
    used_definitions(&state, &headers, &query, Listing::Installation(id), &path).await
}

async fn definitions_of_project(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Failure> {
    let path = format!("/projects/{id}/metric-definitions");
    used_definitions(&state, &headers, &query, Listing::Project(id), &path).await
}

async fn definitions_of_provider(
    State(state): State<AppState>,
    Path((id, provider)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Failure> {
    let path = format!("/projects/{id}/providers/{provider}/metric-definitions");
    let listing = Listing::Provider(id, provider);
    used_definitions(&state, &headers, &query, listing, &path).await
}

async fn list_installation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Failure> {
    let path = format!("/installations/{id}/metrics");
    listing(
        &state,
        &headers,
        &query,
        Listing::Installation(id),
        &path,
        true,
    )
    .await
}

async fn list_project(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Failure> {
    let path = format!("/projects/{id}/metrics");
    listing(&state, &headers, &query, Listing::Project(id), &path, true).await
}

async fn list_provider(
    State(state): State<AppState>,
    Path((id, provider)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Failure> {
    let path = format!("/projects/{id}/providers/{provider}/metrics");
    listing(
        &state,
        &headers,
        &query,
        Listing::Provider(id, provider),
        &path,
        true,
    )
    .await
}

async fn list_group(
    State(state): State<AppState>,
    Path((id, group)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Failure> {
    let path = format!("/projects/projects/{id}/groups/{group}/metrics");
    listing(
        &state,
        &headers,
        &query,
        Listing::Group(id, group),
        &path,
        false,
    )
    .await
}

async fn list_user(
    State(state): State<AppState>,
    Path((id, user)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Failure> {
    let path = format!("/projects/projects/{id}/users/{user}/metrics");
    listing(
        &state,
        &headers,
        &query,
        Listing::User(id, user),
        &path,
        false,
    )
    .await
}

#[derive(Serialize)]
struct Label {
    label: &'static str,
    display_value: &'static str,
}

/// `GET /operands` (eosc.md §2).
async fn operands(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Failure> {
    caller(&state, &headers).await?;
    let labels = [
        ("eq", "=="),
        ("neq", "!="),
        ("lt", "<"),
        ("lte", "<="),
        ("gt", ">"),
        ("gte", ">="),
    ]
    .map(|(label, display_value)| Label {
        label,
        display_value,
    });
    Ok(axum::Json(labels).into_response())
}

/// `GET /operators` (eosc.md §2).
async fn operators(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Failure> {
    caller(&state, &headers).await?;
    let labels = [("and", "AND"), ("or", "OR")].map(|(label, display_value)| Label {
        label,
        display_value,
    });
    Ok(axum::Json(labels).into_response())
}
