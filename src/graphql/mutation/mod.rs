//! The mutation root: one object per domain, merged with `MergedObject`.
//!
//! Every mutation authorises through the policy module before it touches
//! anything: administrators (`system_admin`) change tenancy, grants, the HPC
//! catalogue, formulas and recomputations; collectors (`collector`, on the
//! system scope or on projects) post usage, exactly as the REST batches decide
//! (`docs/access.md`). Each mutation's writes run in one transaction; an
//! ingestion mutation publishes its usage events to subscribers when, and only
//! when, it commits, as the REST batches do. Errors carry `extensions.code`
//! (`docs/graphql.md`, Mutations).

mod access;
mod catalogue;
mod ingest;
mod payload;
mod tenancy;

use async_graphql::{Context, ID, MergedObject};
use sea_orm::{DatabaseTransaction, TransactionTrait as _};

pub(crate) use payload::{Aggregation, RecomputationRun};

use super::context::ContextExt as _;
use super::id::GlobalId;
use super::loader::gql;
use crate::auth::Principal;
use crate::error::Error;
use crate::service::events::Decision;

/// Every mutation Tally answers.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    tenancy::TenancyMutation,
    access::AccessMutation,
    catalogue::CatalogueMutation,
    ingest::IngestMutation,
);

/// The caller, if they administer the instance.
fn admin<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Principal> {
    let principal = ctx.principal()?;
    if principal.is_system_admin() {
        Ok(principal)
    } else {
        Err(gql(Error::Forbidden(
            "this mutation needs the system_admin role".to_owned(),
        )))
    }
}

/// The caller, if they may post usage at all (as `POST /api/v1/...` decides).
fn collector<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Principal> {
    let principal = ctx.principal()?;
    if principal.is_collector() {
        Ok(principal)
    } else {
        Err(gql(Error::Forbidden(
            "posting usage needs the collector role".to_owned(),
        )))
    }
}

/// The row id of `id`, which names a `kind`, given as argument `field`.
fn id_of(id: &ID, kind: &str, field: &str) -> async_graphql::Result<i64> {
    GlobalId::id_of(id, kind).ok_or_else(|| {
        gql(Error::BadRequest(format!(
            "{field}: {:?} is not the id of a {kind}",
            id.as_str()
        )))
    })
}

/// A domain input error as `BAD_USER_INPUT`.
fn bad(error: impl std::fmt::Display) -> async_graphql::Error {
    gql(Error::BadRequest(error.to_string()))
}

/// Runs `work` in one transaction: committed when it succeeds, rolled back
/// when it fails.
async fn write<T>(
    ctx: &Context<'_>,
    work: impl AsyncFnOnce(&DatabaseTransaction) -> Result<T, Error>,
) -> async_graphql::Result<T> {
    let txn = ctx.request()?.db.begin().await.map_err(db_error)?;
    match work(&txn).await {
        Ok(value) => {
            txn.commit().await.map_err(db_error)?;
            Ok(value)
        }
        Err(error) => {
            txn.rollback().await.map_err(db_error)?;
            Err(gql(error))
        }
    }
}

/// Runs an ingestion in the service's ingestion transaction
/// ([`crate::service::ingest::transaction`]), which collects the usage events
/// it causes. When `accepted` says yes, commits and publishes the events with
/// the commit; otherwise rolls back, so a batch with any rejection changes
/// nothing and publishes nothing.
async fn ingest<T>(
    ctx: &Context<'_>,
    work: impl AsyncFnOnce(&DatabaseTransaction) -> Result<T, Error>,
    accepted: impl FnOnce(&T) -> bool,
) -> async_graphql::Result<T> {
    let request = ctx.request()?;
    crate::service::ingest::transaction(&request.db, &request.state.events, async |txn| {
        let value = work(txn).await?;
        Ok(if accepted(&value) {
            Decision::Commit(value)
        } else {
            Decision::RollBack(value)
        })
    })
    .await
    .map_err(gql)
}

fn db_error(error: sea_orm::DbErr) -> async_graphql::Error {
    gql(error.into())
}
