//! The outbox: the events one ingestion transaction records while
//! [`super::EventBus::write`] runs it, usage changes summed per project,
//! source, resource, unit and UTC day.

use std::cell::RefCell;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::Value;

use super::{Event, UsageChange};
use crate::error::Error;
use crate::service::rollup::{Key, Rollup};
use crate::service::usage::USAGE_DAILY;

/// The events one transaction recorded.
#[derive(Default)]
struct Outbox {
    /// Usage changes by project, source, resource, unit, scale and day:
    /// (quantity, records), summed.
    usage: BTreeMap<UsageKey, (i64, i64)>,
    /// Other events, in the order recorded.
    other: Vec<Event>,
}

/// What a usage event is about (everything of [`UsageChange`] but the sums).
type UsageKey = (i64, String, String, i64, String, i16, NaiveDate);

impl Outbox {
    fn add(&mut self, event: Event) {
        match event {
            Event::Usage(change) => {
                let key = (
                    change.project_id,
                    change.source,
                    change.resource_kind,
                    change.resource_id,
                    change.unit,
                    change.scale,
                    change.day,
                );
                let sums = self.usage.entry(key).or_default();
                sums.0 = sums.0.saturating_add(change.quantity);
                sums.1 = sums.1.saturating_add(change.records);
            }
            other => self.other.push(other),
        }
    }

    /// The usage changes that did not cancel out (by project, source,
    /// resource, unit, day), then the other events.
    fn into_events(self) -> Vec<Event> {
        let usage = self
            .usage
            .into_iter()
            .filter(|(_, sums)| *sums != (0, 0))
            .map(
                |((project_id, source, resource_kind, resource_id, unit, scale, day), sums)| {
                    Event::Usage(UsageChange {
                        project_id,
                        source,
                        resource_kind,
                        resource_id,
                        unit,
                        scale,
                        day,
                        quantity: sums.0,
                        records: sums.1,
                    })
                },
            );
        usage.chain(self.other).collect()
    }
}

tokio::task_local! {
    static OUTBOX: RefCell<Outbox>;
}

/// Runs `work` with an outbox, and returns what it recorded with its output.
pub(super) async fn collect<F: Future>(work: F) -> (F::Output, Vec<Event>) {
    OUTBOX
        .scope(RefCell::new(Outbox::default()), async {
            let output = work.await;
            let events = OUTBOX.with(RefCell::take).into_events();
            (output, events)
        })
        .await
}

/// Records `event`, to be published when the transaction that
/// [`super::EventBus::write`] runs commits.
///
/// # Errors
/// [`Error::Internal`] outside [`super::EventBus::write`]: the event would be lost.
pub(crate) fn record(event: Event) -> Result<(), Error> {
    OUTBOX
        .try_with(|outbox| outbox.borrow_mut().add(event))
        .map_err(|_| outside())
}

/// The error of usage written where no subscriber would hear of it.
fn outside() -> Error {
    Error::internal(&"an event was recorded outside EventBus::write: it would never be published")
}

/// Records the rows `rollup` is about to change, when it is the cross-source
/// daily rollup (called by [`crate::service::rollup::Deltas::apply`]).
///
/// # Errors
/// [`Error::Internal`] outside [`super::EventBus::write`].
pub(crate) fn record_rollup<'a>(
    rollup: &Rollup,
    rows: impl Iterator<Item = (&'a Key, &'a [i64])>,
) -> Result<(), Error> {
    if rollup.table != USAGE_DAILY.table {
        return Ok(());
    }
    for (key, sums) in rows {
        if let Some(change) = usage_change(key, sums) {
            record(Event::Usage(change))?;
        }
    }
    Ok(())
}

/// Reads a key and deltas of [`USAGE_DAILY`] (columns found by name).
fn usage_change(key: &Key, sums: &[i64]) -> Option<UsageChange> {
    let at = |name: &str| {
        USAGE_DAILY
            .keys
            .iter()
            .position(|k| *k == name)
            .and_then(|i| key.0.get(i))
    };
    let sum = |name: &str| {
        USAGE_DAILY
            .sums
            .iter()
            .position(|k| *k == name)
            .and_then(|i| sums.get(i).copied())
    };
    let int = |name: &str| match at(name)? {
        Value::BigInt(Some(v)) => Some(*v),
        Value::Int(Some(v)) => Some(i64::from(*v)),
        Value::SmallInt(Some(v)) => Some(i64::from(*v)),
        _ => None,
    };
    let text = |name: &str| match at(name)? {
        Value::String(Some(v)) => Some(v.clone()),
        _ => None,
    };
    let day = match at("day")? {
        Value::ChronoDate(Some(day)) => *day,
        _ => return None,
    };
    Some(UsageChange {
        project_id: int("project_id")?,
        source: text("source")?,
        resource_kind: text("resource_kind")?,
        resource_id: int("resource_id")?,
        unit: text("unit")?,
        scale: i16::try_from(int("scale")?).ok()?,
        day,
        quantity: sum("quantity")?,
        records: sum("record_count")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::events::RecomputationProgress;

    fn change(project_id: i64) -> Event {
        Event::Usage(UsageChange {
            project_id,
            source: "hpc".to_owned(),
            resource_kind: "node_type".to_owned(),
            resource_id: 7,
            unit: "node_hour".to_owned(),
            scale: 3,
            day: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default(),
            quantity: 12_345,
            records: 1,
        })
    }

    #[tokio::test]
    async fn events_are_recorded_only_inside_an_outbox() {
        assert!(record(change(1)).is_err());
        let (recorded, events) = collect(async { record(change(2)) }).await;
        assert!(recorded.is_ok());
        assert_eq!(events, vec![change(2)]);
    }

    #[tokio::test]
    async fn an_outbox_sums_changes_per_project_resource_unit_and_day() {
        let with = |project_id: i64, day: u32, quantity: i64, records: i64| {
            Event::Usage(UsageChange {
                project_id,
                day: NaiveDate::from_ymd_opt(2026, 3, day).unwrap_or_default(),
                quantity,
                records,
                ..match change(0) {
                    Event::Usage(change) => change,
                    Event::Recomputation(_) => unreachable!(),
                }
            })
        };
        let progress = Event::Recomputation(RecomputationProgress {
            run_id: 1,
            project_id: 1,
            state: "running".to_owned(),
            tasks_done: 2,
            tasks_total: 4,
        });
        let ((), events) = collect(async {
            // Three users' rows of one day, one row of another day, and a
            // correction that cancels out.
            for event in [
                with(1, 2, 100, 1),
                progress.clone(),
                with(1, 2, 200, 1),
                with(1, 3, 5, 1),
                with(1, 2, 300, 2),
                with(2, 2, -7, -1),
                with(2, 2, 7, 1),
            ] {
                record(event).unwrap();
            }
        })
        .await;
        assert_eq!(events, vec![with(1, 2, 600, 4), with(1, 3, 5, 1), progress]);
    }
}
