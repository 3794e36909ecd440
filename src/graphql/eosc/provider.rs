//! EOSC providers and the catalogue resources installations deploy.

use async_graphql::{Context, ID, Object};

use super::installation::{
    Installation, InstallationFilter, InstallationOrder, installations_spec,
};
use crate::entity::{eosc_resources, installations, providers};
use crate::graphql::filter::ScalarFilter;
use crate::graphql::hpc::scope;
use crate::graphql::id::GlobalId;
use crate::graphql::list::{ListArgs, list_inputs};
use crate::graphql::loader::{Conn, connection};
use crate::graphql::page::{Kind, SortKey};
use crate::service::read::lists;

list_inputs! {
    /// Which providers a list keeps; all given conditions must hold.
    filter ProviderFilter {
        /// The id EOSC shows.
        external_id: ScalarFilter<String> => "external_id",
        /// Its name.
        name: ScalarFilter<String> => "name",
        /// Its abbreviation.
        abbreviation: ScalarFilter<String> => "abbreviation",
        /// Whether it was pulled from the EOSC portal.
        from_portal: bool => "from_portal",
    }
    /// What providers can be sorted by.
    order ProviderOrderField {
        /// The id EOSC shows.
        ExternalId => SortKey::asc("external_id", Kind::Text),
        /// Its name.
        Name => SortKey::asc("name", Kind::Text),
        /// When it was registered.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of a provider list; ties are broken by id.
    key ProviderOrder
}

/// An EOSC catalogue resource (a service or data source) installations deploy.
pub(crate) struct EoscResource(pub(crate) eosc_resources::Model);

/// An EOSC catalogue resource (a service or data source) installations deploy.
#[Object]
impl EoscResource {
    /// Its id in the EOSC catalogue.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }
}

/// An EOSC provider: an organisation operating installations.
pub(crate) struct Provider(pub(crate) providers::Model);

/// An EOSC provider: an organisation operating installations.
#[Object]
impl Provider {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Provider", self.0.id)
    }

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }

    /// The id EOSC shows, e.g. `grnet`.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Its abbreviation.
    async fn abbreviation(&self) -> Option<&str> {
        self.0.abbreviation.as_deref()
    }

    /// Its website.
    async fn website(&self) -> Option<&str> {
        self.0.website.as_deref()
    }

    /// URL of its logo.
    async fn logo(&self) -> Option<&str> {
        self.0.logo.as_deref()
    }

    /// Whether it was pulled from the EOSC portal.
    async fn from_portal(&self) -> bool {
        self.0.from_portal
    }

    /// Its installations (only the projects the caller may see); by name
    /// unless `orderBy` says otherwise.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn installations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the installations meet (all must hold).")] filter: Option<
            InstallationFilter,
        >,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<InstallationOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Installation>> {
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let base = lists::installations(scope(ctx)?, installations::Column::ProviderId);
        let spec = installations_spec("Provider.installations", base, &args)?;
        connection(ctx, spec, (self.0.id, 0), Installation).await
    }
}
