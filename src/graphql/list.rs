//! The typed `filter` and `orderBy` arguments every list takes.
//!
//! [`list_inputs!`] declares, for one item type, its filter input (one optional
//! condition per field plus `and`/`or`/`not`), the enum of fields it can be
//! sorted by and the sort key input. [`ListArgs`] turns what a client sent
//! into a [`ListSpec`]: a condition on the list's base select and a sort that
//! always ends with the id, so keyset cursors stay exact.

use std::fmt::Debug;
use std::sync::Arc;

use async_graphql::InputType;
use sea_orm::Value;
use sea_orm::sea_query::{Condition, ExprTrait as _};

use super::filter::{EnumFilter, IdFilter, ScalarFilter, Stored, column};
use super::loader::{BaseFn, ListSpec, gql};
use super::page::{PageArgs, SortKey};
use crate::error::Error;

/// The most sort keys one `orderBy` takes.
pub(crate) const MAX_SORT_KEYS: usize = 5;

/// A condition on one column of a list's base select; `on` names the column
/// (and, for references, the kind of object they point to).
pub(crate) trait FieldFilter<On> {
    /// The condition.
    ///
    /// # Errors
    /// A value the column cannot hold (an id of another kind, an `in` list
    /// over its limit).
    fn condition(&self, on: On) -> async_graphql::Result<Condition>;
}

impl<T: InputType + Clone + Into<Value>> FieldFilter<&str> for ScalarFilter<T> {
    fn condition(&self, on: &str) -> async_graphql::Result<Condition> {
        ScalarFilter::condition(self, on)
    }
}

impl<T: InputType + Stored> FieldFilter<&str> for EnumFilter<T> {
    fn condition(&self, on: &str) -> async_graphql::Result<Condition> {
        EnumFilter::condition(self, on)
    }
}

impl FieldFilter<(&str, &str)> for IdFilter {
    fn condition(&self, (name, kind): (&str, &str)) -> async_graphql::Result<Condition> {
        IdFilter::condition(self, name, kind)
    }
}

impl FieldFilter<&str> for bool {
    fn condition(&self, on: &str) -> async_graphql::Result<Condition> {
        Ok(Condition::all().add(column(on).eq(*self)))
    }
}

/// A filter input: its own conditions combined with `and`, `or` and `not`.
pub(crate) trait ListFilter {
    /// The condition on the list's base select.
    ///
    /// # Errors
    /// A value a column cannot hold.
    fn condition(&self) -> async_graphql::Result<Condition>;
}

/// A sort key input.
pub(crate) trait OrderKey {
    /// The column, its kind and direction.
    fn key(&self) -> SortKey;
}

/// The `filter`, `orderBy` and Relay arguments of a list field.
#[derive(Debug, Clone)]
pub(crate) struct ListArgs<F, O> {
    /// Conditions the items meet.
    pub(crate) filter: Option<F>,
    /// Sort keys (the default's when absent).
    pub(crate) order_by: Option<Vec<O>>,
    /// `first`, `after`, `last`, `before`.
    pub(crate) page: PageArgs,
}

impl<F: ListFilter + Debug, O: OrderKey + Debug> ListArgs<F, O> {
    /// The arguments of a list field.
    pub(crate) fn new(
        filter: Option<F>,
        order_by: Option<Vec<O>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            filter,
            order_by,
            page: PageArgs::new(first, after, last, before),
        }
    }

    /// The list spec of `tag` items under `relation` built by `base`, sorted by
    /// `default` unless the client gave an `orderBy`.
    ///
    /// # Errors
    /// Bad paging, filter or sort arguments.
    pub(crate) fn spec(
        &self,
        relation: &str,
        tag: &'static str,
        base: BaseFn,
        default: Vec<SortKey>,
    ) -> async_graphql::Result<Arc<ListSpec>> {
        self.spec_with(relation, tag, base, default, Condition::all(), "")
    }

    /// [`Self::spec`] with a field's own further `condition`, which
    /// `arguments` renders (equal text, equal condition).
    ///
    /// # Errors
    /// Bad paging, filter or sort arguments.
    pub(crate) fn spec_with(
        &self,
        relation: &str,
        tag: &'static str,
        base: BaseFn,
        default: Vec<SortKey>,
        condition: Condition,
        arguments: &str,
    ) -> async_graphql::Result<Arc<ListSpec>> {
        let sort = match &self.order_by {
            None => default,
            Some(keys) if keys.len() > MAX_SORT_KEYS => {
                return Err(gql(Error::BadRequest(format!(
                    "orderBy takes at most {MAX_SORT_KEYS} fields"
                ))));
            }
            Some(keys) => keys.iter().map(OrderKey::key).collect(),
        };
        let mut all = Condition::all().add(condition);
        if let Some(filter) = &self.filter {
            all = all.add(filter.condition()?);
        }
        ListSpec::new(
            relation,
            &format!("{arguments}/{:?}/{:?}", self.filter, self.order_by),
            tag,
            base,
            all,
            sort,
            &self.page,
        )
    }
}

/// Declares the filter, sort field and sort key inputs of one list item type.
///
/// ```ignore
/// list_inputs! {
///     /// Which clusters a list keeps; all given conditions must hold.
///     filter ClusterFilter {
///         /// Its name.
///         name: ScalarFilter<String> => "name",
///     }
///     /// What clusters can be sorted by.
///     order ClusterOrderField {
///         /// Its name.
///         Name => SortKey::asc("name", Kind::Text),
///     }
///     /// One sort key of a cluster list; ties are broken by id.
///     key ClusterOrder
/// }
/// ```
macro_rules! list_inputs {
    (
        $(#[$filter_meta:meta])*
        filter $filter:ident {
            $(
                $(#[$field_meta:meta])*
                $field:ident : $field_type:ty => $on:expr
            ),* $(,)?
        }
        $(#[$order_meta:meta])*
        order $order_field:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident => $key:expr
            ),* $(,)?
        }
        $(#[$key_meta:meta])*
        key $order:ident
    ) => {
        $(#[$filter_meta])*
        #[derive(async_graphql::InputObject, Clone, Debug, Default)]
        pub(crate) struct $filter {
            $(
                $(#[$field_meta])*
                pub(crate) $field: Option<$field_type>,
            )*
            /// All of these hold.
            pub(crate) and: Option<Vec<$filter>>,
            /// Any of these holds.
            pub(crate) or: Option<Vec<$filter>>,
            /// This does not hold.
            pub(crate) not: Option<Box<$filter>>,
        }

        impl $crate::graphql::list::ListFilter for $filter {
            fn condition(&self) -> async_graphql::Result<sea_orm::sea_query::Condition> {
                let own = sea_orm::sea_query::Condition::all()
                    $(
                        .add_option(
                            self.$field
                                .as_ref()
                                .map(|f| $crate::graphql::list::FieldFilter::condition(f, $on))
                                .transpose()?,
                        )
                    )*;
                $crate::graphql::filter::combine(
                    own,
                    self.and.as_ref(),
                    self.or.as_ref(),
                    self.not.as_deref(),
                    $crate::graphql::list::ListFilter::condition,
                )
            }
        }

        $(#[$order_meta])*
        #[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum $order_field {
            $(
                $(#[$variant_meta])*
                $variant,
            )*
        }

        $(#[$key_meta])*
        #[derive(async_graphql::InputObject, Clone, Copy, Debug)]
        pub(crate) struct $order {
            /// The field.
            pub(crate) field: $order_field,
            /// The direction (ascending unless given).
            #[graphql(default)]
            pub(crate) direction: $crate::graphql::filter::Direction,
        }

        impl $crate::graphql::list::OrderKey for $order {
            fn key(&self) -> $crate::graphql::page::SortKey {
                let key: $crate::graphql::page::SortKey = match self.field {
                    $($order_field::$variant => $key,)*
                };
                $crate::graphql::page::directed(key, self.direction)
            }
        }
    };
}

pub(crate) use list_inputs;
