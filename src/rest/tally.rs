//! Tally's own REST routes (`/api/v1/…`), answering in Tally's error format.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use serde::Serialize;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::Error;
use crate::service::cloud;

/// The answer of `GET /api/v1/whoami`. Field order is this type's
/// (pinned by the `wire::whoami_wire_format` snapshots).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Whoami {
    /// Whether the request carried valid credentials.
    authenticated: bool,
    /// The caller, when authenticated.
    user: Option<WhoamiUser>,
    /// The caller's grants (none when anonymous).
    grants: Vec<WhoamiGrant>,
    /// The DN of the client certificate (or of the trusted proxy's header),
    /// in slash form.
    client_dn: Option<String>,
    /// Whether that DN may publish APEL records: `allowed`, `banned` or
    /// `unknown`.
    publisher: Option<&'static str>,
}

/// The caller of [`Whoami`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WhoamiUser {
    /// The Tally user's id (`null` for an external identity without one).
    id: Option<i64>,
    /// The username, or the external subject.
    name: String,
}

/// One grant of [`Whoami`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WhoamiGrant {
    /// The role's name.
    role: &'static str,
    /// What the grant applies to (`system`, `project`, `user_group`, …).
    scope_kind: &'static str,
    /// The id of what it applies to (0 for the system).
    scope_id: i64,
    /// The project the scope belongs to, if any.
    project_id: Option<i64>,
}

/// `GET /api/v1/whoami`: who Tally thinks the caller is. Answers anonymous
/// callers too; useful when setting up tokens, proxies and client certificates.
pub async fn whoami(State(state): State<AppState>, parts: Parts) -> Result<Json<Whoami>, Error> {
    let caller = state
        .auth
        .bearer(&state.db, &parts.headers)
        .await
        .map_err(Error::from)?;
    let dn = state.auth.client_dn(&parts);
    let publisher = match &dn {
        Some(dn) => Some(cloud::publisher_access(&state.db, dn).await?.as_str()),
        None => None,
    };
    let (user, grants) = match &caller {
        Caller::Anonymous => (None, Vec::new()),
        Caller::Authenticated(principal) => (
            Some(WhoamiUser {
                id: principal.user_id,
                name: principal.name.clone(),
            }),
            principal
                .grants
                .iter()
                .map(|grant| {
                    let (scope_kind, scope_id) = grant.scope.to_row();
                    WhoamiGrant {
                        role: grant.role.name(),
                        scope_kind,
                        scope_id,
                        project_id: grant.project_id,
                    }
                })
                .collect(),
        ),
    };
    Ok(Json(Whoami {
        authenticated: matches!(caller, Caller::Authenticated(_)),
        user,
        grants,
        client_dn: dn.map(|dn| dn.to_slash()),
        publisher,
    }))
}

/// Query of `GET /api/v1/usage`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// First UTC day, `YYYY-MM-DD`.
    from: chrono::NaiveDate,
    /// Last UTC day (inclusive), `YYYY-MM-DD`.
    to: chrono::NaiveDate,
    /// Only this project (accounting string).
    #[serde(default)]
    project: Option<String>,
}

/// The body of `GET /api/v1/usage`; field order is the wire order.
#[derive(Debug, serde::Serialize)]
pub struct UsageReport {
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    usage: Vec<UsageLine>,
}

/// One project's usage from one source in one unit.
#[derive(Debug, serde::Serialize)]
pub struct UsageLine {
    /// The project's accounting string.
    project: Option<String>,
    source: &'static str,
    unit: String,
    /// Exact decimal text.
    quantity: String,
    records: i64,
}

/// `GET /api/v1/usage?from=&to=[&project=]`: usage per project, source and
/// unit over the days `from..=to`, of the projects the caller may see.
pub async fn usage(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Json<UsageReport>, Error> {
    use axum::extract::Query;

    use crate::service::report::{self, Dimension, Filter, Span};
    let Query(query) = Query::<UsageQuery>::try_from_uri(&parts.uri).map_err(|e| {
        Error::BadRequest(format!(
            "expected from=YYYY-MM-DD&to=YYYY-MM-DD[&project=…]: {e}"
        ))
    })?;
    if query.to < query.from {
        return Err(Error::BadRequest("to is before from".to_owned()));
    }
    let span = Span::days(query.from, query.to)?;
    let caller = state
        .auth
        .bearer(&state.db, &parts.headers)
        .await
        .map_err(Error::from)?;
    let scope = caller.principal()?.visible_projects();
    let project = match &query.project {
        Some(accounting) => Some(
            crate::service::projects::by_accounting_string(&state.db, &scope, accounting)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no project {accounting:?}")))?,
        ),
        None => None,
    };
    let filter = Filter {
        projects: project.map(|p| vec![p.id]),
        ..Filter::default()
    };
    let rows = report::usage(
        &state.db,
        &scope,
        &report::UsageQuery::totals(
            Some(span),
            filter,
            vec![Dimension::Project, Dimension::Source],
        ),
    )
    .await?;
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.group.project).collect();
    let names = crate::service::projects::accounting_strings(&state.db, &ids).await?;
    Ok(Json(UsageReport {
        from: query.from,
        to: query.to,
        usage: rows
            .into_iter()
            .map(|row| UsageLine {
                project: row.group.project.and_then(|p| names.get(&p).cloned()),
                source: row.group.source.map_or("", report::Source::as_str),
                unit: row.group.unit,
                quantity: row.amount.normalize().to_string(),
                records: row.records,
            })
            .collect(),
    }))
}
