//! Projects, their providers and installations: `POST /admin/projects`,
//! `GET /projects`, `GET /projects/{id}`, `POST /projects/{id}/associate` and
//! `/dissociate`, `POST /installations`, `GET/PATCH/DELETE
//! /installations/{id}`, and the installations of a project (or of one of
//! its providers) (eosc.md §1.1 Project, Installation; §1.2).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Failure, Page, PageParams, caller, json_body, link_base, parse_day};
use crate::app::AppState;
use crate::auth::EoscAction;
use crate::service::eosc::external_id;
use crate::service::eosc_projects::{
    self, DefinitionView, Hierarchy, InstallationChanges, InstallationView, NewInstallation,
    NewProject,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/projects", post(register))
        .route("/projects", get(list))
        .route("/projects/{id}", get(one))
        .route("/projects/{id}/associate", post(associate))
        .route("/projects/{id}/dissociate", post(dissociate))
        .route("/projects/{id}/installations", get(project_installations))
        .route(
            "/projects/{id}/providers/{provider}/installations",
            get(provider_installations),
        )
        .route("/installations", post(create_installation))
        .route(
            "/installations/{id}",
            get(get_installation)
                .patch(patch_installation)
                .delete(delete_installation),
        )
}

/// `MetricDefinitionResponseDto`.
#[derive(Debug, Serialize)]
pub(super) struct DefinitionOut {
    metric_definition_id: String,
    metric_name: String,
    metric_description: Option<String>,
    unit_type: String,
    metric_type: String,
    creator_id: Option<String>,
}

impl From<DefinitionView> for DefinitionOut {
    fn from(view: DefinitionView) -> Self {
        Self {
            metric_definition_id: external_id(view.definition.id),
            metric_name: view.definition.name,
            metric_description: view.definition.description,
            unit_type: view.unit_type,
            metric_type: view.metric_type,
            creator_id: view.definition.creator_id,
        }
    }
}

/// `InstallationResponseDto`.
#[derive(Debug, Serialize)]
struct InstallationOut {
    id: String,
    project: String,
    organisation: String,
    infrastructure: Option<String>,
    installation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
    unit_of_access: Option<DefinitionOut>,
}

impl From<InstallationView> for InstallationOut {
    fn from(view: InstallationView) -> Self {
        Self {
            id: external_id(view.installation.id),
            project: view.project,
            organisation: view.organisation,
            infrastructure: view.installation.infrastructure,
            installation: view.installation.installation,
            resource: view.resource,
            unit_of_access: view.unit_of_access.map(DefinitionOut::from),
        }
    }
}

/// An installation inside a project's hierarchy.
#[derive(Debug, Serialize)]
struct NestedInstallation {
    id: String,
    infrastructure: Option<String>,
    installation: String,
    resource: Option<String>,
    unit_of_access: Option<String>,
}

/// A provider inside a project's hierarchy.
#[derive(Debug, Serialize)]
struct NestedProvider {
    id: String,
    name: String,
    website: Option<String>,
    abbreviation: Option<String>,
    logo: Option<String>,
    installations: Vec<NestedInstallation>,
}

/// `ProjectProjection`.
#[derive(Debug, Serialize)]
struct ProjectOut {
    id: String,
    acronym: Option<String>,
    title: Option<String>,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    call_identifier: Option<String>,
    providers: Vec<NestedProvider>,
}

impl From<Hierarchy> for ProjectOut {
    fn from(tree: Hierarchy) -> Self {
        let project = tree.project;
        Self {
            id: project.eosc_id.unwrap_or(project.accounting_string),
            acronym: project.acronym,
            title: project.title,
            start_date: project.start_date,
            end_date: project.end_date,
            call_identifier: project.call_identifier,
            providers: tree
                .providers
                .into_iter()
                .map(|(provider, installations)| NestedProvider {
                    id: provider.external_id,
                    name: provider.name,
                    website: provider.website,
                    abbreviation: provider.abbreviation,
                    logo: provider.logo,
                    installations: installations
                        .into_iter()
                        .map(|view| NestedInstallation {
                            id: external_id(view.installation.id),
                            infrastructure: view.installation.infrastructure,
                            installation: view.installation.installation,
                            resource: view.resource,
                            unit_of_access: view.installation.unit_of_access_id.map(external_id),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// `{"code": 200, "message": …}`.
fn informative(message: String) -> Response {
    Failure::new(StatusCode::OK, message).into_response()
}

/// A required text field: upstream's "`name` may not be empty.".
fn required(value: Option<String>, name: &str) -> Result<String, Failure> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Failure::bad_request(format!("{name} may not be empty.")))
}

#[derive(Deserialize)]
struct ProjectBody {
    id: Option<String>,
    acronym: Option<String>,
    title: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    call_identifier: Option<String>,
}

/// `POST /admin/projects` (system administrators): registers a project from
/// its fields (Tally has no OpenAIRE access).
async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let principal = caller(&state, &headers).await?;
    if !principal.is_system_admin() {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "You cannot perform this operation",
        ));
    }
    let body: ProjectBody = json_body(&headers, &body)?;
    let date = |value: Option<String>, name: &str| -> Result<NaiveDate, Failure> {
        let text = required(value, name)?;
        parse_day(&text).ok_or_else(|| {
            Failure::bad_request(format!("{name} must be a date in the form yyyy-mm-dd."))
        })
    };
    let new = NewProject {
        id: required(body.id, "id")?,
        acronym: required(body.acronym, "acronym")?,
        title: required(body.title, "title")?,
        start_date: date(body.start_date, "start_date")?,
        end_date: date(body.end_date, "end_date")?,
        call_identifier: required(body.call_identifier, "call_identifier")?,
    };
    let project = eosc_projects::register(&state.db, new).await?;
    let tree = eosc_projects::hierarchy(&state.db, project).await?;
    Ok((StatusCode::CREATED, axum::Json(ProjectOut::from(tree))).into_response())
}

/// `GET /projects`: the caller's projects (those whose ACL lets them read
/// it), paged.
async fn list(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let principal = caller(&state, &headers).await?;
    let params = PageParams::parse(&query, PageParams::MAX_SIZE)?;
    let scope = principal.eosc_installations(EoscAction::ReadProject);
    let (rows, total) =
        eosc_projects::projects_page(&state.db, &scope, params.offset(), params.size).await?;
    let mut content = Vec::new();
    for project in rows {
        content.push(ProjectOut::from(
            eosc_projects::hierarchy(&state.db, project).await?,
        ));
    }
    let base = link_base(&state, &headers, "/projects");
    Ok(axum::Json(Page::new(content, total, params, &base)).into_response())
}

/// The project `id`, if the caller may do `action` on it (project ACL).
async fn project_for(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    action: EoscAction,
) -> Result<crate::entity::projects::Model, Failure> {
    let principal = caller(state, headers).await?;
    let project = eosc_projects::project(&state.db, id).await?;
    if principal
        .eosc_installations(action)
        .contains(project.id, None, None)
    {
        Ok(project)
    } else {
        Err(Failure::not_permitted())
    }
}

/// `GET /projects/{id}`: the project's hierarchy.
async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let project = project_for(&state, &headers, &id, EoscAction::ReadProject).await?;
    let tree = eosc_projects::hierarchy(&state.db, project).await?;
    Ok(axum::Json(ProjectOut::from(tree)).into_response())
}

#[derive(Deserialize)]
struct ProvidersBody {
    providers: Option<Vec<String>>,
}

/// `POST /projects/{id}/associate` `{"providers": [...]}`.
async fn associate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let project = project_for(&state, &headers, &id, EoscAction::AssociateProviders).await?;
    let body: ProvidersBody = json_body(&headers, &body)?;
    let ids = body.providers.unwrap_or_default();
    let txn = sea_orm::TransactionTrait::begin(&state.db).await?;
    eosc_projects::associate(&txn, &project, &ids).await?;
    txn.commit().await?;
    Ok(informative(format!(
        "The following providers [{}] have been associated with Project {id}",
        ids.join(", ")
    )))
}

/// `POST /projects/{id}/dissociate` `{"providers": [...]}`.
async fn dissociate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let project = project_for(&state, &headers, &id, EoscAction::AssociateProviders).await?;
    let body: ProvidersBody = json_body(&headers, &body)?;
    let ids = body.providers.unwrap_or_default();
    let txn = sea_orm::TransactionTrait::begin(&state.db).await?;
    eosc_projects::dissociate(&txn, &project, &ids).await?;
    txn.commit().await?;
    Ok(informative(format!(
        "The following providers [{}] have been dissociated from Project {id}",
        ids.join(", ")
    )))
}

/// A page of installations.
fn installation_page(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    (views, total): (Vec<InstallationView>, u64),
    params: PageParams,
) -> Response {
    let content: Vec<InstallationOut> = views.into_iter().map(InstallationOut::from).collect();
    let base = link_base(state, headers, path);
    axum::Json(Page::new(content, total, params, &base)).into_response()
}

/// `GET /projects/{id}/installations` (project ACL).
async fn project_installations(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let project = project_for(&state, &headers, &id, EoscAction::ReadInstallations).await?;
    let params = PageParams::parse(&query, PageParams::MAX_SIZE)?;
    let page = eosc_projects::installations_page(
        &state.db,
        project.id,
        None,
        params.offset(),
        params.size,
    )
    .await?;
    let path = format!("/projects/{id}/installations");
    Ok(installation_page(&state, &headers, &path, page, params))
}

/// `GET /projects/{id}/providers/{provider}/installations` (project ACL,
/// then the provider's within it).
async fn provider_installations(
    State(state): State<AppState>,
    Path((id, provider)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let principal = caller(&state, &headers).await?;
    let project = eosc_projects::project(&state.db, &id).await?;
    let found = eosc_projects::provider(&state.db, &provider).await?;
    let pair = eosc_projects::association(&state.db, project.id, found.id).await?;
    if !principal
        .eosc_installations(EoscAction::ReadInstallations)
        .contains(project.id, pair, None)
    {
        return Err(Failure::not_permitted());
    }
    let params = PageParams::parse(&query, PageParams::MAX_SIZE)?;
    let page = eosc_projects::installations_page(
        &state.db,
        project.id,
        Some(found.id),
        params.offset(),
        params.size,
    )
    .await?;
    let path = format!("/projects/{id}/providers/{provider}/installations");
    Ok(installation_page(&state, &headers, &path, page, params))
}

#[derive(Deserialize)]
struct InstallationBody {
    project: Option<String>,
    organisation: Option<String>,
    installation: Option<String>,
    infrastructure: Option<String>,
    resource: Option<String>,
    unit_of_access: Option<String>,
}

/// An installation's wire form.
async fn installation_out(
    state: &AppState,
    row: crate::entity::installations::Model,
) -> Result<InstallationOut, Failure> {
    let mut views = eosc_projects::views(&state.db, vec![row]).await?;
    views
        .pop()
        .map(InstallationOut::from)
        .ok_or_else(|| crate::error::Error::internal(&"an installation without its view").into())
}

/// `POST /installations` → 201 with `Location`.
async fn create_installation(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let principal = caller(&state, &headers).await?;
    let body: InstallationBody = json_body(&headers, &body)?;
    let new = NewInstallation {
        project: required(body.project, "project")?,
        organisation: required(body.organisation, "organisation")?,
        installation: required(body.installation, "installation")?,
        infrastructure: body.infrastructure.filter(|v| !v.is_empty()),
        resource: body.resource.filter(|v| !v.is_empty()),
        unit_of_access: body.unit_of_access.filter(|v| !v.is_empty()),
    };
    let scope = principal.eosc_installations(EoscAction::CreateInstallations);
    let row = eosc_projects::create_installation(&state.db, &scope, new, &principal.name).await?;
    let out = installation_out(&state, row).await?;
    let location = link_base(&state, &headers, &format!("/installations/{}", out.id));
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(out),
    )
        .into_response())
}

/// The installation `id`, if the caller may do `action` on it.
async fn installation_for(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    action: EoscAction,
) -> Result<crate::entity::installations::Model, Failure> {
    let principal = caller(state, headers).await?;
    let row = eosc_projects::installation(&state.db, id).await?;
    if eosc_projects::reaches(&state.db, &principal.eosc_installations(action), &row).await? {
        Ok(row)
    } else {
        Err(Failure::not_permitted())
    }
}

/// `GET /installations/{id}`.
async fn get_installation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let row = installation_for(&state, &headers, &id, EoscAction::ReadInstallations).await?;
    Ok(axum::Json(installation_out(&state, row).await?).into_response())
}

/// `PATCH /installations/{id}`: `installation`, `infrastructure`, `resource`,
/// `unit_of_access`; refused (403) when metrics are assigned to it.
async fn patch_installation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let row = installation_for(&state, &headers, &id, EoscAction::ChangeInstallations).await?;
    let body: InstallationBody = json_body(&headers, &body)?;
    let non_empty = |v: Option<String>| v.filter(|v| !v.is_empty());
    let changes = InstallationChanges {
        installation: non_empty(body.installation),
        infrastructure: non_empty(body.infrastructure),
        resource: non_empty(body.resource),
        unit_of_access: non_empty(body.unit_of_access),
    };
    let row = eosc_projects::update_installation(&state.db, row, changes).await?;
    Ok(axum::Json(installation_out(&state, row).await?).into_response())
}

/// `DELETE /installations/{id}`; refused (403) when metrics are assigned to
/// it.
async fn delete_installation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let row = installation_for(&state, &headers, &id, EoscAction::ChangeInstallations).await?;
    eosc_projects::delete_installation(&state.db, row).await?;
    Ok(informative(
        "Installation has been deleted successfully.".to_owned(),
    ))
}
