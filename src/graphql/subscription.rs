//! The subscription root: live usage and recomputation progress, from the
//! event bus ([`crate::service::events`]), for the projects the caller may see.

use std::sync::Arc;

use async_graphql::futures_util::stream::{self, Stream};
use async_graphql::{Context, ErrorExtensions as _, ID, Object, Subscription};
use chrono::NaiveDate;
use tokio::sync::broadcast::{self, error::RecvError};

use super::context::ContextExt as _;
use super::id::GlobalId;
use crate::auth::ProjectScope;
use crate::error::Error;
use crate::service::events::{Event, RecomputationProgress, UsageChange};

/// Every subscription Tally serves, over `graphql-transport-ws` at
/// `/graphql/ws`.
#[derive(Default)]
pub struct SubscriptionRoot;

/// Every subscription Tally serves, over `graphql-transport-ws` at
/// `/graphql/ws`.
#[Subscription]
impl SubscriptionRoot {
    /// Usage as it is ingested: one item per project, source, resource, unit
    /// and UTC day that a committed batch (or a recomputation) changed, with
    /// the change. Items of every Tally instance arrive here, within a second
    /// of the commit. Only projects the caller may see; `projects` narrows
    /// that further. Requires authentication.
    async fn usage_ingested(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only these projects (global ids); all visible ones when absent.")]
        projects: Option<Vec<ID>>,
    ) -> async_graphql::Result<impl Stream<Item = UsageIngested> + use<>> {
        let filter = Filter::new(ctx, projects)?;
        let receiver = ctx.request()?.state.events.subscribe();
        Ok(events(receiver, move |event| match event {
            Event::Usage(change) if filter.admits(change.project_id) => {
                Some(UsageIngested(change.clone()))
            }
            _ => None,
        }))
    }

    /// Progress of usage recomputations: an item when a run is claimed, after
    /// every chunk of tasks, and when it finishes or fails. Only projects the
    /// caller may see; `run` or `projects` narrow that further. Requires
    /// authentication.
    async fn recomputation_progress(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this run (global id of a `RecomputationRun`).")] run: Option<ID>,
        #[graphql(desc = "Only these projects (global ids).")] projects: Option<Vec<ID>>,
    ) -> async_graphql::Result<impl Stream<Item = RecomputationUpdate> + use<>> {
        let filter = Filter::new(ctx, projects)?;
        let run = match run {
            Some(id) => Some(GlobalId::id_of(&id, RUN_KIND).ok_or_else(|| {
                Error::BadRequest("run is not a RecomputationRun id".to_owned()).extend()
            })?),
            None => None,
        };
        let receiver = ctx.request()?.state.events.subscribe();
        Ok(events(receiver, move |event| match event {
            Event::Recomputation(progress)
                if filter.admits(progress.project_id)
                    && run.is_none_or(|r| r == progress.run_id) =>
            {
                Some(RecomputationUpdate(progress.clone()))
            }
            _ => None,
        }))
    }
}

/// The global-id type name of a recomputation run.
pub(crate) const RUN_KIND: &str = "RecomputationRun";

/// Which projects' events a subscriber receives: those it may see, narrowed to
/// those it asked for.
struct Filter {
    visible: ProjectScope,
    asked: Option<Vec<i64>>,
}

impl Filter {
    fn new(ctx: &Context<'_>, projects: Option<Vec<ID>>) -> async_graphql::Result<Self> {
        let visible = ctx.principal()?.visible_projects();
        let asked = match projects {
            Some(ids) => Some(
                ids.iter()
                    .map(|id| {
                        GlobalId::id_of(id, "Project").ok_or_else(|| {
                            Error::BadRequest(format!("{} is not a project id", id.as_str()))
                                .extend()
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        Ok(Self { visible, asked })
    }

    fn admits(&self, project_id: i64) -> bool {
        self.visible.contains(project_id)
            && self
                .asked
                .as_ref()
                .is_none_or(|asked| asked.contains(&project_id))
    }
}

/// The events of `receiver` that `pick` turns into items. A subscriber that
/// fell behind skips what it missed and goes on.
fn events<T>(
    receiver: broadcast::Receiver<Arc<Event>>,
    pick: impl Fn(&Event) -> Option<T> + Send + Sync + 'static,
) -> impl Stream<Item = T> {
    stream::unfold((receiver, pick), |(mut receiver, pick)| async move {
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    if let Some(item) = pick(&event) {
                        return Some((item, (receiver, pick)));
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a subscriber fell behind and missed events");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// A committed change of a project's usage of one resource, in one unit, on
/// one UTC day. A correction that lowers usage is a negative change.
pub(crate) struct UsageIngested(UsageChange);

/// A committed change of a project's usage of one resource, in one unit, on
/// one UTC day. A correction that lowers usage is a negative change.
#[Object]
impl UsageIngested {
    /// The project (global id of a `Project`).
    async fn project(&self) -> ID {
        GlobalId::encode("Project", self.0.project_id)
    }

    /// Where the usage comes from: `hpc`, `cloud`, `eosc` or `storage`.
    async fn source(&self) -> &str {
        &self.0.source
    }

    /// What was used: `node_type`, `site`, `installation` or `bucket`.
    async fn resource_kind(&self) -> &str {
        &self.0.resource_kind
    }

    /// The resource: the global id of a `NodeType`, `Site`, `Installation` or
    /// `Bucket`.
    async fn resource(&self) -> ID {
        let kind = match self.0.resource_kind.as_str() {
            "node_type" => "NodeType",
            "site" => "Site",
            "installation" => "Installation",
            "bucket" => "Bucket",
            other => other,
        };
        GlobalId::encode(kind, self.0.resource_id)
    }

    /// The unit of `amount`, e.g. `node_hour`, `core_hour`, `byte_hour`, or a
    /// metric definition's unit.
    async fn unit(&self) -> &str {
        &self.0.unit
    }

    /// The UTC day the usage is accounted to.
    async fn day(&self) -> NaiveDate {
        self.0.day
    }

    /// The change of the usage, in `unit`.
    async fn amount(&self) -> f64 {
        self.0.amount()
    }

    /// The change of the number of records behind the usage (tasks, VM days,
    /// metrics, hourly samples).
    async fn records(&self) -> i64 {
        self.0.records
    }
}

/// Where a usage recomputation run stands.
pub(crate) struct RecomputationUpdate(RecomputationProgress);

/// Where a usage recomputation run stands.
#[Object]
impl RecomputationUpdate {
    /// The run (global id of a `RecomputationRun`).
    async fn run(&self) -> ID {
        GlobalId::encode(RUN_KIND, self.0.run_id)
    }

    /// Its project (global id of a `Project`).
    async fn project(&self) -> ID {
        GlobalId::encode("Project", self.0.project_id)
    }

    /// `running`, `finished` or `failed`.
    async fn state(&self) -> &str {
        &self.0.state
    }

    /// Tasks recomputed so far.
    async fn tasks_done(&self) -> i64 {
        self.0.tasks_done
    }

    /// Tasks the run covers (may grow while it runs, as tasks are ingested).
    async fn tasks_total(&self) -> i64 {
        self.0.tasks_total
    }
}
