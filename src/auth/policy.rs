//! The one policy module: what a principal may see and do.
//!
//! A principal's grants are loaded once per request ([`super::principal`]); the
//! questions below answer from them without I/O. Scoping is applied inside the
//! queries: services ask for a [`ProjectScope`] and filter with it, so lists and
//! aggregates never contain rows the caller may not see.

use std::collections::BTreeSet;

use sea_orm::sea_query::{Condition, Expr, ExprTrait as _};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Select};

/// HEAppE's roles, numbered as upstream (heappe.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HeappeRole {
    /// Contains every HEAppE role.
    Administrator = 1,
    /// Maintainer.
    Maintainer = 2,
    /// Submits jobs; contains Reporter and GroupReporter.
    Submitter = 3,
    /// Reports on the groups of a project.
    GroupReporter = 4,
    /// Reports on a group's usage.
    Reporter = 5,
    /// Manages formulas and aggregations.
    ManagementAdmin = 6,
    /// Triggers recomputation.
    Manager = 7,
}

impl HeappeRole {
    /// Upstream's `ContainedRoleTypes`: whether holding `self` grants `other`.
    #[must_use]
    pub fn contains(self, other: Self) -> bool {
        use HeappeRole::{
            Administrator, GroupReporter, Maintainer, ManagementAdmin, Manager, Reporter, Submitter,
        };
        match self {
            Administrator => true,
            Maintainer => other != Administrator,
            Manager => matches!(other, Manager | Reporter | GroupReporter | Submitter),
            Submitter => matches!(other, Reporter | GroupReporter | Submitter),
            GroupReporter => matches!(other, GroupReporter | Reporter),
            Reporter => other == Reporter,
            ManagementAdmin => other == ManagementAdmin,
        }
    }

    /// Upstream's enum name, as in `MissingRole:<Role>`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Administrator => "Administrator",
            Self::Maintainer => "Maintainer",
            Self::Submitter => "Submitter",
            Self::GroupReporter => "GroupReporter",
            Self::Reporter => "Reporter",
            Self::ManagementAdmin => "ManagementAdmin",
            Self::Manager => "Manager",
        }
    }
}

/// EOSC Accounting System roles (eosc.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EoscRole {
    /// `project_admin` on a project.
    ProjectAdmin,
    /// `provider_admin` on a provider within a project.
    ProviderAdmin,
    /// `installation_admin` on an installation.
    InstallationAdmin,
    /// `project_reader` on a project.
    ProjectReader,
    /// `collection_owner` (global).
    CollectionOwner,
    /// `collection_reader` (global).
    CollectionReader,
    /// `metric_definition_creator` (global).
    MetricDefinitionCreator,
    /// `provider_creator` (global).
    ProviderCreator,
    /// `unit_type_creator` (global).
    UnitTypeCreator,
    /// `metric_type_creator` (global).
    MetricTypeCreator,
}

/// A role a grant carries (the `roles` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Administers the whole instance: sees and does everything.
    SystemAdmin,
    /// A HEAppE role, held on a user group.
    Heappe(HeappeRole),
    /// An EOSC role.
    Eosc(EoscRole),
    /// Reads APEL cloud summaries.
    ApelSummaryReader,
    /// Reads the chargeback reports of the buckets in scope.
    StorageReader,
    /// Posts usage for the projects in scope (all of them on the system scope).
    Collector,
}

/// Every role by its name in the `roles` table.
const ROLE_NAMES: &[(&str, Role)] = {
    use EoscRole as E;
    use HeappeRole as H;
    &[
        ("system_admin", Role::SystemAdmin),
        ("heappe_administrator", Role::Heappe(H::Administrator)),
        ("heappe_maintainer", Role::Heappe(H::Maintainer)),
        ("heappe_submitter", Role::Heappe(H::Submitter)),
        ("heappe_group_reporter", Role::Heappe(H::GroupReporter)),
        ("heappe_reporter", Role::Heappe(H::Reporter)),
        ("heappe_management_admin", Role::Heappe(H::ManagementAdmin)),
        ("heappe_manager", Role::Heappe(H::Manager)),
        ("eosc_project_admin", Role::Eosc(E::ProjectAdmin)),
        ("eosc_provider_admin", Role::Eosc(E::ProviderAdmin)),
        ("eosc_installation_admin", Role::Eosc(E::InstallationAdmin)),
        ("eosc_project_reader", Role::Eosc(E::ProjectReader)),
        ("eosc_collection_owner", Role::Eosc(E::CollectionOwner)),
        ("eosc_collection_reader", Role::Eosc(E::CollectionReader)),
        (
            "eosc_metric_definition_creator",
            Role::Eosc(E::MetricDefinitionCreator),
        ),
        ("eosc_provider_creator", Role::Eosc(E::ProviderCreator)),
        ("eosc_unit_type_creator", Role::Eosc(E::UnitTypeCreator)),
        ("eosc_metric_type_creator", Role::Eosc(E::MetricTypeCreator)),
        ("apel_summary_reader", Role::ApelSummaryReader),
        ("storage_reader", Role::StorageReader),
        ("collector", Role::Collector),
    ]
};

impl Role {
    /// The role named `name` in the `roles` table.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        ROLE_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, role)| *role)
    }

    /// The role's name in the `roles` table.
    #[must_use]
    pub fn name(self) -> &'static str {
        ROLE_NAMES
            .iter()
            .find(|(_, role)| *role == self)
            .map_or("", |(name, _)| name)
    }
}

/// What a grant applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The whole instance.
    System,
    /// A project.
    Project(i64),
    /// A user group (HEAppE's roles are held per group).
    UserGroup(i64),
    /// A provider within a project (`project_providers.id`).
    ProjectProvider(i64),
    /// An EOSC installation.
    Installation(i64),
    /// An APEL site.
    Site(i64),
    /// A storage bucket.
    Bucket(i64),
}

impl Scope {
    /// The scope of a `grants` row.
    #[must_use]
    pub fn from_row(kind: &str, id: i64) -> Option<Self> {
        Some(match kind {
            "system" => Self::System,
            "project" => Self::Project(id),
            "user_group" => Self::UserGroup(id),
            "project_provider" => Self::ProjectProvider(id),
            "installation" => Self::Installation(id),
            "site" => Self::Site(id),
            "bucket" => Self::Bucket(id),
            _ => return None,
        })
    }

    /// `(scope_kind, scope_id)` as stored.
    #[must_use]
    pub fn to_row(self) -> (&'static str, i64) {
        match self {
            Self::System => ("system", 0),
            Self::Project(id) => ("project", id),
            Self::UserGroup(id) => ("user_group", id),
            Self::ProjectProvider(id) => ("project_provider", id),
            Self::Installation(id) => ("installation", id),
            Self::Site(id) => ("site", id),
            Self::Bucket(id) => ("bucket", id),
        }
    }
}

/// One grant, with the project its scope lies in (resolved when loaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// What it applies to.
    pub scope: Scope,
    /// The project the scope belongs to, if any (a group's project, an
    /// installation's project, …).
    pub project_id: Option<i64>,
}

/// An authenticated caller and what they were granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The Tally user, or `None` for an external identity Tally has no user for
    /// (authenticated, but granted nothing).
    pub user_id: Option<i64>,
    /// The username, or the external subject.
    pub name: String,
    /// The grants.
    pub grants: Vec<Grant>,
}

/// The projects a query may read: every project, or exactly these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectScope {
    /// Every project (system administrators).
    All,
    /// Only these projects (possibly none).
    Only(BTreeSet<i64>),
}

impl ProjectScope {
    /// Whether project `id` is in scope.
    #[must_use]
    pub fn contains(&self, id: i64) -> bool {
        match self {
            Self::All => true,
            Self::Only(ids) => ids.contains(&id),
        }
    }

    /// Whether no project is in scope.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Only(ids) if ids.is_empty())
    }

    /// `select` restricted to rows whose `column` (a project id) is in scope.
    #[must_use]
    pub fn apply<E: EntityTrait>(&self, select: Select<E>, column: impl ColumnTrait) -> Select<E> {
        select.filter(self.condition(column.into_expr()))
    }

    /// The condition "`column` (a project id) is in scope", for statements
    /// built with SeaQuery rather than an entity's `Select`. The one place the
    /// project scope becomes SQL: [`Self::apply`] uses it too.
    #[must_use]
    pub fn condition(&self, column: Expr) -> Condition {
        match self {
            Self::All => Condition::all(),
            Self::Only(ids) if ids.is_empty() => Condition::all().add(Expr::val(1).eq(0)),
            Self::Only(ids) => Condition::all().add(column.is_in(ids.iter().copied())),
        }
    }
}

impl Principal {
    /// Whether the principal administers the whole instance.
    #[must_use]
    pub fn is_system_admin(&self) -> bool {
        self.grants.iter().any(|g| g.role == Role::SystemAdmin)
    }

    fn projects_where(&self, keep: impl Fn(&Grant) -> bool) -> ProjectScope {
        if self.is_system_admin() {
            return ProjectScope::All;
        }
        ProjectScope::Only(
            self.grants
                .iter()
                .filter(|g| keep(g))
                .filter_map(|g| g.project_id)
                .collect(),
        )
    }

    /// The projects the principal may see at all: those any of their grants
    /// lies in.
    #[must_use]
    pub fn visible_projects(&self) -> ProjectScope {
        self.projects_where(|_| true)
    }

    /// HEAppE's reporting scope: the projects of the groups on which the
    /// principal holds a role containing `required` (heappe.md §2: the role on
    /// any group of project P unlocks P).
    #[must_use]
    pub fn heappe_projects(&self, required: HeappeRole) -> ProjectScope {
        self.projects_where(|g| matches!(g.role, Role::Heappe(r) if r.contains(required)))
    }

    /// HEAppE's groups of the principal: the user groups on which they hold a
    /// role containing `required` (any HEAppE role with `None`); `None` for
    /// system administrators, who hold every role on every group.
    #[must_use]
    pub fn heappe_groups(&self, required: Option<HeappeRole>) -> Option<BTreeSet<i64>> {
        if self.is_system_admin() {
            return None;
        }
        Some(
            self.grants
                .iter()
                .filter_map(|g| match (g.role, g.scope) {
                    (Role::Heappe(r), Scope::UserGroup(id))
                        if required.is_none_or(|required| r.contains(required)) =>
                    {
                        Some(id)
                    }
                    _ => None,
                })
                .collect(),
        )
    }

    /// The projects the principal may post usage for: every project for
    /// administrators and system-wide collectors, else the projects of their
    /// `collector` grants.
    #[must_use]
    pub fn collector_projects(&self) -> ProjectScope {
        if self
            .grants
            .iter()
            .any(|g| g.role == Role::Collector && g.scope == Scope::System)
        {
            return ProjectScope::All;
        }
        self.projects_where(|g| g.role == Role::Collector)
    }

    /// Whether the principal may post usage at all.
    #[must_use]
    pub fn is_collector(&self) -> bool {
        !self.collector_projects().is_empty()
    }

    /// Whether the principal holds a role containing `required` on any group.
    #[must_use]
    pub fn has_heappe_role(&self, required: HeappeRole) -> bool {
        self.is_system_admin()
            || self
                .grants
                .iter()
                .any(|g| matches!(g.role, Role::Heappe(r) if r.contains(required)))
    }
}

/// What may be done on EOSC's scoped collections (installations and their
/// metrics, eosc.md §5), as the scoped roles grant it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EoscAction {
    /// Read metrics (every scoped role).
    ReadMetrics,
    /// Create, update or delete metrics (the three admin roles).
    WriteMetrics,
    /// Read installations (every scoped role).
    ReadInstallations,
    /// Create installations (`project_admin`, `provider_admin`).
    CreateInstallations,
    /// Update or delete installations (the three admin roles).
    ChangeInstallations,
    /// Manage ACL entries at the scope (the three admin roles; a project's
    /// ACL: `project_admin` only).
    ManageAcl,
    /// Read the project, associate and dissociate providers
    /// (`project_admin`; read also `project_reader`).
    ReadProject,
    /// Associate or dissociate providers (`project_admin`).
    AssociateProviders,
}

impl EoscRole {
    /// Whether the role, held at its scope, allows `action` there (eosc.md
    /// §5's seeded roles).
    #[must_use]
    pub fn allows(self, action: EoscAction) -> bool {
        use EoscAction as A;
        match self {
            Self::ProjectAdmin => true,
            Self::ProviderAdmin => !matches!(action, A::ReadProject | A::AssociateProviders),
            Self::InstallationAdmin => !matches!(
                action,
                A::CreateInstallations | A::ReadProject | A::AssociateProviders
            ),
            Self::ProjectReader => matches!(
                action,
                A::ReadMetrics | A::ReadInstallations | A::ReadProject
            ),
            _ => false,
        }
    }
}

/// The EOSC installations a query may touch for one action: every one, or
/// those under these projects, project–provider pairs and installations
/// (eosc.md §5: an installation is reached from its project's ACL, its
/// provider-within-project's ACL, or its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallationScope {
    /// Every installation (system administrators).
    All,
    /// The installations under any of these.
    Only {
        /// Projects (`projects.id`).
        projects: BTreeSet<i64>,
        /// Providers within projects (`project_providers.id`).
        project_providers: BTreeSet<i64>,
        /// Installations (`installations.id`).
        installations: BTreeSet<i64>,
    },
}

impl InstallationScope {
    /// Whether nothing is in scope.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Only { projects, project_providers, installations }
            if projects.is_empty() && project_providers.is_empty() && installations.is_empty())
    }

    /// Whether the installation `id` of provider `provider` in project
    /// `project`, reached through project–provider row `project_provider`
    /// (if it exists), is in scope.
    #[must_use]
    pub fn contains(
        &self,
        project: i64,
        project_provider: Option<i64>,
        installation: Option<i64>,
    ) -> bool {
        match self {
            Self::All => true,
            Self::Only {
                projects,
                project_providers,
                installations,
            } => {
                projects.contains(&project)
                    || project_provider.is_some_and(|id| project_providers.contains(&id))
                    || installation.is_some_and(|id| installations.contains(&id))
            }
        }
    }

    /// The condition "the installation of these columns is in scope", for a
    /// statement over installations (or metrics, which carry the same
    /// columns). The provider pairs become a subquery on `project_providers`.
    /// The one place this scope becomes SQL.
    #[must_use]
    pub fn condition(&self, project: Expr, provider: Expr, installation: Expr) -> Condition {
        use sea_orm::sea_query::{Alias, Query};
        match self {
            Self::All => Condition::all(),
            scope if scope.is_empty() => Condition::all().add(Expr::val(1).eq(0)),
            Self::Only {
                projects,
                project_providers,
                installations,
            } => {
                let mut any = Condition::any();
                if !projects.is_empty() {
                    any = any.add(project.clone().is_in(projects.iter().copied()));
                }
                if !project_providers.is_empty() {
                    let pairs = Query::select()
                        .expr(Expr::cust(r#""pp"."provider_id""#))
                        .from_as(Alias::new("project_providers"), Alias::new("pp"))
                        .and_where(
                            Expr::cust(r#""pp"."id""#).is_in(project_providers.iter().copied()),
                        )
                        .and_where(Expr::cust(r#""pp"."project_id""#).eq(project))
                        .take();
                    any = any.add(provider.in_subquery(pairs));
                }
                if !installations.is_empty() {
                    any = any.add(installation.is_in(installations.iter().copied()));
                }
                Condition::all().add(any)
            }
        }
    }
}

impl Principal {
    /// The installations on which the principal may do `action`.
    #[must_use]
    pub fn eosc_installations(&self, action: EoscAction) -> InstallationScope {
        if self.is_system_admin() {
            return InstallationScope::All;
        }
        let mut projects = BTreeSet::new();
        let mut project_providers = BTreeSet::new();
        let mut installations = BTreeSet::new();
        for grant in &self.grants {
            let Role::Eosc(role) = grant.role else {
                continue;
            };
            if !role.allows(action) {
                continue;
            }
            match (role, grant.scope) {
                (EoscRole::ProjectAdmin | EoscRole::ProjectReader, Scope::Project(id)) => {
                    projects.insert(id);
                }
                (EoscRole::ProviderAdmin, Scope::ProjectProvider(id)) => {
                    project_providers.insert(id);
                }
                (EoscRole::InstallationAdmin, Scope::Installation(id)) => {
                    installations.insert(id);
                }
                _ => {}
            }
        }
        InstallationScope::Only {
            projects,
            project_providers,
            installations,
        }
    }
}

// ---------------------------------------------------------------------------
// EOSC collection permissions (eosc.md §5, release 1.6.1's RBAC): the global
// roles on the catalogue collections (metric definitions, unit types, metric
// types, providers). Scoped roles (project_admin, …) grant nothing here.
// ---------------------------------------------------------------------------

/// A catalogue collection of the EOSC Accounting System (upstream's
/// `Collection` enum, the part that global roles govern).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EoscCollection {
    /// `MetricDefinition`.
    MetricDefinition,
    /// `UnitType`.
    UnitType,
    /// `MetricType`.
    MetricType,
    /// `Provider`.
    Provider,
}

/// An operation on a catalogue collection (upstream's `Operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EoscOperation {
    /// `CREATE`.
    Create,
    /// `READ`.
    Read,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
}

/// How far an operation is allowed (upstream's `AccessType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Not at all.
    Never,
    /// Only on entities whose `creator_id` is the caller.
    Entity,
    /// On any entity.
    Always,
}

impl Access {
    /// The access two roles give together: upstream's precedence
    /// NEVER > ALWAYS > ENTITY (an explicit NEVER wins, then ALWAYS).
    #[must_use]
    pub fn combine(self, other: Self) -> Self {
        use Access::{Always, Entity, Never};
        match (self, other) {
            (Never, _) | (_, Never) => Never,
            (Always, _) | (_, Always) => Always,
            (Entity, Entity) => Entity,
        }
    }
}

impl EoscRole {
    /// What the role, held globally, gives for `operation` on `collection`;
    /// `None` when it says nothing about it (eosc.md §5's seeded roles).
    #[must_use]
    pub fn collection_access(
        self,
        collection: EoscCollection,
        operation: EoscOperation,
    ) -> Option<Access> {
        use EoscCollection as C;
        use EoscOperation as O;
        let creator = |own: EoscCollection| {
            (collection == own).then_some(match operation {
                O::Create | O::Read => Access::Always,
                O::Update | O::Delete => Access::Entity,
            })
        };
        match self {
            Self::CollectionOwner => Some(Access::Always),
            Self::CollectionReader => (operation == O::Read).then_some(Access::Always),
            Self::MetricDefinitionCreator => creator(C::MetricDefinition),
            Self::ProviderCreator => creator(C::Provider),
            Self::UnitTypeCreator => creator(C::UnitType),
            Self::MetricTypeCreator => creator(C::MetricType),
            Self::ProjectAdmin
            | Self::ProviderAdmin
            | Self::InstallationAdmin
            | Self::ProjectReader => None,
        }
    }
}

impl Principal {
    /// What the principal may do on `collection` for `operation`: system
    /// administrators everything; otherwise the global EOSC roles (grants on
    /// the system scope) combined by upstream's precedence; nothing granted
    /// is [`Access::Never`].
    #[must_use]
    pub fn eosc_collection(&self, collection: EoscCollection, operation: EoscOperation) -> Access {
        if self.is_system_admin() {
            return Access::Always;
        }
        self.grants
            .iter()
            .filter(|g| g.scope == Scope::System)
            .filter_map(|g| match g.role {
                Role::Eosc(role) => role.collection_access(collection, operation),
                _ => None,
            })
            .reduce(Access::combine)
            .unwrap_or(Access::Never)
    }
}

// --- end of the EOSC collection permissions --------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(grants: &[(Role, Scope, Option<i64>)]) -> Principal {
        Principal {
            user_id: Some(1),
            name: "u".to_owned(),
            grants: grants
                .iter()
                .map(|&(role, scope, project_id)| Grant {
                    role,
                    scope,
                    project_id,
                })
                .collect(),
        }
    }

    #[test]
    fn heappe_containment_is_upstreams() {
        use HeappeRole::*;
        let all = [
            Administrator,
            Maintainer,
            Submitter,
            GroupReporter,
            Reporter,
            ManagementAdmin,
            Manager,
        ];
        let contained = |role: HeappeRole| -> Vec<HeappeRole> {
            all.into_iter().filter(|o| role.contains(*o)).collect()
        };
        assert_eq!(contained(Administrator), all);
        assert_eq!(
            contained(Maintainer),
            [
                Maintainer,
                Submitter,
                GroupReporter,
                Reporter,
                ManagementAdmin,
                Manager
            ]
        );
        assert_eq!(
            contained(Manager),
            [Submitter, GroupReporter, Reporter, Manager]
        );
        assert_eq!(contained(Submitter), [Submitter, GroupReporter, Reporter]);
        assert_eq!(contained(GroupReporter), [GroupReporter, Reporter]);
        assert_eq!(contained(Reporter), [Reporter]);
        assert_eq!(contained(ManagementAdmin), [ManagementAdmin]);
    }

    #[test]
    fn reporting_scope_is_per_project() {
        let p = principal(&[
            (
                Role::Heappe(HeappeRole::Reporter),
                Scope::UserGroup(10),
                Some(1),
            ),
            (
                Role::Heappe(HeappeRole::Submitter),
                Scope::UserGroup(20),
                Some(2),
            ),
            (
                Role::Eosc(EoscRole::ProjectReader),
                Scope::Project(3),
                Some(3),
            ),
        ]);
        assert_eq!(
            p.heappe_projects(HeappeRole::Reporter),
            ProjectScope::Only([1, 2].into())
        );
        assert_eq!(
            p.heappe_projects(HeappeRole::GroupReporter),
            ProjectScope::Only([2].into())
        );
        assert_eq!(
            p.heappe_projects(HeappeRole::Manager),
            ProjectScope::Only([].into())
        );
        assert!(!p.has_heappe_role(HeappeRole::Manager));
        assert_eq!(p.visible_projects(), ProjectScope::Only([1, 2, 3].into()));
        assert!(!p.is_system_admin());
    }

    #[test]
    fn administrators_see_everything() {
        let admin = principal(&[(Role::SystemAdmin, Scope::System, None)]);
        assert_eq!(admin.visible_projects(), ProjectScope::All);
        assert_eq!(
            admin.heappe_projects(HeappeRole::Reporter),
            ProjectScope::All
        );
        assert!(ProjectScope::All.contains(42));
        let nobody = principal(&[]);
        assert!(nobody.visible_projects().is_empty());
    }

    #[test]
    fn role_names_round_trip() {
        for (name, role) in ROLE_NAMES {
            assert_eq!(Role::from_name(name), Some(*role));
            assert_eq!(role.name(), *name);
        }
        assert_eq!(Role::from_name("root"), None);
    }

    #[test]
    fn scopes_round_trip_through_rows() {
        for (kind, id) in [
            ("system", 0),
            ("project", 1),
            ("user_group", 2),
            ("project_provider", 3),
            ("installation", 4),
            ("site", 5),
            ("bucket", 6),
        ] {
            assert_eq!(Scope::from_row(kind, id).unwrap().to_row(), (kind, id));
        }
    }
    #[test]
    fn eosc_collection_access_follows_upstreams_roles() {
        use EoscCollection as C;
        use EoscOperation as O;
        let with = |roles: &[EoscRole]| {
            principal(
                &roles
                    .iter()
                    .map(|r| (Role::Eosc(*r), Scope::System, None))
                    .collect::<Vec<_>>(),
            )
        };
        let nobody = principal(&[]);
        assert_eq!(nobody.eosc_collection(C::Provider, O::Read), Access::Never);
        let reader = with(&[EoscRole::CollectionReader]);
        assert_eq!(reader.eosc_collection(C::UnitType, O::Read), Access::Always);
        assert_eq!(
            reader.eosc_collection(C::UnitType, O::Create),
            Access::Never
        );
        let creator = with(&[EoscRole::MetricDefinitionCreator]);
        for (operation, access) in [
            (O::Create, Access::Always),
            (O::Read, Access::Always),
            (O::Update, Access::Entity),
            (O::Delete, Access::Entity),
        ] {
            assert_eq!(
                creator.eosc_collection(C::MetricDefinition, operation),
                access
            );
        }
        assert_eq!(
            creator.eosc_collection(C::Provider, O::Create),
            Access::Never
        );
        // ALWAYS beats ENTITY when roles combine.
        let both = with(&[EoscRole::ProviderCreator, EoscRole::CollectionOwner]);
        assert_eq!(both.eosc_collection(C::Provider, O::Delete), Access::Always);
        assert_eq!(Access::Always.combine(Access::Never), Access::Never);
        assert_eq!(Access::Entity.combine(Access::Entity), Access::Entity);
        // Only global grants count; scoped roles say nothing here.
        let scoped = principal(&[
            (
                Role::Eosc(EoscRole::CollectionOwner),
                Scope::Project(1),
                Some(1),
            ),
            (
                Role::Eosc(EoscRole::ProjectAdmin),
                Scope::Project(1),
                Some(1),
            ),
        ]);
        assert_eq!(
            scoped.eosc_collection(C::MetricType, O::Read),
            Access::Never
        );
        let admin = principal(&[(Role::SystemAdmin, Scope::System, None)]);
        assert_eq!(
            admin.eosc_collection(C::MetricType, O::Delete),
            Access::Always
        );
    }
}
