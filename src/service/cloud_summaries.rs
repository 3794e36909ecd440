//! The counted days of APEL cloud VMs (`cloud_vm_days`) and the daily
//! summaries grouped from them (`cloud_summaries_daily`), recomputed for the
//! VMs a message touched, in the message's transaction (apel.md §A2b).
//!
//! - Per VM and UTC day of the measurement time, the snapshot with the latest
//!   measurement counts; that day's usage is its wall/CPU/network counters
//!   minus those of the VM's previous counted snapshot.
//! - A summary row is the sum of the counted days of its group (APEL's GROUP
//!   BY of `SummariseVMs`). Every group a changed day leaves or joins is
//!   recomputed from `cloud_vm_days`.
//!
//! The work is done for a whole message at once: one read of the VMs'
//! snapshots and counted days, multi-row upserts of the days that change, one
//! grouping query per site and day whose groups change, multi-row upserts of
//! those summary rows. (Done VM by VM and group by group it cost tens of
//! statements per snapshot: `docs/benchmarks.md`.)

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, JoinType, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _,
};

use super::bulk;
use super::rollup::{Deltas, Key};
use super::usage::{USAGE_DAILY, USAGE_HOURLY};
use crate::domain::usage::hour_of;
use crate::entity::{cloud_records, cloud_summaries_daily, cloud_vm_days, vos};
use crate::error::Error;

/// VMs per `IN` list.
const VMS_PER_QUERY: usize = 500;

/// The summary key of a counted day (APEL's GROUP BY of SummariseVMs).
#[derive(Debug, Clone, PartialEq)]
struct SummaryKey {
    day: NaiveDate,
    site_id: i64,
    cloud_service_id: i64,
    global_user_id: i64,
    vo_id: i64,
    vo_group_id: i64,
    vo_role_id: i64,
    status: String,
    cloud_type: String,
    image_id: String,
    cpu_count: f64,
    benchmark_type: String,
    benchmark: f64,
}

impl SummaryKey {
    fn of(day: NaiveDate, r: &cloud_records::Model) -> Self {
        Self {
            day,
            site_id: r.site_id,
            cloud_service_id: r.cloud_service_id,
            global_user_id: r.global_user_id,
            vo_id: r.vo_id,
            vo_group_id: r.vo_group_id,
            vo_role_id: r.vo_role_id,
            status: r.status.clone(),
            cloud_type: r.cloud_type.clone(),
            image_id: r.image_id.clone(),
            cpu_count: r.cpu_count.unwrap_or(0.0),
            benchmark_type: r.benchmark_type.clone(),
            benchmark: r.benchmark,
        }
    }

    fn of_summary(s: &cloud_summaries_daily::Model) -> Self {
        Self {
            day: s.day,
            site_id: s.site_id,
            cloud_service_id: s.cloud_service_id,
            global_user_id: s.global_user_id,
            vo_id: s.vo_id,
            vo_group_id: s.vo_group_id,
            vo_role_id: s.vo_role_id,
            status: s.status.clone(),
            cloud_type: s.cloud_type.clone(),
            image_id: s.image_id.clone(),
            cpu_count: s.cpu_count,
            benchmark_type: s.benchmark_type.clone(),
            benchmark: s.benchmark,
        }
    }

    /// The key as text, to find it in maps: floats compare as SQL does
    /// (`-0.0` is `0.0`).
    fn text(&self) -> String {
        let mut key = self.clone();
        key.cpu_count += 0.0;
        key.benchmark += 0.0;
        format!("{key:?}")
    }
}

/// A counted day as stored: the snapshot that counts and its deltas.
type Counted = (i64, [i64; 4]);

/// What recounting the VMs of a message changes, written together.
#[derive(Default)]
struct Changes {
    /// Counted days to write (insert or replace).
    days: Vec<cloud_vm_days::ActiveModel>,
    /// Counted days that no longer exist: (VM, day).
    gone: Vec<(String, NaiveDate)>,
    /// Summary groups to recompute, by [`SummaryKey::text`].
    touched: BTreeMap<String, SummaryKey>,
    usage_daily: Deltas,
    usage_hourly: Deltas,
}

impl Changes {
    fn touch(&mut self, key: SummaryKey) {
        self.touched.entry(key.text()).or_insert(key);
    }
}

/// Recomputes the counted days and deltas of `vms` from all their snapshots,
/// then every summary and usage row that changes. `replaced` holds, by id,
/// the previous content of snapshots the message replaced.
///
/// # Errors
/// A database error (the caller's transaction then rolls back).
pub(super) async fn recount(
    db: &impl ConnectionTrait,
    vms: &BTreeSet<&str>,
    replaced: &HashMap<i64, cloud_records::Model>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let list: Vec<&str> = vms.iter().copied().collect();
    let mut snapshots: HashMap<String, Vec<cloud_records::Model>> = HashMap::new();
    let mut stored: HashMap<String, BTreeMap<NaiveDate, cloud_vm_days::Model>> = HashMap::new();
    for chunk in list.chunks(VMS_PER_QUERY) {
        let rows = cloud_records::Entity::find()
            .filter(cloud_records::Column::VmUuid.is_in(chunk.iter().copied()))
            .order_by_asc(cloud_records::Column::MeasurementTime)
            .order_by_asc(cloud_records::Column::Id)
            .all(db)
            .await?;
        for row in rows {
            snapshots.entry(row.vm_uuid.clone()).or_default().push(row);
        }
        let days = cloud_vm_days::Entity::find()
            .filter(cloud_vm_days::Column::VmUuid.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for day in days {
            stored
                .entry(day.vm_uuid.clone())
                .or_default()
                .insert(day.day, day);
        }
    }
    let mut changes = Changes::default();
    for vm in vms {
        let snapshots = snapshots.get(*vm).map_or(&[][..], Vec::as_slice);
        let stored = stored.remove(*vm).unwrap_or_default();
        recount_vm(db, vm, snapshots, &stored, replaced, &mut changes).await?;
    }
    for (vm, day) in &changes.gone {
        cloud_vm_days::Entity::delete_many()
            .filter(cloud_vm_days::Column::VmUuid.eq(vm.as_str()))
            .filter(cloud_vm_days::Column::Day.eq(*day))
            .exec(db)
            .await?;
    }
    bulk::upsert(
        db,
        std::mem::take(&mut changes.days),
        &OnConflict::columns([cloud_vm_days::Column::VmUuid, cloud_vm_days::Column::Day])
            .update_columns([
                cloud_vm_days::Column::RecordId,
                cloud_vm_days::Column::WallDelta,
                cloud_vm_days::Column::CpuDelta,
                cloud_vm_days::Column::NetworkInboundDelta,
                cloud_vm_days::Column::NetworkOutboundDelta,
            ])
            .to_owned(),
    )
    .await?;
    resummarise(db, changes.touched.into_values().collect(), now).await?;
    changes.usage_daily.apply(db, &USAGE_DAILY, now).await?;
    changes.usage_hourly.apply(db, &USAGE_HOURLY, now).await
}

/// Recounts one VM from its `snapshots` (in measurement order) against its
/// `stored` counted days, into `changes`.
async fn recount_vm(
    db: &impl ConnectionTrait,
    vm: &str,
    snapshots: &[cloud_records::Model],
    stored: &BTreeMap<NaiveDate, cloud_vm_days::Model>,
    replaced: &HashMap<i64, cloud_records::Model>,
    changes: &mut Changes,
) -> Result<(), Error> {
    let records: HashMap<i64, &cloud_records::Model> =
        snapshots.iter().map(|r| (r.id, r)).collect();
    // The last snapshot of each day, in day order.
    let mut kept: BTreeMap<NaiveDate, &cloud_records::Model> = BTreeMap::new();
    for snapshot in snapshots {
        kept.insert(snapshot.measurement_day, snapshot);
    }
    let counter = |r: Option<&cloud_records::Model>| -> [i64; 4] {
        r.map_or([0; 4], |r| {
            [
                r.wall_duration,
                r.cpu_duration.unwrap_or(0),
                r.network_inbound.unwrap_or(0),
                r.network_outbound.unwrap_or(0),
            ]
        })
    };
    let mut wanted: BTreeMap<NaiveDate, Counted> = BTreeMap::new();
    let mut previous: Option<&cloud_records::Model> = None;
    for (day, record) in &kept {
        let (now_counters, before) = (counter(Some(record)), counter(previous));
        let delta = [0, 1, 2, 3].map(|i| now_counters[i].saturating_sub(before[i]));
        wanted.insert(*day, (record.id, delta));
        previous = Some(record);
    }

    let days: BTreeSet<NaiveDate> = wanted.keys().chain(stored.keys()).copied().collect();
    for day in days {
        let old = stored.get(&day);
        let new = wanted.get(&day);
        let old_view: Option<Counted> = old.map(|o| {
            (
                o.record_id,
                [
                    o.wall_delta,
                    o.cpu_delta,
                    o.network_inbound_delta,
                    o.network_outbound_delta,
                ],
            )
        });
        let content_changed = old.is_some_and(|o| replaced.contains_key(&o.record_id));
        if old_view.as_ref() == new && !content_changed {
            continue;
        }
        // The old contribution leaves, the new one arrives.
        if let Some(old) = old {
            let before = match replaced
                .get(&old.record_id)
                .or_else(|| records.get(&old.record_id).copied())
            {
                Some(record) => Some(record.clone()),
                // Not one of the VM's snapshots any more (cannot happen while
                // records are only replaced in place; read it to be sure).
                None => {
                    cloud_records::Entity::find_by_id(old.record_id)
                        .one(db)
                        .await?
                }
            };
            if let Some(record) = before {
                changes.touch(SummaryKey::of(day, &record));
                usage(changes, day, &record, [old.wall_delta, old.cpu_delta], -1);
            }
        }
        match new {
            Some((record_id, delta)) => {
                if let Some(record) = records.get(record_id) {
                    changes.touch(SummaryKey::of(day, record));
                    usage(changes, day, record, [delta[0], delta[1]], 1);
                }
                changes.days.push(cloud_vm_days::ActiveModel {
                    vm_uuid: Set(vm.to_owned()),
                    day: Set(day),
                    record_id: Set(*record_id),
                    wall_delta: Set(delta[0]),
                    cpu_delta: Set(delta[1]),
                    network_inbound_delta: Set(delta[2]),
                    network_outbound_delta: Set(delta[3]),
                    ..Default::default()
                });
            }
            None => changes.gone.push((vm.to_owned(), day)),
        }
    }
    Ok(())
}

/// Adds (`sign` 1) or removes (-1) a counted day's usage in the cross-source
/// tables, when the record's VO belongs to a project.
fn usage(
    changes: &mut Changes,
    day: NaiveDate,
    record: &cloud_records::Model,
    amounts: [i64; 2],
    sign: i64,
) {
    let Some(project) = record.project_id else {
        return;
    };
    for (unit, amount) in [("vm_second", amounts[0]), ("cpu_second", amounts[1])] {
        let key = |bucket: sea_orm::Value| {
            Key(vec![
                project.into(),
                "cloud".into(),
                "site".into(),
                record.site_id.into(),
                0_i64.into(),
                0_i64.into(),
                unit.into(),
                0_i16.into(),
                bucket,
            ])
        };
        changes
            .usage_daily
            .add(key(day.into()), &[sign * amount, sign]);
        changes.usage_hourly.add(
            key(hour_of(record.measurement_time).into()),
            &[sign * amount, sign],
        );
    }
}

/// The sums of one summary group.
struct Sums {
    earliest: DateTime<Utc>,
    latest: DateTime<Utc>,
    vms: i64,
    /// wall, cpu, network in, network out, public IPs, memory, disk.
    amounts: [i64; 7],
}

/// The summary columns summed from counted days, and their aliases.
const SUMMED: [(&str, &str); 7] = [
    ("d.wall_delta", "wall"),
    ("d.cpu_delta", "cpu"),
    ("d.network_inbound_delta", "net_in"),
    ("d.network_outbound_delta", "net_out"),
    ("r.public_ip_count", "public_ips"),
    ("r.memory", "memory"),
    ("r.disk", "disk"),
];

/// Every summary group of `site` on `day`, computed from the counted days.
///
/// A counted day's snapshot always has that day as its measurement day (a
/// replaced snapshot keeps its key, hence its measurement time), so the
/// query can find the day's snapshots by the `(site_id, measurement_day)`
/// index and join their counted days.
async fn groups_of(
    db: &impl ConnectionTrait,
    site: i64,
    day: NaiveDate,
) -> Result<HashMap<String, Sums>, Error> {
    let (d, r) = (Alias::new("d"), Alias::new("r"));
    let cpu_count = "COALESCE(r.cpu_count, 0.0)";
    let grouped = [
        "cloud_service_id",
        "global_user_id",
        "vo_id",
        "vo_group_id",
        "vo_role_id",
        "status",
        "cloud_type",
        "image_id",
        "benchmark_type",
        "benchmark",
    ];
    let mut select = Query::select();
    select
        .from_as("cloud_records", r.clone())
        .join_as(
            JoinType::InnerJoin,
            "cloud_vm_days",
            d.clone(),
            Expr::col((d.clone(), Alias::new("record_id"))).equals((r.clone(), Alias::new("id"))),
        )
        .columns(grouped.map(|c| (r.clone(), Alias::new(c))))
        .expr_as(Expr::cust(cpu_count), "cpu_count")
        .expr_as(Expr::cust("MIN(r.start_time)"), "earliest")
        .expr_as(Expr::cust("MAX(r.start_time)"), "latest")
        .expr_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "vms")
        .and_where(Expr::col((r.clone(), Alias::new("site_id"))).eq(site))
        .and_where(Expr::col((r.clone(), Alias::new("measurement_day"))).eq(day))
        .and_where(Expr::col((d, Alias::new("day"))).eq(day))
        .group_by_columns(grouped.map(|c| (r.clone(), Alias::new(c))))
        .add_group_by([Expr::cust(cpu_count)]);
    // Integer sums (PostgreSQL's SUM(bigint) is numeric).
    for (column, alias) in SUMMED {
        select.expr_as(
            Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)")),
            alias,
        );
    }
    let mut groups = HashMap::new();
    for row in db.query_all(&select).await? {
        let key = SummaryKey {
            day,
            site_id: site,
            cloud_service_id: row.try_get("", "cloud_service_id")?,
            global_user_id: row.try_get("", "global_user_id")?,
            vo_id: row.try_get("", "vo_id")?,
            vo_group_id: row.try_get("", "vo_group_id")?,
            vo_role_id: row.try_get("", "vo_role_id")?,
            status: row.try_get("", "status")?,
            cloud_type: row.try_get("", "cloud_type")?,
            image_id: row.try_get("", "image_id")?,
            cpu_count: row.try_get("", "cpu_count")?,
            benchmark_type: row.try_get("", "benchmark_type")?,
            benchmark: row.try_get("", "benchmark")?,
        };
        let mut amounts = [0; 7];
        for (amount, (_, alias)) in amounts.iter_mut().zip(SUMMED) {
            *amount = row.try_get("", alias)?;
        }
        groups.insert(
            key.text(),
            Sums {
                earliest: row.try_get("", "earliest")?,
                latest: row.try_get("", "latest")?,
                vms: row.try_get("", "vms")?,
                amounts,
            },
        );
    }
    Ok(groups)
}

/// Recomputes the summary rows of `touched` groups from the counted days:
/// writes the groups that have counted days, deletes the ones left empty.
async fn resummarise(
    db: &impl ConnectionTrait,
    touched: Vec<SummaryKey>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut by_site_day: BTreeMap<(i64, NaiveDate), Vec<SummaryKey>> = BTreeMap::new();
    for key in touched {
        by_site_day
            .entry((key.site_id, key.day))
            .or_default()
            .push(key);
    }
    let vo_ids: BTreeSet<i64> = by_site_day.values().flatten().map(|k| k.vo_id).collect();
    let vo_projects: HashMap<i64, Option<i64>> = vos::Entity::find()
        .filter(vos::Column::Id.is_in(vo_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|vo| (vo.id, vo.project_id))
        .collect();
    let mut rows = Vec::new();
    let mut gone = Vec::new();
    for ((site, day), keys) in by_site_day {
        let groups = groups_of(db, site, day).await?;
        let mut stored: Option<HashMap<String, i64>> = None;
        for key in keys {
            let Some(sums) = groups.get(&key.text()) else {
                // The group is empty now: its row, if any, goes.
                if stored.is_none() {
                    stored = Some(
                        cloud_summaries_daily::Entity::find()
                            .filter(cloud_summaries_daily::Column::SiteId.eq(site))
                            .filter(cloud_summaries_daily::Column::Day.eq(day))
                            .all(db)
                            .await?
                            .iter()
                            .map(|s| (SummaryKey::of_summary(s).text(), s.id))
                            .collect(),
                    );
                }
                if let Some(id) = stored.as_ref().and_then(|s| s.get(&key.text())) {
                    gone.push(*id);
                }
                continue;
            };
            let [wall, cpu, net_in, net_out, public_ips, memory, disk] = sums.amounts;
            rows.push(cloud_summaries_daily::ActiveModel {
                site_id: Set(key.site_id),
                cloud_service_id: Set(key.cloud_service_id),
                day: Set(key.day),
                global_user_id: Set(key.global_user_id),
                vo_id: Set(key.vo_id),
                vo_group_id: Set(key.vo_group_id),
                vo_role_id: Set(key.vo_role_id),
                project_id: Set(vo_projects.get(&key.vo_id).copied().flatten()),
                status: Set(key.status),
                cloud_type: Set(key.cloud_type),
                image_id: Set(key.image_id),
                cpu_count: Set(key.cpu_count),
                benchmark_type: Set(key.benchmark_type),
                benchmark: Set(key.benchmark),
                earliest_start_time: Set(sums.earliest),
                latest_start_time: Set(sums.latest),
                wall_duration: Set(wall),
                cpu_duration: Set(cpu),
                network_inbound: Set(net_in),
                network_outbound: Set(net_out),
                public_ip_count: Set(public_ips),
                memory: Set(memory),
                disk: Set(disk),
                number_of_vms: Set(sums.vms),
                updated_at: Set(now),
                ..Default::default()
            });
        }
    }
    for ids in gone.chunks(500) {
        cloud_summaries_daily::Entity::delete_many()
            .filter(cloud_summaries_daily::Column::Id.is_in(ids.iter().copied()))
            .exec(db)
            .await?;
    }
    use cloud_summaries_daily::Column as C;
    bulk::upsert(
        db,
        rows,
        &OnConflict::columns([
            C::SiteId,
            C::CloudServiceId,
            C::Day,
            C::GlobalUserId,
            C::VoId,
            C::VoGroupId,
            C::VoRoleId,
            C::Status,
            C::CloudType,
            C::ImageId,
            C::CpuCount,
            C::BenchmarkType,
            C::Benchmark,
        ])
        .update_columns([
            C::ProjectId,
            C::EarliestStartTime,
            C::LatestStartTime,
            C::WallDuration,
            C::CpuDuration,
            C::NetworkInbound,
            C::NetworkOutbound,
            C::PublicIpCount,
            C::Memory,
            C::Disk,
            C::NumberOfVms,
            C::UpdatedAt,
        ])
        .to_owned(),
    )
    .await
}
