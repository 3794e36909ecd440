//! The catalogue: metric definitions, unit types, metric types and providers
//! (`/metric-definitions`, `/unit-types`, `/metric-types`, `/providers`;
//! eosc.md §1.1, §1.2), with the collection permissions of §5.
//!
//! Each handler authenticates the caller, refuses a non-JSON body (415),
//! asks the policy what the caller may do on the collection
//! ([`Principal::eosc_collection`]), then parses the body and calls
//! [`crate::service::eosc_catalogue`]. Ids of definitions and types are
//! 24-hex; one that does not parse names nothing (404), as upstream's
//! lookup of a malformed ObjectId finds nothing.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sea_orm::Condition;
use serde::{Deserialize, Serialize};

use super::{Failure, Page, PageParams, caller, json_body, link_base, require_json};
use crate::app::AppState;
use crate::auth::{Access, EoscCollection, EoscOperation, Principal};
use crate::entity::providers;
use crate::service::eosc::{definition_not_found, external_id, parse_external_id};
use crate::service::eosc_catalogue::{
    self as catalogue, Definition, DefinitionInput, ProviderInput, ProviderListing, TypeInput,
    TypeKind, TypeRow, Window,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/metric-definitions",
            post(create_definition).get(list_definitions),
        )
        .route(
            "/metric-definitions/{id}",
            get(get_definition)
                .patch(update_definition)
                .delete(delete_definition),
        )
        .route("/unit-types", post(create_unit_type).get(list_unit_types))
        .route(
            "/unit-types/{id}",
            get(get_unit_type)
                .patch(update_unit_type)
                .delete(delete_unit_type),
        )
        .route(
            "/metric-types",
            post(create_metric_type).get(list_metric_types),
        )
        .route(
            "/metric-types/{id}",
            get(get_metric_type)
                .patch(update_metric_type)
                .delete(delete_metric_type),
        )
        .route("/providers", post(create_provider).get(list_providers))
        .route("/providers/all", get(list_my_providers))
        .route(
            "/providers/{id}",
            get(get_provider)
                .patch(update_provider)
                .delete(delete_provider),
        )
}

type Params = Query<Vec<(String, String)>>;

/// The caller and what they may do: 403 when nothing.
fn allowed(
    principal: &Principal,
    collection: EoscCollection,
    operation: EoscOperation,
) -> Result<Access, Failure> {
    match principal.eosc_collection(collection, operation) {
        Access::Never => Err(Failure::not_permitted()),
        access => Ok(access),
    }
}

/// The caller, for a route with a JSON body: 401, then 415, then 403.
async fn writer(
    state: &AppState,
    headers: &HeaderMap,
    collection: EoscCollection,
    operation: EoscOperation,
) -> Result<(Principal, Access), Failure> {
    let principal = caller(state, headers).await?;
    require_json(headers)?;
    let access = allowed(&principal, collection, operation)?;
    Ok((principal, access))
}

/// The caller, for a route without a body: 401, then 403.
async fn reader(
    state: &AppState,
    headers: &HeaderMap,
    collection: EoscCollection,
    operation: EoscOperation,
) -> Result<(Principal, Access), Failure> {
    let principal = caller(state, headers).await?;
    let access = allowed(&principal, collection, operation)?;
    Ok((principal, access))
}

pub(super) fn window(params: PageParams) -> Window {
    Window {
        offset: params.offset(),
        limit: params.size,
    }
}

/// 201 with `Location` and `body`.
fn created(state: &AppState, headers: &HeaderMap, path: &str, body: impl Serialize) -> Response {
    let location = link_base(state, headers, path);
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(body),
    )
        .into_response()
}

/// Upstream's answer to a delete, `{"code":200,"message":…}`.
fn deleted(what: &str) -> Response {
    Failure::new(
        StatusCode::OK,
        format!("{what} has been deleted successfully."),
    )
    .into_response()
}

// ---------------------------------------------------------------------------
// Metric definitions
// ---------------------------------------------------------------------------

/// `MetricDefinitionRequestDto` (also the PATCH body).
#[derive(Deserialize)]
struct DefinitionBody {
    metric_name: Option<String>,
    metric_description: Option<String>,
    unit_type: Option<String>,
    metric_type: Option<String>,
}

impl From<DefinitionBody> for DefinitionInput {
    fn from(body: DefinitionBody) -> Self {
        Self {
            name: body.metric_name,
            description: body.metric_description,
            unit_type: body.unit_type,
            metric_type: body.metric_type,
        }
    }
}

/// `MetricDefinitionResponseDto`, keys in upstream's order.
#[derive(Serialize)]
pub(super) struct DefinitionView {
    metric_definition_id: String,
    metric_name: String,
    metric_description: Option<String>,
    unit_type: String,
    metric_type: String,
    creator_id: Option<String>,
}

impl From<Definition> for DefinitionView {
    fn from(d: Definition) -> Self {
        Self {
            metric_definition_id: external_id(d.id),
            metric_name: d.name,
            metric_description: d.description,
            unit_type: d.unit_type,
            metric_type: d.metric_type,
            creator_id: d.creator_id,
        }
    }
}

const DEFINITIONS: EoscCollection = EoscCollection::MetricDefinition;

fn definition_id(id: &str) -> Result<i64, Failure> {
    parse_external_id(id).ok_or_else(|| Failure::not_found(definition_not_found(id)))
}

async fn create_definition(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let (principal, access) = writer(&state, &headers, DEFINITIONS, EoscOperation::Create).await?;
    let body: DefinitionBody = json_body(&headers, &body)?;
    let definition =
        catalogue::create_definition(&state.db, access, &principal.name, &body.into()).await?;
    let path = format!("/metric-definitions/{}", external_id(definition.id));
    Ok(created(
        &state,
        &headers,
        &path,
        DefinitionView::from(definition),
    ))
}

async fn list_definitions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Params,
) -> Result<Response, Failure> {
    let (principal, access) = reader(&state, &headers, DEFINITIONS, EoscOperation::Read).await?;
    let params = PageParams::parse(&query, PageParams::MAX_SIZE)?;
    let (rows, total) = catalogue::list_definitions(
        &state.db,
        access,
        &principal.name,
        Condition::all(),
        window(params),
    )
    .await?;
    let content = rows.into_iter().map(DefinitionView::from).collect();
    let base = link_base(&state, &headers, "/metric-definitions");
    Ok(axum::Json(Page::new(content, total, params, &base)).into_response())
}

async fn get_definition(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let (principal, access) = reader(&state, &headers, DEFINITIONS, EoscOperation::Read).await?;
    let row = catalogue::find_definition(&state.db, definition_id(&id)?)
        .await?
        .ok_or_else(|| Failure::not_found(definition_not_found(&id)))?;
    if access == Access::Entity && row.creator_id.as_deref() != Some(principal.name.as_str()) {
        return Err(Failure::not_permitted());
    }
    Ok(axum::Json(DefinitionView::from(row)).into_response())
}

async fn update_definition(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Failure> {
    let (principal, access) = writer(&state, &headers, DEFINITIONS, EoscOperation::Update).await?;
    let row_id = definition_id(&id)?;
    let body: DefinitionBody = json_body(&headers, &body)?;
    let definition = catalogue::update_definition(
        &state.db,
        access,
        &principal.name,
        (row_id, &id),
        &body.into(),
    )
    .await?;
    Ok(axum::Json(DefinitionView::from(definition)).into_response())
}

async fn delete_definition(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let (principal, access) = reader(&state, &headers, DEFINITIONS, EoscOperation::Delete).await?;
    let row_id = definition_id(&id)?;
    catalogue::delete_definition(&state.db, access, &principal.name, (row_id, &id)).await?;
    Ok(deleted("Metric Definition"))
}

// ---------------------------------------------------------------------------
// Unit types and metric types
// ---------------------------------------------------------------------------

/// `UnitTypeDto` / `MetricTypeDto`: `{id, unit_type|metric_type,
/// description, creator_id}`.
#[derive(Serialize)]
struct TypeView {
    id: String,
    #[serde(flatten)]
    name: TypeName,
    description: String,
    creator_id: Option<String>,
}

#[derive(Serialize)]
enum TypeName {
    #[serde(rename = "unit_type")]
    Unit(String),
    #[serde(rename = "metric_type")]
    Metric(String),
}

impl TypeView {
    fn new(kind: TypeKind, row: TypeRow) -> Self {
        Self {
            id: external_id(row.id),
            name: match kind {
                TypeKind::Unit => TypeName::Unit(row.name),
                TypeKind::Metric => TypeName::Metric(row.name),
            },
            description: row.description,
            creator_id: row.creator_id,
        }
    }
}

fn collection(kind: TypeKind) -> EoscCollection {
    match kind {
        TypeKind::Unit => EoscCollection::UnitType,
        TypeKind::Metric => EoscCollection::MetricType,
    }
}

fn base_path(kind: TypeKind) -> &'static str {
    match kind {
        TypeKind::Unit => "/unit-types",
        TypeKind::Metric => "/metric-types",
    }
}

/// The type body: `unit_type` on `/unit-types`, `metric_type` on
/// `/metric-types` (the other key is unknown there, hence ignored).
fn type_input(kind: TypeKind, headers: &HeaderMap, body: &Bytes) -> Result<TypeInput, Failure> {
    let value: serde_json::Value = json_body(headers, body)?;
    let text = |key: &str| -> Result<Option<String>, Failure> {
        match value.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(Failure::bad_request(format!(
                "The request body is not valid: {key} must be a string"
            ))),
        }
    };
    if !value.is_object() {
        return Err(Failure::bad_request(
            "The request body is not valid: expected a JSON object",
        ));
    }
    Ok(TypeInput {
        name: text(kind.field())?,
        description: text("description")?,
    })
}

fn type_id(kind: TypeKind, id: &str) -> Result<i64, Failure> {
    parse_external_id(id).ok_or_else(|| kind.not_found(id).into())
}

async fn create_type(
    kind: TypeKind,
    state: AppState,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let (principal, access) =
        writer(&state, &headers, collection(kind), EoscOperation::Create).await?;
    let input = type_input(kind, &headers, &body)?;
    let row = catalogue::create_type(&state.db, kind, access, &principal.name, &input).await?;
    let path = format!("{}/{}", base_path(kind), external_id(row.id));
    Ok(created(&state, &headers, &path, TypeView::new(kind, row)))
}

async fn list_types(
    kind: TypeKind,
    state: AppState,
    headers: HeaderMap,
    query: Vec<(String, String)>,
) -> Result<Response, Failure> {
    let (principal, access) =
        reader(&state, &headers, collection(kind), EoscOperation::Read).await?;
    let params = PageParams::parse(&query, PageParams::MAX_SIZE)?;
    let (rows, total) =
        catalogue::list_types(&state.db, kind, access, &principal.name, window(params)).await?;
    let content: Vec<TypeView> = rows.into_iter().map(|r| TypeView::new(kind, r)).collect();
    let base = link_base(&state, &headers, base_path(kind));
    Ok(axum::Json(Page::new(content, total, params, &base)).into_response())
}

async fn get_type(
    kind: TypeKind,
    state: AppState,
    headers: HeaderMap,
    id: String,
) -> Result<Response, Failure> {
    let (principal, access) =
        reader(&state, &headers, collection(kind), EoscOperation::Read).await?;
    let row = catalogue::find_type(&state.db, kind, type_id(kind, &id)?)
        .await?
        .ok_or_else(|| Failure::from(kind.not_found(&id)))?;
    if access == Access::Entity && row.creator_id.as_deref() != Some(principal.name.as_str()) {
        return Err(Failure::not_permitted());
    }
    Ok(axum::Json(TypeView::new(kind, row)).into_response())
}

async fn update_type(
    kind: TypeKind,
    state: AppState,
    headers: HeaderMap,
    id: String,
    body: Bytes,
) -> Result<Response, Failure> {
    let (principal, access) =
        writer(&state, &headers, collection(kind), EoscOperation::Update).await?;
    let row_id = type_id(kind, &id)?;
    let input = type_input(kind, &headers, &body)?;
    let row = catalogue::update_type(
        &state.db,
        kind,
        access,
        &principal.name,
        (row_id, &id),
        &input,
    )
    .await?;
    Ok(axum::Json(TypeView::new(kind, row)).into_response())
}

async fn delete_type(
    kind: TypeKind,
    state: AppState,
    headers: HeaderMap,
    id: String,
) -> Result<Response, Failure> {
    let (principal, access) =
        reader(&state, &headers, collection(kind), EoscOperation::Delete).await?;
    let row_id = type_id(kind, &id)?;
    catalogue::delete_type(&state.db, kind, access, &principal.name, (row_id, &id)).await?;
    Ok(deleted(kind.label()))
}

/// The five handlers of one type collection.
macro_rules! type_routes {
    ($kind:expr, $create:ident, $list:ident, $get:ident, $update:ident, $delete:ident) => {
        async fn $create(
            State(state): State<AppState>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Response, Failure> {
            create_type($kind, state, headers, body).await
        }

        async fn $list(
            State(state): State<AppState>,
            headers: HeaderMap,
            Query(query): Params,
        ) -> Result<Response, Failure> {
            list_types($kind, state, headers, query).await
        }

        async fn $get(
            State(state): State<AppState>,
            headers: HeaderMap,
            Path(id): Path<String>,
        ) -> Result<Response, Failure> {
            get_type($kind, state, headers, id).await
        }

        async fn $update(
            State(state): State<AppState>,
            headers: HeaderMap,
            Path(id): Path<String>,
            body: Bytes,
        ) -> Result<Response, Failure> {
            update_type($kind, state, headers, id, body).await
        }

        async fn $delete(
            State(state): State<AppState>,
            headers: HeaderMap,
            Path(id): Path<String>,
        ) -> Result<Response, Failure> {
            delete_type($kind, state, headers, id).await
        }
    };
}

type_routes!(
    TypeKind::Unit,
    create_unit_type,
    list_unit_types,
    get_unit_type,
    update_unit_type,
    delete_unit_type
);
type_routes!(
    TypeKind::Metric,
    create_metric_type,
    list_metric_types,
    get_metric_type,
    update_metric_type,
    delete_metric_type
);

// ---------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------

const PROVIDERS: EoscCollection = EoscCollection::Provider;

/// `ProviderRequestDto` / `UpdateProviderRequestDto`.
#[derive(Deserialize)]
struct ProviderBody {
    id: Option<String>,
    name: Option<String>,
    website: Option<String>,
    abbreviation: Option<String>,
    logo: Option<String>,
}

impl From<ProviderBody> for ProviderInput {
    fn from(body: ProviderBody) -> Self {
        Self {
            id: body.id,
            name: body.name,
            website: body.website,
            abbreviation: body.abbreviation,
            logo: body.logo,
        }
    }
}

/// `ProviderResponseDto`.
#[derive(Serialize)]
struct ProviderView {
    id: String,
    name: String,
    website: Option<String>,
    abbreviation: Option<String>,
    logo: Option<String>,
    creator_id: Option<String>,
}

impl From<providers::Model> for ProviderView {
    fn from(p: providers::Model) -> Self {
        Self {
            id: p.external_id,
            name: p.name,
            website: p.website,
            abbreviation: p.abbreviation,
            logo: p.logo,
            creator_id: p.creator_id,
        }
    }
}

async fn create_provider(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let (principal, access) = writer(&state, &headers, PROVIDERS, EoscOperation::Create).await?;
    let body: ProviderBody = json_body(&headers, &body)?;
    let provider =
        catalogue::create_provider(&state.db, access, &principal.name, &body.into()).await?;
    let path = format!("/providers/{}", provider.external_id);
    Ok(created(
        &state,
        &headers,
        &path,
        ProviderView::from(provider),
    ))
}

async fn providers_page(
    state: &AppState,
    headers: &HeaderMap,
    query: &[(String, String)],
    (listing, path): (ProviderListing, &str),
) -> Result<Response, Failure> {
    let (principal, access) = reader(state, headers, PROVIDERS, EoscOperation::Read).await?;
    let params = PageParams::parse(query, PageParams::MAX_SIZE)?;
    let (rows, total) = catalogue::list_providers(
        &state.db,
        access,
        &principal.name,
        (listing, Condition::all()),
        window(params),
    )
    .await?;
    let content: Vec<ProviderView> = rows.into_iter().map(ProviderView::from).collect();
    let base = link_base(state, headers, path);
    Ok(axum::Json(Page::new(content, total, params, &base)).into_response())
}

async fn list_providers(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Params,
) -> Result<Response, Failure> {
    providers_page(
        &state,
        &headers,
        &query,
        (ProviderListing::All, "/providers"),
    )
    .await
}

async fn list_my_providers(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Params,
) -> Result<Response, Failure> {
    providers_page(
        &state,
        &headers,
        &query,
        (ProviderListing::Mine, "/providers/all"),
    )
    .await
}

async fn get_provider(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let (principal, access) = reader(&state, &headers, PROVIDERS, EoscOperation::Read).await?;
    let provider = catalogue::find_provider(&state.db, &id)
        .await?
        .ok_or_else(|| Failure::from(catalogue::provider_not_found(&id)))?;
    if access == Access::Entity && provider.creator_id.as_deref() != Some(principal.name.as_str()) {
        return Err(Failure::not_permitted());
    }
    Ok(axum::Json(ProviderView::from(provider)).into_response())
}

async fn update_provider(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Failure> {
    let (principal, access) = writer(&state, &headers, PROVIDERS, EoscOperation::Update).await?;
    let body: ProviderBody = json_body(&headers, &body)?;
    let provider =
        catalogue::update_provider(&state.db, access, &principal.name, &id, &body.into()).await?;
    Ok(axum::Json(ProviderView::from(provider)).into_response())
}

async fn delete_provider(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let (principal, access) = reader(&state, &headers, PROVIDERS, EoscOperation::Delete).await?;
    catalogue::delete_provider(&state.db, access, &principal.name, &id).await?;
    Ok(deleted("Provider"))
}
