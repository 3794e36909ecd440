//! The SeaORM entities match the migrated tables on both backends: every entity
//! reads its table (a missing or mistyped column fails the select), and values
//! written through an entity read back unchanged.

use chrono::{TimeZone as _, Utc};
use sea_orm::{ActiveModelTrait as _, EntityTrait, Set};
use tally::entity::*;

use crate::helpers::TestDb;

/// Selects every row of each listed entity, so that each column of each model
/// is decoded at least once from a real row where one exists.
macro_rules! select_all {
    ($conn:expr, $($table:ident),+ $(,)?) => {{
        let mut rows = 0;
        $(
            rows += $table::Entity::find()
                .all($conn)
                .await
                .unwrap_or_else(|e| panic!("entity {} does not match its table: {e}", stringify!($table)))
                .len();
        )+
        rows
    }};
}

#[tokio::test]
async fn every_entity_reads_its_table() {
    let db = TestDb::new().await;
    let rows = select_all!(
        &db.conn,
        projects,
        sub_projects,
        user_groups,
        users,
        roles,
        grants,
        session_codes,
        audit_log,
        server_secrets,
        idempotency_keys,
        clusters,
        cluster_projects,
        node_type_aggregations,
        node_types,
        project_allocations,
        formulas,
        aggregation_formulas,
        command_templates,
        jobs,
        tasks,
        task_parameters,
        accounting_runs,
        sites,
        cloud_services,
        vos,
        vo_groups,
        vo_roles,
        global_users,
        publisher_dns,
        apel_messages,
        cloud_records,
        cloud_vm_days,
        cloud_summaries_daily,
        providers,
        unit_types,
        metric_types,
        metric_definitions,
        project_providers,
        eosc_resources,
        installations,
        metrics,
        eosc_clients,
        buckets,
        bucket_usage_hourly,
        bucket_usage_daily,
        bucket_usage_monthly,
        hpc_usage_daily,
        eosc_metric_daily,
        usage_hourly,
        usage_daily,
    );
    // The seeded reference rows (roles, unit types, metric types) were decoded.
    assert_eq!(rows, 21 + 11 + 4);
}

#[tokio::test]
async fn values_round_trip_through_entities() {
    let db = TestDb::new().await;
    let conn = &db.conn;
    let project = projects::ActiveModel {
        accounting_string: Set("OPEN-29-1".to_owned()),
        name: Set("Weather".to_owned()),
        start_date: Set(chrono::NaiveDate::from_ymd_opt(2026, 1, 1)),
        ..Default::default()
    }
    .insert(conn)
    .await
    .unwrap();
    assert_eq!(
        project.usage_type, "node_hour",
        "the column default applies"
    );

    let found = projects::Entity::find_by_accounting_string("OPEN-29-1")
        .one(conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, project);

    let cluster = clusters::ActiveModel {
        name: Set("karolina".to_owned()),
        ..Default::default()
    }
    .insert(conn)
    .await
    .unwrap();
    // Sub-second precision survives on both backends.
    let submitted = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
        + chrono::Duration::microseconds(123_456);
    let job = jobs::ActiveModel {
        cluster_id: Set(cluster.id),
        scheduler_job_id: Set("4242".to_owned()),
        submit_time: Set(submitted),
        name: Set("wrf".to_owned()),
        state: Set(16),
        project_id: Set(project.id),
        creation_time: Set(submitted),
        start_time: Set(Some(submitted + chrono::Duration::minutes(5))),
        end_time: Set(Some(submitted + chrono::Duration::hours(2))),
        ..Default::default()
    }
    .insert(conn)
    .await
    .unwrap();
    let found = jobs::Entity::find_by_natural_key(cluster.id, "4242", submitted)
        .one(conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, job);
    assert_eq!(found.submit_time, submitted);
    let in_project = jobs::Entity::find_in_projects([project.id])
        .all(conn)
        .await
        .unwrap();
    assert_eq!(in_project, vec![job]);
    assert!(
        jobs::Entity::find_in_projects([project.id + 1])
            .all(conn)
            .await
            .unwrap()
            .is_empty()
    );
}
