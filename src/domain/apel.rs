//! APEL cloud accounting messages: the text format Tally ingests on
//! `POST /api/v1/cloud/record`.
//!
//! This is the parser that APEL's `apeldbloader-cloud` runs on each queued
//! message (`apel/db/loader/record_factory.py`, `apel/db/records/record.py`,
//! `cloud.py`, `cloud_summary.py`, `apel/common/parsing_utils.py`), described
//! in `shared/reference/apel.md` §A2. It is pure: text in, typed records out.
//!
//! # The format
//!
//! ```text
//! APEL-cloud-message: v0.4
//! VMUUID: 721cf1db-0e0f-4c24-a5ea-cd75e0f303e8
//! SiteName: TEST-Site
//! StartTime: 1684619946
//! WallDuration: 432000
//! %%
//! VMUUID: ...
//! ```
//!
//! * The text is trimmed; its first line is the header. Only the part before
//!   the first `:` is compared (`APEL-cloud-message` or
//!   `APEL-cloud-summary-message`); the version after it is recorded in
//!   [`MessageVersion`] but never checked, as in APEL.
//! * Records are separated by `%%` lines. Empty or whitespace-only records are
//!   skipped, so a trailing `%%` (or none, as cASO writes) is fine.
//! * A record is `Key: Value` lines, split at the first `:` and trimmed; keys
//!   are case-sensitive and may come in any order.
//! * `none`, `null` and the empty value (any case) mean "no value".
//! * Any error rejects the **whole** message, as APEL's loader moves the
//!   whole message to `reject/`; errors name the record (1-based) and field.
//!
//! # Decisions and deviations from APEL
//!
//! * **Unknown keys are rejected** with an error naming the record and key
//!   (APEL 1.6 does the same with `Unknown field`). Accepted keys are the
//!   v0.2 and v0.4 fields plus `RecordCreateTime` (APEL 1.7). `UpdateTime` is
//!   accepted and ignored, as APEL lists it in `_ignored_fields`. `VO`,
//!   `VOGroup` and `VORole` are rejected in cloud records: APEL HEAD lets them
//!   through and then silently overwrites them with the values derived from
//!   `FQAN`; dropping sent data without a word is worse than refusing it.
//! * **A key given twice in one record is rejected.** APEL keeps the last
//!   value; Tally refuses to guess which one the sender meant.
//! * **Negative values are rejected** in the integer fields (durations,
//!   byte/GB counts, memory, disk, IP counts), in `CpuCount` and in
//!   `Benchmark`; so are non-finite floats (`NaN`, `inf`), which APEL's
//!   `DECIMAL` columns cannot hold either.
//! * `CpuCount` is an integer in APEL 1.6 and a `DECIMAL(10,3)` since 2025;
//!   both spellings (`2`, `1.456`) are accepted as `f64`.
//! * Times are integer epoch seconds (UTC, as APEL) or any RFC 3339 time
//!   (APEL accepts `YYYY-MM-DDTHH:MM:SSZ` only). Years outside `1..=9999`
//!   are rejected, as Python's `datetime` rejects them.
//! * `%%` separates records only on a line of its own. APEL splits on the
//!   substring `%%` anywhere, so a value containing `%%` breaks its record
//!   there (and the message is then almost always rejected); Tally keeps such
//!   a value intact.
//! * Blank lines inside a record are skipped. APEL rejects them as "a line
//!   without a key-value pair"; nothing is lost by tolerating them.
//! * `FQAN` is split into VO, VO group and VO role exactly as APEL HEAD's
//!   `parse_fqan` does (see [`parse_fqan`]).
//! * Missing optional values are `None`; APEL stores the string `'None'` for
//!   missing names, and `Benchmark` defaults to `0.0`. Both defaults are the
//!   caller's business.
//! * **`EndTime: 0` means no end.** Collectors send it for a running VM
//!   (the v0.4 example of EGI's cloud accounting documentation does); APEL
//!   stores it as 1970-01-01. Tally reads 0 (in either spelling, epoch
//!   seconds or `1970-01-01T00:00:00Z`) as "not ended", so the record of a
//!   running VM is valid.
//! * **An `EndTime` before the `StartTime` is rejected** (APEL stores it).
//!   Tally's `cloud_records` table refuses such a row, and a record that the
//!   parser accepts must always be storable: no client input reaches a
//!   database constraint ([`CloudMessage::check_loadable`]).
//! * [`CloudRecord::effective_wall_duration`] applies the loader's
//!   `ReplaceCloudRecord` rules; see there for the NULL `WallDuration` rule
//!   and the seconds-instead-of-`YYYYMMDDhhmmss` deviation.

use std::fmt;
use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, TimeDelta, Utc};

/// The header type of a cloud record message.
const CLOUD_HEADER: &str = "APEL-cloud-message";
/// The header type of a pre-summarised cloud message.
const SUMMARY_HEADER: &str = "APEL-cloud-summary-message";

/// Keys a cloud record may carry: v0.2, the v0.4 additions, then APEL 1.7's
/// `RecordCreateTime`.
const CLOUD_FIELDS: &[&str] = &[
    "VMUUID",
    "SiteName",
    "MachineName",
    "LocalUserId",
    "LocalGroupId",
    "GlobalUserName",
    "FQAN",
    "Status",
    "StartTime",
    "EndTime",
    "SuspendDuration",
    "WallDuration",
    "CpuDuration",
    "CpuCount",
    "NetworkType",
    "NetworkInbound",
    "NetworkOutbound",
    "Memory",
    "Disk",
    "StorageRecordId",
    "ImageId",
    "CloudType",
    // v0.4 (apel 78dd1f8, 2015)
    "CloudComputeService",
    "PublicIPCount",
    "BenchmarkType",
    "Benchmark",
    // apel 1.7.0; the header stays v0.4
    "RecordCreateTime",
];

/// Keys of a cloud summary record: the union of the versions of APEL's
/// `CloudSummaryRecord._msg_fields` (older ones carry `PublicIPCount`, newer
/// ones `CpuCount`).
const SUMMARY_FIELDS: &[&str] = &[
    "SiteName",
    "CloudComputeService",
    "Month",
    "Year",
    "GlobalUserName",
    "VO",
    "VOGroup",
    "VORole",
    "Status",
    "CloudType",
    "ImageId",
    "EarliestStartTime",
    "LatestStartTime",
    "WallDuration",
    "CpuDuration",
    "CpuCount",
    "NetworkInbound",
    "NetworkOutbound",
    "PublicIPCount",
    "Memory",
    "Disk",
    "BenchmarkType",
    "Benchmark",
    "NumberOfVMs",
];

/// Keys APEL permits in a message but ignores (`_ignored_fields`).
const IGNORED_FIELDS: &[&str] = &["UpdateTime"];

/// How many characters of an offending value an error message quotes.
const QUOTE_CHARS: usize = 80;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// A parsed cloud record (one VM snapshot), with APEL's semantics.
///
/// Snapshots are cumulative: a VM reports its totals so far, and APEL keys
/// them by `(VMUUID, StartTime, SuspendDuration, WallDuration)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudRecord {
    /// `VMUUID`: the VM's identifier (free text; OpenNebula collectors put a
    /// timestamp and site in it). Mandatory.
    pub vm_uuid: String,
    /// `SiteName`: the GOCDB site. Mandatory.
    pub site_name: String,
    /// `MachineName`: the VM's name.
    pub machine_name: Option<String>,
    /// `LocalUserId`: the cloud's user id.
    pub local_user_id: Option<String>,
    /// `LocalGroupId`: the cloud's project or group id.
    pub local_group_id: Option<String>,
    /// `GlobalUserName`: the owner's DN or other global identity.
    pub global_user_name: Option<String>,
    /// `FQAN`: the VOMS attribute(s), as sent.
    pub fqan: Option<String>,
    /// The VO derived from [`Self::fqan`] by [`parse_fqan`].
    pub vo: Option<String>,
    /// The VO group derived from [`Self::fqan`] (e.g. `/atlas/uk`).
    pub vo_group: Option<String>,
    /// The VO role derived from [`Self::fqan`] (e.g. `Role=production`).
    pub vo_role: Option<String>,
    /// `Status`: free text; `started`, `completed`, `suspended` in practice.
    pub status: Option<String>,
    /// `StartTime`: when the VM started.
    pub start_time: Option<DateTime<Utc>>,
    /// `EndTime`: when the VM ended, if it has.
    pub end_time: Option<DateTime<Utc>>,
    /// `SuspendDuration`: seconds suspended.
    pub suspend_duration: Option<i64>,
    /// `WallDuration`: seconds run so far.
    pub wall_duration: Option<i64>,
    /// `CpuDuration`: CPU seconds used so far.
    pub cpu_duration: Option<i64>,
    /// `CpuCount`: virtual CPUs (an integer in APEL 1.6, three decimals since).
    pub cpu_count: Option<f64>,
    /// `NetworkType`: free text.
    pub network_type: Option<String>,
    /// `NetworkInbound`: inbound traffic (GB with cASO).
    pub network_inbound: Option<i64>,
    /// `NetworkOutbound`: outbound traffic (GB with cASO).
    pub network_outbound: Option<i64>,
    /// `Memory`: memory (MB with cASO).
    pub memory: Option<i64>,
    /// `Disk`: disk (GB with cASO).
    pub disk: Option<i64>,
    /// `StorageRecordId`: a link to a storage record.
    pub storage_record_id: Option<String>,
    /// `ImageId`: the VM image.
    pub image_id: Option<String>,
    /// `CloudType`: the cloud software (and collector), e.g. `caso/5.2.2 (OpenStack)`.
    pub cloud_type: Option<String>,
    /// `CloudComputeService` (v0.4): the service within the site.
    pub cloud_compute_service: Option<String>,
    /// `PublicIPCount` (v0.4): public IP addresses held.
    pub public_ip_count: Option<i64>,
    /// `BenchmarkType` (v0.4), e.g. `HEPSPEC06`, `Si2k`.
    pub benchmark_type: Option<String>,
    /// `Benchmark` (v0.4): the benchmark value. APEL stores `0.0` when it is
    /// missing; that default is the caller's.
    pub benchmark: Option<f64>,
    /// `RecordCreateTime` (APEL 1.7): when the collector made the record.
    pub record_create_time: Option<DateTime<Utc>>,
}

/// The version text of a message header (after the `:`).
///
/// APEL does not check it for cloud messages, so neither does Tally: other
/// versions are kept as [`MessageVersion::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageVersion {
    /// `v0.2`: the original cloud record fields.
    V0_2,
    /// `v0.4`: adds `CloudComputeService`, `PublicIPCount`, `BenchmarkType`
    /// and `Benchmark`.
    V0_4,
    /// Any other text after the colon (trimmed), possibly empty.
    Other(String),
}

/// A parsed `APEL-cloud-message`.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudMessage {
    /// The header's version.
    pub version: MessageVersion,
    /// The records, in message order.
    pub records: Vec<CloudRecord>,
}

/// A parsed cloud summary record (`APEL-cloud-summary-message`): usage of
/// one site, month and user/VO combination, pre-summarised by the sender.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRecord {
    /// `SiteName`. Mandatory.
    pub site_name: String,
    /// `CloudComputeService`.
    pub cloud_compute_service: Option<String>,
    /// `Month`, `1..=12`. Mandatory.
    pub month: u32,
    /// `Year`, `1..=9999`. Mandatory.
    pub year: i32,
    /// `GlobalUserName`.
    pub global_user_name: Option<String>,
    /// `VO` (sent as is, not derived).
    pub vo: Option<String>,
    /// `VOGroup`.
    pub vo_group: Option<String>,
    /// `VORole`.
    pub vo_role: Option<String>,
    /// `Status`.
    pub status: Option<String>,
    /// `CloudType`.
    pub cloud_type: Option<String>,
    /// `ImageId`.
    pub image_id: Option<String>,
    /// `EarliestStartTime`: the earliest VM start summarised.
    pub earliest_start_time: Option<DateTime<Utc>>,
    /// `LatestStartTime`: the latest VM start summarised.
    pub latest_start_time: Option<DateTime<Utc>>,
    /// `WallDuration`: seconds.
    pub wall_duration: Option<i64>,
    /// `CpuDuration`: seconds.
    pub cpu_duration: Option<i64>,
    /// `CpuCount`.
    pub cpu_count: Option<f64>,
    /// `NetworkInbound`.
    pub network_inbound: Option<i64>,
    /// `NetworkOutbound`.
    pub network_outbound: Option<i64>,
    /// `PublicIPCount`.
    pub public_ip_count: Option<i64>,
    /// `Memory`.
    pub memory: Option<i64>,
    /// `Disk`.
    pub disk: Option<i64>,
    /// `BenchmarkType`.
    pub benchmark_type: Option<String>,
    /// `Benchmark`.
    pub benchmark: Option<f64>,
    /// `NumberOfVMs`. Mandatory.
    pub number_of_vms: i64,
}

/// A parsed `APEL-cloud-summary-message`.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryMessage {
    /// The header's version.
    pub version: MessageVersion,
    /// The records, in message order.
    pub records: Vec<SummaryRecord>,
}

/// Either kind of APEL cloud message, told apart by the header.
#[derive(Debug, Clone, PartialEq)]
pub enum ApelMessage {
    /// `APEL-cloud-message`: per-VM snapshots.
    Cloud(CloudMessage),
    /// `APEL-cloud-summary-message`: pre-summarised usage.
    Summary(SummaryMessage),
}

/// An error naming the record (1-based index in the message) and the field,
/// e.g. `record 2: field WallDuration: invalid integer "12x"`.
///
/// Any error rejects the whole message, as APEL does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApelError {
    /// The record's 1-based position in the message, when the error is about
    /// one record and its position is known.
    pub record: Option<usize>,
    /// The field (message key) at fault, if one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// The parts of a FQAN as APEL stores them (see [`parse_fqan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FqanParts {
    /// The VO: the first path piece, or the whole FQAN when it does not start
    /// with `/`.
    pub vo: String,
    /// The VO group: the path up to the `Role=` piece (`/atlas/uk`).
    pub group: Option<String>,
    /// The `Role=...` piece, as sent (`Role=NULL` is kept as text).
    pub role: Option<String>,
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Parses a whole `APEL-cloud-message`.
///
/// # Errors
/// The header is missing or of another kind, or any record is malformed
/// (unknown or repeated key, bad value, missing `VMUUID`/`SiteName`). The
/// error names the record (1-based) and the field.
pub fn parse_message(text: &str) -> Result<CloudMessage, ApelError> {
    let (kind, version, body) = split_header(text)?;
    if kind != CLOUD_HEADER {
        return Err(wrong_header(kind, CLOUD_HEADER));
    }
    Ok(CloudMessage {
        version: MessageVersion::from_header(version),
        records: parse_records(body, CLOUD_FIELDS, CloudRecord::from_raw)?,
    })
}

/// Parses a whole `APEL-cloud-summary-message` (the pre-summarised sibling).
///
/// # Errors
/// As [`parse_message`]; the mandatory fields are `SiteName`, `Month`,
/// `Year` and `NumberOfVMs`.
pub fn parse_summary_message(text: &str) -> Result<SummaryMessage, ApelError> {
    let (kind, version, body) = split_header(text)?;
    if kind != SUMMARY_HEADER {
        return Err(wrong_header(kind, SUMMARY_HEADER));
    }
    Ok(SummaryMessage {
        version: MessageVersion::from_header(version),
        records: parse_records(body, SUMMARY_FIELDS, SummaryRecord::from_raw)?,
    })
}

/// Parses either kind of message, told apart by its header.
///
/// # Errors
/// The header names neither kind (XML CAR/StAR and JSON messages, which APEL
/// routes elsewhere, are not supported), or the message is malformed.
pub fn parse_any(text: &str) -> Result<ApelMessage, ApelError> {
    let (kind, _, _) = split_header(text)?;
    match kind {
        CLOUD_HEADER => parse_message(text).map(ApelMessage::Cloud),
        SUMMARY_HEADER => parse_summary_message(text).map(ApelMessage::Summary),
        other => Err(ApelError::new(format!(
            "unsupported message type {} (expected {CLOUD_HEADER} or {SUMMARY_HEADER})",
            quoted(other)
        ))),
    }
}

/// Parses one header-less cloud record body, as APEL's unit tests feed
/// `CloudRecord.load_from_msg()` (the `*.record.txt` fixtures).
///
/// # Errors
/// As for one record of [`parse_message`] (reported as record 1); a `%%`
/// separator line is an error, since the text must hold a single record.
pub fn parse_record(text: &str) -> Result<CloudRecord, ApelError> {
    CloudRecord::from_raw(&RawRecord::single(text, CLOUD_FIELDS)?)
}

/// Parses one header-less cloud summary record body.
///
/// # Errors
/// As [`parse_record`], with the summary's fields.
pub fn parse_summary_record(text: &str) -> Result<SummaryRecord, ApelError> {
    SummaryRecord::from_raw(&RawRecord::single(text, SUMMARY_FIELDS)?)
}

/// Splits a FQAN into VO, group and role exactly as APEL's
/// `apel/common/parsing_utils.py` `parse_fqan` does:
///
/// * only the first `;`-separated FQAN counts;
/// * without a leading `/` the whole (first) FQAN is the VO, group and role
///   are `None`;
/// * otherwise the VO is the first path piece, the group is `/` + each
///   non-empty piece up to the first one starting with `Role=` (any case),
///   and the role is that piece (`None` if there is none). Pieces after the
///   role (`Capability=NULL`) are dropped.
///
/// `/ops/Role=NULL/Capability=NULL` gives VO `ops`, group `/ops`, role
/// `Role=NULL`. Odd inputs give APEL's odd answers: `/` gives VO and group
/// `""`.
#[must_use]
pub fn parse_fqan(fqan: &str) -> FqanParts {
    let first = fqan.split(';').next().unwrap_or_default();
    let Some(path) = first.strip_prefix('/') else {
        return FqanParts {
            vo: first.to_owned(),
            group: None,
            role: None,
        };
    };
    let vo = path.split('/').next().unwrap_or_default().to_owned();
    let mut group = String::new();
    let mut role = None;
    for piece in path.split('/').filter(|piece| !piece.is_empty()) {
        let is_role = piece
            .as_bytes()
            .get(..5)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"role="));
        if is_role {
            role = Some(piece.to_owned());
            break;
        }
        group.push('/');
        group.push_str(piece);
    }
    FqanParts {
        vo,
        group: Some(group),
        role,
    }
}

// ---------------------------------------------------------------------------
// Record semantics
// ---------------------------------------------------------------------------

impl CloudRecord {
    /// `SuspendDuration` with APEL's default: `IFNULL(SuspendDuration, 0)`.
    #[must_use]
    pub fn suspend_duration_or_zero(&self) -> i64 {
        self.suspend_duration.unwrap_or(0)
    }

    /// `WallDuration` with the defaulting of APEL's `ReplaceCloudRecord`.
    ///
    /// * Sent: used as is.
    /// * NULL and `Status` is `completed` (compared case-insensitively, as
    ///   MySQL's default collation does): `EndTime - StartTime` **in seconds**.
    ///   APEL's procedure subtracts the two `DATETIME`s numerically, which in
    ///   MySQL yields a `YYYYMMDDhhmmss` difference, not seconds (a quirk);
    ///   Tally deliberately uses seconds.
    /// * NULL otherwise: an error. The `CloudRecords.WallDuration` column is
    ///   `NOT NULL`, so APEL's insert fails and its loader rejects the whole
    ///   message; Tally mirrors that instead of inventing a duration.
    ///
    /// # Errors
    /// `WallDuration` is NULL and cannot be derived as above (status not
    /// completed, start or end missing, or end before start). The error names
    /// the field and the VM, not the record's position; add it with
    /// [`ApelError::with_record`] or use [`CloudMessage::check_loadable`].
    pub fn effective_wall_duration(&self) -> Result<i64, ApelError> {
        if let Some(wall) = self.wall_duration {
            return Ok(wall);
        }
        let completed = self
            .status
            .as_deref()
            .is_some_and(|status| status.eq_ignore_ascii_case("completed"));
        if !completed {
            return Err(self.error(
                "WallDuration",
                "missing and Status is not \"completed\"; APEL's CloudRecords.WallDuration \
                 is NOT NULL, so APEL rejects the message",
            ));
        }
        let (Some(start), Some(end)) = (self.start_time, self.end_time) else {
            return Err(self.error(
                "WallDuration",
                "missing, and StartTime or EndTime is missing to derive it from",
            ));
        };
        let wall = end.signed_duration_since(start).num_seconds();
        if wall < 0 {
            return Err(self.error(
                "WallDuration",
                "missing, and EndTime is before StartTime to derive it from",
            ));
        }
        Ok(wall)
    }

    /// `MeasurementTime = StartTime + IFNULL(SuspendDuration, 0) +
    /// WallDuration` (apel.md §A2b step 1): the end of the snapshot, whose
    /// calendar day the summariser books the usage on.
    ///
    /// # Errors
    /// `StartTime` is missing (`NOT NULL` in APEL's table), `EndTime` is
    /// before it, the wall duration cannot be had (see
    /// [`Self::effective_wall_duration`]), or the sum leaves the
    /// representable time range.
    pub fn measurement_time(&self) -> Result<DateTime<Utc>, ApelError> {
        let start = self.start_time.ok_or_else(|| {
            self.error(
                "StartTime",
                "missing; APEL's CloudRecords.StartTime is NOT NULL, so APEL rejects the message",
            )
        })?;
        if let Some(end) = self.end_time
            && end < start
        {
            return Err(self.error(
                "EndTime",
                &format!(
                    "{} is before StartTime {} (send 0 or NULL while the VM runs)",
                    end.to_rfc3339(),
                    start.to_rfc3339()
                ),
            ));
        }
        let wall = self.effective_wall_duration()?;
        self.suspend_duration_or_zero()
            .checked_add(wall)
            .and_then(TimeDelta::try_seconds)
            .and_then(|offset| start.checked_add_signed(offset))
            .ok_or_else(|| {
                self.error(
                    "WallDuration",
                    "StartTime + SuspendDuration + WallDuration is out of range",
                )
            })
    }

    /// An error about one field of this record, naming the VM.
    fn error(&self, field: &str, message: &str) -> ApelError {
        ApelError {
            record: None,
            field: Some(field.to_owned()),
            message: format!("{message} (VMUUID {})", quoted(&self.vm_uuid)),
        }
    }

    /// Types one record's raw lines.
    fn from_raw(raw: &RawRecord<'_>) -> Result<Self, ApelError> {
        let fqan = raw.text("FQAN");
        let (vo, vo_group, vo_role) = match fqan.as_deref().map(parse_fqan) {
            Some(parts) => (Some(parts.vo), parts.group, parts.role),
            None => (None, None, None),
        };
        Ok(Self {
            vm_uuid: raw.mandatory_text("VMUUID")?,
            site_name: raw.mandatory_text("SiteName")?,
            machine_name: raw.text("MachineName"),
            local_user_id: raw.text("LocalUserId"),
            local_group_id: raw.text("LocalGroupId"),
            global_user_name: raw.text("GlobalUserName"),
            fqan,
            vo,
            vo_group,
            vo_role,
            status: raw.text("Status"),
            start_time: raw.time("StartTime")?,
            // A running VM's collector sends `EndTime: 0`: no end yet.
            end_time: raw.time("EndTime")?.filter(|end| end.timestamp() != 0),
            suspend_duration: raw.count("SuspendDuration")?,
            wall_duration: raw.count("WallDuration")?,
            cpu_duration: raw.count("CpuDuration")?,
            cpu_count: raw.decimal("CpuCount")?,
            network_type: raw.text("NetworkType"),
            network_inbound: raw.count("NetworkInbound")?,
            network_outbound: raw.count("NetworkOutbound")?,
            memory: raw.count("Memory")?,
            disk: raw.count("Disk")?,
            storage_record_id: raw.text("StorageRecordId"),
            image_id: raw.text("ImageId"),
            cloud_type: raw.text("CloudType"),
            cloud_compute_service: raw.text("CloudComputeService"),
            public_ip_count: raw.count("PublicIPCount")?,
            benchmark_type: raw.text("BenchmarkType"),
            benchmark: raw.decimal("Benchmark")?,
            record_create_time: raw.time("RecordCreateTime")?,
        })
    }
}

impl CloudMessage {
    /// Checks every record the way APEL's database insert would: each needs
    /// a `StartTime`, no `EndTime` before it, and a wall duration (see
    /// [`CloudRecord::effective_wall_duration`]), and one failure rejects the
    /// whole message. A record that passes can be stored: it breaks none of
    /// `cloud_records`' `CHECK`s.
    ///
    /// # Errors
    /// The first record that cannot be loaded, with its 1-based position.
    pub fn check_loadable(&self) -> Result<(), ApelError> {
        for (index, record) in self.records.iter().enumerate() {
            record
                .measurement_time()
                .map_err(|error| error.with_record(index + 1))?;
        }
        Ok(())
    }
}

impl SummaryRecord {
    /// Types one summary record's raw lines.
    fn from_raw(raw: &RawRecord<'_>) -> Result<Self, ApelError> {
        Ok(Self {
            site_name: raw.mandatory_text("SiteName")?,
            cloud_compute_service: raw.text("CloudComputeService"),
            month: raw.mandatory_ranged("Month", 1..=12)?,
            year: raw.mandatory_ranged("Year", 1..=9999)?,
            global_user_name: raw.text("GlobalUserName"),
            vo: raw.text("VO"),
            vo_group: raw.text("VOGroup"),
            vo_role: raw.text("VORole"),
            status: raw.text("Status"),
            cloud_type: raw.text("CloudType"),
            image_id: raw.text("ImageId"),
            earliest_start_time: raw.time("EarliestStartTime")?,
            latest_start_time: raw.time("LatestStartTime")?,
            wall_duration: raw.count("WallDuration")?,
            cpu_duration: raw.count("CpuDuration")?,
            cpu_count: raw.decimal("CpuCount")?,
            network_inbound: raw.count("NetworkInbound")?,
            network_outbound: raw.count("NetworkOutbound")?,
            public_ip_count: raw.count("PublicIPCount")?,
            memory: raw.count("Memory")?,
            disk: raw.count("Disk")?,
            benchmark_type: raw.text("BenchmarkType"),
            benchmark: raw.decimal("Benchmark")?,
            number_of_vms: raw.mandatory_ranged("NumberOfVMs", 0..=i64::MAX)?,
        })
    }
}

impl MessageVersion {
    /// Classifies the (trimmed) text after the header's colon.
    fn from_header(version: &str) -> Self {
        match version {
            "v0.2" => Self::V0_2,
            "v0.4" => Self::V0_4,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The version text as it appeared in the header.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::V0_2 => "v0.2",
            Self::V0_4 => "v0.4",
            Self::Other(text) => text,
        }
    }
}

impl fmt::Display for MessageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ApelError {
    /// An error about the message as a whole.
    fn new(message: String) -> Self {
        Self {
            record: None,
            field: None,
            message,
        }
    }

    /// Sets the record's 1-based position in its message.
    #[must_use]
    pub fn with_record(mut self, record: usize) -> Self {
        self.record = Some(record);
        self
    }
}

impl fmt::Display for ApelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(record) = self.record {
            write!(f, "record {record}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field {field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApelError {}

// ---------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------

/// Splits a message into its header type, header version and body, as
/// `RecordFactory.create_records` does: trim, take the first line, split it
/// at the first `:` and trim both parts.
fn split_header(text: &str) -> Result<(&str, &str, &str), ApelError> {
    let text = py_trim(text);
    if text.is_empty() {
        return Err(ApelError::new("empty message".to_owned()));
    }
    let (header, body) = first_line(text);
    let Some((kind, version)) = header.split_once(':') else {
        return Err(ApelError::new(format!(
            "message header {} has no `:` (expected e.g. \"{CLOUD_HEADER}: v0.4\")",
            quoted(header)
        )));
    };
    Ok((py_trim(kind), py_trim(version), body.unwrap_or_default()))
}

/// The error for a header of the other (or an unknown) kind.
fn wrong_header(found: &str, expected: &str) -> ApelError {
    ApelError::new(format!("message type {} is not {expected}", quoted(found)))
}

/// Splits a message body at `%%` lines and types each non-blank record.
fn parse_records<T>(
    body: &str,
    known: &'static [&'static str],
    build: impl Fn(&RawRecord<'_>) -> Result<T, ApelError>,
) -> Result<Vec<T>, ApelError> {
    let mut records = Vec::new();
    let mut chunk: Vec<&str> = Vec::new();
    let mut lines = lines(body).peekable();
    while let Some(line) = lines.next() {
        let separator = py_trim(line) == "%%";
        if !separator {
            chunk.push(line);
        }
        if separator || lines.peek().is_none() {
            // Empty or whitespace-only records are skipped, as APEL does.
            if chunk.iter().any(|line| !py_trim(line).is_empty()) {
                let index = records.len() + 1;
                let raw = RawRecord::from_lines(&chunk, known, Some(index))?;
                records.push(build(&raw)?);
            }
            chunk.clear();
        }
    }
    Ok(records)
}

/// Whether Python's `str.splitlines` breaks a line at `c`.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// The first line of `text` and the rest after its line break (`None` when
/// there is no line break). `\r\n` counts as one break.
fn first_line(text: &str) -> (&str, Option<&str>) {
    match text.char_indices().find(|&(_, c)| is_line_break(c)) {
        None => (text, None),
        Some((at, c)) => {
            let rest = &text[at + c.len_utf8()..];
            let rest = if c == '\r' {
                rest.strip_prefix('\n').unwrap_or(rest)
            } else {
                rest
            };
            (&text[..at], Some(rest))
        }
    }
}

/// The lines of `text`, broken as Python's `str.splitlines` breaks them.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let (line, tail) = first_line(rest?);
        rest = tail;
        Some(line)
    })
}

/// Trims as Python's `str.strip()` does (Unicode whitespace, plus the
/// information separators `\x1c`..`\x1f` Python counts as whitespace).
fn py_trim(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || matches!(c, '\x1c'..='\x1f'))
}

/// Whether a value is one of APEL's null tokens: `none`, `null` or empty,
/// in any case (`check_for_null`).
fn is_null(value: &str) -> bool {
    value.is_empty() || value.eq_ignore_ascii_case("none") || value.eq_ignore_ascii_case("null")
}

/// A value quoted for an error message, shortened to [`QUOTE_CHARS`].
fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// A key as an error names it: keys come from the sender, so long ones are
/// shortened.
fn field_name(key: &str) -> String {
    match key.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}…", &key[..cut]),
        None => key.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// One record's lines, before typing
// ---------------------------------------------------------------------------

/// One record's `Key: Value` pairs (keys checked, values trimmed but not yet
/// typed), with the record's position for error messages.
struct RawRecord<'a> {
    /// The 1-based position in the message.
    index: Option<usize>,
    /// `(key, trimmed value)` in message order; keys unique and known.
    entries: Vec<(&'a str, &'a str)>,
}

impl<'a> RawRecord<'a> {
    /// A header-less single record (reported as record 1).
    fn single(text: &'a str, known: &[&str]) -> Result<Self, ApelError> {
        let lines: Vec<&str> = lines(text).collect();
        if lines.iter().any(|line| py_trim(line) == "%%") {
            return Err(ApelError::new(
                "a single record must not contain a `%%` separator; parse it as a message"
                    .to_owned(),
            )
            .with_record(1));
        }
        Self::from_lines(&lines, known, Some(1))
    }

    /// Splits lines into pairs, rejecting lines without `:`, unknown keys
    /// and repeated keys. Blank lines are skipped.
    fn from_lines(
        lines: &[&'a str],
        known: &[&str],
        index: Option<usize>,
    ) -> Result<Self, ApelError> {
        let mut raw = Self {
            index,
            entries: Vec::new(),
        };
        for line in lines {
            let line = py_trim(line);
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(raw.record_error(format!(
                    "line without a `Key: Value` pair: {}",
                    quoted(line)
                )));
            };
            let key = py_trim(key);
            let value = py_trim(value);
            if IGNORED_FIELDS.contains(&key) {
                continue;
            }
            if !known.contains(&key) {
                let derived = matches!(key, "VO" | "VOGroup" | "VORole");
                return Err(raw.error(
                    key,
                    if derived {
                        "unknown field in a cloud record (VO, VOGroup and VORole are derived \
                         from FQAN)"
                            .to_owned()
                    } else {
                        "unknown field".to_owned()
                    },
                ));
            }
            if raw.entries.iter().any(|(seen, _)| *seen == key) {
                return Err(raw.error(key, "field given twice in one record".to_owned()));
            }
            raw.entries.push((key, value));
        }
        Ok(raw)
    }

    /// An error about one field of this record.
    fn error(&self, key: &str, message: String) -> ApelError {
        ApelError {
            record: self.index,
            field: Some(field_name(key)),
            message,
        }
    }

    /// An error about this record as a whole.
    fn record_error(&self, message: String) -> ApelError {
        ApelError {
            record: self.index,
            field: None,
            message,
        }
    }

    /// The raw value of `key`, `None` when missing or a null token.
    fn value(&self, key: &str) -> Option<&'a str> {
        self.entries
            .iter()
            .find(|(seen, _)| *seen == key)
            .map(|(_, value)| *value)
            .filter(|value| !is_null(value))
    }

    /// A free-text field.
    fn text(&self, key: &str) -> Option<String> {
        self.value(key).map(str::to_owned)
    }

    /// A mandatory free-text field: missing and null are errors.
    fn mandatory_text(&self, key: &str) -> Result<String, ApelError> {
        self.mandatory(key).map(str::to_owned)
    }

    /// The raw value of a mandatory field.
    fn mandatory(&self, key: &str) -> Result<&'a str, ApelError> {
        let present = self.entries.iter().any(|(seen, _)| *seen == key);
        self.value(key).ok_or_else(|| {
            self.error(
                key,
                if present {
                    "null in a mandatory field".to_owned()
                } else {
                    "missing mandatory field".to_owned()
                },
            )
        })
    }

    /// A non-negative integer field (durations, counts, sizes).
    fn count(&self, key: &str) -> Result<Option<i64>, ApelError> {
        self.value(key)
            .map(|value| self.parse_count(key, value))
            .transpose()
    }

    /// Parses a non-negative integer, naming the field on failure.
    fn parse_count(&self, key: &str, value: &str) -> Result<i64, ApelError> {
        let number: i64 = value
            .parse()
            .map_err(|_| self.error(key, format!("invalid integer {}", quoted(value))))?;
        if number < 0 {
            return Err(self.error(key, format!("negative value {}", quoted(value))));
        }
        Ok(number)
    }

    /// A mandatory integer field within `range`, converted to `T`.
    fn mandatory_ranged<T: TryFrom<i64>>(
        &self,
        key: &str,
        range: RangeInclusive<i64>,
    ) -> Result<T, ApelError> {
        let value = self.mandatory(key)?;
        let out_of_range = || {
            self.error(
                key,
                format!(
                    "value {} is outside {}..={}",
                    quoted(value),
                    range.start(),
                    range.end()
                ),
            )
        };
        let number: i64 = value
            .parse()
            .map_err(|_| self.error(key, format!("invalid integer {}", quoted(value))))?;
        if !range.contains(&number) {
            return Err(out_of_range());
        }
        T::try_from(number).map_err(|_| out_of_range())
    }

    /// A non-negative, finite decimal field (`CpuCount`, `Benchmark`).
    fn decimal(&self, key: &str) -> Result<Option<f64>, ApelError> {
        let Some(value) = self.value(key) else {
            return Ok(None);
        };
        let number: f64 = value
            .parse()
            .map_err(|_| self.error(key, format!("invalid number {}", quoted(value))))?;
        if !number.is_finite() {
            return Err(self.error(key, format!("non-finite number {}", quoted(value))));
        }
        if number < 0.0 {
            return Err(self.error(key, format!("negative value {}", quoted(value))));
        }
        // `-0` parses to negative zero; store plain zero.
        Ok(Some(number.abs()))
    }

    /// A datetime field: integer epoch seconds (UTC) or RFC 3339.
    fn time(&self, key: &str) -> Result<Option<DateTime<Utc>>, ApelError> {
        let Some(value) = self.value(key) else {
            return Ok(None);
        };
        let time = if let Ok(seconds) = value.parse::<i64>() {
            DateTime::from_timestamp(seconds, 0)
        } else {
            Some(
                DateTime::parse_from_rfc3339(value)
                    .map_err(|_| {
                        self.error(
                            key,
                            format!(
                                "invalid datetime {} (expected epoch seconds or RFC 3339, \
                                 e.g. 2013-02-25T17:37:27Z)",
                                quoted(value)
                            ),
                        )
                    })?
                    .with_timezone(&Utc),
            )
        };
        time.filter(|time| (1..=9999).contains(&time.year()))
            .map(Some)
            .ok_or_else(|| {
                self.error(
                    key,
                    format!("datetime {} is outside years 1..=9999", quoted(value)),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The time at `secs` epoch seconds.
    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    /// A message with the given header version and records.
    fn message(records: &[&str]) -> String {
        let mut text = String::from("APEL-cloud-message: v0.4\n");
        for record in records {
            text.push_str(record);
            text.push_str("\n%%\n");
        }
        text
    }

    /// The error of parsing one record in a message.
    fn record_error(record: &str) -> ApelError {
        parse_message(&message(&["VMUUID: a\nSiteName: s", record])).unwrap_err()
    }

    // -- framing -----------------------------------------------------------

    #[test]
    fn parses_a_minimal_message() {
        let parsed =
            parse_message("APEL-cloud-message: v0.2\nVMUUID: vm\nSiteName: S\n%%\n").unwrap();
        assert_eq!(parsed.version, MessageVersion::V0_2);
        assert_eq!(parsed.records.len(), 1);
        let record = &parsed.records[0];
        assert_eq!(record.vm_uuid, "vm");
        assert_eq!(record.site_name, "S");
        assert_eq!(record.status, None);
        assert_eq!(record.vo, None);
    }

    #[test]
    fn version_is_recorded_not_checked() {
        for (header, version) in [
            ("APEL-cloud-message: v0.4", MessageVersion::V0_4),
            (
                "APEL-cloud-message: v0.3",
                MessageVersion::Other("v0.3".into()),
            ),
            (
                "APEL-cloud-message: v9.9 beta",
                MessageVersion::Other("v9.9 beta".into()),
            ),
            ("APEL-cloud-message:", MessageVersion::Other(String::new())),
            ("  APEL-cloud-message :v0.2", MessageVersion::V0_2),
        ] {
            let parsed = parse_message(&format!("{header}\nVMUUID: a\nSiteName: b")).unwrap();
            assert_eq!(parsed.version, version, "{header}");
            assert_eq!(parsed.records.len(), 1);
        }
        assert_eq!(MessageVersion::V0_4.to_string(), "v0.4");
        assert_eq!(MessageVersion::Other("x".into()).as_str(), "x");
    }

    #[test]
    fn header_is_compared_before_the_first_colon_only() {
        // APEL compares only `APEL-cloud-message`; anything may follow the colon.
        let parsed =
            parse_message("APEL-cloud-message: v0.4: extra\nVMUUID: a\nSiteName: b").unwrap();
        assert_eq!(parsed.version, MessageVersion::Other("v0.4: extra".into()));
        // ...but the type itself is case-sensitive.
        assert!(parse_message("apel-cloud-message: v0.4\nVMUUID: a\nSiteName: b").is_err());
    }

    #[test]
    fn bad_headers_are_rejected() {
        for text in [
            "",
            "   \n\t ",
            "VMUUID a",
            "APEL-cloud-message v0.4\nVMUUID: a\nSiteName: b",
            "APEL-summary-job-message: v0.3\nSite: x",
            "<urf:UsageRecords/>",
            "{\"Type\": \"APEL-accelerator-message\"}",
        ] {
            let error = parse_any(text).unwrap_err();
            assert_eq!(error.record, None, "{text:?}");
            assert_eq!(error.field, None, "{text:?}");
        }
        let error = parse_message("APEL-cloud-summary-message: v0.4\nSiteName: x").unwrap_err();
        assert!(
            error.message.contains("is not APEL-cloud-message"),
            "{error}"
        );
        let error = parse_summary_message("APEL-cloud-message: v0.4\nSiteName: x").unwrap_err();
        assert!(
            error.message.contains("APEL-cloud-summary-message"),
            "{error}"
        );
    }

    #[test]
    fn header_only_message_has_no_records() {
        let parsed = parse_message("APEL-cloud-message: v0.4\n").unwrap();
        assert!(parsed.records.is_empty());
        let parsed = parse_message("APEL-cloud-message: v0.4").unwrap();
        assert!(parsed.records.is_empty());
    }

    #[test]
    fn trailing_separator_and_blank_chunks_are_skipped() {
        let text = "\n\n  APEL-cloud-message: v0.4\r\n%%\n   \n%%\nVMUUID: a\nSiteName: b\n%%\n\t\n%%\n\
                    %%\nVMUUID: c\nSiteName: d\n%%\n%%   \n\n";
        let parsed = parse_message(text).unwrap();
        let ids: Vec<_> = parsed.records.iter().map(|r| r.vm_uuid.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        // No trailing separator at all (as cASO writes) is fine too.
        let parsed = parse_message(
            "APEL-cloud-message: v0.4\nVMUUID: a\nSiteName: b\n%%\nVMUUID: c\nSiteName: d",
        )
        .unwrap();
        assert_eq!(parsed.records.len(), 2);
    }

    #[test]
    fn crlf_and_python_line_breaks_split_lines() {
        let text = "APEL-cloud-message: v0.4\r\nVMUUID: a\r\nSiteName: b\r\n%%\r\nVMUUID: c\rSiteName: d\u{2028}Status: x";
        let parsed = parse_message(text).unwrap();
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.records[0].site_name, "b");
        assert_eq!(parsed.records[1].site_name, "d");
        assert_eq!(parsed.records[1].status.as_deref(), Some("x"));
    }

    #[test]
    fn values_keep_colons_after_the_first() {
        let parsed = parse_message(
            "APEL-cloud-message: v0.2\nVMUUID: TestVM1 2013-02-25 17:37:27+00:00\nSiteName:CESGA  \n\
             GlobalUserName:   /DC=es/CN=x:y  ",
        )
        .unwrap();
        let record = &parsed.records[0];
        assert_eq!(record.vm_uuid, "TestVM1 2013-02-25 17:37:27+00:00");
        assert_eq!(record.site_name, "CESGA");
        assert_eq!(record.global_user_name.as_deref(), Some("/DC=es/CN=x:y"));
    }

    #[test]
    fn keys_are_case_sensitive() {
        let error = parse_message("APEL-cloud-message: v0.4\nvmuuid: a\nSiteName: b").unwrap_err();
        assert_eq!(error.record, Some(1));
        assert_eq!(error.field.as_deref(), Some("vmuuid"));
        assert!(error.message.contains("unknown field"), "{error}");
        let error = record_error("VMUUID: x\nSITENAME: y");
        assert_eq!(error.record, Some(2));
        assert_eq!(error.field.as_deref(), Some("SITENAME"));
    }

    #[test]
    fn unknown_repeated_and_derived_keys_are_rejected() {
        let error = record_error("VMUUID: x\nSiteName: y\nColour: blue");
        assert_eq!(error.to_string(), "record 2: field Colour: unknown field");
        let error = record_error("VMUUID: x\nSiteName: y\nVO: atlas");
        assert_eq!(error.field.as_deref(), Some("VO"));
        assert!(error.message.contains("derived from FQAN"), "{error}");
        let error = record_error("VMUUID: x\nSiteName: y\nSiteName: z");
        assert_eq!(error.field.as_deref(), Some("SiteName"));
        assert!(error.message.contains("twice"), "{error}");
        // UpdateTime is permitted and ignored, as in APEL.
        let parsed = parse_message(&message(&[
            "VMUUID: x\nSiteName: y\nUpdateTime: 2020-01-01 00:00:00",
        ]))
        .unwrap();
        assert_eq!(parsed.records.len(), 1);
    }

    #[test]
    fn lines_without_colon_are_rejected_blank_lines_skipped() {
        let error = record_error("VMUUID: x\nSiteName y");
        assert_eq!(error.record, Some(2));
        assert_eq!(error.field, None);
        assert!(
            error.message.contains("without a `Key: Value` pair"),
            "{error}"
        );
        let parsed = parse_message(&message(&["VMUUID: x\n\n   \nSiteName: y"])).unwrap();
        assert_eq!(parsed.records[0].site_name, "y");
    }

    #[test]
    fn percent_inside_a_value_is_not_a_separator() {
        let parsed = parse_message(&message(&["VMUUID: x%%y\nSiteName: s"])).unwrap();
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.records[0].vm_uuid, "x%%y");
    }

    // -- nulls and mandatory fields ---------------------------------------

    #[test]
    fn null_tokens_in_every_spelling_and_case() {
        for token in [
            "NULL", "null", "Null", "nUlL", "None", "none", "NONE", "nOnE", "", "   ",
        ] {
            let record = parse_record(&format!(
                "VMUUID: a\nSiteName: b\nMachineName: {token}\nWallDuration: {token}\n\
                 CpuCount: {token}\nStartTime: {token}\nBenchmark:{token}\nFQAN: {token}"
            ))
            .unwrap();
            assert_eq!(record.machine_name, None, "{token:?}");
            assert_eq!(record.wall_duration, None, "{token:?}");
            assert_eq!(record.cpu_count, None, "{token:?}");
            assert_eq!(record.start_time, None, "{token:?}");
            assert_eq!(record.benchmark, None, "{token:?}");
            assert_eq!(
                (record.fqan, record.vo, record.vo_group),
                (None, None, None)
            );
        }
        // The tokens count only as whole values.
        let record =
            parse_record("VMUUID: a\nSiteName: b\nMachineName: NULL-1\nImageId: none of it")
                .unwrap();
        assert_eq!(record.machine_name.as_deref(), Some("NULL-1"));
        assert_eq!(record.image_id.as_deref(), Some("none of it"));
    }

    #[test]
    fn missing_or_null_mandatory_fields_are_rejected() {
        let error = record_error("SiteName: y");
        assert_eq!(
            (error.record, error.field.as_deref()),
            (Some(2), Some("VMUUID"))
        );
        assert!(error.message.contains("missing"), "{error}");
        let error = record_error("VMUUID: NULL\nSiteName: y");
        assert_eq!(
            (error.record, error.field.as_deref()),
            (Some(2), Some("VMUUID"))
        );
        assert!(error.message.contains("null"), "{error}");
        let error = record_error("VMUUID: x");
        assert_eq!(
            (error.record, error.field.as_deref()),
            (Some(2), Some("SiteName"))
        );
        let error = record_error("VMUUID: x\nSiteName: none");
        assert_eq!(error.field.as_deref(), Some("SiteName"));
        let error = parse_record("").unwrap_err();
        assert_eq!(
            (error.record, error.field.as_deref()),
            (Some(1), Some("VMUUID"))
        );
    }

    // -- typed values -----------------------------------------------------

    #[test]
    fn end_time_zero_means_running_and_an_end_before_the_start_is_refused() {
        let base = "VMUUID: a\nSiteName: b\nStartTime: 1000\nWallDuration: 50\nStatus: started\n";
        for zero in ["0", "1970-01-01T00:00:00Z", "NULL"] {
            let record = parse_record(&format!("{base}EndTime: {zero}")).unwrap();
            assert_eq!(record.end_time, None, "{zero}");
            assert_eq!(record.measurement_time().unwrap(), at(1050), "{zero}");
        }
        let record = parse_record(&format!("{base}EndTime: 999")).unwrap();
        let error = record.measurement_time().unwrap_err();
        assert_eq!(error.field.as_deref(), Some("EndTime"));
        assert!(error.message.contains("before StartTime"), "{error}");
        let message =
            parse_message(&format!("APEL-cloud-message: v0.4\n{base}EndTime: 999\n")).unwrap();
        assert_eq!(
            message.check_loadable().unwrap_err().record,
            Some(1),
            "the whole message is refused"
        );
        // An end equal to the start is a VM that lived no time: valid.
        let record = parse_record(&format!("{base}EndTime: 1000")).unwrap();
        assert_eq!(record.end_time, Some(at(1000)));
        assert!(record.measurement_time().is_ok());
    }

    #[test]
    fn epoch_and_iso_times() {
        let record = parse_record(
            "VMUUID: a\nSiteName: b\nStartTime: 1361813847\nEndTime: 2013-02-25T17:37:50Z\n\
             RecordCreateTime: 2013-02-25T19:37:50+02:00",
        )
        .unwrap();
        assert_eq!(record.start_time, Some(at(1_361_813_847)));
        assert_eq!(record.end_time, Some(at(1_361_813_870)));
        assert_eq!(record.record_create_time, Some(at(1_361_813_870)));
        let record = parse_record("VMUUID: a\nSiteName: b\nStartTime: 0\nEndTime: -86400").unwrap();
        assert_eq!(record.start_time, Some(at(0)));
        assert_eq!(record.end_time, Some(at(-86_400)));
        for bad in [
            "1361813847.5",
            "2013-02-25 17:37:27",
            "yesterday",
            "99999999999999999999",
            "9223372036854775807",
            "253402300800", // 10000-01-01
        ] {
            let error = record_error(&format!("VMUUID: x\nSiteName: y\nEndTime: {bad}"));
            assert_eq!(
                (error.record, error.field.as_deref()),
                (Some(2), Some("EndTime")),
                "{bad}"
            );
        }
    }

    #[test]
    fn cpu_count_int_or_decimal() {
        for (text, value) in [
            ("2", 2.0),
            ("1.000", 1.0),
            ("1.456", 1.456),
            ("0", 0.0),
            ("-0", 0.0),
        ] {
            let record =
                parse_record(&format!("VMUUID: a\nSiteName: b\nCpuCount: {text}")).unwrap();
            assert_eq!(record.cpu_count, Some(value), "{text}");
            assert!(record.cpu_count.unwrap().is_sign_positive(), "{text}");
        }
        for bad in ["two", "1,5", "NaN", "inf", "-1", "-0.5", "1e999"] {
            let error = record_error(&format!("VMUUID: x\nSiteName: y\nCpuCount: {bad}"));
            assert_eq!(
                (error.record, error.field.as_deref()),
                (Some(2), Some("CpuCount")),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_integers_name_record_and_field() {
        let error = record_error("VMUUID: x\nSiteName: y\nWallDuration: 12x");
        assert_eq!(
            error.to_string(),
            "record 2: field WallDuration: invalid integer \"12x\""
        );
        for field in [
            "SuspendDuration",
            "WallDuration",
            "CpuDuration",
            "NetworkInbound",
            "NetworkOutbound",
            "PublicIPCount",
            "Memory",
            "Disk",
        ] {
            for bad in ["1.5", "ten", "99999999999999999999", "-3", "0x10"] {
                let error = record_error(&format!("VMUUID: x\nSiteName: y\n{field}: {bad}"));
                assert_eq!(error.record, Some(2), "{field} {bad}");
                assert_eq!(error.field.as_deref(), Some(field), "{field} {bad}");
            }
        }
        let error = record_error("VMUUID: x\nSiteName: y\nDisk: -3");
        assert!(error.message.contains("negative"), "{error}");
        let record = parse_record("VMUUID: a\nSiteName: b\nMemory: +512\nDisk: 0007").unwrap();
        assert_eq!((record.memory, record.disk), (Some(512), Some(7)));
    }

    #[test]
    fn benchmark_is_a_float_and_stays_none_when_missing() {
        let record =
            parse_record("VMUUID: a\nSiteName: b\nBenchmark: 1006.3\nBenchmarkType: Hepspec")
                .unwrap();
        assert_eq!(record.benchmark, Some(1006.3));
        let record = parse_record("VMUUID: a\nSiteName: b").unwrap();
        assert_eq!(record.benchmark, None);
        let error = record_error("VMUUID: x\nSiteName: y\nBenchmark: fast");
        assert_eq!(error.field.as_deref(), Some("Benchmark"));
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let long = "é".repeat(500);
        let error = record_error(&format!("VMUUID: x\nSiteName: y\nMemory: {long}"));
        assert!(error.message.chars().count() < 120, "{error}");
        assert!(error.message.ends_with('…'), "{error}");
        let error = record_error(&format!("VMUUID: x\nSiteName: y\n{long}: 1"));
        assert!(error.field.unwrap().chars().count() <= QUOTE_CHARS + 1);
    }

    // -- FQAN -------------------------------------------------------------

    #[test]
    fn fqan_examples() {
        let cases: [(&str, &str, Option<&str>, Option<&str>); 10] = [
            (
                "/ops/Role=NULL/Capability=NULL",
                "ops",
                Some("/ops"),
                Some("Role=NULL"),
            ),
            (
                "/atlas/uk/Role=production",
                "atlas",
                Some("/atlas/uk"),
                Some("Role=production"),
            ),
            (
                "/atlas/uk/Role=production/Capability=NULL",
                "atlas",
                Some("/atlas/uk"),
                Some("Role=production"),
            ),
            ("/atlas/uk", "atlas", Some("/atlas/uk"), None),
            (
                "/atlas/role=lcgadmin",
                "atlas",
                Some("/atlas"),
                Some("role=lcgadmin"),
            ),
            (
                "/cms/Role=pilot;/cms/Role=NULL;/dteam",
                "cms",
                Some("/cms"),
                Some("Role=pilot"),
            ),
            ("ops", "ops", None, None),
            ("VO 1 FQAN", "VO 1 FQAN", None, None),
            (
                "fedcloud.egi.eu;/ops/Role=NULL",
                "fedcloud.egi.eu",
                None,
                None,
            ),
            ("/", "", Some(""), None),
        ];
        for (fqan, vo, group, role) in cases {
            let parts = parse_fqan(fqan);
            assert_eq!(parts.vo, vo, "{fqan}");
            assert_eq!(parts.group.as_deref(), group, "{fqan}");
            assert_eq!(parts.role.as_deref(), role, "{fqan}");
        }
        // Capability without a role stays in the group, as in APEL.
        assert_eq!(
            parse_fqan("/ops/Capability=NULL").group.as_deref(),
            Some("/ops/Capability=NULL")
        );
        // Empty pieces are skipped in the group but count for the VO.
        let parts = parse_fqan("//atlas//uk/Role=x");
        assert_eq!(
            (parts.vo.as_str(), parts.group.as_deref()),
            ("", Some("/atlas/uk"))
        );
    }

    #[test]
    fn fqan_is_derived_into_the_record() {
        let record =
            parse_record("VMUUID: a\nSiteName: b\nFQAN: /atlas/uk/Role=production;/atlas").unwrap();
        assert_eq!(
            record.fqan.as_deref(),
            Some("/atlas/uk/Role=production;/atlas")
        );
        assert_eq!(record.vo.as_deref(), Some("atlas"));
        assert_eq!(record.vo_group.as_deref(), Some("/atlas/uk"));
        assert_eq!(record.vo_role.as_deref(), Some("Role=production"));
    }

    // -- APEL's loader defaults --------------------------------------------

    #[test]
    fn wall_duration_defaults() {
        let base = "VMUUID: a\nSiteName: b\nStartTime: 1000\n";
        let record = parse_record(&format!("{base}WallDuration: 50\nSuspendDuration: 7")).unwrap();
        assert_eq!(record.suspend_duration_or_zero(), 7);
        assert_eq!(record.effective_wall_duration().unwrap(), 50);
        assert_eq!(record.measurement_time().unwrap(), at(1057));

        // NULL wall, completed: end - start in seconds; NULL suspend is 0.
        let record = parse_record(&format!("{base}EndTime: 1600\nStatus: Completed")).unwrap();
        assert_eq!(record.suspend_duration_or_zero(), 0);
        assert_eq!(record.effective_wall_duration().unwrap(), 600);
        assert_eq!(record.measurement_time().unwrap(), at(1600));

        // NULL wall, not completed: APEL's NOT NULL column rejects it.
        let record = parse_record(&format!("{base}EndTime: 1600\nStatus: started")).unwrap();
        let error = record.effective_wall_duration().unwrap_err();
        assert_eq!(error.field.as_deref(), Some("WallDuration"));
        assert!(error.message.contains("VMUUID \"a\""), "{error}");
        assert_eq!(
            error.clone().with_record(3).to_string().split(':').next(),
            Some("record 3")
        );

        // Completed without an end, or ending before it started.
        let record = parse_record(&format!("{base}Status: completed")).unwrap();
        assert!(record.effective_wall_duration().is_err());
        let record = parse_record(&format!("{base}Status: completed\nEndTime: 999")).unwrap();
        assert!(record.effective_wall_duration().is_err());

        // No StartTime: no measurement time.
        let record = parse_record("VMUUID: a\nSiteName: b\nWallDuration: 5").unwrap();
        assert_eq!(
            record.measurement_time().unwrap_err().field.as_deref(),
            Some("StartTime")
        );
    }

    #[test]
    fn measurement_time_overflow_is_an_error() {
        let record = parse_record(&format!(
            "VMUUID: a\nSiteName: b\nStartTime: 253402300799\nWallDuration: {}\nSuspendDuration: {}",
            i64::MAX,
            i64::MAX
        ))
        .unwrap();
        assert!(record.measurement_time().is_err());
        let record = parse_record(&format!(
            "VMUUID: a\nSiteName: b\nStartTime: 253402300799\nWallDuration: {}",
            i64::MAX / 1000
        ))
        .unwrap();
        assert!(record.measurement_time().is_err());
    }

    #[test]
    fn check_loadable_names_the_record() {
        let parsed = parse_message(&message(&[
            "VMUUID: a\nSiteName: s\nStartTime: 1\nWallDuration: 2",
            "VMUUID: b\nSiteName: s\nStartTime: 1\nStatus: started",
        ]))
        .unwrap();
        let error = parsed.check_loadable().unwrap_err();
        assert_eq!(
            (error.record, error.field.as_deref()),
            (Some(2), Some("WallDuration"))
        );
    }

    // -- summaries --------------------------------------------------------

    #[test]
    fn summary_message_and_its_mandatory_fields() {
        let text = "APEL-cloud-summary-message: v0.4\nSiteName: S\nMonth: 10\nYear: 2011\nNumberOfVMs: 3\n\
                    VO: ops\nCpuCount: 4.0\nPublicIPCount: 2\nEarliestStartTime: 1318840264\n%%\n";
        let ApelMessage::Summary(parsed) = parse_any(text).unwrap() else {
            panic!("not a summary");
        };
        assert_eq!(parsed.version, MessageVersion::V0_4);
        let record = &parsed.records[0];
        assert_eq!(
            (record.month, record.year, record.number_of_vms),
            (10, 2011, 3)
        );
        assert_eq!(record.vo.as_deref(), Some("ops"));
        assert_eq!(record.cpu_count, Some(4.0));
        assert_eq!(record.public_ip_count, Some(2));
        assert_eq!(record.earliest_start_time, Some(at(1_318_840_264)));

        for (bad, field) in [
            ("SiteName: S\nYear: 2011\nNumberOfVMs: 1", "Month"),
            (
                "SiteName: S\nMonth: 13\nYear: 2011\nNumberOfVMs: 1",
                "Month",
            ),
            ("SiteName: S\nMonth: 0\nYear: 2011\nNumberOfVMs: 1", "Month"),
            ("SiteName: S\nMonth: 1\nYear: NULL\nNumberOfVMs: 1", "Year"),
            (
                "SiteName: S\nMonth: 1\nYear: 2011\nNumberOfVMs: -1",
                "NumberOfVMs",
            ),
            ("SiteName: S\nMonth: 1\nYear: 2011", "NumberOfVMs"),
            ("Month: 1\nYear: 2011\nNumberOfVMs: 1", "SiteName"),
            (
                "SiteName: S\nMonth: 1\nYear: 2011\nNumberOfVMs: 1\nVMUUID: x",
                "VMUUID",
            ),
        ] {
            let error = parse_summary_message(&format!("APEL-cloud-summary-message: v0.4\n{bad}"))
                .unwrap_err();
            assert_eq!(
                (error.record, error.field.as_deref()),
                (Some(1), Some(field)),
                "{bad}"
            );
        }
    }

    #[test]
    fn parse_any_dispatches_on_the_header() {
        let cloud = parse_any("APEL-cloud-message: v0.2\nVMUUID: a\nSiteName: b").unwrap();
        assert!(matches!(cloud, ApelMessage::Cloud(ref m) if m.records.len() == 1));
        let summary = parse_any(
            "APEL-cloud-summary-message: v0.4\nSiteName: S\nMonth: 1\nYear: 2020\nNumberOfVMs: 0",
        )
        .unwrap();
        assert!(matches!(summary, ApelMessage::Summary(ref m) if m.records[0].number_of_vms == 0));
    }

    #[test]
    fn single_records_reject_separators() {
        let error = parse_record("VMUUID: a\nSiteName: b\n%%\n").unwrap_err();
        assert_eq!(error.record, Some(1));
        assert!(parse_record("\nVMUUID: a\nSiteName: b\n\n").is_ok());
    }

    // -- fixtures ---------------------------------------------------------

    /// The shared APEL fixtures folder.
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/apel");

    /// Every fixture file as `(name, text)`, or `None` (with a note) when the
    /// folder is absent.
    fn fixtures() -> Option<Vec<(String, String)>> {
        let Ok(dir) = std::fs::read_dir(FIXTURES) else {
            eprintln!("skipping: APEL fixtures folder {FIXTURES} is absent");
            return None;
        };
        let mut files: Vec<(String, String)> = dir
            .map(|entry| {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                let text = std::fs::read_to_string(entry.path()).unwrap();
                (name, text)
            })
            .collect();
        files.sort();
        Some(files)
    }

    /// What a fixture holds, judged from its name and header.
    #[derive(Debug)]
    enum Parsed {
        Message(ApelMessage),
        Record(CloudRecord),
        SummaryRecord(SummaryRecord),
    }

    /// Parses a fixture with the function that fits it: `*.record.txt` files
    /// are header-less record bodies (cloud or summary), the rest messages.
    fn parse_fixture(name: &str, text: &str) -> Result<Parsed, ApelError> {
        if name.ends_with(".record.txt") {
            if name.contains("summary") {
                parse_summary_record(text).map(Parsed::SummaryRecord)
            } else {
                parse_record(text).map(Parsed::Record)
            }
        } else {
            parse_any(text).map(Parsed::Message)
        }
    }

    #[test]
    fn every_fixture_parses() {
        let Some(files) = fixtures() else { return };
        assert!(!files.is_empty());
        for (name, text) in &files {
            match parse_fixture(name, text) {
                Ok(parsed) => eprintln!(
                    "{name}: ok ({})",
                    match parsed {
                        Parsed::Message(ApelMessage::Cloud(m)) =>
                            format!("cloud message, {} records", m.records.len()),
                        Parsed::Message(ApelMessage::Summary(m)) =>
                            format!("summary message, {} records", m.records.len()),
                        Parsed::Record(r) => format!("cloud record {}", r.vm_uuid),
                        Parsed::SummaryRecord(r) => format!("summary record {}", r.site_name),
                    }
                ),
                Err(error) => panic!("{name}: {error}"),
            }
        }
    }

    /// The fixture `name`'s text, or `None` when the folder is absent.
    fn fixture(name: &str) -> Option<String> {
        let files = fixtures()?;
        let found = files.into_iter().find(|(file, _)| file == name);
        Some(
            found
                .unwrap_or_else(|| panic!("fixture {name} is missing"))
                .1,
        )
    }

    /// The cloud message in fixture `name`.
    fn fixture_message(name: &str) -> Option<CloudMessage> {
        Some(parse_message(&fixture(name)?).unwrap())
    }

    /// The cloud record in fixture `name`.
    fn fixture_record(name: &str) -> Option<CloudRecord> {
        Some(parse_record(&fixture(name)?).unwrap())
    }

    #[test]
    fn fixture_apel_rest_message() {
        let Some(parsed) = fixture_message("apel-rest-cloud-message-v0.2.txt") else {
            return;
        };
        assert_eq!(parsed.version, MessageVersion::V0_2);
        assert_eq!(parsed.records.len(), 2);
        let first = &parsed.records[0];
        assert_eq!(first.vm_uuid, "TestVM1 2013-02-25 17:37:27+00:00");
        assert_eq!(first.site_name, "CESGA");
        assert_eq!(first.machine_name.as_deref(), Some("one-2421"));
        assert_eq!(first.start_time, Some(at(1_361_813_847)));
        assert_eq!(first.end_time, Some(at(1_361_813_870)));
        assert_eq!(
            (first.wall_duration, first.suspend_duration, first.disk),
            (None, None, None)
        );
        assert_eq!((first.fqan.as_deref(), first.vo.as_deref()), (None, None));
        assert_eq!(first.cpu_count, Some(1.0));
        assert_eq!(first.memory, Some(1000));
        assert_eq!(first.network_inbound, Some(0));
        assert_eq!(first.cloud_type.as_deref(), Some("OpenNebula"));
        // Completed with NULL WallDuration: end - start.
        assert_eq!(first.effective_wall_duration().unwrap(), 23);
        assert_eq!(first.measurement_time().unwrap(), at(1_361_813_870));
        let second = &parsed.records[1];
        assert_eq!(second.vm_uuid, "TestVM1 2015-06-25 17:37:27+00:00");
        assert_eq!(second.local_user_id.as_deref(), Some("13"));
        assert_eq!(
            second.effective_wall_duration().unwrap(),
            1_361_811_870 - 1_361_413_847
        );
        parsed.check_loadable().unwrap();
    }

    #[test]
    fn fixture_cloud_record_msg1_opennebula() {
        let Some(record) = fixture_record("apel-test_cloud_record-msg1-v0.4-opennebula.record.txt")
        else {
            return;
        };
        assert_eq!(record.vm_uuid, "2012-12-04 09:15:01+00:00 CESNET vm-0");
        assert_eq!(record.site_name, "CESNET");
        assert_eq!(
            record.cloud_compute_service.as_deref(),
            Some("OpenNebula Service A")
        );
        assert_eq!(record.machine_name.as_deref(), Some("'one-0'"));
        assert_eq!(record.image_id.as_deref(), Some("'scilin6'"));
        assert_eq!(record.cpu_count, Some(1.0));
        assert_eq!(record.public_ip_count, Some(5));
        assert_eq!(record.memory, Some(512));
        assert_eq!(record.benchmark_type.as_deref(), Some("Hepspec"));
        assert_eq!(record.benchmark, Some(1006.3));
        assert_eq!((record.wall_duration, record.cpu_duration), (None, None));
        assert_eq!(record.vo, None);
        assert_eq!(
            record.effective_wall_duration().unwrap(),
            1_318_848_076 - 1_318_840_264
        );
    }

    #[test]
    fn fixture_cloud_record_msg2_openstack_started() {
        let Some(record) =
            fixture_record("apel-test_cloud_record-msg2-v0.4-openstack-started.record.txt")
        else {
            return;
        };
        assert_eq!(
            record.vm_uuid,
            "2012-08-14 14:00:01+0200 FZJ Accounting Test"
        );
        assert_eq!(record.site_name, "FZJ");
        assert_eq!(record.status.as_deref(), Some("started"));
        assert_eq!(record.end_time, None);
        assert_eq!(record.local_group_id.as_deref(), Some("EGI FCTF"));
        assert_eq!(
            record.global_user_name.as_deref(),
            Some("/DC=es/DC=irisgrid/O=cesga/CN=javier-lopez")
        );
        assert_eq!(
            record.fqan.as_deref(),
            Some("/ops/Role=NULL/Capability=NULL")
        );
        assert_eq!(record.vo.as_deref(), Some("ops"));
        assert_eq!(record.vo_group.as_deref(), Some("/ops"));
        assert_eq!(record.vo_role.as_deref(), Some("Role=NULL"));
        assert_eq!(record.wall_duration, Some(1_582_876));
        assert_eq!(record.cpu_duration, Some(437));
        assert_eq!(record.cpu_count, Some(1.456));
        assert_eq!(
            (record.network_inbound, record.network_outbound),
            (None, None)
        );
        assert_eq!(record.disk, Some(0));
        assert_eq!(record.benchmark, Some(200.0));
        assert_eq!(record.image_id.as_deref(), Some("Debian Testing (Wheezy)"));
        assert_eq!(
            record.measurement_time().unwrap(),
            at(1_343_362_725 + 1_582_876)
        );
    }

    #[test]
    fn fixture_cloud_record_msg3_v02_style() {
        let Some(record) = fixture_record("apel-test_cloud_record-msg3-v0.2-style.record.txt")
        else {
            return;
        };
        assert_eq!(record.vm_uuid, "2013-11-14 19:15:21+00:00 CESNET vm-1");
        assert_eq!(record.cloud_compute_service, None);
        assert_eq!(record.public_ip_count, None);
        assert_eq!(
            (record.benchmark_type.as_deref(), record.benchmark),
            (None, None)
        );
        assert_eq!(record.cpu_count, Some(2.0));
        assert_eq!(
            record.effective_wall_duration().unwrap(),
            1_318_849_976 - 1_318_842_264
        );
    }

    #[test]
    fn fixture_cloud_record_msg4_caso_missing_fields() {
        let Some(record) =
            fixture_record("apel-test_cloud_record-msg4-caso-missing-fields.record.txt")
        else {
            return;
        };
        assert_eq!(record.vm_uuid, "Test VM ID");
        assert_eq!(record.site_name, "Test Site");
        assert_eq!(
            record.cloud_compute_service.as_deref(),
            Some("Test Service")
        );
        assert_eq!(record.cloud_type.as_deref(), Some("caso/0.3.4 (OpenStack)"));
        assert_eq!(record.benchmark_type.as_deref(), Some("HEPSPEC06"));
        assert_eq!(record.global_user_name.as_deref(), Some("Test User"));
        assert_eq!(
            (record.start_time, record.end_time, record.wall_duration),
            (None, None, None)
        );
        assert_eq!(record.vo, None);
        // It parses (as in APEL's unit test) but could not be stored.
        assert_eq!(
            record.measurement_time().unwrap_err().field.as_deref(),
            Some("StartTime")
        );
        assert_eq!(
            record
                .effective_wall_duration()
                .unwrap_err()
                .field
                .as_deref(),
            Some("WallDuration")
        );
    }

    #[test]
    fn fixture_cloud_summary_record() {
        let Some(text) = fixture("apel-test_cloud_summary-msg1.record.txt") else {
            return;
        };
        let record = parse_summary_record(&text).unwrap();
        assert_eq!(record.site_name, "CESNET");
        assert_eq!(
            record.cloud_compute_service.as_deref(),
            Some("OpenNebula Service A")
        );
        assert_eq!((record.month, record.year), (10, 2011));
        assert_eq!(record.vo.as_deref(), Some("ops"));
        assert_eq!(record.vo_group.as_deref(), Some("/ops"));
        assert_eq!(record.vo_role.as_deref(), Some("Role=NULL"));
        assert_eq!(record.earliest_start_time, Some(at(1_318_840_264)));
        assert_eq!(record.latest_start_time, Some(at(1_318_840_264)));
        // The `None` token.
        assert_eq!(
            (record.wall_duration, record.cpu_duration, record.disk),
            (None, None, None)
        );
        assert_eq!(record.cpu_count, Some(4.0));
        assert_eq!(record.benchmark, Some(1006.3));
        assert_eq!(record.number_of_vms, 1);
        // It is not a cloud record.
        assert!(parse_record(&text).is_err());
    }

    #[test]
    fn fixture_mysql_records() {
        let Some(cloud2) = fixture_record("apel-test_mysql-CLOUD2-v0.2.record.txt") else {
            return;
        };
        assert_eq!(cloud2.vm_uuid, "12345 Site1 vm-1");
        assert_eq!(cloud2.site_name, "Site1");
        assert_eq!(cloud2.machine_name.as_deref(), Some("'1'"));
        assert_eq!(cloud2.cpu_count, Some(1.234));
        assert_eq!(cloud2.cloud_type.as_deref(), Some("Cloud Technology 1"));
        assert_eq!(
            cloud2.effective_wall_duration().unwrap(),
            1_318_849_976 - 1_318_842_264
        );

        let Some(cloud4) = fixture_record("apel-test_mysql-CLOUD4-v0.4.record.txt") else {
            return;
        };
        assert_eq!(cloud4.vm_uuid, "12345 Site2 Accounting Test");
        assert_eq!(cloud4.benchmark_type.as_deref(), Some("Si2k"));
        assert_eq!(cloud4.benchmark, Some(200.0));
        assert_eq!(cloud4.end_time, None);
        assert_eq!(cloud4.wall_duration, Some(1_582_876));
        assert_eq!(cloud4.cpu_count, Some(1.345));
        assert_eq!(cloud4.vo.as_deref(), Some("ops"));

        let Some(nulls) = fixture_record("apel-test_mysql-CLOUD4_NULL_BENCHMARKS.record.txt")
        else {
            return;
        };
        assert_eq!(nulls.vm_uuid, "12346 Site2 Accounting Test");
        assert_eq!(
            (nulls.benchmark_type.as_deref(), nulls.benchmark),
            (None, None)
        );
        assert_eq!(nulls.wall_duration, Some(1_583_876));
        assert_eq!(nulls.cpu_count, Some(2.0));
        assert_eq!(
            nulls.measurement_time().unwrap(),
            at(1_343_362_825 + 1_583_876)
        );
    }

    #[test]
    fn fixture_record_factory_messages() {
        let Some(text) = fixture("apel-test_record_factory-cloud-message-v0.4.txt") else {
            return;
        };
        let ApelMessage::Cloud(cloud) = parse_any(&text).unwrap() else {
            panic!("not cloud")
        };
        assert_eq!(cloud.version, MessageVersion::V0_4);
        assert_eq!(cloud.records.len(), 1);
        assert_eq!(
            cloud.records[0].vm_uuid,
            "2013-11-14 19:15:21+00:00 CESNET vm-1"
        );
        assert_eq!(cloud.records[0].site_name, "CESNET");
        assert_eq!(cloud.records[0].start_time, None);

        let Some(text) = fixture("apel-test_record_factory-cloud-summary-message-v0.4.txt") else {
            return;
        };
        let ApelMessage::Summary(summary) = parse_any(&text).unwrap() else {
            panic!("not summary")
        };
        assert_eq!(summary.version, MessageVersion::V0_4);
        assert_eq!(summary.records.len(), 1);
        let record = &summary.records[0];
        assert_eq!(
            (record.site_name.as_str(), record.month, record.year),
            ("CESNET", 10, 2011)
        );
        assert_eq!(record.number_of_vms, 1);
        assert!(parse_message(&text).is_err());
    }

    #[test]
    fn fixture_caso_message() {
        let Some(parsed) = fixture_message("caso-expected-cloud-message-v0.4.txt") else {
            return;
        };
        assert_eq!(parsed.version, MessageVersion::V0_4);
        assert_eq!(parsed.records.len(), 2);
        let first = &parsed.records[0];
        assert_eq!(first.vm_uuid, "721cf1db-0e0f-4c24-a5ea-cd75e0f303e8");
        assert_eq!(first.site_name, "TEST-Site");
        assert_eq!(first.status.as_deref(), Some("started"));
        assert_eq!(first.cloud_type.as_deref(), Some("caso/5.2.2 (OpenStack)"));
        assert_eq!(first.cpu_count, Some(8.0));
        assert_eq!(first.cpu_duration, Some(3_456_000));
        assert_eq!(first.wall_duration, Some(432_000));
        assert_eq!(
            (first.memory, first.disk, first.public_ip_count),
            (Some(16), Some(250), Some(7))
        );
        assert_eq!(first.fqan.as_deref(), Some("VO 1 FQAN"));
        assert_eq!(first.vo.as_deref(), Some("VO 1 FQAN"));
        assert_eq!(
            (first.vo_group.as_deref(), first.vo_role.as_deref()),
            (None, None)
        );
        // Omitted fields are None.
        assert_eq!(
            (
                first.suspend_duration,
                first.benchmark,
                first.network_type.as_deref()
            ),
            (None, None, None)
        );
        let second = &parsed.records[1];
        assert_eq!(second.vm_uuid, "a53738e1-13eb-4047-800c-067d14ce3d22");
        assert_eq!(second.status.as_deref(), Some("completed"));
        assert_eq!(second.vo.as_deref(), Some("VO 2 FQAN"));
        // Both snapshots end at the shared EndTime.
        for record in &parsed.records {
            assert_eq!(record.measurement_time().unwrap(), at(1_685_051_946));
        }
        parsed.check_loadable().unwrap();
    }

    // -- fuzz ---------------------------------------------------------------

    /// A small deterministic PRNG (xorshift64).
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// Fragments that steer random text towards the parser's corners.
    const TOKENS: &[&str] = &[
        "APEL-cloud-message: v0.4\n",
        "APEL-cloud-summary-message: v0.4\n",
        "APEL-cloud-message",
        "%%",
        "\n%%\n",
        ":",
        ": ",
        "\n",
        "\r\n",
        "\r",
        "\u{2028}",
        "\x0b",
        " ",
        "\t",
        "VMUUID: ",
        "SiteName: ",
        "StartTime: ",
        "EndTime: ",
        "WallDuration: ",
        "SuspendDuration: ",
        "CpuCount: ",
        "Benchmark: ",
        "Status: completed",
        "FQAN: /",
        "Role=",
        ";",
        "Month: ",
        "Year: ",
        "NumberOfVMs: ",
        "RecordCreateTime: ",
        "NULL",
        "none",
        "é",
        "☃",
        "\u{0301}",
        "\u{FFFD}",
        "\0",
        "<",
        "{",
    ];

    /// Extreme and odd values for numeric and time fields.
    const NUMBERS: &[&str] = &[
        "0",
        "-0",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999999",
        "253402300799",
        "8210298412799",
        "-62135596801",
        "1e308",
        "-1e-308",
        "NaN",
        "inf",
        "1.5",
        "2013-02-25T17:37:27Z",
        "+99999-01-01T00:00:00Z",
        "9999-12-31T23:59:59-23:59",
    ];

    /// Runs every entry point (and the record methods) on `text`.
    fn exercise(text: &str) {
        if let Ok(ApelMessage::Cloud(message)) = parse_any(text) {
            let _ = message.check_loadable();
        }
        if let Ok(message) = parse_message(text) {
            for record in &message.records {
                let _ = record.measurement_time();
            }
        }
        let _ = parse_summary_message(text).map_err(|error| error.to_string());
        if let Ok(record) = parse_record(text) {
            let _ = record.effective_wall_duration();
            let _ = record.measurement_time();
        }
        let _ = parse_summary_record(text).map_err(|error| error.to_string());
        let _ = parse_fqan(text);
    }

    /// Seeds for mutation: the fixtures when present, plus inline messages.
    fn seeds() -> Vec<String> {
        let mut seeds = vec![
            message(&[
                "VMUUID: a\nSiteName: s\nStartTime: 1000\nEndTime: 2000\nStatus: completed\nFQAN: /atlas/uk/Role=x",
                "VMUUID: b\nSiteName: s\nStartTime: 2013-02-25T17:37:27Z\nWallDuration: 5\nCpuCount: 1.5",
            ]),
            "APEL-cloud-summary-message: v0.4\nSiteName: S\nMonth: 10\nYear: 2011\nNumberOfVMs: 1\n%%\n".to_owned(),
            "VMUUID: a\nSiteName: s\nSuspendDuration: 3\nWallDuration: 4\nStartTime: 5".to_owned(),
        ];
        if let Some(files) = fixtures() {
            seeds.extend(files.into_iter().map(|(_, text)| text));
        }
        seeds
    }

    #[test]
    fn random_text_never_panics() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..rng.below(40) {
                match rng.below(5) {
                    0 => {
                        let bytes: Vec<u8> = (0..rng.below(12))
                            .map(|_| rng.next().to_le_bytes()[0])
                            .collect();
                        text.push_str(&String::from_utf8_lossy(&bytes));
                    }
                    1 => text.push(
                        char::from_u32(u32::try_from(rng.below(0x11_0000)).unwrap()).unwrap_or('?'),
                    ),
                    2 => text.push_str(rng.pick(NUMBERS)),
                    _ => text.push_str(rng.pick(TOKENS)),
                }
            }
            exercise(&text);
        }
        exercise("");
    }

    #[test]
    fn mutated_messages_never_panic() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let seeds = seeds();
        for round in 0..4000 {
            let seed = &seeds[round % seeds.len()];
            let mut chars: Vec<char> = seed.chars().collect();
            for _ in 0..=rng.below(6) {
                let at = rng.below(chars.len() + 1);
                match rng.below(5) {
                    0 => chars
                        .splice(at..at, rng.pick(TOKENS).chars())
                        .for_each(drop),
                    1 => {
                        let end = (at + rng.below(20)).min(chars.len());
                        chars.drain(at..end);
                    }
                    2 if at < chars.len() => {
                        chars[at] = char::from_u32(u32::try_from(rng.below(0x3000)).unwrap())
                            .unwrap_or('\u{FFFD}');
                    }
                    3 => {
                        let end = (at + rng.below(30)).min(chars.len());
                        let copy: Vec<char> = chars[at..end].to_vec();
                        chars.splice(at..at, copy).for_each(drop);
                    }
                    _ => {
                        // Replace a value with an extreme number.
                        let number = rng.pick(NUMBERS);
                        chars.splice(at..at, number.chars()).for_each(drop);
                    }
                }
            }
            let text: String = chars.into_iter().collect();
            exercise(&text);
        }
    }
}
