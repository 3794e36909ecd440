//! The Relay arguments of a list field (`first`, `after`, `last`, `before`),
//! checked and turned into a [`Window`] of the keyset pages that
//! [`crate::service::page`] reads.

use async_graphql::ErrorExtensions as _;

use crate::error::Error;
use crate::service::page::decode;
pub(crate) use crate::service::page::{
    BASE, BaseFn, Kind, MAX_PAGE_SIZE, Page, Parent, SortKey, Window,
};

use super::filter::Direction;

/// A sort key in `direction`.
pub(crate) fn directed(key: SortKey, direction: Direction) -> SortKey {
    key.with_descending(direction == Direction::Desc)
}

/// The Relay arguments of a list field, as the client sent them.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageArgs {
    /// `first`.
    pub(crate) first: Option<i32>,
    /// `after`.
    pub(crate) after: Option<String>,
    /// `last`.
    pub(crate) last: Option<i32>,
    /// `before`.
    pub(crate) before: Option<String>,
}

impl PageArgs {
    /// The arguments of a list field.
    pub(crate) fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }

    /// The arguments as a key for a data loader (their text).
    pub(crate) fn key(&self) -> String {
        format!(
            "{:?}/{:?}/{:?}/{:?}",
            self.first, self.after, self.last, self.before
        )
    }

    /// Checks the arguments against a list of `tag` sorted by `sort`.
    pub(crate) fn window(&self, tag: &str, sort: &[SortKey]) -> async_graphql::Result<Window> {
        let bad = |message: String| Error::BadRequest(message).extend();
        // The same rules as the validation-time cost check (`limits`).
        let size = |value: i32, name: &str| match usize::try_from(value) {
            Ok(v) if (1..=MAX_PAGE_SIZE).contains(&v) => Ok(v),
            Ok(v) if v > MAX_PAGE_SIZE => Err(Error::LimitExceeded(format!(
                "{name} is {v}, but a page holds at most {MAX_PAGE_SIZE} items"
            ))
            .extend()),
            _ => Err(bad(format!("{name} must be at least 1"))),
        };
        let cursor = |text: &str, name: &str| {
            decode(tag, text, sort)
                .ok_or_else(|| bad(format!("{name} is not a cursor of this list")))
        };
        match (self.first, &self.after, self.last, &self.before) {
            (Some(_), _, Some(_), _) => Err(bad("give first or last, not both".to_owned())),
            (_, Some(_), _, Some(_)) => Err(bad("give after or before, not both".to_owned())),
            (None, None, last, before) if last.is_some() || before.is_some() => Ok(Window {
                limit: last.map_or(Ok(MAX_PAGE_SIZE), |l| size(l, "last"))?,
                backward: true,
                cursor: before.as_deref().map(|c| cursor(c, "before")).transpose()?,
            }),
            (first, after, None, None) => Ok(Window {
                limit: first.map_or(Ok(MAX_PAGE_SIZE), |f| size(f, "first"))?,
                backward: false,
                cursor: after.as_deref().map(|c| cursor(c, "after")).transpose()?,
            }),
            _ => Err(bad(
                "page forward with first/after or backward with last/before".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SORT: &[SortKey] = &[SortKey::asc("name", Kind::Text)];

    #[test]
    fn windows_check_their_bounds() {
        let args = |first, last| PageArgs {
            first,
            last,
            ..PageArgs::default()
        };
        assert_eq!(args(None, None).window("Job", SORT).unwrap().limit, 100);
        assert_eq!(args(Some(5), None).window("Job", SORT).unwrap().limit, 5);
        assert!(
            args(Some(5), None)
                .window("Job", SORT)
                .unwrap()
                .cursor
                .is_none()
        );
        assert!(args(None, Some(5)).window("Job", SORT).unwrap().backward);
        for (first, last) in [
            (Some(0), None),
            (Some(101), None),
            (Some(100_000), None),
            (Some(-1), None),
            (None, Some(0)),
            (Some(1), Some(1)),
        ] {
            assert!(
                args(first, last).window("Job", SORT).is_err(),
                "{first:?} {last:?}"
            );
        }
    }
}
