//! Formula versions: how tasks are priced.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::scope;
use super::task::{Task, TaskFilter, TaskOrder};
use crate::entity::formulas;
use crate::graphql::context::ContextExt as _;
use crate::graphql::filter::{IdFilter, Instant, ScalarFilter};
use crate::graphql::id::GlobalId;
use crate::graphql::list::{ListArgs, list_inputs};
use crate::graphql::loader::{ById, Conn, connection};
use crate::graphql::page::{Kind, SortKey};
use crate::service::read::lists;

list_inputs! {
    /// Which formula versions a list keeps; all given conditions must hold.
    filter FormulaFilter {
        /// The unit it yields.
        unit: ScalarFilter<String> => "unit",
        /// The expression.
        expression: ScalarFilter<String> => "expression",
        /// Start of validity.
        valid_from: ScalarFilter<Instant> => "validity_from",
        /// End of validity (an open version has none, and meets no condition
        /// on it).
        valid_to: ScalarFilter<Instant> => "validity_to",
        /// The version it replaced.
        supersedes: IdFilter => ("supersedes_id", "Formula"),
    }
    /// What formula versions can be sorted by.
    order FormulaOrderField {
        /// Start of validity.
        ValidFrom => SortKey::asc("validity_from", Kind::Time),
        /// End of validity (open versions first).
        ValidTo => SortKey::nullable("validity_to", Kind::Time),
        /// The unit.
        Unit => SortKey::asc("unit", Kind::Text),
        /// When the version was created.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of a formula list; ties are broken by id.
    key FormulaOrder
}

/// An accounting formula version: how a node type aggregation's tasks are
/// priced over a validity window. Never edited; a change is a new version.
pub(crate) struct Formula(pub(crate) formulas::Model);

/// An accounting formula version: how a node type aggregation's tasks are
/// priced over a validity window. Never edited; a change is a new version.
#[Object]
impl Formula {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Formula", self.0.id)
    }

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }

    /// The expression, e.g. `NumNodes * RunTime`.
    async fn expression(&self) -> &str {
        &self.0.expression
    }

    /// The unit it yields.
    async fn unit(&self) -> &str {
        &self.0.unit
    }

    /// Start of validity (inclusive).
    async fn valid_from(&self) -> DateTime<Utc> {
        self.0.validity_from
    }

    /// End of validity (inclusive), or null when open.
    async fn valid_to(&self) -> Option<DateTime<Utc>> {
        self.0.validity_to
    }

    /// When this version was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The version this one replaced.
    async fn supersedes(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Formula>> {
        let Some(id) = self.0.supersedes_id else {
            return Ok(None);
        };
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<formulas::Entity>::new(id))
            .await?;
        Ok(row.map(Formula))
    }

    /// The tasks this version priced (only the projects the caller may see);
    /// by id unless `orderBy` says otherwise.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the tasks meet (all must hold).")] filter: Option<TaskFilter>,
        #[graphql(desc = "Sort keys (default: by id).")] order_by: Option<Vec<TaskOrder>>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Task>> {
        let scope = scope(ctx)?;
        let base = lists::formula_tasks(scope);
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec("Formula.tasks", "Task", base, Vec::new())?;
        connection(ctx, spec, (self.0.id, 0), Task).await
    }
}
