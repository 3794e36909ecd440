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

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _,
    QueryFilter as _,
};
use sha2::{Digest as _, Sha256};

use super::{bulk, cloud_summaries};
use crate::domain::apel::{ApelError, CloudRecord, parse_message};
use crate::entity::{apel_messages, cloud_records, vos};
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
/// [`CloudError::Invalid`] when APEL would reject the message, or when the
/// database refuses a value of it (a `CHECK`: the parser should have refused
/// it first); the caller must then roll back.
pub async fn load_message(
    db: &impl ConnectionTrait,
    body: &str,
    publisher_dn: &str,
    bound_site: Option<i64>,
    empa_id: Option<&str>,
) -> Result<Loaded, CloudError> {
    match load(db, body, publisher_dn, bound_site, empa_id).await {
        // A value the client sent that the database refused: the client's
        // error, in the message's terms, not a server failure.
        Err(CloudError::Internal(Error::BadRequest(message))) => {
            Err(CloudError::Invalid(ApelError {
                record: None,
                field: None,
                message,
            }))
        }
        other => other,
    }
}

async fn load(
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
    // New snapshots are inserted together after the loop; a snapshot that
    // replaces a stored one (rare) is updated in place.
    let mut fresh: Vec<cloud_records::ActiveModel> = Vec::new();
    let mut fresh_index: HashMap<(String, DateTime<Utc>, i64, i64), usize> = HashMap::new();
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
        if let Some(position) = fresh_index.get(&key) {
            // Earlier in this message: the later one replaces it, as it would
            // replace a stored one.
            if fresh[*position] == row {
                loaded.unchanged += 1;
            } else {
                fresh[*position] = row;
                loaded.updated += 1;
            }
            continue;
        }
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
                fresh_index.insert(key, fresh.len());
                fresh.push(row);
                loaded.inserted += 1;
            }
        }
    }
    bulk::insert(db, fresh).await?;
    cloud_summaries::recount(db, &vms, &replaced_before, now).await?;
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
