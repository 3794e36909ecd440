//! APEL cloud records: ingestion under APEL's natural key, and the daily
//! summaries maintained on ingest with APEL's semantics (apel.md §A2b).
//!
//! - A record is one cumulative snapshot of a VM, keyed by (VMUUID, StartTime,
//!   SuspendDuration, WallDuration). Re-posting a snapshot with the same key
//!   replaces it (APEL's `REPLACE`): identical content is `unchanged`.
//! - Per VM and UTC day of the measurement time (start + suspend + wall), the
//!   snapshot with the latest measurement counts (`cloud_vm_days`); that day's
//!   usage is its wall/CPU/network counters minus those of the VM's previous
//!   counted snapshot. Memory, disk, CPU count and public IPs are taken as they
//!   are.
//! - `cloud_summaries_daily` rows are sums of `cloud_vm_days` rows grouped like
//!   APEL's `SummariseVMs`. Whenever a snapshot arrives, the VM's counted days
//!   are recomputed and every summary row they touch (before and after) is
//!   recomputed from `cloud_vm_days`, in the same transaction: no cron job.
//! - Usage of VOs mapped to a project also goes to the cross-source tables:
//!   wall seconds (`vm_second`) and CPU seconds (`cpu_second`) per site.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait as _, JoinType, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _,
    QueryFilter as _, QueryOrder as _,
};
use sha2::{Digest as _, Sha256};

use super::rollup::{Deltas, Key};
use super::usage::{USAGE_DAILY, USAGE_HOURLY};
use crate::domain::apel::{ApelError, CloudRecord, parse_message};
use crate::domain::usage::hour_of;
use crate::entity::{apel_messages, cloud_records, cloud_summaries_daily, cloud_vm_days, vos};
use crate::error::Error;

/// What APEL stores for a missing name.
const NONE: &str = "None";

/// Why a message was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// The message does not parse or cannot be loaded (APEL would reject it
    /// whole).
    #[error(transparent)]
    Invalid(#[from] ApelError),
    /// The publisher is bound to another site.
    #[error("this publisher may not publish for site {0:?}")]
    WrongSite(String),
    /// Something unexpected (logged).
    #[error(transparent)]
    Internal(#[from] Error),
}

impl From<sea_orm::DbErr> for CloudError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Internal(error.into())
    }
}

/// What a message changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Loaded {
    /// The stored message's id.
    pub message_id: i64,
    /// Records in the message.
    pub records: usize,
    /// Snapshots that were new.
    pub inserted: usize,
    /// Snapshots that replaced one with the same key and other content.
    pub updated: usize,
    /// Snapshots already stored as they are.
    pub unchanged: usize,
}

/// The ids of `names` in one of APEL's name tables, creating missing ones.
async fn name_ids(
    db: &impl ConnectionTrait,
    table: &'static str,
    names: &BTreeSet<String>,
) -> Result<HashMap<String, i64>, Error> {
    let mut ids = HashMap::new();
    if names.is_empty() {
        return Ok(ids);
    }
    let list: Vec<&String> = names.iter().collect();
    for chunk in list.chunks(500) {
        let mut insert = Query::insert();
        insert.into_table(table).columns(["name"]);
        for name in chunk {
            insert.values_panic([Expr::val((*name).clone())]);
        }
        insert.on_conflict(OnConflict::column("name").do_nothing().to_owned());
        db.execute(&insert).await?;
        let mut select = Query::select();
        select
            .columns(["id", "name"])
            .from(table)
            .and_where(Expr::col("name").is_in(chunk.iter().map(|n| (*n).clone())));
        for row in db.query_all(&select).await? {
            ids.insert(
                row.try_get::<String>("", "name")?,
                row.try_get::<i64>("", "id")?,
            );
        }
    }
    Ok(ids)
}

fn name(value: Option<&String>) -> String {
    value.cloned().unwrap_or_else(|| NONE.to_owned())
}

/// Loads one APEL cloud message from `publisher_dn`, in `db` (a transaction):
/// stores the message, its records, the VMs' counted days and every summary
/// and usage row they touch. `bound_site` restricts the sites the publisher
/// may publish for.
///
/// # Errors
/// [`CloudError::Invalid`] when APEL would reject the message; the caller must
/// then roll back.
pub async fn load_message(
    db: &impl ConnectionTrait,
    body: &str,
    publisher_dn: &str,
    bound_site: Option<i64>,
    empa_id: Option<&str>,
) -> Result<Loaded, CloudError> {
    let message = parse_message(body)?;
    message.check_loadable()?;
    let records = &message.records;

    let mut wanted: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for record in records {
        wanted
            .entry("sites")
            .or_default()
            .insert(record.site_name.clone());
        wanted
            .entry("cloud_services")
            .or_default()
            .insert(name(record.cloud_compute_service.as_ref()));
        wanted
            .entry("global_users")
            .or_default()
            .insert(name(record.global_user_name.as_ref()));
        wanted
            .entry("vos")
            .or_default()
            .insert(name(record.vo.as_ref()));
        wanted
            .entry("vo_groups")
            .or_default()
            .insert(name(record.vo_group.as_ref()));
        wanted
            .entry("vo_roles")
            .or_default()
            .insert(name(record.vo_role.as_ref()));
    }
    let mut ids: HashMap<&'static str, HashMap<String, i64>> = HashMap::new();
    for (table, names) in &wanted {
        ids.insert(table, name_ids(db, table, names).await?);
    }
    let id_of = |table: &str, value: &str| {
        ids.get(table)
            .and_then(|m| m.get(value))
            .copied()
            .unwrap_or(0)
    };
    if let Some(site) = bound_site
        && let Some(other) = records
            .iter()
            .find(|r| id_of("sites", &r.site_name) != site)
    {
        return Err(CloudError::WrongSite(other.site_name.clone()));
    }
    let vo_projects: HashMap<i64, Option<i64>> = vos::Entity::find()
        .filter(
            vos::Column::Id.is_in(
                ids.get("vos")
                    .map(|m| m.values().copied().collect::<Vec<_>>())
                    .unwrap_or_default(),
            ),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|vo| (vo.id, vo.project_id))
        .collect();

    let stored_message = apel_messages::ActiveModel {
        empa_id: Set(empa_id.map(str::to_owned)),
        publisher_dn: Set(publisher_dn.to_owned()),
        record_count: Set(i32::try_from(records.len()).unwrap_or(i32::MAX)),
        body_hash: Set(hex::encode(Sha256::digest(body.as_bytes()))),
        ..Default::default()
    }
    .insert(db)
    .await?;

    let now = Utc::now();
    let mut loaded = Loaded {
        message_id: stored_message.id,
        records: records.len(),
        ..Loaded::default()
    };
    let vms: BTreeSet<&str> = records.iter().map(|r| r.vm_uuid.as_str()).collect();
    let existing = cloud_records::Entity::find()
        .filter(cloud_records::Column::VmUuid.is_in(vms.iter().copied()))
        .all(db)
        .await?;
    let mut by_key: HashMap<(String, DateTime<Utc>, i64, i64), cloud_records::Model> = existing
        .into_iter()
        .map(|r| {
            (
                (
                    r.vm_uuid.clone(),
                    r.start_time,
                    r.suspend_duration,
                    r.wall_duration,
                ),
                r,
            )
        })
        .collect();
    let mut replaced_before: HashMap<i64, cloud_records::Model> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        let at = |e: ApelError| e.with_record(index + 1);
        let start = record.start_time.ok_or_else(|| {
            at(ApelError {
                record: None,
                field: Some("StartTime".into()),
                message: "missing".into(),
            })
        })?;
        let suspend = record.suspend_duration_or_zero();
        let wall = record.effective_wall_duration().map_err(at)?;
        let measurement = record.measurement_time().map_err(at)?;
        let vo_id = id_of("vos", &name(record.vo.as_ref()));
        let row = row_of(
            record,
            start,
            suspend,
            wall,
            measurement,
            &id_of,
            vo_id,
            vo_projects.get(&vo_id).copied().flatten(),
            publisher_dn,
            stored_message.id,
            now,
        );
        let key = (record.vm_uuid.clone(), start, suspend, wall);
        match by_key.get(&key) {
            Some(old) if same_content(old, &row) => loaded.unchanged += 1,
            Some(old) => {
                // Keep the content it replaces: its summary rows must be
                // recomputed without it.
                replaced_before.entry(old.id).or_insert_with(|| old.clone());
                let mut replaced = row.clone();
                replaced.id = Set(old.id);
                replaced.created_at = Set(old.created_at);
                let saved = replaced.update(db).await?;
                by_key.insert(key, saved);
                loaded.updated += 1;
            }
            None => {
                let saved = row.insert(db).await?;
                by_key.insert(key, saved);
                loaded.inserted += 1;
            }
        }
    }
    for vm in vms {
        recount_vm(db, vm, &replaced_before, now).await?;
    }
    Ok(loaded)
}

/// The `cloud_records` row of a parsed record.
#[expect(
    clippy::too_many_arguments,
    reason = "every derived part of one record, assembled in one place"
)]
fn row_of(
    record: &CloudRecord,
    start: DateTime<Utc>,
    suspend: i64,
    wall: i64,
    measurement: DateTime<Utc>,
    id_of: &impl Fn(&str, &str) -> i64,
    vo_id: i64,
    project_id: Option<i64>,
    publisher_dn: &str,
    message_id: i64,
    now: DateTime<Utc>,
) -> cloud_records::ActiveModel {
    cloud_records::ActiveModel {
        vm_uuid: Set(record.vm_uuid.clone()),
        site_id: Set(id_of("sites", &record.site_name)),
        cloud_service_id: Set(id_of(
            "cloud_services",
            &name(record.cloud_compute_service.as_ref()),
        )),
        global_user_id: Set(id_of(
            "global_users",
            &name(record.global_user_name.as_ref()),
        )),
        vo_id: Set(vo_id),
        vo_group_id: Set(id_of("vo_groups", &name(record.vo_group.as_ref()))),
        vo_role_id: Set(id_of("vo_roles", &name(record.vo_role.as_ref()))),
        project_id: Set(project_id),
        machine_name: Set(record.machine_name.clone()),
        local_user_id: Set(record.local_user_id.clone()),
        local_group_id: Set(record.local_group_id.clone()),
        fqan: Set(record.fqan.clone()),
        status: Set(name(record.status.as_ref())),
        start_time: Set(start),
        end_time: Set(record.end_time),
        suspend_duration: Set(suspend),
        wall_duration: Set(wall),
        cpu_duration: Set(record.cpu_duration),
        cpu_count: Set(record.cpu_count),
        network_type: Set(record.network_type.clone()),
        network_inbound: Set(record.network_inbound),
        network_outbound: Set(record.network_outbound),
        public_ip_count: Set(record.public_ip_count),
        memory: Set(record.memory),
        disk: Set(record.disk),
        storage_record_id: Set(record.storage_record_id.clone()),
        image_id: Set(name(record.image_id.as_ref())),
        cloud_type: Set(name(record.cloud_type.as_ref())),
        benchmark_type: Set(name(record.benchmark_type.as_ref())),
        benchmark: Set(record.benchmark.unwrap_or(0.0)),
        record_create_time: Set(record.record_create_time),
        measurement_time: Set(measurement),
        measurement_day: Set(measurement.date_naive()),
        publisher_dn: Set(Some(publisher_dn.to_owned())),
        message_id: Set(Some(message_id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Whether a stored record already holds what `row` would write (ignoring
/// bookkeeping: who sent it last, in which message, when).
fn same_content(old: &cloud_records::Model, row: &cloud_records::ActiveModel) -> bool {
    let mut row = row.clone();
    row.id = Set(old.id);
    row.publisher_dn = Set(old.publisher_dn.clone());
    row.message_id = Set(old.message_id);
    row.created_at = Set(old.created_at);
    row.updated_at = Set(old.updated_at);
    sea_orm::TryIntoModel::try_into_model(row).is_ok_and(|new| new == *old)
}

/// The summary key of a counted day (APEL's GROUP BY of SummariseVMs).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
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
    /// The key's columns (all but the day) equal on `table`, whose CPU count
    /// is read through `cpu_count` (records may hold NULL, summaries 0).
    fn condition(&self, table: Alias, cpu_count: Expr) -> Condition {
        let column = |name: &str| Expr::col((table.clone(), Alias::new(name)));
        Condition::all()
            .add(column("site_id").eq(self.site_id))
            .add(column("cloud_service_id").eq(self.cloud_service_id))
            .add(column("global_user_id").eq(self.global_user_id))
            .add(column("vo_id").eq(self.vo_id))
            .add(column("vo_group_id").eq(self.vo_group_id))
            .add(column("vo_role_id").eq(self.vo_role_id))
            .add(column("status").eq(self.status.clone()))
            .add(column("cloud_type").eq(self.cloud_type.clone()))
            .add(column("image_id").eq(self.image_id.clone()))
            .add(cpu_count.eq(self.cpu_count))
            .add(column("benchmark_type").eq(self.benchmark_type.clone()))
            .add(column("benchmark").eq(self.benchmark))
    }

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
}

/// Recomputes a VM's counted days and deltas from all its snapshots; updates
/// `cloud_vm_days`, the summary rows and usage rows that change. `replaced`
/// holds, by id, the previous content of snapshots this message replaced.
async fn recount_vm(
    db: &impl ConnectionTrait,
    vm: &str,
    replaced: &HashMap<i64, cloud_records::Model>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let snapshots = cloud_records::Entity::find()
        .filter(cloud_records::Column::VmUuid.eq(vm))
        .order_by_asc(cloud_records::Column::MeasurementTime)
        .order_by_asc(cloud_records::Column::Id)
        .all(db)
        .await?;
    let records: HashMap<i64, &cloud_records::Model> =
        snapshots.iter().map(|r| (r.id, r)).collect();
    // The last snapshot of each day, in day order.
    let mut kept: BTreeMap<NaiveDate, &cloud_records::Model> = BTreeMap::new();
    for snapshot in &snapshots {
        kept.insert(snapshot.measurement_day, snapshot);
    }
    let mut wanted: BTreeMap<NaiveDate, (i64, [i64; 4])> = BTreeMap::new();
    let mut previous: Option<&cloud_records::Model> = None;
    for (day, record) in &kept {
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
        let (now_counters, before) = (counter(Some(record)), counter(previous));
        let delta = [0, 1, 2, 3].map(|i| now_counters[i].saturating_sub(before[i]));
        wanted.insert(*day, (record.id, delta));
        previous = Some(record);
    }
    let stored: BTreeMap<NaiveDate, cloud_vm_days::Model> = cloud_vm_days::Entity::find()
        .filter(cloud_vm_days::Column::VmUuid.eq(vm))
        .all(db)
        .await?
        .into_iter()
        .map(|d| (d.day, d))
        .collect();

    let mut touched: Vec<SummaryKey> = Vec::new();
    let (mut usage_daily, mut usage_hourly) = (Deltas::default(), Deltas::default());
    let days: BTreeSet<NaiveDate> = wanted.keys().chain(stored.keys()).copied().collect();
    for day in days {
        let old = stored.get(&day);
        let new = wanted.get(&day);
        let old_view = old.map(|o| {
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
            let before = replaced
                .get(&old.record_id)
                .or_else(|| records.get(&old.record_id).copied());
            if let Some(record) = before {
                touched.push(SummaryKey::of(day, record));
                usage(
                    &mut usage_daily,
                    &mut usage_hourly,
                    day,
                    record,
                    [old.wall_delta, old.cpu_delta],
                    -1,
                );
            } else if let Some(record) = cloud_records::Entity::find_by_id(old.record_id)
                .one(db)
                .await?
            {
                touched.push(SummaryKey::of(day, &record));
                usage(
                    &mut usage_daily,
                    &mut usage_hourly,
                    day,
                    &record,
                    [old.wall_delta, old.cpu_delta],
                    -1,
                );
            }
        }
        match new {
            Some((record_id, delta)) => {
                if let Some(record) = records.get(record_id) {
                    touched.push(SummaryKey::of(day, record));
                    usage(
                        &mut usage_daily,
                        &mut usage_hourly,
                        day,
                        record,
                        [delta[0], delta[1]],
                        1,
                    );
                }
                let row = cloud_vm_days::ActiveModel {
                    vm_uuid: Set(vm.to_owned()),
                    day: Set(day),
                    record_id: Set(*record_id),
                    wall_delta: Set(delta[0]),
                    cpu_delta: Set(delta[1]),
                    network_inbound_delta: Set(delta[2]),
                    network_outbound_delta: Set(delta[3]),
                    ..Default::default()
                };
                cloud_vm_days::Entity::insert(row)
                    .on_conflict(
                        OnConflict::columns([
                            cloud_vm_days::Column::VmUuid,
                            cloud_vm_days::Column::Day,
                        ])
                        .update_columns([
                            cloud_vm_days::Column::RecordId,
                            cloud_vm_days::Column::WallDelta,
                            cloud_vm_days::Column::CpuDelta,
                            cloud_vm_days::Column::NetworkInboundDelta,
                            cloud_vm_days::Column::NetworkOutboundDelta,
                        ])
                        .to_owned(),
                    )
                    .exec_without_returning(db)
                    .await?;
            }
            None => {
                cloud_vm_days::Entity::delete_many()
                    .filter(cloud_vm_days::Column::VmUuid.eq(vm))
                    .filter(cloud_vm_days::Column::Day.eq(day))
                    .exec(db)
                    .await?;
            }
        }
    }
    touched.dedup();
    for key in touched {
        resummarise(db, &key, now).await?;
    }
    usage_daily.apply(db, &USAGE_DAILY, now).await?;
    usage_hourly.apply(db, &USAGE_HOURLY, now).await
}

/// Adds (`sign` 1) or removes (-1) a counted day's usage in the cross-source
/// tables, when the record's VO belongs to a project.
fn usage(
    daily: &mut Deltas,
    hourly: &mut Deltas,
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
        daily.add(key(day.into()), &[sign * amount, sign]);
        hourly.add(
            key(hour_of(record.measurement_time).into()),
            &[sign * amount, sign],
        );
    }
}

/// Recomputes one summary row from the counted days it groups (or deletes it
/// when none is left).
async fn resummarise(
    db: &impl ConnectionTrait,
    key: &SummaryKey,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let d = Alias::new("d");
    let r = Alias::new("r");
    let mut select = Query::select();
    select
        .from_as("cloud_vm_days", d.clone())
        .join_as(
            JoinType::InnerJoin,
            "cloud_records",
            r.clone(),
            Expr::col((r.clone(), Alias::new("id"))).equals((d.clone(), Alias::new("record_id"))),
        )
        .expr_as(Expr::cust("MIN(r.start_time)"), "earliest")
        .expr_as(Expr::cust("MAX(r.start_time)"), "latest")
        .expr_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "vms")
        .and_where(Expr::col((d, Alias::new("day"))).eq(key.day))
        .cond_where(key.condition(r, Expr::cust("COALESCE(r.cpu_count, 0)")));
    // Integer sums (PostgreSQL's SUM(bigint) is numeric; NULL when nothing).
    for (column, alias) in [
        ("d.wall_delta", "wall"),
        ("d.cpu_delta", "cpu"),
        ("d.network_inbound_delta", "net_in"),
        ("d.network_outbound_delta", "net_out"),
        ("r.public_ip_count", "public_ips"),
        ("r.memory", "memory"),
        ("r.disk", "disk"),
    ] {
        select.expr_as(
            Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)")),
            alias,
        );
    }
    let row = db.query_one(&select).await?;
    let vms = match &row {
        Some(row) => row.try_get::<i64>("", "vms")?,
        None => 0,
    };
    let table = Alias::new("cloud_summaries_daily");
    let filter = cloud_summaries_daily::Entity::find()
        .filter(cloud_summaries_daily::Column::Day.eq(key.day))
        .filter(key.condition(table.clone(), Expr::col((table, Alias::new("cpu_count")))));
    let existing = filter.one(db).await?;
    let Some(row) = row.filter(|_| vms > 0) else {
        if let Some(existing) = existing {
            cloud_summaries_daily::Entity::delete_by_id(existing.id)
                .exec(db)
                .await?;
        }
        return Ok(());
    };
    let project_id = vos::Entity::find_by_id(key.vo_id)
        .one(db)
        .await?
        .and_then(|vo| vo.project_id);
    let mut summary = match existing {
        Some(existing) => existing.into(),
        None => cloud_summaries_daily::ActiveModel {
            site_id: Set(key.site_id),
            cloud_service_id: Set(key.cloud_service_id),
            day: Set(key.day),
            global_user_id: Set(key.global_user_id),
            vo_id: Set(key.vo_id),
            vo_group_id: Set(key.vo_group_id),
            vo_role_id: Set(key.vo_role_id),
            status: Set(key.status.clone()),
            cloud_type: Set(key.cloud_type.clone()),
            image_id: Set(key.image_id.clone()),
            cpu_count: Set(key.cpu_count),
            benchmark_type: Set(key.benchmark_type.clone()),
            benchmark: Set(key.benchmark),
            ..Default::default()
        },
    };
    summary.project_id = Set(project_id);
    summary.earliest_start_time = Set(row.try_get::<DateTime<Utc>>("", "earliest")?);
    summary.latest_start_time = Set(row.try_get::<DateTime<Utc>>("", "latest")?);
    summary.wall_duration = Set(row.try_get("", "wall")?);
    summary.cpu_duration = Set(row.try_get("", "cpu")?);
    summary.network_inbound = Set(row.try_get("", "net_in")?);
    summary.network_outbound = Set(row.try_get("", "net_out")?);
    summary.public_ip_count = Set(row.try_get("", "public_ips")?);
    summary.memory = Set(row.try_get("", "memory")?);
    summary.disk = Set(row.try_get("", "disk")?);
    summary.number_of_vms = Set(vms);
    summary.updated_at = Set(now);
    summary.save(db).await?;
    Ok(())
}
