//! The sub-projects and user groups of a project.

use async_graphql::{ID, Object};

use crate::entity::{sub_projects, user_groups};
use crate::graphql::filter::{DateFilter, ScalarFilter};
use crate::graphql::id::GlobalId;
use crate::graphql::list::list_inputs;
use crate::graphql::page::{Kind, SortKey};

list_inputs! {
    /// Which sub-projects a list keeps; all given conditions must hold.
    filter SubProjectFilter {
        /// Its identifier.
        identifier: ScalarFilter<String> => "identifier",
        /// Its description.
        description: ScalarFilter<String> => "description",
        /// The first day it runs.
        start_date: DateFilter => "start_date",
        /// The last day it runs.
        end_date: DateFilter => "end_date",
    }
    /// What sub-projects can be sorted by.
    order SubProjectOrderField {
        /// Its identifier.
        Identifier => SortKey::asc("identifier", Kind::Text),
        /// When it was registered.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of a sub-project list; ties are broken by id.
    key SubProjectOrder
}

list_inputs! {
    /// Which groups a list keeps; all given conditions must hold.
    filter GroupFilter {
        /// Its name.
        name: ScalarFilter<String> => "name",
        /// Its description.
        description: ScalarFilter<String> => "description",
    }
    /// What groups can be sorted by.
    order GroupOrderField {
        /// Its name.
        Name => SortKey::asc("name", Kind::Text),
        /// When it was registered.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of a group list; ties are broken by id.
    key GroupOrder
}

/// A sub-project: a part of a project that jobs are accounted to (HEAppE).
pub(crate) struct SubProject(pub(crate) sub_projects::Model);

/// A sub-project: a part of a project that jobs are accounted to (HEAppE).
#[Object]
impl SubProject {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("SubProject", self.0.id)
    }

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }

    /// Its identifier, unique within the project.
    async fn identifier(&self) -> &str {
        &self.0.identifier
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The first day it runs, if bounded.
    async fn start_date(&self) -> Option<chrono::NaiveDate> {
        self.0.start_date
    }

    /// The last day it runs, if bounded.
    async fn end_date(&self) -> Option<chrono::NaiveDate> {
        self.0.end_date
    }
}

/// A user group of a project (HEAppE's AdaptorUserGroup).
pub(crate) struct Group(pub(crate) user_groups::Model);

/// A user group of a project (HEAppE's AdaptorUserGroup).
#[Object]
impl Group {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Group", self.0.id)
    }

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
}
