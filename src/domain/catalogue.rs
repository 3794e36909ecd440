//! Names, accounting strings and spans of the catalogue and tenancy rows an
//! administrator creates (projects, sub-projects, groups, clusters, node types,
//! aggregations), parsed at the edge: a value of these types is valid, so the
//! database's `CHECK` constraints never see an invalid one.

use chrono::{DateTime, NaiveDate, Utc};

/// The longest name, identifier or accounting string accepted.
pub const MAX_NAME_CHARS: usize = 200;

/// The longest description accepted.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

/// Why an input was refused; the message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InputError(String);

/// A display name, identifier or label: trimmed, 1 to [`MAX_NAME_CHARS`]
/// characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Parses `text` as the value of `field`.
    ///
    /// # Errors
    /// [`InputError`] naming `field` when it is empty, too long or holds a
    /// control character.
    pub fn parse(field: &str, text: &str) -> Result<Self, InputError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(InputError(format!("{field} cannot be empty")));
        }
        if text.chars().count() > MAX_NAME_CHARS {
            return Err(InputError(format!(
                "{field} has more than {MAX_NAME_CHARS} characters"
            )));
        }
        if text.chars().any(char::is_control) {
            return Err(InputError(format!(
                "{field} cannot contain control characters"
            )));
        }
        Ok(Self(text.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, owned.
    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A project's accounting string (HEAppE's `AccountingString`, e.g.
/// `OPEN-12-34`): 1 to [`MAX_NAME_CHARS`] characters, no whitespace and no
/// control characters, since collectors and schedulers pass it around as one
/// word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingString(String);

impl AccountingString {
    /// Parses `text`.
    ///
    /// # Errors
    /// [`InputError`] when it is empty, too long or holds whitespace or a
    /// control character.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        let name = Name::parse("accountingString", text)?;
        if name.as_str().chars().any(char::is_whitespace) {
            return Err(InputError(format!(
                "accountingString {:?} cannot contain whitespace",
                name.as_str()
            )));
        }
        Ok(Self(name.into_inner()))
    }

    /// The accounting string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A free-text description: trimmed, empty becomes none, at most
/// [`MAX_DESCRIPTION_CHARS`] characters.
///
/// # Errors
/// [`InputError`] when it is too long.
pub fn description(text: Option<&str>) -> Result<Option<String>, InputError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(InputError(format!(
            "description has more than {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    Ok(Some(text.to_owned()))
}

/// A span of days, either end open; the end is not before the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateSpan {
    /// The first day.
    pub start: Option<NaiveDate>,
    /// The last day (included).
    pub end: Option<NaiveDate>,
}

impl DateSpan {
    /// The span `start..=end`.
    ///
    /// # Errors
    /// [`InputError`] when `end` is before `start`.
    pub fn new(start: Option<NaiveDate>, end: Option<NaiveDate>) -> Result<Self, InputError> {
        if let (Some(start), Some(end)) = (start, end)
            && end < start
        {
            return Err(InputError(format!(
                "endDate {end} is before startDate {start}"
            )));
        }
        Ok(Self { start, end })
    }
}

/// A validity window: from an instant, to an instant or open; the end is not
/// before the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Start (inclusive).
    pub from: DateTime<Utc>,
    /// End (inclusive), or open.
    pub to: Option<DateTime<Utc>>,
}

impl Validity {
    /// The window `from..=to`.
    ///
    /// # Errors
    /// [`InputError`] when `to` is before `from`.
    pub fn new(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Result<Self, InputError> {
        if let Some(to) = to
            && to < from
        {
            return Err(InputError(format!(
                "validTo {} is before validFrom {}",
                to.to_rfc3339(),
                from.to_rfc3339()
            )));
        }
        Ok(Self { from, to })
    }
}

/// The unit a project's HPC usage is labelled in (HEAppE's `UsageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageType {
    /// Node-hours (HEAppE's `NodeHours`).
    #[default]
    NodeHour,
    /// Core-hours (HEAppE's `CoreHours`).
    CoreHour,
}

impl UsageType {
    /// As stored in `projects.usage_type`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NodeHour => "node_hour",
            Self::CoreHour => "core_hour",
        }
    }
}

/// A positive count (cores per node, …) named `field`.
///
/// # Errors
/// [`InputError`] when it is not positive.
pub fn positive<T: PartialOrd + Default + std::fmt::Display>(
    field: &str,
    value: T,
) -> Result<T, InputError> {
    if value > T::default() {
        Ok(value)
    } else {
        Err(InputError(format!("{field} must be positive, not {value}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(Name::parse("name", "  a b ").unwrap().as_str(), "a b");
        assert!(
            Name::parse("name", "   ")
                .unwrap_err()
                .to_string()
                .contains("name cannot be empty")
        );
        assert!(Name::parse("name", "a\u{7}").is_err());
        assert!(Name::parse("name", &"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(Name::parse("name", &"é".repeat(MAX_NAME_CHARS)).is_ok());
    }

    #[test]
    fn accounting_strings_are_one_word() {
        assert_eq!(
            AccountingString::parse(" OPEN-12-34 ").unwrap().as_str(),
            "OPEN-12-34"
        );
        assert!(AccountingString::parse("OPEN 12").is_err());
        assert!(AccountingString::parse("").is_err());
    }

    #[test]
    fn spans_and_windows_are_ordered() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        assert!(DateSpan::new(Some(day(2)), Some(day(1))).is_err());
        assert!(DateSpan::new(Some(day(1)), Some(day(1))).is_ok());
        assert!(DateSpan::new(None, Some(day(1))).is_ok());
        let at = |d| day(d).and_hms_opt(0, 0, 0).unwrap().and_utc();
        assert!(Validity::new(at(2), Some(at(1))).is_err());
        assert!(Validity::new(at(1), None).is_ok());
    }

    #[test]
    fn descriptions_and_counts() {
        assert_eq!(description(Some("  ")).unwrap(), None);
        assert_eq!(description(Some(" x ")).unwrap().as_deref(), Some("x"));
        assert!(description(Some(&"x".repeat(MAX_DESCRIPTION_CHARS + 1))).is_err());
        assert_eq!(positive("cores", 4).unwrap(), 4);
        assert!(positive("cores", 0).is_err());
        assert_eq!(UsageType::default().as_str(), "node_hour");
    }
}
