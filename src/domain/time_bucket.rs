//! Time buckets of reports: an hour, a day, a week from Monday, a calendar month
//! or year in a time zone, or the whole period. Computed here, in Rust, so that the
//! SQL of a report is the same on PostgreSQL and SQLite (DESIGN §2).

use chrono::{
    DateTime, Datelike as _, Duration, Months, NaiveDate, NaiveDateTime, TimeZone as _,
    Timelike as _, Utc,
};
use chrono_tz::Tz;

/// The length of one bucket of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeBucket {
    /// One hour.
    Hour,
    /// One local day.
    Day,
    /// One local week, from Monday.
    Week,
    /// One calendar month.
    Month,
    /// One calendar year.
    Year,
    /// The whole period: one bucket.
    Total,
}

impl TimeBucket {
    /// About how long one bucket is, in hours (for cost estimates); `None` for
    /// [`TimeBucket::Total`].
    #[must_use]
    pub const fn hours(self) -> Option<i64> {
        match self {
            Self::Hour => Some(1),
            Self::Day => Some(24),
            Self::Week => Some(24 * 7),
            Self::Month => Some(24 * 28),
            Self::Year => Some(24 * 365),
            Self::Total => None,
        }
    }

    /// The start of the bucket holding `instant`, in `tz`; `None` for
    /// [`TimeBucket::Total`], which has no start of its own.
    #[must_use]
    pub fn start(self, instant: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = instant.with_timezone(&tz).naive_local();
        let date = local.date();
        let truncated: NaiveDateTime = match self {
            Self::Total => return None,
            Self::Hour => {
                return Some(
                    instant
                        - Duration::seconds(i64::from(instant.minute() * 60 + instant.second()))
                        - Duration::nanoseconds(i64::from(instant.nanosecond())),
                );
            }
            Self::Day => date.into(),
            Self::Week => {
                (date - Duration::days(i64::from(date.weekday().num_days_from_monday()))).into()
            }
            Self::Month => date.with_day(1).unwrap_or(date).into(),
            Self::Year => date.with_ordinal(1).unwrap_or(date).into(),
        };
        Some(local_to_utc(truncated, tz))
    }

    /// The start of the bucket after the one starting at `start`; `None` for
    /// [`TimeBucket::Total`].
    #[must_use]
    pub fn next(self, start: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let date = start.with_timezone(&tz).naive_local().date();
        let next: NaiveDateTime = match self {
            Self::Total => return None,
            Self::Hour => return Some(start + Duration::hours(1)),
            Self::Day => (date + Duration::days(1)).into(),
            Self::Week => (date + Duration::days(7)).into(),
            Self::Month => date
                .checked_add_months(Months::new(1))
                .unwrap_or(NaiveDate::MAX)
                .into(),
            Self::Year => date
                .checked_add_months(Months::new(12))
                .unwrap_or(NaiveDate::MAX)
                .into(),
        };
        Some(local_to_utc(next, tz))
    }
}

/// The instant of a local time; a local time skipped by a DST change starts at
/// the first instant after it.
fn local_to_utc(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::hours(1);
    }
    local.and_utc()
}

/// Whether `t` is midnight UTC (a daily rollup can answer from it).
#[must_use]
pub fn is_midnight(t: DateTime<Utc>) -> bool {
    t.num_seconds_from_midnight() == 0 && t.nanosecond() == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn buckets_follow_the_time_zone_and_the_calendar() {
        let prague: Tz = "Europe/Prague".parse().unwrap();
        assert_eq!(
            TimeBucket::Day.start(t("2026-03-01T23:30:00Z"), prague),
            Some(t("2026-03-01T23:00:00Z"))
        );
        assert_eq!(
            TimeBucket::Week.start(t("2026-03-04T10:00:00Z"), Tz::UTC),
            Some(t("2026-03-02T00:00:00Z"))
        );
        assert_eq!(
            TimeBucket::Hour.start(t("2026-03-04T10:15:00Z"), prague),
            Some(t("2026-03-04T10:00:00Z"))
        );
        assert_eq!(
            TimeBucket::Month.next(t("2026-01-01T00:00:00Z"), Tz::UTC),
            Some(t("2026-02-01T00:00:00Z"))
        );
        // A DST day in Prague has 23 hours.
        let day = TimeBucket::Day
            .start(t("2026-03-29T12:00:00Z"), prague)
            .unwrap();
        assert_eq!(
            TimeBucket::Day.next(day, prague).unwrap() - day,
            Duration::hours(23)
        );
        assert_eq!(
            TimeBucket::Year.next(t("2026-01-01T00:00:00Z"), Tz::UTC),
            Some(t("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            TimeBucket::Total.start(t("2026-01-01T00:00:00Z"), prague),
            None
        );
    }

    #[test]
    fn midnight_is_exact() {
        assert!(is_midnight(t("2026-01-01T00:00:00Z")));
        assert!(!is_midnight(t("2026-01-01T00:00:00.001Z")));
    }
}
