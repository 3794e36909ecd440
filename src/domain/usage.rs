//! Units and the attribution of usage to time buckets.
//!
//! A task that ran from 23:30 to 01:30 used half its usage on each day. Usage
//! is spread over the UTC hours of the task's run in proportion to the seconds
//! spent in each, in exact integers: the parts always add up to the total.

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};

/// HEAppE's job and task states (heappe.md §5), as stored (`jobs.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobState {
    /// Being configured.
    Configuring = 1,
    /// Submitted to HEAppE.
    Submitted = 2,
    /// Waiting in the scheduler's queue.
    Queued = 4,
    /// Running.
    Running = 8,
    /// Ended successfully.
    Finished = 16,
    /// Ended with an error.
    Failed = 32,
    /// Cancelled.
    Canceled = 64,
    /// Waiting for a service account.
    WaitingForServiceAccount = 128,
    /// Deleted.
    Deleted = 256,
}

impl JobState {
    /// Every state, by value.
    pub const ALL: [Self; 9] = [
        Self::Configuring,
        Self::Submitted,
        Self::Queued,
        Self::Running,
        Self::Finished,
        Self::Failed,
        Self::Canceled,
        Self::WaitingForServiceAccount,
        Self::Deleted,
    ];

    /// The state stored as `value`.
    #[must_use]
    pub fn from_value(value: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as i64 == value)
    }

    /// The state named `name` (upstream's enum names, any case).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// Upstream's enum name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Configuring => "Configuring",
            Self::Submitted => "Submitted",
            Self::Queued => "Queued",
            Self::Running => "Running",
            Self::Finished => "Finished",
            Self::Failed => "Failed",
            Self::Canceled => "Canceled",
            Self::WaitingForServiceAccount => "WaitingForServiceAccount",
            Self::Deleted => "Deleted",
        }
    }

    /// The stored value.
    #[must_use]
    pub fn value(self) -> i16 {
        self as i16
    }

    /// Whether a job in this state will not change any more.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Finished | Self::Failed | Self::Canceled | Self::Deleted
        )
    }
}

/// The start of the UTC hour `at` lies in.
#[must_use]
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// Spreads `total` over the UTC hours of `[start, end)` in proportion to the
/// time spent in each. The parts are exact integers that add up to `total`
/// (the remainder goes to the hours with the largest fractional shares,
/// earliest first). An empty or inverted interval puts everything in the hour
/// of `start`.
#[must_use]
pub fn spread_over_hours(
    total: i64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, i64)> {
    let span = (end - start).num_microseconds().unwrap_or(0);
    if span <= 0 || total == 0 {
        return vec![(hour_of(start), total)];
    }
    let mut hours = Vec::new();
    let mut cursor = start;
    while cursor < end {
        let next = (hour_of(cursor) + TimeDelta::hours(1)).min(end);
        let micros = (next - cursor).num_microseconds().unwrap_or(0);
        hours.push((hour_of(cursor), micros));
        cursor = next;
    }
    // Largest remainder: floor shares, then hand out what is left.
    let total_i = i128::from(total);
    let span_i = i128::from(span);
    let mut parts: Vec<(DateTime<Utc>, i64, i128)> = hours
        .iter()
        .map(|(hour, micros)| {
            let exact = total_i * i128::from(*micros);
            let share = exact.div_euclid(span_i);
            (
                *hour,
                i64::try_from(share).unwrap_or(0),
                exact.rem_euclid(span_i),
            )
        })
        .collect();
    let assigned: i64 = parts.iter().map(|p| p.1).sum();
    let mut left = total - assigned;
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| parts[*b].2.cmp(&parts[*a].2).then(a.cmp(b)));
    for index in order {
        if left <= 0 {
            break;
        }
        parts[index].1 += 1;
        left -= 1;
    }
    parts
        .into_iter()
        .map(|(hour, share, _)| (hour, share))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use proptest::prelude::*;

    use super::*;

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, minute, 0).unwrap()
    }

    #[test]
    fn usage_is_spread_by_time_spent() {
        let parts = spread_over_hours(2000, at(1, 23, 30), at(2, 1, 30));
        assert_eq!(
            parts,
            vec![(at(1, 23, 0), 500), (at(2, 0, 0), 1000), (at(2, 1, 0), 500)]
        );
        // Within one hour, or with no duration: one part.
        assert_eq!(
            spread_over_hours(7, at(1, 5, 10), at(1, 5, 20)),
            vec![(at(1, 5, 0), 7)]
        );
        assert_eq!(
            spread_over_hours(7, at(1, 5, 10), at(1, 5, 10)),
            vec![(at(1, 5, 0), 7)]
        );
        // Remainders are handed out so the parts add up.
        let parts = spread_over_hours(10, at(1, 0, 0), at(1, 3, 0));
        assert_eq!(parts.iter().map(|p| p.1).sum::<i64>(), 10);
        assert_eq!(parts.iter().map(|p| p.1).collect::<Vec<_>>(), vec![4, 3, 3]);
    }

    #[test]
    fn states_round_trip() {
        for state in JobState::ALL {
            assert_eq!(JobState::from_value(i64::from(state.value())), Some(state));
            assert_eq!(
                JobState::from_name(&state.name().to_lowercase()),
                Some(state)
            );
        }
        assert_eq!(JobState::from_value(3), None);
        assert!(JobState::Finished.is_final() && !JobState::Running.is_final());
    }

    proptest! {
        #[test]
        fn parts_always_add_up(total in 0_i64..10_000_000_000, start in 0_i64..10_000_000, length in 0_i64..5_000_000) {
            let start = Utc.timestamp_opt(1_700_000_000 + start, 0).unwrap();
            let end = start + TimeDelta::seconds(length);
            let parts = spread_over_hours(total, start, end);
            prop_assert_eq!(parts.iter().map(|p| p.1).sum::<i64>(), total);
            prop_assert!(parts.iter().all(|p| p.1 >= 0));
            prop_assert!(parts.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }
}
