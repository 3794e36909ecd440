//! The read side of the graph: every list a client can page and every object
//! it can load by id, as selects that take the caller's
//! [`ProjectScope`] and apply it inside the SQL.
//!
//! GraphQL only picks the list and parses its arguments; the statements are
//! built here and run by [`super::page`] (keyset pages and counts per parent)
//! and [`by_id`] (objects by id). Nothing is filtered after loading.
//!
//! - [`lists`]: the base select of each list ([`BaseFn`]), per relation.
//! - [`by_id`]: rows by id, scoped per kind.
//! - [`details`]: what hangs off an object, for many parents at once (a
//!   task's parameters, a bucket's usage).

pub(crate) mod by_id;
pub(crate) mod details;
pub(crate) mod lists;

use sea_orm::sea_query::SelectStatement;
use sea_orm::{EntityTrait, QueryTrait as _, Select};

pub(crate) use super::page::BaseFn;
use crate::auth::ProjectScope;

/// `select` kept to `scope` on `column` (a project id), as a statement.
fn scoped<E: EntityTrait>(
    scope: &ProjectScope,
    select: Select<E>,
    column: impl sea_orm::ColumnTrait,
) -> SelectStatement {
    scope.apply(select, column).into_query()
}
