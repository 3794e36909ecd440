//! GraphQL object types.

use async_graphql::{ID, Object, SimpleObject};
use chrono::NaiveDate;

use super::id::GlobalId;
use crate::auth::Principal;
use crate::entity::projects;

/// A project: the unit usage is accounted to, across all four sources.
pub(crate) struct Project(pub(crate) projects::Model);

/// A project: the unit usage is accounted to, across all four sources.
#[Object]
impl Project {
    /// Opaque global id.
    async fn id(&self) -> ID {
        GlobalId::encode("Project", self.0.id)
    }

    /// The accounting string, unique (HEAppE's `AccountingString`).
    async fn accounting_string(&self) -> &str {
        &self.0.accounting_string
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// First day of the project, if known.
    async fn start_date(&self) -> Option<NaiveDate> {
        self.0.start_date
    }

    /// Last day of the project, if known.
    async fn end_date(&self) -> Option<NaiveDate> {
        self.0.end_date
    }

    /// The unit the project's HPC usage is labelled in: `node_hour` or `core_hour`.
    async fn usage_type(&self) -> &str {
        &self.0.usage_type
    }
}

/// One grant of the caller: a role on a scope.
#[derive(SimpleObject)]
pub(crate) struct ViewerGrant {
    /// The role's name, e.g. `heappe_reporter`, `eosc_project_admin`, `system_admin`.
    role: String,
    /// What the role applies to: `system`, `project`, `user_group`,
    /// `project_provider`, `installation`, `site` or `bucket`.
    scope_kind: String,
    /// The id of the scope's row (0 for `system`).
    scope_id: i64,
}

/// The authenticated caller.
pub(crate) struct Viewer(pub(crate) Principal);

/// The authenticated caller.
#[Object]
impl Viewer {
    /// The Tally user id, or null for an external identity without a Tally user.
    async fn user_id(&self) -> Option<ID> {
        self.0.user_id.map(|id| GlobalId::encode("User", id))
    }

    /// The username (or the external subject).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether the caller administers the whole instance.
    async fn is_admin(&self) -> bool {
        self.0.is_system_admin()
    }

    /// The caller's grants.
    async fn grants(&self) -> Vec<ViewerGrant> {
        self.0
            .grants
            .iter()
            .map(|grant| {
                let (kind, id) = grant.scope.to_row();
                ViewerGrant {
                    role: grant.role.name().to_owned(),
                    scope_kind: kind.to_owned(),
                    scope_id: id,
                }
            })
            .collect()
    }
}
