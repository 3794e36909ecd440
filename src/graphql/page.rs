//! Keyset pagination of Relay connections, one statement for all parents.
//!
//! A list is described by a [`Listing`]: a base `SELECT` that yields the
//! entity's columns plus `parent_key` (the id of the row the list hangs off,
//! or 0 for a root list) and `parent_ctx` (the project the parent was reached
//! through, or 0), a filter and a sort order. [`fetch`] wraps
//! the base in `ROW_NUMBER() OVER (PARTITION BY parent_key ORDER BY …)` and keeps
//! the first `n + 1` rows of each parent, so a page of every parent comes back in
//! one statement, on PostgreSQL and SQLite alike. Cursors carry the sort values
//! and the id of a row (keyset, never `OFFSET`): a page stays correct while rows
//! are inserted before it.

use std::collections::HashMap;

use async_graphql::ErrorExtensions as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait as _, Func, Order, OverStatement as _, Query,
    SelectStatement, WindowStatement,
};
use sea_orm::{ConnectionTrait, FromQueryResult, QueryResult, Value};
use serde::{Deserialize, Serialize};

use super::filter::Direction;
use crate::error::Error;

/// The most items one page of a list holds.
pub(crate) const MAX_PAGE_SIZE: usize = 100;

/// The alias of the base select inside the wrapping statements.
pub(crate) const BASE: &str = "b";

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

    /// This key in `direction`.
    pub(crate) fn direction(self, direction: Direction) -> Self {
        Self {
            descending: direction == Direction::Desc,
            ..self
        }
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
            // The column may be 16, 32 or 64 bits wide (PostgreSQL is strict).
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

fn decode(tag: &str, cursor: &str, sort: &[SortKey]) -> Option<Vec<Value>> {
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

/// Validated Relay pagination arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Window {
    /// The page size.
    pub(crate) limit: usize,
    /// `last`/`before`: the page ends at the cursor.
    pub(crate) backward: bool,
    /// The decoded `after` (or `before`) cursor.
    pub(crate) cursor: Option<Vec<Value>>,
}

/// The Relay arguments of a list field, as the client sent them.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageArgs {
    /// `first`.
    pub(crate) first: Option<i32>,
    /// `after`.
    pub(crate) after: Option<String>,
    /// `last`.
    pub(crate) last: Option<i32>,
    /// `before`.
    pub(crate) before: Option<String>,
}

impl PageArgs {
    /// The arguments of a list field.
    pub(crate) fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }

    /// The arguments as a key for a data loader (their text).
    pub(crate) fn key(&self) -> String {
        format!(
            "{:?}/{:?}/{:?}/{:?}",
            self.first, self.after, self.last, self.before
        )
    }

    /// Checks the arguments against a list of `tag` sorted by `sort`.
    pub(crate) fn window(&self, tag: &str, sort: &[SortKey]) -> async_graphql::Result<Window> {
        let bad = |message: String| Error::BadRequest(message).extend();
        // The same rules as the validation-time cost check (`limits`).
        let size = |value: i32, name: &str| match usize::try_from(value) {
            Ok(v) if (1..=MAX_PAGE_SIZE).contains(&v) => Ok(v),
            Ok(v) if v > MAX_PAGE_SIZE => Err(Error::LimitExceeded(format!(
                "{name} is {v}, but a page holds at most {MAX_PAGE_SIZE} items"
            ))
            .extend()),
            _ => Err(bad(format!("{name} must be at least 1"))),
        };
        let cursor = |text: &str, name: &str| {
            decode(tag, text, sort)
                .ok_or_else(|| bad(format!("{name} is not a cursor of this list")))
        };
        match (self.first, &self.after, self.last, &self.before) {
            (Some(_), _, Some(_), _) => Err(bad("give first or last, not both".to_owned())),
            (_, Some(_), _, Some(_)) => Err(bad("give after or before, not both".to_owned())),
            (None, None, last, before) if last.is_some() || before.is_some() => Ok(Window {
                limit: last.map_or(Ok(MAX_PAGE_SIZE), |l| size(l, "last"))?,
                backward: true,
                cursor: before.as_deref().map(|c| cursor(c, "before")).transpose()?,
            }),
            (first, after, None, None) => Ok(Window {
                limit: first.map_or(Ok(MAX_PAGE_SIZE), |f| size(f, "first"))?,
                backward: false,
                cursor: after.as_deref().map(|c| cursor(c, "after")).transpose()?,
            }),
            _ => Err(bad(
                "page forward with first/after or backward with last/before".to_owned(),
            )),
        }
    }
}

/// A list: what it selects, filters and sorts by.
#[derive(Debug, Clone)]
pub(crate) struct Listing {
    /// The cursor tag (the item type's name).
    pub(crate) tag: &'static str,
    /// Yields the entity's columns, `parent_key` and `parent_ctx`.
    pub(crate) base: SelectStatement,
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

/// A parent of a list: its id and the project it was reached through (0: none).
pub(crate) type Parent = (i64, i64);

fn parent_of(row: &QueryResult) -> Result<Parent, Error> {
    Ok((
        row.try_get("", "parent_key")?,
        row.try_get("", "parent_ctx")?,
    ))
}

/// Fetches one page per parent of `listing`.
///
/// # Errors
/// A database error.
pub(crate) async fn fetch<M: FromQueryResult>(
    db: &impl ConnectionTrait,
    listing: &Listing,
    window: &Window,
) -> Result<HashMap<Parent, Page<M>>, Error> {
    let mut order = WindowStatement::partition_by((Alias::new(BASE), Alias::new("parent_key")));
    order.partition_by((Alias::new(BASE), Alias::new("parent_ctx")));
    for key in &listing.sort {
        let forward = key.descending == window.backward;
        order.order_by_expr(key.expr(), if forward { Order::Asc } else { Order::Desc });
    }
    order.order_by_expr(
        col("id"),
        if window.backward {
            Order::Desc
        } else {
            Order::Asc
        },
    );
    let mut filter = listing.filter.clone();
    if let Some(values) = &window.cursor {
        filter = Condition::all()
            .add(filter)
            .add(keyset(&listing.sort, values, window.backward));
    }
    let ranked = Query::select()
        .column((Alias::new(BASE), Asterisk))
        .expr_window_as(Func::cust("ROW_NUMBER"), order, "rn")
        .from_subquery(listing.base.clone(), Alias::new(BASE))
        .cond_where(filter)
        .to_owned();
    let limit = i64::try_from(window.limit).unwrap_or(i64::MAX);
    let outer = Query::select()
        .column(Asterisk)
        .from_subquery(ranked, Alias::new("w"))
        .and_where(Expr::col((Alias::new("w"), Alias::new("rn"))).lte(limit + 1))
        .order_by((Alias::new("w"), Alias::new("parent_key")), Order::Asc)
        .order_by((Alias::new("w"), Alias::new("parent_ctx")), Order::Asc)
        .order_by((Alias::new("w"), Alias::new("rn")), Order::Asc)
        .to_owned();
    let rows = db.query_all(&outer).await?;
    let mut pages: HashMap<Parent, Page<M>> = HashMap::new();
    for row in rows {
        let parent = parent_of(&row)?;
        let page = pages.entry(parent).or_insert_with(Page::empty);
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
        values.push(CursorValue::Int(row.try_get("", "id")?));
        let model = M::from_query_result(&row, "")?;
        page.items.push((encode(listing.tag, values), model));
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

/// How many items each parent's list holds (filter applied, no paging).
///
/// # Errors
/// A database error.
pub(crate) async fn count(
    db: &impl ConnectionTrait,
    listing: &Listing,
) -> Result<HashMap<Parent, u64>, Error> {
    let select = Query::select()
        .column((Alias::new(BASE), Alias::new("parent_key")))
        .column((Alias::new(BASE), Alias::new("parent_ctx")))
        .expr_as(Expr::cust("COUNT(*)"), "n")
        .from_subquery(listing.base.clone(), Alias::new(BASE))
        .cond_where(listing.filter.clone())
        .group_by_col((Alias::new(BASE), Alias::new("parent_key")))
        .group_by_col((Alias::new(BASE), Alias::new("parent_ctx")))
        .to_owned();
    let mut counts = HashMap::new();
    for row in db.query_all(&select).await? {
        let parent = parent_of(&row)?;
        let n: i64 = row.try_get("", "n")?;
        counts.insert(parent, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
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

    #[test]
    fn windows_check_their_bounds() {
        let args = |first, last| PageArgs {
            first,
            last,
            ..PageArgs::default()
        };
        assert_eq!(args(None, None).window("Job", SORT).unwrap().limit, 100);
        assert_eq!(args(Some(5), None).window("Job", SORT).unwrap().limit, 5);
        assert!(
            args(Some(5), None)
                .window("Job", SORT)
                .unwrap()
                .cursor
                .is_none()
        );
        assert!(args(None, Some(5)).window("Job", SORT).unwrap().backward);
        for (first, last) in [
            (Some(0), None),
            (Some(101), None),
            (Some(100_000), None),
            (Some(-1), None),
            (None, Some(0)),
            (Some(1), Some(1)),
        ] {
            assert!(
                args(first, last).window("Job", SORT).is_err(),
                "{first:?} {last:?}"
            );
        }
    }
}
