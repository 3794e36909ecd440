//! Keyset pages of child lists, one statement for all parents, each parent's
//! page read through an index.
//!
//! A list is described by a [`Listing`]: a [`BaseFn`] that builds the select of
//! the list's rows for given [`Parents`] (the entity's columns plus
//! `parent_key`, the id of the row the list hangs off or 0 for a root list,
//! and `parent_ctx`, the project the parent was reached through or 0), a
//! filter and a sort order. The base functions live in [`super::read`]; they
//! take the caller's [`ProjectScope`](crate::auth::ProjectScope) and apply it
//! in the select.
//!
//! [`fetch`] reads at most `n + 1` rows per parent, so a page costs its size and
//! not the parent's history:
//!
//! - on PostgreSQL, `FROM (VALUES (k, c), …) AS p CROSS JOIN LATERAL (SELECT …
//!   WHERE parent = p.k ORDER BY … LIMIT n + 1)`: one index range per parent;
//! - on SQLite, which has no `LATERAL`, and on Citus, which cannot push a
//!   `LATERAL` over a `VALUES` list down to the shards, a `UNION ALL` of the
//!   same limited select once per parent (with its key bound; on Citus each
//!   term that names a project runs on that project's shard), at most
//!   [`SQLITE_PARENTS_PER_STATEMENT`] parents per statement (SQLite's limit on
//!   the terms of a compound select is 500), fewer when a term binds many
//!   values (a long filter, a wide scope): past that, a level costs one more
//!   statement per chunk of parents.
//!
//! The per-parent select is built once, by the same code, for both; only the
//! way it is repeated over the parents differs. Cursors carry the sort values
//! and the id of a row (keyset, never `OFFSET`): a page stays correct while rows
//! are inserted before it.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait as _, Func, JoinType, Order, Query,
    SelectStatement, UnionType,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter as _,
    QueryResult, QuerySelect as _, Select, Value,
};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The most items one page of a list holds.
pub(crate) const MAX_PAGE_SIZE: usize = 100;

/// The alias of the base select inside the wrapping statements.
pub(crate) const BASE: &str = "b";

/// The alias of the parents' `VALUES` list (PostgreSQL).
const PARENTS: &str = "p";

/// The most parents one SQLite statement pages (one compound term each).
pub(crate) const SQLITE_PARENTS_PER_STATEMENT: usize = 400;

/// The most values one SQLite statement binds (its limit is 32 766): each
/// term binds its parent, the filter, the cursor and the scope again.
const SQLITE_VALUES_PER_STATEMENT: usize = 30_000;

/// The most parents one PostgreSQL statement pages (two bound values each; a
/// statement binds at most 65 535).
const POSTGRES_PARENTS_PER_STATEMENT: usize = 10_000;

/// How a sort column's values are read and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A 16-, 32- or 64-bit integer.
    Int,
    /// Text.
    Text,
    /// A UTC timestamp.
    Time,
}

impl Kind {
    /// The value an empty (NULL) column sorts as: below every real value.
    fn empty(self) -> CursorValue {
        match self {
            Self::Int => CursorValue::Int(i64::MIN),
            Self::Text => CursorValue::Text(String::new()),
            Self::Time => CursorValue::Text(EMPTY_TIME.to_owned()),
        }
    }
}

/// The instant an empty time sorts as (PostgreSQL's range starts before it).
const EMPTY_TIME: &str = "0001-01-01T00:00:00Z";

/// One sort column of a list (the id is always the last, implicit, tie-break).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SortKey {
    /// The column, as the base select names it.
    pub(crate) column: &'static str,
    /// Its type.
    pub(crate) kind: Kind,
    /// Whether larger values come first.
    pub(crate) descending: bool,
    /// Whether the column may be empty; empty values sort as the smallest.
    pub(crate) nullable: bool,
}

impl SortKey {
    /// Ascending on a column that is never empty.
    pub(crate) const fn asc(column: &'static str, kind: Kind) -> Self {
        Self {
            column,
            kind,
            descending: false,
            nullable: false,
        }
    }

    /// Ascending on a column that may be empty (empty values first).
    pub(crate) const fn nullable(column: &'static str, kind: Kind) -> Self {
        Self {
            column,
            kind,
            descending: false,
            nullable: true,
        }
    }

    /// This key, largest first.
    pub(crate) const fn desc(self) -> Self {
        Self {
            descending: true,
            ..self
        }
    }

    /// This key, largest first when `descending`.
    pub(crate) const fn with_descending(self, descending: bool) -> Self {
        Self { descending, ..self }
    }

    /// The sorted expression: the column, or what an empty one sorts as.
    fn expr(&self) -> Expr {
        if self.nullable {
            let empty = self
                .kind
                .empty()
                .to_value(self.kind)
                .unwrap_or(Value::from(0_i64));
            Expr::expr(Func::coalesce([col(self.column), Expr::val(empty)]))
        } else {
            col(self.column)
        }
    }
}

/// A value in a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum CursorValue {
    /// An integer.
    Int(i64),
    /// Text, or a time or date in RFC 3339 / ISO 8601.
    Text(String),
}

impl CursorValue {
    fn to_value(&self, kind: Kind) -> Option<Value> {
        Some(match (kind, self) {
            (Kind::Int, Self::Int(v)) => Value::from(*v),
            (Kind::Text, Self::Text(v)) => Value::from(v.clone()),
            (Kind::Time, Self::Text(v)) => {
                Value::from(DateTime::parse_from_rfc3339(v).ok()?.with_timezone(&Utc))
            }
            _ => return None,
        })
    }

    fn read(row: &QueryResult, column: &str, kind: Kind) -> Result<Self, Error> {
        let value = match kind {
            // The column may be 16, 32 or 64 bits wide (PostgreSQL is strict),
            // and its name comes from the list's sort: no fixed row type fits.
            Kind::Int => row
                .try_get::<Option<i64>>("", column)
                .or_else(|_| {
                    row.try_get::<Option<i32>>("", column)
                        .map(|v| v.map(i64::from))
                })
                .or_else(|_| {
                    row.try_get::<Option<i16>>("", column)
                        .map(|v| v.map(i64::from))
                })?
                .map(Self::Int),
            Kind::Text => row.try_get::<Option<String>>("", column)?.map(Self::Text),
            Kind::Time => row
                .try_get::<Option<DateTime<Utc>>>("", column)?
                .map(|t| Self::Text(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))),
        };
        Ok(value.unwrap_or_else(|| kind.empty()))
    }
}

#[derive(Serialize, Deserialize)]
struct CursorText {
    /// The list's type, so a cursor of one list is refused by another.
    t: String,
    /// The sort values, then the id.
    k: Vec<CursorValue>,
}

/// Encodes a cursor of list `tag`.
fn encode(tag: &str, values: Vec<CursorValue>) -> String {
    let text = serde_json::to_string(&CursorText {
        t: tag.to_owned(),
        k: values,
    })
    .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(text)
}

/// The sort values and id a cursor of list `tag` sorted by `sort` carries, or
/// `None` when it is not such a cursor.
pub(crate) fn decode(tag: &str, cursor: &str, sort: &[SortKey]) -> Option<Vec<Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text: CursorText = serde_json::from_slice(&bytes).ok()?;
    if text.t != tag || text.k.len() != sort.len() + 1 {
        return None;
    }
    let kinds = sort.iter().map(|s| s.kind).chain([Kind::Int]);
    text.k
        .iter()
        .zip(kinds)
        .map(|(value, kind)| value.to_value(kind))
        .collect()
}

/// Validated pagination arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Window {
    /// The page size.
    pub(crate) limit: usize,
    /// `last`/`before`: the page ends at the cursor.
    pub(crate) backward: bool,
    /// The decoded `after` (or `before`) cursor.
    pub(crate) cursor: Option<Vec<Value>>,
}

/// A parent of a list: its id and the project it was reached through (0: none).
pub(crate) type Parent = (i64, i64);

/// The parents a base select is built for.
#[derive(Debug, Clone)]
pub(crate) enum Parents<'a> {
    /// Every parent in `ids`, reached through the projects `contexts` (empty:
    /// through none). Used where every row is read anyway (counts).
    Set {
        /// The parents' ids.
        ids: &'a [i64],
        /// The projects they were reached through.
        contexts: &'a [i64],
    },
    /// One parent, as expressions: bound values (SQLite) or the columns of the
    /// parents' `VALUES` list (PostgreSQL's `LATERAL`).
    One {
        /// The parent's id.
        key: Expr,
        /// The project it was reached through, if any.
        context: Option<Expr>,
    },
}

impl Parents<'_> {
    /// `select` kept to the parents' rows by `column` (the parent's id), with
    /// `parent_key` taken from it.
    pub(crate) fn keyed<E: EntityTrait>(
        &self,
        select: Select<E>,
        column: impl ColumnTrait,
    ) -> Select<E> {
        let select = match self {
            Self::Set { ids, .. } => select.filter(column.is_in(ids.iter().copied())),
            Self::One { key, .. } => {
                select.filter(Expr::col((column.entity_name(), column)).eq(key.clone()))
            }
        };
        select.column_as(column, "parent_key")
    }

    /// The expression of the parent's id (`parent_key`) where no column of
    /// the row holds it; only for [`Parents::One`] (`None` for a set).
    pub(crate) fn key(&self) -> Option<Expr> {
        match self {
            Self::Set { .. } => None,
            Self::One { key, .. } => Some(key.clone()),
        }
    }

    /// Adds `parent_ctx`: the row's project (`project`) when the parents were
    /// reached through projects (and the rows kept to those), else 0.
    pub(crate) fn context<E: EntityTrait>(
        &self,
        select: Select<E>,
        project: impl ColumnTrait,
    ) -> Select<E> {
        match self {
            Self::Set { contexts, .. } if !contexts.is_empty() => select
                .filter(project.is_in(contexts.iter().copied()))
                .column_as(project, "parent_ctx"),
            Self::One {
                context: Some(context),
                ..
            } => select
                .filter(Expr::col((project.entity_name(), project)).eq(context.clone()))
                .column_as(project, "parent_ctx"),
            _ => Self::no_context(select),
        }
    }

    /// Adds `parent_ctx` 0: the list does not depend on how its parent was
    /// reached.
    pub(crate) fn no_context<E: EntityTrait>(select: Select<E>) -> Select<E> {
        select.column_as(Expr::val(0_i64), "parent_ctx")
    }

    /// A root list (no parent): `parent_key` and `parent_ctx` 0.
    pub(crate) fn root<E: EntityTrait>(select: Select<E>) -> Select<E> {
        Self::no_context(select.column_as(Expr::val(0_i64), "parent_key"))
    }
}

/// Builds a list's base select for its parents.
pub(crate) type BaseFn = Arc<dyn for<'a> Fn(&Parents<'a>) -> SelectStatement + Send + Sync>;

/// A list: what it selects, filters and sorts by.
#[derive(Clone)]
pub(crate) struct Listing {
    /// The cursor tag (the item type's name).
    pub(crate) tag: &'static str,
    /// Yields the entity's columns, `parent_key` and `parent_ctx`.
    pub(crate) base: BaseFn,
    /// Applied to the columns of [`BASE`].
    pub(crate) filter: Condition,
    /// The sort, before the id.
    pub(crate) sort: Vec<SortKey>,
}

/// One page of one parent.
#[derive(Debug, Clone)]
pub(crate) struct Page<M> {
    /// The items with their cursors, in list order.
    pub(crate) items: Vec<(String, M)>,
    /// Whether items precede the page.
    pub(crate) has_previous: bool,
    /// Whether items follow the page.
    pub(crate) has_next: bool,
}

impl<M> Page<M> {
    /// An empty page.
    pub(crate) fn empty() -> Self {
        Self {
            items: Vec::new(),
            has_previous: false,
            has_next: false,
        }
    }
}

fn col(column: &str) -> Expr {
    Expr::col((Alias::new(BASE), Alias::new(column)))
}

/// The keyset condition "after `values`" in the order `sort` (then id),
/// reversed when `backward`.
fn keyset(sort: &[SortKey], values: &[Value], backward: bool) -> Condition {
    let keys: Vec<(Expr, bool)> = sort
        .iter()
        .map(|s| (s.expr(), s.descending))
        .chain([(col("id"), false)])
        .collect();
    let mut any = Condition::any();
    for i in 0..keys.len() {
        let mut all = Condition::all();
        for (j, (expr, _)) in keys.iter().enumerate().take(i) {
            all = all.add(expr.clone().eq(values[j].clone()));
        }
        let (expr, descending) = keys[i].clone();
        let value = values[i].clone();
        all = all.add(if descending != backward {
            expr.lt(value)
        } else {
            expr.gt(value)
        });
        any = any.add(all);
    }
    any
}

/// The order of a page's rows in `window`: the sort, then the id.
fn page_order(sort: &[SortKey], window: &Window) -> Vec<(Expr, Order)> {
    let direction = |ascending: bool| if ascending { Order::Asc } else { Order::Desc };
    sort.iter()
        .map(|key| (key.expr(), direction(key.descending == window.backward)))
        .chain([(col("id"), direction(!window.backward))])
        .collect()
}

/// The page of one parent: at most `limit + 1` rows of the base built for
/// `parents` (a [`Parents::One`]), filtered, after the cursor, in page order.
fn one_parent(listing: &Listing, window: &Window, parents: &Parents<'_>) -> SelectStatement {
    let mut filter = listing.filter.clone();
    if let Some(values) = &window.cursor {
        filter = Condition::all()
            .add(filter)
            .add(keyset(&listing.sort, values, window.backward));
    }
    let mut select = Query::select();
    select
        .column((Alias::new(BASE), Asterisk))
        .from_subquery((listing.base)(parents), Alias::new(BASE))
        .cond_where(filter);
    for (expr, order) in page_order(&listing.sort, window) {
        select.order_by_expr(expr, order);
    }
    let limit = u64::try_from(window.limit).unwrap_or(u64::MAX);
    select.limit(limit.saturating_add(1));
    select
}

/// Whether pages of many parents are one `LATERAL` join over a `VALUES`
/// list (plain PostgreSQL) rather than a `UNION ALL` of one select per parent
/// (SQLite, Citus).
fn lateral(backend: DatabaseBackend) -> bool {
    backend == DatabaseBackend::Postgres && !crate::db::is_citus()
}

/// One statement paging `parents` (all reached through a project, or all
/// not): PostgreSQL's `LATERAL` over a `VALUES` list, or a `UNION ALL`.
fn statement(
    backend: DatabaseBackend,
    listing: &Listing,
    window: &Window,
    parents: &[Parent],
    through_project: bool,
) -> SelectStatement {
    let pages = if lateral(backend) {
        let column = |name: &str| Expr::col((Alias::new(PARENTS), Alias::new(name)));
        let one = Parents::One {
            key: column("column1"),
            context: through_project.then(|| column("column2")),
        };
        Query::select()
            .column((Alias::new(BASE), Asterisk))
            .from_values(parents.iter().copied(), Alias::new(PARENTS))
            .join_lateral(
                JoinType::InnerJoin,
                one_parent(listing, window, &one),
                Alias::new(BASE),
                Condition::all(),
            )
            .to_owned()
    } else {
        let mut terms = parents.iter().map(|&(key, context)| {
            let one = Parents::One {
                key: Expr::val(key),
                context: through_project.then(|| Expr::val(context)),
            };
            Query::select()
                .column(Asterisk)
                .from_subquery(one_parent(listing, window, &one), Alias::new(BASE))
                .to_owned()
        });
        let mut first = terms.next().unwrap_or_else(Query::select);
        first.unions(terms.map(|term| (UnionType::All, term)));
        first
    };
    let mut outer = Query::select();
    outer
        .column(Asterisk)
        .from_subquery(pages, Alias::new(BASE))
        .order_by((Alias::new(BASE), Alias::new("parent_key")), Order::Asc)
        .order_by((Alias::new(BASE), Alias::new("parent_ctx")), Order::Asc);
    for (expr, order) in page_order(&listing.sort, window) {
        outer.order_by_expr(expr, order);
    }
    outer
}

/// A row's parent.
#[derive(FromQueryResult)]
struct ParentRow {
    parent_key: i64,
    parent_ctx: i64,
}

/// A row's id.
#[derive(FromQueryResult)]
struct IdRow {
    id: i64,
}

/// Fetches one page per parent of `listing`, each read with its own limit.
///
/// # Errors
/// A database error.
pub(crate) async fn fetch<M: FromQueryResult>(
    db: &impl ConnectionTrait,
    listing: &Listing,
    window: &Window,
    parents: &[Parent],
) -> Result<HashMap<Parent, Page<M>>, Error> {
    let backend = db.get_database_backend();
    let mut unique: Vec<Parent> = parents.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let (through, direct): (Vec<Parent>, Vec<Parent>) = unique.into_iter().partition(|p| p.1 != 0);
    let chunk = if lateral(backend) {
        POSTGRES_PARENTS_PER_STATEMENT
    } else {
        // How many values one parent's term binds decides how many fit.
        let one = Parents::One {
            key: Expr::val(0_i64),
            context: Some(Expr::val(0_i64)),
        };
        let values = backend
            .build(&one_parent(listing, window, &one))
            .values
            .map_or(0, |v| v.0.len());
        (SQLITE_VALUES_PER_STATEMENT / values.max(1)).clamp(1, SQLITE_PARENTS_PER_STATEMENT)
    };
    let mut pages: HashMap<Parent, Page<M>> = HashMap::new();
    for (group, through_project) in [(direct, false), (through, true)] {
        for part in group.chunks(chunk) {
            let select = statement(backend, listing, window, part, through_project);
            for row in db.query_all(&select).await? {
                let parent = ParentRow::from_query_result(&row, "")?;
                let page = pages
                    .entry((parent.parent_key, parent.parent_ctx))
                    .or_insert_with(Page::empty);
                if page.items.len() == window.limit {
                    if window.backward {
                        page.has_previous = true;
                    } else {
                        page.has_next = true;
                    }
                    continue;
                }
                let mut values = Vec::with_capacity(listing.sort.len() + 1);
                for key in &listing.sort {
                    values.push(CursorValue::read(&row, key.column, key.kind)?);
                }
                values.push(CursorValue::Int(IdRow::from_query_result(&row, "")?.id));
                let model = M::from_query_result(&row, "")?;
                page.items.push((encode(listing.tag, values), model));
            }
        }
    }
    for page in pages.values_mut() {
        if window.backward {
            page.items.reverse();
            page.has_next = window.cursor.is_some();
        } else {
            page.has_previous = window.cursor.is_some();
        }
    }
    Ok(pages)
}

/// A parent's item count.
#[derive(FromQueryResult)]
struct CountRow {
    parent_key: i64,
    parent_ctx: i64,
    n: i64,
}

/// How many items each parent's list holds (filter applied, no paging).
///
/// # Errors
/// A database error.
pub(crate) async fn count(
    db: &impl ConnectionTrait,
    listing: &Listing,
    parents: &[Parent],
) -> Result<HashMap<Parent, u64>, Error> {
    let mut ids: Vec<i64> = parents.iter().map(|p| p.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut contexts: Vec<i64> = parents.iter().map(|p| p.1).filter(|c| *c != 0).collect();
    contexts.sort_unstable();
    contexts.dedup();
    let base = (listing.base)(&Parents::Set {
        ids: &ids,
        contexts: &contexts,
    });
    let select = Query::select()
        .column((Alias::new(BASE), Alias::new("parent_key")))
        .column((Alias::new(BASE), Alias::new("parent_ctx")))
        .expr_as(Expr::cust("COUNT(*)"), "n")
        .from_subquery(base, Alias::new(BASE))
        .cond_where(listing.filter.clone())
        .group_by_col((Alias::new(BASE), Alias::new("parent_key")))
        .group_by_col((Alias::new(BASE), Alias::new("parent_ctx")))
        .to_owned();
    let rows = CountRow::find_by_statement(db.get_database_backend().build(&select))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                (row.parent_key, row.parent_ctx),
                u64::try_from(row.n).unwrap_or(0),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SORT: &[SortKey] = &[SortKey::asc("name", Kind::Text)];

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_list() {
        let cursor = encode(
            "Job",
            vec![CursorValue::Text("a".into()), CursorValue::Int(3)],
        );
        assert_eq!(
            decode("Job", &cursor, SORT),
            Some(vec![Value::from("a".to_owned()), Value::from(3_i64)])
        );
        assert_eq!(decode("Task", &cursor, SORT), None);
        assert_eq!(decode("Job", &cursor, &[]), None);
        assert_eq!(decode("Job", "garbage", SORT), None);
    }
}
