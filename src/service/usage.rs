//! The cross-source rollups: usage per project, source, resource, user, group
//! and unit, per day and per hour. Ingestion writes them through these
//! definitions; [`super::report`] reads them.

use super::rollup::Rollup;

/// The cross-source rollups (`usage_daily`, `usage_hourly`).
pub const USAGE_DAILY: Rollup = Rollup {
    table: "usage_daily",
    keys: &[
        "project_id",
        "source",
        "resource_kind",
        "resource_id",
        "user_key",
        "group_key",
        "unit",
        "scale",
        "day",
    ],
    extra: &[],
    sums: &["quantity", "record_count"],
    nonnegative: &["record_count"],
};

/// See [`USAGE_DAILY`].
pub const USAGE_HOURLY: Rollup = Rollup {
    table: "usage_hourly",
    keys: &[
        "project_id",
        "source",
        "resource_kind",
        "resource_id",
        "user_key",
        "group_key",
        "unit",
        "scale",
        "hour",
    ],
    extra: &[],
    sums: &["quantity", "record_count"],
    nonnegative: &["record_count"],
};
