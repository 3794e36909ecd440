//! Accounting formulas: versions attached to node-type aggregations. A
//! formula is never edited; a change is a new version.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, TransactionSession as _, TransactionTrait,
};

use crate::domain::formula::{Formula, FormulaVersion};
use crate::entity::{aggregation_formulas, formulas};
use crate::error::Error;

/// A new formula version.
#[derive(Debug, Clone)]
pub struct NewFormula {
    /// The expression, e.g. `NumNodes * RunTime`.
    pub expression: String,
    /// The unit it yields, e.g. `node_hour`.
    pub unit: String,
    /// Start of validity (inclusive).
    pub validity_from: DateTime<Utc>,
    /// End of validity (inclusive), or open.
    pub validity_to: Option<DateTime<Utc>>,
    /// The version this one replaces, if any.
    pub supersedes: Option<i64>,
}

/// Units a formula may yield.
pub const UNITS: &[&str] = &["core_hour", "node_hour", "gpu_hour", "billing_hour", "hour"];

/// Validates and stores a formula version and attaches it to `aggregation_id`.
///
/// # Errors
/// [`Error::BadRequest`] naming what is wrong with the expression, unit or window.
pub async fn create(
    db: &impl ConnectionTrait,
    aggregation_id: i64,
    new: NewFormula,
    created_by: Option<i64>,
) -> Result<formulas::Model, Error> {
    let row = create_unattached(db, new, created_by).await?;
    aggregation_formulas::ActiveModel {
        aggregation_id: Set(aggregation_id),
        formula_id: Set(row.id),
    }
    .insert(db)
    .await?;
    Ok(row)
}

/// Validates and stores a formula version attached to no aggregation yet
/// (HEAppE's `POST Accounting`; [`link`] attaches it).
///
/// # Errors
/// [`Error::BadRequest`] naming what is wrong with the expression, unit or window.
pub async fn create_unattached(
    db: &impl ConnectionTrait,
    new: NewFormula,
    created_by: Option<i64>,
) -> Result<formulas::Model, Error> {
    let formula =
        Formula::parse(&new.expression).map_err(|e| Error::BadRequest(format!("formula: {e}")))?;
    if !UNITS.contains(&new.unit.as_str()) {
        return Err(Error::BadRequest(format!(
            "unit must be one of {}",
            UNITS.join(", ")
        )));
    }
    if new.validity_to.is_some_and(|to| to < new.validity_from) {
        return Err(Error::BadRequest(
            "validity ends before it starts".to_owned(),
        ));
    }
    Ok(formulas::ActiveModel {
        expression: Set(formula.source().to_owned()),
        unit: Set(new.unit),
        validity_from: Set(new.validity_from),
        validity_to: Set(new.validity_to),
        supersedes_id: Set(new.supersedes),
        created_by: Set(created_by),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The versions not retired, by id (HEAppE's `GET Accountings`).
///
/// # Errors
/// A database error.
pub async fn list_current(db: &impl ConnectionTrait) -> Result<Vec<formulas::Model>, Error> {
    Ok(formulas::Entity::find()
        .filter(formulas::Column::DeletedAt.is_null())
        .order_by_asc(formulas::Column::Id)
        .all(db)
        .await?)
}

/// Version `id` unless it is retired (HEAppE hides deleted accountings).
///
/// # Errors
/// [`Error::NotFound`] when there is no such version or it is retired, or a
/// database error.
pub async fn current(db: &impl ConnectionTrait, id: i64) -> Result<formulas::Model, Error> {
    formulas::Entity::find_by_id(id)
        .filter(formulas::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no formula {id}")))
}

/// What a revision changes; the rest is the superseded version's.
#[derive(Debug, Clone)]
pub struct Revision {
    /// The new expression.
    pub expression: String,
    /// The new unit, or the superseded version's.
    pub unit: Option<String>,
    /// Start of the new version's validity.
    pub validity_from: DateTime<Utc>,
    /// End of the new version's validity, or open.
    pub validity_to: Option<DateTime<Utc>>,
}

/// Revises version `id` (HEAppE's `PUT Accounting`) without editing it, in
/// one transaction: a new version superseding it is stored, attached to the
/// same aggregations, and `id` is retired. Tasks priced by `id` keep naming
/// it; new and recomputed usage is priced by the new version.
///
/// # Errors
/// [`Error::NotFound`] when `id` does not exist or is retired,
/// [`Error::BadRequest`] for an invalid expression, unit or window.
pub async fn revise<C>(
    db: &C,
    id: i64,
    revision: Revision,
    created_by: Option<i64>,
) -> Result<formulas::Model, Error>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    let old = current(&txn, id).await?;
    let new = NewFormula {
        expression: revision.expression,
        unit: revision.unit.unwrap_or_else(|| old.unit.clone()),
        validity_from: revision.validity_from,
        validity_to: revision.validity_to,
        supersedes: Some(old.id),
    };
    let row = create_unattached(&txn, new, created_by).await?;
    let aggregations = aggregation_formulas::Entity::find()
        .filter(aggregation_formulas::Column::FormulaId.eq(old.id))
        .all(&txn)
        .await?;
    for link in aggregations {
        aggregation_formulas::ActiveModel {
            aggregation_id: Set(link.aggregation_id),
            formula_id: Set(row.id),
        }
        .insert(&txn)
        .await?;
    }
    retire(&txn, old.id).await?;
    txn.commit().await?;
    Ok(row)
}

/// Retires version `id` (HEAppE's `DELETE Accounting`): it is never chosen
/// again; the tasks it priced keep their usage and keep naming it.
///
/// # Errors
/// [`Error::NotFound`] when `id` does not exist or is already retired.
pub async fn retire(db: &impl ConnectionTrait, id: i64) -> Result<(), Error> {
    let retired = formulas::Entity::update_many()
        .col_expr(formulas::Column::DeletedAt, Expr::value(Utc::now()))
        .filter(formulas::Column::Id.eq(id))
        .filter(formulas::Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    if retired.rows_affected == 0 {
        return Err(Error::NotFound(format!("no formula {id}")));
    }
    Ok(())
}

/// The links between aggregations and versions not retired, by aggregation
/// then version (HEAppE's `ClusterNodeTypeAggregationAccountings`).
///
/// # Errors
/// A database error.
pub async fn links(db: &impl ConnectionTrait) -> Result<Vec<aggregation_formulas::Model>, Error> {
    Ok(aggregation_formulas::Entity::find()
        .inner_join(formulas::Entity)
        .filter(formulas::Column::DeletedAt.is_null())
        .order_by_asc(aggregation_formulas::Column::AggregationId)
        .order_by_asc(aggregation_formulas::Column::FormulaId)
        .all(db)
        .await?)
}

/// Whether version `formula_id` (not retired) is attached to
/// `aggregation_id`.
///
/// # Errors
/// A database error.
pub async fn is_linked(
    db: &impl ConnectionTrait,
    aggregation_id: i64,
    formula_id: i64,
) -> Result<bool, Error> {
    Ok(aggregation_formulas::Entity::find()
        .inner_join(formulas::Entity)
        .filter(formulas::Column::DeletedAt.is_null())
        .filter(aggregation_formulas::Column::AggregationId.eq(aggregation_id))
        .filter(aggregation_formulas::Column::FormulaId.eq(formula_id))
        .one(db)
        .await?
        .is_some())
}

/// Attaches version `formula_id` to `aggregation_id` (HEAppE's
/// `POST ClusterNodeTypeAggregationAccounting`).
///
/// # Errors
/// [`Error::Conflict`] when they are already linked, [`Error::NotFound`] when
/// the aggregation does not exist or the version does not exist or is retired.
pub async fn link(
    db: &impl ConnectionTrait,
    aggregation_id: i64,
    formula_id: i64,
) -> Result<aggregation_formulas::Model, Error> {
    if is_linked(db, aggregation_id, formula_id).await? {
        return Err(Error::Conflict(format!(
            "formula {formula_id} is already attached to aggregation {aggregation_id}"
        )));
    }
    super::catalogue::aggregation(db, aggregation_id).await?;
    current(db, formula_id).await?;
    Ok(aggregation_formulas::ActiveModel {
        aggregation_id: Set(aggregation_id),
        formula_id: Set(formula_id),
    }
    .insert(db)
    .await?)
}

/// Detaches version `formula_id` from `aggregation_id` (HEAppE's
/// `DELETE ClusterNodeTypeAggregationAccounting`): the aggregation's tasks are
/// no longer priced by it.
///
/// # Errors
/// [`Error::NotFound`] when they are not linked (or the version is retired).
pub async fn unlink(
    db: &impl ConnectionTrait,
    aggregation_id: i64,
    formula_id: i64,
) -> Result<(), Error> {
    if !is_linked(db, aggregation_id, formula_id).await? {
        return Err(Error::NotFound(format!(
            "formula {formula_id} is not attached to aggregation {aggregation_id}"
        )));
    }
    aggregation_formulas::Entity::delete_many()
        .filter(aggregation_formulas::Column::AggregationId.eq(aggregation_id))
        .filter(aggregation_formulas::Column::FormulaId.eq(formula_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Creates a new version for aggregation `aggregation_id` (which must exist):
/// [`create`], after checking that the version it supersedes, if any, is one
/// of the same aggregation's. Nothing stored is changed: the new version wins
/// from its `validity_from` on by HEAppE's rule (newest start, then highest
/// id), and recomputation prices older tasks again when asked.
///
/// # Errors
/// [`Error::NotFound`] for an unknown aggregation or superseded version,
/// [`Error::BadRequest`] for a superseded version of another aggregation or
/// an invalid expression, unit or window.
pub async fn create_version(
    db: &impl ConnectionTrait,
    aggregation_id: i64,
    new: NewFormula,
    created_by: Option<i64>,
) -> Result<formulas::Model, Error> {
    super::catalogue::aggregation(db, aggregation_id).await?;
    if let Some(old) = new.supersedes {
        formulas::Entity::find_by_id(old)
            .one(db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no formula {old}")))?;
        let attached = aggregation_formulas::Entity::find()
            .filter(aggregation_formulas::Column::AggregationId.eq(aggregation_id))
            .filter(aggregation_formulas::Column::FormulaId.eq(old))
            .one(db)
            .await?;
        if attached.is_none() {
            return Err(Error::BadRequest(format!(
                "formula {old} is not a version of aggregation {aggregation_id}"
            )));
        }
    }
    create(db, aggregation_id, new, created_by).await
}

/// A stored version with its parsed formula (or why it does not parse).
type Version = (formulas::Model, Result<Formula, String>);

/// The parsed formula versions of some aggregations, loaded once per batch.
#[derive(Debug, Default)]
pub struct FormulaBook {
    /// The versions of each aggregation.
    by_aggregation: HashMap<i64, Vec<Version>>,
}

/// The formula chosen for a task, or why there is none.
#[derive(Debug)]
pub enum Choice<'a> {
    /// This version applies.
    Formula(&'a formulas::Model, &'a Formula),
    /// No version is valid at the task's start (or the task has not started,
    /// or its node type has no aggregation).
    None,
    /// The chosen version's stored expression no longer parses.
    Broken(&'a formulas::Model, &'a str),
}

impl FormulaBook {
    /// Loads every version attached to `aggregation_ids`.
    ///
    /// # Errors
    /// A database error.
    pub async fn load(
        db: &impl ConnectionTrait,
        aggregation_ids: impl IntoIterator<Item = i64>,
    ) -> Result<Self, Error> {
        let ids: Vec<i64> = aggregation_ids.into_iter().collect();
        let mut book = Self::default();
        if ids.is_empty() {
            return Ok(book);
        }
        let links = aggregation_formulas::Entity::find()
            .filter(aggregation_formulas::Column::AggregationId.is_in(ids))
            .find_also_related(formulas::Entity)
            .all(db)
            .await?;
        // A retired version (HEAppE's `DELETE Accounting`) is never chosen.
        for (link, formula) in links {
            if let Some(formula) = formula.filter(|f| f.deleted_at.is_none()) {
                let parsed = Formula::parse(&formula.expression).map_err(|e| e.to_string());
                book.by_aggregation
                    .entry(link.aggregation_id)
                    .or_default()
                    .push((formula, parsed));
            }
        }
        Ok(book)
    }

    /// The version for a task of an `aggregation` that started at `start`
    /// (HEAppE's rule: valid at the start, newest `validity_from`, then id).
    #[must_use]
    pub fn choose(&self, aggregation: Option<i64>, start: Option<DateTime<Utc>>) -> Choice<'_> {
        let Some(rows) = aggregation.and_then(|a| self.by_aggregation.get(&a)) else {
            return Choice::None;
        };
        // Broken rows take part in the choice too: skipping them would silently
        // pick an older formula.
        let placeholder = Formula::parse("0").ok();
        let versions: Vec<FormulaVersion<'_>> = rows
            .iter()
            .filter_map(|(row, parsed)| {
                let formula = parsed.as_ref().ok().or(placeholder.as_ref())?;
                Some(FormulaVersion {
                    id: row.id,
                    validity_from: row.validity_from,
                    validity_to: row.validity_to,
                    formula,
                })
            })
            .collect();
        let Some(chosen) = crate::domain::formula::select(&versions, start) else {
            return Choice::None;
        };
        match rows.iter().find(|(row, _)| row.id == chosen.id) {
            Some((row, Ok(formula))) => Choice::Formula(row, formula),
            Some((row, Err(reason))) => Choice::Broken(row, reason),
            None => Choice::None,
        }
    }
}
