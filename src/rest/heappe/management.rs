//! HEAppE's accounting management routes (`/heappe/Management/…`, heappe.md
//! §2–§4): accounting formulas (`Accounting`), their links to node-type
//! aggregations (`ClusterNodeTypeAggregationAccounting`), the aggregations
//! themselves (read only), recomputation (`ComputeAccounting`) and its runs
//! (`AccountingState`).
//!
//! Tally never edits a formula: `PUT Accounting` stores a new version that
//! supersedes the given one (which is retired), and `DELETE Accounting`
//! retires a version. See `docs/compatibility.md` for what differs from
//! upstream.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{HeappeQuery, HeappeTime, Problem, caller, field, parse_time, require};
use crate::app::AppState;
use crate::auth::{HeappeRole, Principal};
use crate::domain::formula::{Formula, MAX_LENGTH};
use crate::entity::{accounting_runs, aggregation_formulas, formulas, node_type_aggregations};
use crate::error::Error;
use crate::service::{catalogue, formulas as formula_service, projects, recompute};

/// The unit of a formula created without Tally's `Unit` extension field.
const DEFAULT_UNIT: &str = "node_hour";

/// The accounting management routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/heappe/Management/Accountings", get(list_accountings))
        .route(
            "/heappe/Management/Accounting",
            get(get_accounting)
                .post(create_accounting)
                .put(modify_accounting)
                .delete(remove_accounting),
        )
        .route(
            "/heappe/Management/ClusterNodeTypeAggregationAccountings",
            get(list_links),
        )
        .route(
            "/heappe/Management/ClusterNodeTypeAggregationAccounting",
            get(get_link).post(create_link).delete(remove_link),
        )
        .route(
            "/heappe/Management/ClusterNodeTypeAggregations",
            get(list_aggregations),
        )
        .route(
            "/heappe/Management/ClusterNodeTypeAggregation",
            get(get_aggregation),
        )
        .route(
            "/heappe/Management/ComputeAccounting",
            post(compute_accounting),
        )
        .route("/heappe/Management/AccountingState", post(accounting_state))
}

/// Upstream's `AccountingExt`, in its order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AccountingExt {
    /// The version's id.
    id: i64,
    /// The expression.
    formula: String,
    /// When the version was stored.
    created_at: HeappeTime,
    /// When it was retired, else when it was stored (a version is never
    /// edited).
    modified_at: Option<HeappeTime>,
    /// Start of validity.
    validity_from: HeappeTime,
    /// End of validity, or open.
    validity_to: Option<HeappeTime>,
}

impl From<formulas::Model> for AccountingExt {
    fn from(row: formulas::Model) -> Self {
        Self {
            id: row.id,
            formula: row.expression,
            created_at: HeappeTime(row.created_at),
            modified_at: Some(HeappeTime(row.deleted_at.unwrap_or(row.created_at))),
            validity_from: HeappeTime(row.validity_from),
            validity_to: row.validity_to.map(HeappeTime),
        }
    }
}

/// Upstream's `ClusterNodeTypeAggregationAccountingExt`, in its order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ClusterNodeTypeAggregationAccountingExt {
    /// The aggregation.
    cluster_node_type_aggregation_id: i64,
    /// The formula version.
    accounting_id: i64,
}

impl From<aggregation_formulas::Model> for ClusterNodeTypeAggregationAccountingExt {
    fn from(link: aggregation_formulas::Model) -> Self {
        Self {
            cluster_node_type_aggregation_id: link.aggregation_id,
            accounting_id: link.formula_id,
        }
    }
}

/// Upstream's `ClusterNodeTypeAggregationExt`, in its order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ClusterNodeTypeAggregationExt {
    /// The aggregation's id.
    id: i64,
    /// Its name.
    name: String,
    /// Its description.
    description: Option<String>,
    /// HEAppE's allocation type label.
    allocation_type: Option<String>,
    /// Start of validity.
    validity_from: HeappeTime,
    /// End of validity, or open.
    validity_to: Option<HeappeTime>,
}

impl From<node_type_aggregations::Model> for ClusterNodeTypeAggregationExt {
    fn from(row: node_type_aggregations::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            description: row.description,
            allocation_type: row.allocation_type,
            validity_from: HeappeTime(row.validity_from),
            validity_to: row.validity_to.map(HeappeTime),
        }
    }
}

/// Upstream's `AccountingStateExt`, in its order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AccountingStateExt {
    /// The project.
    project_id: i64,
    /// Upstream's `AccountingStateType`: Unknown 0, Queued 1, Running 2,
    /// Finished 4, Failed 8.
    state: u8,
    /// When an instance started the run (until then, when it was asked for).
    computing_start_date: HeappeTime,
    /// When it finished or failed.
    computing_end_date: Option<HeappeTime>,
    /// When it was asked for.
    triggered_at: HeappeTime,
    /// When it last made progress.
    last_updated_at: Option<HeappeTime>,
}

impl From<accounting_runs::Model> for AccountingStateExt {
    fn from(run: accounting_runs::Model) -> Self {
        let state = match run.state.as_str() {
            recompute::QUEUED => 1,
            recompute::RUNNING => 2,
            recompute::FINISHED => 4,
            recompute::FAILED => 8,
            _ => 0,
        };
        Self {
            project_id: run.project_id,
            state,
            computing_start_date: HeappeTime(run.started_at.unwrap_or(run.triggered_at)),
            computing_end_date: run.finished_at.map(HeappeTime),
            triggered_at: HeappeTime(run.triggered_at),
            last_updated_at: run.last_updated_at.map(HeappeTime),
        }
    }
}

/// ASP.NET's answer to a value it cannot bind (400).
fn unbindable(detail: String) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "One or more validation errors occurred.",
        detail,
    )
}

/// Upstream's `InputValidationException`: its validator's lines, each ended
/// by a newline.
fn invalid(lines: &[String]) -> Problem {
    let mut detail = String::new();
    for line in lines {
        detail.push_str(line);
        detail.push('\n');
    }
    Problem::new(StatusCode::BAD_REQUEST, "Validation Problem", detail)
}

/// Upstream's `RequestedObjectDoesNotExistException` (404).
fn not_found(detail: String) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "Validation Problem", detail)
}

fn accounting_not_found(id: i64) -> Problem {
    not_found(format!(
        "The specified accounting with Id '{id}' is not defined in the HEAppE."
    ))
}

fn aggregation_not_found(id: i64) -> Problem {
    not_found(format!(
        "The specified cluster node type aggregation id '{id}' is not defined in the HEAppE."
    ))
}

fn link_not_found(aggregation: i64, accounting: i64) -> Problem {
    not_found(format!(
        "The specified cluster node type aggregation accounting with \
         clusterNodeTypeAggregationId '{aggregation}' and  accountingId '{accounting}' is not \
         defined in the HEAppE."
    ))
}

fn project_not_found() -> Problem {
    not_found("The specified project is not defined in the HEAppE.".to_owned())
}

/// A request body as JSON, or ASP.NET's 400.
fn body_json(body: &Bytes) -> Result<Value, Problem> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| unbindable(format!("The request body is not valid JSON: {e}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(unbindable(
            "The request body must be a JSON object.".to_owned(),
        ))
    }
}

/// The caller named by the body's `SessionCode`, else by the query's
/// `sessionCode` or a bearer token.
async fn body_caller(
    state: &AppState,
    body: &Value,
    query: Vec<(String, String)>,
    headers: &HeaderMap,
) -> Result<Principal, Problem> {
    let mut names = Vec::new();
    if let Some(code) = field(body, "SessionCode").and_then(Value::as_str) {
        names.push(("sessionCode".to_owned(), code.to_owned()));
    }
    names.extend(query);
    caller(state, &HeappeQuery(names), headers).await
}

/// A `long` body property (`None` when absent).
fn body_long(body: &Value, name: &str) -> Result<Option<i64>, Problem> {
    match field(body, name) {
        None => Ok(None),
        Some(value) => value.as_i64().map(Some).ok_or_else(|| {
            unbindable(format!(
                "The JSON value of '{name}' could not be converted to System.Int64."
            ))
        }),
    }
}

/// A `DateTime` body property (`None` when absent or null).
fn body_time(body: &Value, name: &str) -> Result<Option<DateTime<Utc>>, Problem> {
    match field(body, name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_str()
            .and_then(parse_time)
            .map(Some)
            .ok_or_else(|| {
                unbindable(format!(
                    "The JSON value of '{name}' could not be converted to System.DateTime."
                ))
            }),
    }
}

/// A required `DateTime` body property.
fn required_time(body: &Value, name: &str) -> Result<DateTime<Utc>, Problem> {
    body_time(body, name)?.ok_or_else(|| unbindable(format!("The {name} field is required.")))
}

/// A string body property (`None` when absent or null).
fn body_text(body: &Value, name: &str) -> Result<Option<String>, Problem> {
    match field(body, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(unbindable(format!(
            "The JSON value of '{name}' could not be converted to System.String."
        ))),
    }
}

/// A `long` query parameter; absent means 0, as ASP.NET binds it.
fn query_long(query: &HeappeQuery, name: &str) -> Result<i64, Problem> {
    Ok(query.long(name)?.unwrap_or(0))
}

/// Upstream's `ValidateId`.
fn check_id(lines: &mut Vec<String>, id: i64, name: &str) {
    if id <= 0 {
        lines.push(format!("{name} must be greater than 0"));
    }
}

/// Upstream's `AccountingFormulaValidator`: not blank, only
/// `^[a-zA-Z0-9_\s+\-*/%().]*$`, balanced parentheses.
fn upstream_accepts(formula: &str) -> bool {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || c.is_whitespace() || "_+-*/%().".contains(c);
    let mut depth = 0_usize;
    for c in formula.chars() {
        if !allowed(c) {
            return false;
        }
        if c == '(' {
            depth += 1;
        } else if c == ')' {
            let Some(less) = depth.checked_sub(1) else {
                return false;
            };
            depth = less;
        }
    }
    depth == 0 && !formula.trim().is_empty()
}

/// The formula checks: upstream's length (`[StringLength(200)]`) and
/// validator, each with upstream's text, then Tally's parser (known
/// variables, well-formed arithmetic), whose reason follows upstream's line.
fn check_formula(lines: &mut Vec<String>, formula: &str) {
    if formula.chars().count() > MAX_LENGTH {
        lines.push(format!(
            "The field Formula must be a string with a maximum length of {MAX_LENGTH}."
        ));
    } else if !upstream_accepts(formula) {
        lines.push(format!("Not valid formula '{formula}'"));
    } else if let Err(reason) = Formula::parse(formula) {
        lines.push(format!("Not valid formula '{formula}'"));
        lines.push(reason.to_string());
    }
}

/// Upstream's validity check (`ValidityTo` after `ValidityFrom`), with .NET's
/// invariant `DateTime` text.
fn check_validity(lines: &mut Vec<String>, from: DateTime<Utc>, to: Option<DateTime<Utc>>) {
    if let Some(to) = to.filter(|to| *to <= from) {
        let text = |at: DateTime<Utc>| at.format("%m/%d/%Y %H:%M:%S").to_string();
        lines.push(format!("{} must be greater than {}", text(to), text(from)));
    }
}

/// Turns `lines` into a refusal, if any.
fn refuse(lines: &[String]) -> Result<(), Problem> {
    if lines.is_empty() {
        Ok(())
    } else {
        Err(invalid(lines))
    }
}

/// Caller with upstream's ManagementAdmin (system administrators hold every
/// role).
async fn management_admin(
    state: &AppState,
    query: &HeappeQuery,
    headers: &HeaderMap,
) -> Result<Principal, Problem> {
    let principal = caller(state, query, headers).await?;
    require(&principal, HeappeRole::ManagementAdmin)?;
    Ok(principal)
}

/// Upstream's Manager check on one project: the role somewhere, else 401
/// `MissingRole:Manager`; on `project_id`, else 403.
fn require_manager_of(principal: &Principal, project_id: i64) -> Result<(), Problem> {
    require(principal, HeappeRole::Manager)?;
    if principal
        .heappe_projects(HeappeRole::Manager)
        .contains(project_id)
    {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Access Forbidden",
            format!("User does not have 'Manager' role for project '{project_id}'."),
        ))
    }
}

/// `GET /heappe/Management/Accountings?sessionCode`: every version not
/// retired, by id.
async fn list_accountings(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Vec<AccountingExt>>, Problem> {
    management_admin(&state, &HeappeQuery(query), &headers).await?;
    let rows = formula_service::list_current(&state.db).await?;
    Ok(Json(rows.into_iter().map(AccountingExt::from).collect()))
}

/// `GET /heappe/Management/Accounting?id&sessionCode`.
async fn get_accounting(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<AccountingExt>, Problem> {
    let query = HeappeQuery(query);
    let id = query_long(&query, "id")?;
    management_admin(&state, &query, &headers).await?;
    match formula_service::current(&state.db, id).await {
        Ok(row) => Ok(Json(row.into())),
        Err(Error::NotFound(_)) => Err(accounting_not_found(id)),
        Err(other) => Err(other.into()),
    }
}

/// `POST /heappe/Management/Accounting`, body `{SessionCode, Formula,
/// ValidityFrom, ValidityTo}` (and Tally's optional `Unit`, default
/// `node_hour`): a new version, attached to no aggregation yet.
async fn create_accounting(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AccountingExt>, Problem> {
    let body = body_json(&body)?;
    let formula = body_text(&body, "Formula")?.unwrap_or_default();
    let validity_from = required_time(&body, "ValidityFrom")?;
    let validity_to = body_time(&body, "ValidityTo")?;
    let unit = body_text(&body, "Unit")?.unwrap_or_else(|| DEFAULT_UNIT.to_owned());
    let mut lines = Vec::new();
    check_formula(&mut lines, &formula);
    check_validity(&mut lines, validity_from, validity_to);
    refuse(&lines)?;
    let principal = body_caller(&state, &body, query, &headers).await?;
    require(&principal, HeappeRole::ManagementAdmin)?;
    let new = formula_service::NewFormula {
        expression: formula,
        unit,
        validity_from,
        validity_to,
        supersedes: None,
    };
    let row = formula_service::create_unattached(&state.db, new, principal.user_id).await?;
    Ok(Json(row.into()))
}

/// `PUT /heappe/Management/Accounting`, body `{SessionCode, Id, Formula,
/// ValidityFrom, ValidityTo}` (and Tally's optional `Unit`, default the
/// superseded version's): a new version superseding `Id` on the same
/// aggregations; `Id` is retired. Answers the new version.
async fn modify_accounting(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AccountingExt>, Problem> {
    let body = body_json(&body)?;
    let id = body_long(&body, "Id")?.unwrap_or(0);
    let formula = body_text(&body, "Formula")?.unwrap_or_default();
    let validity_from = required_time(&body, "ValidityFrom")?;
    let validity_to = body_time(&body, "ValidityTo")?;
    let unit = body_text(&body, "Unit")?;
    let mut lines = Vec::new();
    check_id(&mut lines, id, "Id");
    check_formula(&mut lines, &formula);
    check_validity(&mut lines, validity_from, validity_to);
    refuse(&lines)?;
    let principal = body_caller(&state, &body, query, &headers).await?;
    require(&principal, HeappeRole::ManagementAdmin)?;
    let revision = formula_service::Revision {
        expression: formula,
        unit,
        validity_from,
        validity_to,
    };
    match formula_service::revise(&state.db, id, revision, principal.user_id).await {
        Ok(row) => Ok(Json(row.into())),
        Err(Error::NotFound(_)) => Err(accounting_not_found(id)),
        Err(other) => Err(other.into()),
    }
}

/// `DELETE /heappe/Management/Accounting`, body `{SessionCode, Id}`: retires
/// the version → `"Accounting was deleted."`.
async fn remove_accounting(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<&'static str>, Problem> {
    let body = body_json(&body)?;
    let id = body_long(&body, "Id")?.unwrap_or(0);
    let mut lines = Vec::new();
    check_id(&mut lines, id, "Id");
    refuse(&lines)?;
    let principal = body_caller(&state, &body, query, &headers).await?;
    require(&principal, HeappeRole::ManagementAdmin)?;
    match formula_service::retire(&state.db, id).await {
        Ok(()) => Ok(Json("Accounting was deleted.")),
        Err(Error::NotFound(_)) => Err(accounting_not_found(id)),
        Err(other) => Err(other.into()),
    }
}

/// `GET /heappe/Management/ClusterNodeTypeAggregationAccountings?sessionCode`:
/// every link to a version not retired.
async fn list_links(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Vec<ClusterNodeTypeAggregationAccountingExt>>, Problem> {
    management_admin(&state, &HeappeQuery(query), &headers).await?;
    let links = formula_service::links(&state.db).await?;
    Ok(Json(links.into_iter().map(Into::into).collect()))
}

/// `GET /heappe/Management/ClusterNodeTypeAggregationAccounting?
/// clusterNodeTypeAggregationId&accountingId&sessionCode`.
async fn get_link(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<ClusterNodeTypeAggregationAccountingExt>, Problem> {
    let query = HeappeQuery(query);
    let aggregation = query_long(&query, "clusterNodeTypeAggregationId")?;
    let accounting = query_long(&query, "accountingId")?;
    management_admin(&state, &query, &headers).await?;
    if formula_service::is_linked(&state.db, aggregation, accounting).await? {
        Ok(Json(ClusterNodeTypeAggregationAccountingExt {
            cluster_node_type_aggregation_id: aggregation,
            accounting_id: accounting,
        }))
    } else {
        Err(link_not_found(aggregation, accounting))
    }
}

/// The `{ClusterNodeTypeAggregationId, AccountingId}` of a link body, checked
/// as upstream does.
fn link_ids(body: &Value) -> Result<(i64, i64), Problem> {
    let aggregation = body_long(body, "ClusterNodeTypeAggregationId")?.unwrap_or(0);
    let accounting = body_long(body, "AccountingId")?.unwrap_or(0);
    let mut lines = Vec::new();
    check_id(&mut lines, aggregation, "ClusterNodeTypeAggregationId");
    check_id(&mut lines, accounting, "AccountingId");
    refuse(&lines)?;
    Ok((aggregation, accounting))
}

/// `POST /heappe/Management/ClusterNodeTypeAggregationAccounting`, body
/// `{SessionCode, ClusterNodeTypeAggregationId, AccountingId}`: the
/// aggregation's tasks are priced by the version from its validity on.
async fn create_link(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ClusterNodeTypeAggregationAccountingExt>, Problem> {
    let body = body_json(&body)?;
    let (aggregation, accounting) = link_ids(&body)?;
    let principal = body_caller(&state, &body, query, &headers).await?;
    require(&principal, HeappeRole::ManagementAdmin)?;
    // Upstream's order of checks, each with its own answer.
    if formula_service::is_linked(&state.db, aggregation, accounting).await? {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "Invalid Request",
            format!(
                "The specified cluster node type aggregation accounting with \
                 clusterNodeTypeAggregationId '{aggregation}' and  accountingId '{accounting}' \
                 already exists in the HEAppE."
            ),
        ));
    }
    if let Err(Error::NotFound(_)) = catalogue::aggregation(&state.db, aggregation).await {
        return Err(aggregation_not_found(aggregation));
    }
    if let Err(Error::NotFound(_)) = formula_service::current(&state.db, accounting).await {
        return Err(accounting_not_found(accounting));
    }
    let link = formula_service::link(&state.db, aggregation, accounting).await?;
    Ok(Json(link.into()))
}

/// `DELETE /heappe/Management/ClusterNodeTypeAggregationAccounting`, body
/// `{SessionCode, ClusterNodeTypeAggregationId, AccountingId}` →
/// `"ClusterNodeTypeAggregationAccounting was deleted."`.
async fn remove_link(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<&'static str>, Problem> {
    let body = body_json(&body)?;
    let (aggregation, accounting) = link_ids(&body)?;
    let principal = body_caller(&state, &body, query, &headers).await?;
    require(&principal, HeappeRole::ManagementAdmin)?;
    match formula_service::unlink(&state.db, aggregation, accounting).await {
        Ok(()) => Ok(Json("ClusterNodeTypeAggregationAccounting was deleted.")),
        Err(Error::NotFound(_)) => Err(link_not_found(aggregation, accounting)),
        Err(other) => Err(other.into()),
    }
}

/// `GET /heappe/Management/ClusterNodeTypeAggregations?sessionCode`.
async fn list_aggregations(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Vec<ClusterNodeTypeAggregationExt>>, Problem> {
    management_admin(&state, &HeappeQuery(query), &headers).await?;
    let rows = catalogue::aggregations(&state.db).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// `GET /heappe/Management/ClusterNodeTypeAggregation?id&sessionCode`.
async fn get_aggregation(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<ClusterNodeTypeAggregationExt>, Problem> {
    let query = HeappeQuery(query);
    let id = query_long(&query, "id")?;
    management_admin(&state, &query, &headers).await?;
    match catalogue::aggregation(&state.db, id).await {
        Ok(row) => Ok(Json(row.into())),
        Err(Error::NotFound(_)) => Err(aggregation_not_found(id)),
        Err(other) => Err(other.into()),
    }
}

/// `POST /heappe/Management/ComputeAccounting`, body `{SessionCode,
/// StartTime, EndTime, ProjectId}`: queues a recomputation of the project's
/// tasks that lie within the period, which the recompute worker runs →
/// `"Accounting triggered for project {id}."`.
async fn compute_accounting(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<String>, Problem> {
    let body = body_json(&body)?;
    let start = required_time(&body, "StartTime")?;
    let end = required_time(&body, "EndTime")?;
    let project_id = body_long(&body, "ProjectId")?.unwrap_or(0);
    let principal = body_caller(&state, &body, query, &headers).await?;
    require_manager_of(&principal, project_id)?;
    if end <= start {
        return Err(invalid(&["StartTime must be before EndTime".to_owned()]));
    }
    match recompute::enqueue(&state.db, project_id, start, end, principal.user_id).await {
        Ok(_) => Ok(Json(format!(
            "Accounting triggered for project {project_id}."
        ))),
        Err(Error::NotFound(_)) => Err(project_not_found()),
        Err(other) => Err(other.into()),
    }
}

/// `POST /heappe/Management/AccountingState?projectId&sessionCode`: the
/// project's recomputation runs, oldest first.
async fn accounting_state(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Vec<AccountingStateExt>>, Problem> {
    let query = HeappeQuery(query);
    let project_id = query_long(&query, "projectId")?;
    let mut lines = Vec::new();
    check_id(&mut lines, project_id, "ProjectId");
    refuse(&lines)?;
    let principal = caller(&state, &query, &headers).await?;
    require_manager_of(&principal, project_id)?;
    if let Err(Error::NotFound(_)) = projects::require(&state.db, project_id).await {
        return Err(project_not_found());
    }
    let runs = recompute::runs_of(&state.db, project_id).await?;
    Ok(Json(runs.into_iter().map(Into::into).collect()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn times_are_written_as_dotnet_writes_a_datetime2() {
        let at = Utc.with_ymd_and_hms(2024, 5, 20, 12, 53, 27).unwrap();
        assert_eq!(HeappeTime(at).text(), "2024-05-20T12:53:27");
        let at = at + chrono::Duration::milliseconds(123);
        assert_eq!(HeappeTime(at).text(), "2024-05-20T12:53:27.123");
        let at = at + chrono::Duration::nanoseconds(456_700);
        assert_eq!(HeappeTime(at).text(), "2024-05-20T12:53:27.1234567");
    }

    #[test]
    fn times_are_read_with_or_without_a_zone() {
        let at = Utc.with_ymd_and_hms(2024, 5, 20, 12, 53, 27).unwrap();
        assert_eq!(parse_time("2024-05-20T12:53:27"), Some(at));
        assert_eq!(parse_time("2024-05-20T12:53:27Z"), Some(at));
        assert_eq!(parse_time("2024-05-20T14:53:27+02:00"), Some(at));
        assert_eq!(
            parse_time("2024-05-20T12:53:27.5"),
            Some(at + chrono::Duration::milliseconds(500))
        );
        assert_eq!(
            parse_time("2024-05-20"),
            Some(Utc.with_ymd_and_hms(2024, 5, 20, 0, 0, 0).unwrap())
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2024-13-01T00:00:00"), None);
    }
}
