//! Tenancy: projects, their sub-projects and their user groups.
//! Administrators only.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object};
use chrono::NaiveDate;

use super::super::hpc::{Group, SubProject};
use super::super::object::Project;
use super::{admin, bad, id_of, write};
use crate::domain::catalogue::{self, AccountingString, DateSpan, Name};
use crate::service::projects::{self, NewProject, ProjectChanges};

/// The unit a project's HPC usage is labelled in (HEAppE's `UsageType`).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum UsageType {
    /// Node-hours (`node_hour`).
    #[default]
    NodeHour,
    /// Core-hours (`core_hour`).
    CoreHour,
}

impl From<UsageType> for catalogue::UsageType {
    fn from(kind: UsageType) -> Self {
        match kind {
            UsageType::NodeHour => Self::NodeHour,
            UsageType::CoreHour => Self::CoreHour,
        }
    }
}

/// A new project.
#[derive(InputObject)]
pub(crate) struct CreateProjectInput {
    /// Its accounting string: unique, one word (no whitespace), at most 200
    /// characters. Never changes afterwards: collectors key on it.
    accounting_string: String,
    /// Its display name.
    name: String,
    /// Free-text description.
    description: Option<String>,
    /// Its first day.
    start_date: Option<NaiveDate>,
    /// Its last day (not before `startDate`).
    end_date: Option<NaiveDate>,
    /// The unit its HPC usage is labelled in (default `NODE_HOUR`).
    #[graphql(default)]
    usage_type: UsageType,
}

/// Changes to a project; fields left out stay as they are, and `null` clears
/// an optional field. The accounting string never changes.
#[derive(InputObject)]
pub(crate) struct UpdateProjectInput {
    /// The project (global id).
    id: ID,
    /// A new display name.
    name: Option<String>,
    /// A new description; `null` clears it.
    description: MaybeUndefined<String>,
    /// A new first day; `null` clears it.
    start_date: MaybeUndefined<NaiveDate>,
    /// A new last day; `null` clears it.
    end_date: MaybeUndefined<NaiveDate>,
    /// A new usage type.
    usage_type: Option<UsageType>,
}

/// A new sub-project of a project.
#[derive(InputObject)]
pub(crate) struct CreateSubProjectInput {
    /// The project (global id).
    project: ID,
    /// Its identifier, unique within the project.
    identifier: String,
    /// Free-text description.
    description: Option<String>,
    /// Its first day.
    start_date: Option<NaiveDate>,
    /// Its last day (not before `startDate`).
    end_date: Option<NaiveDate>,
}

/// A new user group of a project.
#[derive(InputObject)]
pub(crate) struct CreateGroupInput {
    /// The project (global id).
    project: ID,
    /// Its name, unique within the project.
    name: String,
    /// Free-text description.
    description: Option<String>,
}

fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// Projects, sub-projects and groups.
#[derive(Default)]
pub(crate) struct TenancyMutation;

/// Projects, sub-projects and groups.
#[Object]
impl TenancyMutation {
    /// Creates a project. Administrators only. `CONFLICT` when the accounting
    /// string is taken.
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new project.")] input: CreateProjectInput,
    ) -> async_graphql::Result<Project> {
        admin(ctx)?;
        let new = NewProject {
            accounting_string: AccountingString::parse(&input.accounting_string).map_err(bad)?,
            name: Name::parse("name", &input.name).map_err(bad)?,
            description: catalogue::description(input.description.as_deref()).map_err(bad)?,
            dates: DateSpan::new(input.start_date, input.end_date).map_err(bad)?,
            usage_type: input.usage_type.into(),
        };
        let row = write(ctx, async |txn| projects::create(txn, new).await).await?;
        Ok(Project(row))
    }

    /// Changes a project's name, description, dates or usage type.
    /// Administrators only. `NOT_FOUND` for an unknown project.
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project and what changes.")] input: UpdateProjectInput,
    ) -> async_graphql::Result<Project> {
        admin(ctx)?;
        let id = id_of(&input.id, "Project", "id")?;
        let description = match maybe(input.description) {
            Some(Some(text)) => Some(catalogue::description(Some(&text)).map_err(bad)?),
            Some(None) => Some(None),
            None => None,
        };
        let changes = ProjectChanges {
            name: input
                .name
                .map(|n| Name::parse("name", &n))
                .transpose()
                .map_err(bad)?,
            description,
            start_date: maybe(input.start_date),
            end_date: maybe(input.end_date),
            usage_type: input.usage_type.map(Into::into),
        };
        let row = write(ctx, async |txn| projects::update(txn, id, changes).await).await?;
        Ok(Project(row))
    }

    /// Creates a sub-project. Administrators only. `NOT_FOUND` for an unknown
    /// project; `CONFLICT` when the project has that identifier.
    async fn create_sub_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new sub-project.")] input: CreateSubProjectInput,
    ) -> async_graphql::Result<SubProject> {
        admin(ctx)?;
        let project = id_of(&input.project, "Project", "project")?;
        let identifier = Name::parse("identifier", &input.identifier).map_err(bad)?;
        let description = catalogue::description(input.description.as_deref()).map_err(bad)?;
        let dates = DateSpan::new(input.start_date, input.end_date).map_err(bad)?;
        let row = write(ctx, async |txn| {
            projects::create_sub_project(txn, project, identifier, description, dates).await
        })
        .await?;
        Ok(SubProject(row))
    }

    /// Creates a user group of a project. Administrators only. `NOT_FOUND` for
    /// an unknown project; `CONFLICT` when the project has a group of that
    /// name.
    async fn create_group(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new group.")] input: CreateGroupInput,
    ) -> async_graphql::Result<Group> {
        admin(ctx)?;
        let project = id_of(&input.project, "Project", "project")?;
        let name = Name::parse("name", &input.name).map_err(bad)?;
        let description = catalogue::description(input.description.as_deref()).map_err(bad)?;
        let row = write(ctx, async |txn| {
            projects::create_group(txn, project, name, description).await
        })
        .await?;
        Ok(Group(row))
    }
}
