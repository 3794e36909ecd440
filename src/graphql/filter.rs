//! Typed filter inputs (`eq ne in gt gte lt lte`, `and`/`or`/`not`) and sort
//! directions, turned into SeaQuery conditions on a list's base select.

use async_graphql::{Enum, ErrorExtensions as _, ID, InputObject, InputType};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::Value;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait as _, Func};

use super::id::GlobalId;
use super::page::BASE;
use crate::error::Error;

/// A UTC instant (a name the concrete filter types can take).
pub(crate) type Instant = DateTime<Utc>;

/// The largest `in` list a filter accepts.
pub(crate) const MAX_IN: usize = 1000;

/// Conditions on a calendar day.
pub(crate) type DateFilter = ScalarFilter<NaiveDate>;

/// Conditions on one field; all given conditions must hold.
#[derive(InputObject, Clone, Debug)]
#[graphql(concrete(name = "IntFilter", params(i64)))]
#[graphql(concrete(name = "StringFilter", params(String)))]
#[graphql(concrete(name = "DateTimeFilter", params(Instant)))]
#[graphql(concrete(name = "DateFilter", params(NaiveDate)))]
#[graphql(concrete(name = "FloatFilter", params(f64)))]
pub(crate) struct ScalarFilter<T: InputType> {
    /// Equal to.
    pub(crate) eq: Option<T>,
    /// Not equal to (an empty field is not equal to anything).
    pub(crate) ne: Option<T>,
    /// One of.
    #[graphql(name = "in")]
    pub(crate) one_of: Option<Vec<T>>,
    /// Greater than.
    pub(crate) gt: Option<T>,
    /// Greater than or equal to.
    pub(crate) gte: Option<T>,
    /// Less than.
    pub(crate) lt: Option<T>,
    /// Less than or equal to.
    pub(crate) lte: Option<T>,
}

/// The column `name` of the list's base select.
pub(crate) fn column(name: &str) -> Expr {
    Expr::col((Alias::new(BASE), Alias::new(name)))
}

/// "Column `name` is not `value`": true of an empty column too, so that
/// `ne` and `not: {eq}` keep the same items.
fn differs(name: &str, value: impl Into<Value>) -> Condition {
    Condition::any()
        .add(column(name).ne(value))
        .add(column(name).is_null())
}

fn too_many(field: &str) -> async_graphql::Error {
    Error::LimitExceeded(format!("{field}.in holds more than {MAX_IN} values")).extend()
}

impl<T: InputType + Clone + Into<Value>> ScalarFilter<T> {
    /// The condition on column `name`.
    pub(crate) fn condition(&self, name: &str) -> async_graphql::Result<Condition> {
        let mut all = Condition::all();
        let c = || column(name);
        if let Some(v) = &self.eq {
            all = all.add(c().eq(v.clone()));
        }
        if let Some(v) = &self.ne {
            all = all.add(differs(name, v.clone()));
        }
        if let Some(values) = &self.one_of {
            if values.len() > MAX_IN {
                return Err(too_many(name));
            }
            all = all.add(c().is_in(values.iter().cloned()));
        }
        if let Some(v) = &self.gt {
            all = all.add(c().gt(v.clone()));
        }
        if let Some(v) = &self.gte {
            all = all.add(c().gte(v.clone()));
        }
        if let Some(v) = &self.lt {
            all = all.add(c().lt(v.clone()));
        }
        if let Some(v) = &self.lte {
            all = all.add(c().lte(v.clone()));
        }
        Ok(all)
    }
}

/// Conditions on a reference to another object, by its global id.
#[derive(InputObject, Clone, Debug)]
pub(crate) struct IdFilter {
    /// Is this object.
    pub(crate) eq: Option<ID>,
    /// Is not this object.
    pub(crate) ne: Option<ID>,
    /// Is one of these objects.
    #[graphql(name = "in")]
    pub(crate) one_of: Option<Vec<ID>>,
    /// Whether the reference is set (true) or empty (false).
    pub(crate) is_set: Option<bool>,
}

impl IdFilter {
    /// "Is one of `ids`": what a list's shortcut argument of ids means.
    pub(crate) fn one_of(ids: Vec<ID>) -> Self {
        Self {
            eq: None,
            ne: None,
            one_of: Some(ids),
            is_set: None,
        }
    }

    /// The condition on column `name`, which holds ids of `kind` objects.
    pub(crate) fn condition(&self, name: &str, kind: &str) -> async_graphql::Result<Condition> {
        let decode = |id: &ID| {
            GlobalId::id_of(id, kind).ok_or_else(|| {
                Error::BadRequest(format!("{:?} is not the id of a {kind}", id.as_str())).extend()
            })
        };
        let mut all = Condition::all();
        if let Some(id) = &self.eq {
            all = all.add(column(name).eq(decode(id)?));
        }
        if let Some(id) = &self.ne {
            all = all.add(
                Condition::any()
                    .add(column(name).ne(decode(id)?))
                    .add(column(name).is_null()),
            );
        }
        if let Some(ids) = &self.one_of {
            if ids.len() > MAX_IN {
                return Err(too_many(name));
            }
            let ids = ids.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
            all = all.add(column(name).is_in(ids));
        }
        if let Some(set) = self.is_set {
            all = all.add(if set {
                column(name).is_not_null()
            } else {
                column(name).is_null()
            });
        }
        Ok(all)
    }
}

/// An enum stored in a column as a value of its own.
pub(crate) trait Stored: Copy {
    /// The value stored for this member.
    fn stored(self) -> Value;
}

/// Conditions on an enum field.
#[derive(InputObject, Clone, Debug)]
#[graphql(concrete(name = "JobStateFilter", params(crate::graphql::hpc::JobState)))]
#[graphql(concrete(name = "UsageStatusFilter", params(crate::graphql::hpc::UsageStatus)))]
pub(crate) struct EnumFilter<T: InputType + Stored> {
    /// Is this value.
    pub(crate) eq: Option<T>,
    /// Is not this value.
    pub(crate) ne: Option<T>,
    /// Is one of these values.
    #[graphql(name = "in")]
    pub(crate) one_of: Option<Vec<T>>,
}

impl<T: InputType + Stored> EnumFilter<T> {
    /// "Is one of `values`": what a list's shortcut argument of values means.
    pub(crate) fn one_of(values: Vec<T>) -> Self {
        Self {
            eq: None,
            ne: None,
            one_of: Some(values),
        }
    }

    /// The condition on column `name`.
    pub(crate) fn condition(&self, name: &str) -> async_graphql::Result<Condition> {
        let mut all = Condition::all();
        if let Some(v) = self.eq {
            all = all.add(column(name).eq(v.stored()));
        }
        if let Some(v) = self.ne {
            all = all.add(differs(name, v.stored()));
        }
        if let Some(values) = &self.one_of {
            if values.len() > MAX_IN {
                return Err(too_many(name));
            }
            all = all.add(column(name).is_in(values.iter().map(|v| v.stored())));
        }
        Ok(all)
    }
}

/// The direction of a sort.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Direction {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// Combines a filter's own conditions with its `and`, `or` and `not` parts.
pub(crate) fn combine<F>(
    own: Condition,
    and: Option<&Vec<F>>,
    or: Option<&Vec<F>>,
    not: Option<&F>,
    each: impl Fn(&F) -> async_graphql::Result<Condition>,
) -> async_graphql::Result<Condition> {
    let mut all = Condition::all().add(own);
    if let Some(parts) = and {
        for part in parts {
            all = all.add(each(part)?);
        }
    }
    if let Some(parts) = or {
        let mut any = Condition::any();
        for part in parts {
            any = any.add(each(part)?);
        }
        if parts.is_empty() {
            any = any.add(Expr::val(1).eq(0));
        }
        all = all.add(any);
    }
    if let Some(part) = not {
        // `NOT COALESCE(…, FALSE)`, not `NOT …`: a condition on an empty
        // field is unknown in SQL, and `not` must keep the items its part
        // leaves out.
        let known = Func::coalesce([Expr::from(each(part)?), Expr::val(false)]);
        all = all.add(Expr::expr(known).not());
    }
    Ok(all)
}
