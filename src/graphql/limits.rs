//! Protection of the GraphQL API: what an operation may cost, checked before
//! anything touches the database (`docs/graphql.md`, Limits).
//!
//! Two layers. async-graphql's own limits (`limit_depth`, `limit_complexity`,
//! `limit_recursive_depth`, `limit_directives`) run in its validation, with
//! list fields costing `first × child` through [`connection_cost`]. Before
//! that, [`inspect`] walks the parsed document once, with each fragment
//! measured once: it finds fragment cycles, counts aliases and directives,
//! counts how often one selection set selects the same response key (inline
//! fragments and spreads merged in), and measures the depth and the number of
//! fields once fragments are inlined, so that a document built to make
//! validation itself slow (fragments spreading fragments many times over, a
//! field repeated hundreds of times, which async-graphql's
//! `OverlappingFieldsCanBeMerged` compares pairwise) is refused in linear
//! time.
//!
//! It also validates what async-graphql's validator never looks at:
//! `__typename`. The validator skips that field altogether (`visit_selection`
//! in async-graphql's `validation/visitor.rs` does not call `visit_field` for
//! it), so its arguments and directives escape every rule; [`inspect`] checks
//! them as the rules would (known directives, no duplicates, the `if`
//! argument).

use std::collections::HashMap;
use std::rc::Rc;

use async_graphql::parser::types::{
    Directive, ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, ServerError, ServerResult};

use super::page::MAX_PAGE_SIZE;
use crate::config::GraphqlConfig;

/// How deep selection sets and fragment spreads may nest while the document
/// is walked, whatever `TALLY_GRAPHQL_MAX_DEPTH` says (it guards the walk
/// itself: recursion needs stack).
const MAX_NESTING: usize = 64;

/// The directives a field may carry: Tally's schema declares no custom
/// directive, so only GraphQL's own `@include` and `@skip` (each with a
/// `Boolean!` argument `if`). A test introspects the schema to keep this
/// list true.
pub(crate) const FIELD_DIRECTIVES: &[&str] = &["include", "skip"];

/// Why a document is refused before execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The document breaks a rule of GraphQL (`BAD_USER_INPUT`).
    Invalid(String),
    /// The document exceeds one of Tally's limits (`LIMIT_EXCEEDED`).
    Limit(String),
}

/// What [`inspect`] learnt about a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The type of the operation the request selects (`None`: the request does
    /// not select one unambiguously; execution reports that).
    pub operation: Option<OperationType>,
    /// Whether any selection asks for `__schema` or `__type`.
    pub introspection: bool,
}

/// The cost of a list field: `first` (or `last`, or the page size when
/// neither is given) times the cost of what is selected in each item. A page
/// size outside 1 to [`MAX_PAGE_SIZE`] is refused here, in validation, so that
/// `first: 100000` never reaches a resolver.
///
/// Use it on every list field:
/// `#[graphql(complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?")]`
/// (pass `None` for an argument the field does not have).
///
/// # Errors
/// Both `first` and `last` are given, or the page size is out of range.
pub(crate) fn connection_cost(
    first: Option<i32>,
    last: Option<i32>,
    child_complexity: usize,
) -> ServerResult<usize> {
    let page = match (first, last) {
        (Some(_), Some(_)) => {
            return Err(ServerError::new("pass `first` or `last`, not both", None));
        }
        (Some(n), None) => page_size("first", n)?,
        (None, Some(n)) => page_size("last", n)?,
        (None, None) => MAX_PAGE_SIZE,
    };
    Ok(page.saturating_mul(child_complexity.max(1)))
}

/// How many values one dimension of a `groupBy` is assumed to split into
/// when a plain list's cost is estimated (its real count is known only once
/// the rows are read; the rows are capped at run time anyway).
pub(crate) const VALUES_PER_DIMENSION: usize = 10;

/// How many amounts a `totalUsage` is assumed to hold (one per source and
/// unit).
pub(crate) const AMOUNTS_PER_TOTAL: usize = 5;

/// The most rows a plain list is charged for: a full page of a connection.
/// Such a list returns at most [`MAX_POINTS`](super::usage::MAX_POINTS) rows
/// (it refuses more at run time), all read by one statement, and what hangs
/// off its rows holds no lists; charging the whole estimate of a long period
/// split by day would refuse cheap reports.
pub(crate) const MAX_CHARGED_ROWS: usize = MAX_PAGE_SIZE;

/// The cost of a plain list field (no paging) expected to return `rows`
/// items: `rows × child`, with `rows` capped at [`MAX_CHARGED_ROWS`].
pub(crate) fn rows_cost(rows: usize, child_complexity: usize) -> usize {
    rows.clamp(1, MAX_CHARGED_ROWS)
        .saturating_mul(child_complexity.max(1))
}

/// The cost of a `totalUsage` field: [`AMOUNTS_PER_TOTAL`] amounts.
pub(crate) fn total_cost(child_complexity: usize) -> usize {
    rows_cost(AMOUNTS_PER_TOTAL, child_complexity)
}

/// The rows `groupBy` splits a list into: [`VALUES_PER_DIMENSION`] per
/// dimension (at least one row).
pub(crate) fn split_rows(dimensions: usize) -> usize {
    VALUES_PER_DIMENSION.saturating_pow(u32::try_from(dimensions).unwrap_or(u32::MAX))
}

fn page_size(argument: &str, n: i32) -> ServerResult<usize> {
    match usize::try_from(n) {
        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Ok(n) if n > MAX_PAGE_SIZE => Err(ServerError::new(
            format!("`{argument}` is {n}, but {PAGE_LIMIT_PHRASE} {MAX_PAGE_SIZE} items"),
            None,
        )),
        _ => Err(ServerError::new(
            format!("`{argument}` must be at least 1"),
            None,
        )),
    }
}

/// Part of the message of a page that is too large; [`is_limit_message`]
/// recognises it.
const PAGE_LIMIT_PHRASE: &str = "a page holds at most";

/// Messages async-graphql (and [`connection_cost`]) produce when a limit, not
/// a rule of GraphQL, refused the document. async-graphql reports them as
/// plain messages, so they are recognised by their text; a test pins each.
const LIMIT_MESSAGES: &[&str] = &[
    "Query is too complex",
    "Query is nested too deep",
    "The recursion depth of the query",
    "The number of directives",
    "recursion limit exceeded",
    PAGE_LIMIT_PHRASE,
];

/// Whether an error message without a code reports an exceeded limit.
pub(crate) fn is_limit_message(message: &str) -> bool {
    LIMIT_MESSAGES.iter().any(|m| message.contains(m))
}

/// A clearer text for async-graphql's terse limit messages, naming the
/// setting that governs each.
pub(crate) fn explain(message: &str, limits: &GraphqlConfig) -> Option<String> {
    if message.starts_with("Query is too complex") {
        Some(format!(
            "the operation costs more than {} (TALLY_GRAPHQL_MAX_COMPLEXITY); a field costs 1 \
             plus its children and a list `first` times its children: ask for smaller pages \
             or fewer fields",
            limits.max_complexity
        ))
    } else if message.starts_with("Query is nested too deep") {
        Some(format!(
            "the operation nests fields deeper than {} levels (TALLY_GRAPHQL_MAX_DEPTH)",
            limits.max_depth
        ))
    } else if message.starts_with("The number of directives") {
        Some(format!(
            "a field carries more than {} directives (TALLY_GRAPHQL_MAX_DIRECTIVES)",
            limits.max_directives
        ))
    } else {
        None
    }
}

/// Measures `doc` against `limits` and says what it asks for.
///
/// # Errors
/// A fragment spreads itself, or the document is deeper, larger or has more
/// aliases than the limits allow.
pub(crate) fn inspect(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    limits: &GraphqlConfig,
) -> Result<Shape, Refusal> {
    let mut walk = Walk {
        doc,
        max_directives: limits.max_directives,
        fragments: HashMap::new(),
        stack: Vec::new(),
    };
    let mut total = Measure::default();
    for (name, operation) in doc.operations.iter() {
        let place = || match name {
            Some(name) => format!("the operation `{name}`"),
            None => "the operation".to_owned(),
        };
        walk.directives(&operation.node.directives, place)?;
        for variable in &operation.node.variable_definitions {
            walk.directives(&variable.node.directives, || {
                format!("the variable `${}`", variable.node.name.node)
            })?;
        }
        let (measure, keys) = walk.selection_set(&operation.node.selection_set, 0)?;
        total.add(measure.with_keys(&keys));
    }
    // Fragments that no operation spreads are still validated (and refused
    // as unused) by async-graphql: they get the same checks.
    for name in doc.fragments.keys() {
        walk.fragment(name, 0)?;
    }
    let aliases = doc
        .operations
        .iter()
        .map(|(_, operation)| count_aliases(&operation.node.selection_set))
        .chain(
            doc.fragments
                .values()
                .map(|fragment| count_aliases(&fragment.node.selection_set)),
        )
        .fold(0_usize, usize::saturating_add);
    if aliases > limits.max_aliases {
        return Err(Refusal::Limit(format!(
            "the document has {aliases} aliases, more than {} (TALLY_GRAPHQL_MAX_ALIASES)",
            limits.max_aliases
        )));
    }
    if total.depth > limits.max_depth {
        return Err(Refusal::Limit(format!(
            "the operation nests fields {} levels deep, more than {} (TALLY_GRAPHQL_MAX_DEPTH)",
            total.depth, limits.max_depth
        )));
    }
    // Every field costs at least 1, so more fields than the complexity limit
    // can never pass validation; refusing here keeps validation linear.
    if total.fields > limits.max_complexity {
        return Err(Refusal::Limit(format!(
            "the operation selects {} fields once fragments are inlined, more than {} \
             (TALLY_GRAPHQL_MAX_COMPLEXITY)",
            total.fields, limits.max_complexity
        )));
    }
    // GraphQL merges a field selected many times into one, but async-graphql
    // validates and executes every copy; a few copies are normal (a field in
    // several fragments), hundreds are not.
    if let Some((key, times)) = total.most_repeated
        && times > limits.max_repeats
    {
        return Err(Refusal::Limit(format!(
            "one selection set selects `{key}` {times} times, more than {} \
             (TALLY_GRAPHQL_MAX_REPEATS); select a field once, or use aliases for \
             different arguments",
            limits.max_repeats
        )));
    }
    let operation = match (operation_name, &doc.operations) {
        (Some(name), _) => doc
            .operations
            .iter()
            .find(|(n, _)| n.is_some_and(|n| n.as_str() == name))
            .map(|(_, operation)| operation.node.ty),
        (None, operations) => {
            let mut all = operations.iter();
            match (all.next(), all.next()) {
                (Some((_, only)), None) => Some(only.node.ty),
                _ => None,
            }
        }
    };
    Ok(Shape {
        operation,
        introspection: total.introspection,
    })
}

/// Size of a selection set with its fragments inlined.
#[derive(Debug, Clone, Copy, Default)]
struct Measure<'a> {
    /// Fields, counted once per place they are inlined.
    fields: usize,
    /// Deepest field nesting.
    depth: usize,
    /// Whether `__schema` or `__type` is selected.
    introspection: bool,
    /// The response key selected most often in one selection set, and how
    /// often.
    most_repeated: Option<(&'a str, usize)>,
}

impl<'a> Measure<'a> {
    fn add(&mut self, other: Self) {
        self.fields = self.fields.saturating_add(other.fields);
        self.depth = self.depth.max(other.depth);
        self.introspection |= other.introspection;
        self.repeated(other.most_repeated);
    }

    fn repeated(&mut self, candidate: Option<(&'a str, usize)>) {
        if let Some((key, times)) = candidate
            && self
                .most_repeated
                .is_none_or(|(other, most)| (times, key) > (most, other))
        {
            self.most_repeated = Some((key, times));
        }
    }

    /// This measure, with the repetitions of one selection set's `keys`.
    fn with_keys(mut self, keys: &Keys<'a>) -> Self {
        for (key, times) in keys {
            self.repeated(Some((key, *times)));
        }
        self
    }
}

/// The response keys a selection set selects at its own level (inline
/// fragments and fragment spreads merged in), with how often each.
type Keys<'a> = HashMap<&'a str, usize>;

fn merge<'a>(into: &mut Keys<'a>, keys: &Keys<'a>) {
    for (key, times) in keys {
        let count = into.entry(key).or_default();
        *count = count.saturating_add(*times);
    }
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    /// `TALLY_GRAPHQL_MAX_DIRECTIVES`.
    max_directives: usize,
    /// Fragments already measured, with the keys they select at their top
    /// level.
    fragments: HashMap<&'a str, (Measure<'a>, Rc<Keys<'a>>)>,
    /// Fragments being measured, outermost first (to report a cycle).
    stack: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn selection_set(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        nesting: usize,
    ) -> Result<(Measure<'a>, Keys<'a>), Refusal> {
        if nesting > MAX_NESTING {
            return Err(Refusal::Limit(format!(
                "selections and fragments nest more than {MAX_NESTING} levels deep"
            )));
        }
        let mut measure = Measure::default();
        let mut keys = Keys::new();
        for item in &set.node.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    self.directives(&field.node.directives, || format!("the field `{name}`"))?;
                    if name == "__typename" {
                        typename(&field.node)?;
                    }
                    let (inner, inner_keys) =
                        self.selection_set(&field.node.selection_set, nesting + 1)?;
                    let inner = inner.with_keys(&inner_keys);
                    measure.add(Measure {
                        fields: inner.fields.saturating_add(1),
                        depth: inner.depth + 1,
                        introspection: inner.introspection
                            || name == "__schema"
                            || name == "__type",
                        most_repeated: inner.most_repeated,
                    });
                    let count = keys
                        .entry(field.node.response_key().node.as_str())
                        .or_default();
                    *count = count.saturating_add(1);
                }
                Selection::InlineFragment(fragment) => {
                    self.directives(&fragment.node.directives, || {
                        "an inline fragment".to_owned()
                    })?;
                    let (inner, inner_keys) =
                        self.selection_set(&fragment.node.selection_set, nesting + 1)?;
                    measure.add(inner);
                    merge(&mut keys, &inner_keys);
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    self.directives(&spread.node.directives, || {
                        format!("the spread of `{name}`")
                    })?;
                    let (inner, inner_keys) = self.fragment(name, nesting + 1)?;
                    measure.add(inner);
                    merge(&mut keys, &inner_keys);
                }
            }
        }
        Ok((measure, keys))
    }

    fn fragment(
        &mut self,
        name: &'a Name,
        nesting: usize,
    ) -> Result<(Measure<'a>, Rc<Keys<'a>>), Refusal> {
        let name = name.as_str();
        if let Some((measure, keys)) = self.fragments.get(name) {
            return Ok((*measure, keys.clone()));
        }
        if let Some(start) = self.stack.iter().position(|f| *f == name) {
            let mut cycle: Vec<&str> = self.stack[start..].to_vec();
            cycle.push(name);
            return Err(Refusal::Invalid(format!(
                "fragments must not spread themselves: {}",
                cycle.join(" → ")
            )));
        }
        // An unknown fragment is validation's to report; it costs nothing here.
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Ok((Measure::default(), Rc::default()));
        };
        self.directives(&fragment.node.directives, || {
            format!("the fragment `{name}`")
        })?;
        self.stack.push(name);
        let measured = self.selection_set(&fragment.node.selection_set, nesting);
        self.stack.pop();
        let (measure, keys) = measured?;
        let keys = Rc::new(keys);
        self.fragments.insert(name, (measure, keys.clone()));
        Ok((measure, keys))
    }

    /// Refuses more than `TALLY_GRAPHQL_MAX_DIRECTIVES` directives on the
    /// place `place` names.
    fn directives(
        &self,
        directives: &[Positioned<Directive>],
        place: impl FnOnce() -> String,
    ) -> Result<(), Refusal> {
        if directives.len() > self.max_directives {
            return Err(Refusal::Limit(format!(
                "{} carries {} directives, more than {} (TALLY_GRAPHQL_MAX_DIRECTIVES)",
                place(),
                directives.len(),
                self.max_directives
            )));
        }
        Ok(())
    }
}

/// Validates a `__typename` selection as async-graphql validates every other
/// field (it skips this one): no arguments; only known directives, each once,
/// each with its `if: Boolean!` argument. The messages are async-graphql's.
fn typename(field: &Field) -> Result<(), Refusal> {
    if let Some((argument, _)) = field.arguments.first() {
        return Err(Refusal::Invalid(format!(
            "Unknown argument \"{}\" on field \"__typename\".",
            argument.node
        )));
    }
    let mut seen: Vec<&str> = Vec::new();
    for directive in &field.directives {
        let name = directive.node.name.node.as_str();
        if !FIELD_DIRECTIVES.contains(&name) {
            return Err(Refusal::Invalid(format!("Unknown directive \"{name}\"")));
        }
        if seen.contains(&name) {
            return Err(Refusal::Invalid(format!("Duplicate directive \"{name}\"")));
        }
        seen.push(name);
        let mut condition = false;
        for (argument, value) in &directive.node.arguments {
            if argument.node != "if" {
                return Err(Refusal::Invalid(format!(
                    "Unknown argument \"{}\" on directive \"{name}\".",
                    argument.node
                )));
            }
            if condition {
                return Err(Refusal::Invalid(format!(
                    "There can only be one argument named \"if\" on directive \"{name}\"."
                )));
            }
            // A literal must be a Boolean. A variable is left to
            // async-graphql, which reads it as a Boolean when it removes
            // skipped selections before execution (`remove_skipped_selection`
            // in its `schema.rs`).
            if let Some(constant) = value.node.clone().into_const()
                && !matches!(constant, async_graphql::Value::Boolean(_))
            {
                return Err(Refusal::Invalid(format!(
                    "Invalid value for argument \"if\" of directive \"@{name}\", expected \
                     type \"Boolean!\""
                )));
            }
            condition = true;
        }
        if !condition {
            return Err(Refusal::Invalid(format!(
                "Directive \"@{name}\" argument \"if\" of type \"Boolean!\" is required but \
                 not provided"
            )));
        }
    }
    Ok(())
}

/// Aliased fields written in `set` (fragments are counted where they are
/// defined, once).
fn count_aliases(set: &Positioned<SelectionSet>) -> usize {
    set.node
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => usize::from(field.node.alias.is_some())
                .saturating_add(count_aliases(&field.node.selection_set)),
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set),
            Selection::FragmentSpread(_) => 0,
        })
        .fold(0, usize::saturating_add)
}

/// Whether `operation` may run over `GET` (queries only: a `GET` must not
/// change anything, GraphQL over HTTP §6.1).
pub(crate) fn allowed_over_get(operation: Option<OperationType>) -> bool {
    !matches!(operation, Some(OperationType::Mutation))
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn shape(query: &str) -> Result<Shape, Refusal> {
        inspect(
            &parse_query(query).unwrap(),
            None,
            &GraphqlConfig::default(),
        )
    }

    #[test]
    fn ordinary_documents_pass() {
        let query = shape("query Q { projects(first: 10) { edges { node { id } } } }").unwrap();
        assert_eq!(query.operation, Some(OperationType::Query));
        assert!(!query.introspection);
        assert!(
            shape("{ __schema { types { name } } }")
                .unwrap()
                .introspection
        );
        assert_eq!(
            shape("mutation { x }").unwrap().operation,
            Some(OperationType::Mutation)
        );
        assert_eq!(
            shape("query A { a } query B { b }").unwrap().operation,
            None
        );
    }

    #[test]
    fn cycles_are_named() {
        let refusal = shape("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
            .unwrap_err();
        assert_eq!(
            refusal,
            Refusal::Invalid("fragments must not spread themselves: A → B → A".to_owned())
        );
    }

    #[test]
    fn fragment_bombs_are_measured_in_linear_time() {
        // 2^40 fields once inlined, 40 fragments written.
        let mut query = String::from("{ ...F0 }");
        for i in 0..40 {
            query.push_str(&format!(
                " fragment F{i} on Query {{ ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        query.push_str(" fragment F40 on Query { apiVersion }");
        let refusal = shape(&query).unwrap_err();
        assert!(
            matches!(&refusal, Refusal::Limit(m) if m.contains("fields")),
            "{refusal:?}"
        );
    }

    #[test]
    fn depth_and_aliases_are_limited() {
        let deep = format!("{}{}", "{ a ".repeat(20), "}".repeat(20));
        assert!(matches!(shape(&deep), Err(Refusal::Limit(m)) if m.contains("20 levels")));
        let aliases: String = (0..51).map(|i| format!("a{i}: apiVersion ")).collect();
        assert!(
            matches!(shape(&format!("{{ {aliases} }}")), Err(Refusal::Limit(m)) if m.contains("51 aliases"))
        );
    }

    #[tokio::test]
    async fn the_schema_declares_exactly_the_field_directives_checked_on_typename() {
        let schema = crate::graphql::build_schema();
        let response = schema
            .execute("{ __schema { directives { name locations args { name } } } }")
            .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().unwrap();
        let mut on_fields: Vec<(String, Vec<String>)> = data["__schema"]["directives"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["locations"].as_array().unwrap().contains(&"FIELD".into()))
            .map(|d| {
                let args = d["args"].as_array().unwrap();
                (
                    d["name"].as_str().unwrap().to_owned(),
                    args.iter()
                        .map(|a| a["name"].as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect();
        on_fields.sort();
        let expected: Vec<(String, Vec<String>)> = FIELD_DIRECTIVES
            .iter()
            .map(|name| ((*name).to_owned(), vec!["if".to_owned()]))
            .collect();
        assert_eq!(on_fields, expected);
    }

    #[test]
    fn repeats_and_directives_are_counted_through_fragments() {
        let limits = GraphqlConfig {
            max_repeats: 3,
            max_directives: 2,
            ..GraphqlConfig::default()
        };
        let check = |query: &str| inspect(&parse_query(query).unwrap(), None, &limits);
        assert!(check("{ a a a b: a }").is_ok());
        for refused in [
            "{ a a a a }",
            "{ x { a ... on X { a } ...F } } fragment F on X { a a }",
            "{ ...F ...F } fragment F on Query { a a }",
        ] {
            assert!(
                matches!(check(refused), Err(Refusal::Limit(m)) if m.contains("`a` 4 times")),
                "{refused}: {:?}",
                check(refused)
            );
        }
        assert!(check("{ a @include(if: true) @skip(if: false) }").is_ok());
        for refused in [
            "{ a @x @x @x }",
            "{ ... @x @x @x { a } }",
            "query Q @x @x @x { a }",
            "{ ...F } fragment F on Query @x @x @x { a }",
            // An unused fragment is checked too.
            "{ a } fragment F on Query { a @x @x @x }",
        ] {
            assert!(
                matches!(check(refused), Err(Refusal::Limit(m)) if m.contains("3 directives")),
                "{refused}: {:?}",
                check(refused)
            );
        }
    }

    #[test]
    fn typename_is_validated_like_other_fields() {
        assert!(shape("{ __typename @include(if: true) @skip(if: $v) }").is_ok());
        for (query, message) in [
            ("{ __typename @aa }", "Unknown directive \"aa\""),
            ("{ __typename(x: 1) }", "Unknown argument \"x\""),
            (
                "{ __typename @skip(if: true) @skip(if: true) }",
                "Duplicate directive",
            ),
            ("{ __typename @skip }", "is required but not provided"),
            (
                "{ __typename @skip(if: \"yes\") }",
                "Invalid value for argument",
            ),
            (
                "{ __typename @skip(if: true, if: false) }",
                "only be one argument",
            ),
            (
                "{ __typename @skip(unless: true) }",
                "Unknown argument \"unless\"",
            ),
        ] {
            assert!(
                matches!(shape(query), Err(Refusal::Invalid(m)) if m.contains(message)),
                "{query}: {:?}",
                shape(query)
            );
        }
    }

    #[test]
    fn page_sizes_are_priced_and_bounded() {
        assert_eq!(connection_cost(Some(10), None, 3).unwrap(), 30);
        assert_eq!(connection_cost(None, None, 2).unwrap(), 200);
        assert_eq!(connection_cost(None, Some(5), 0).unwrap(), 5);
        let too_many = connection_cost(Some(100_000), None, 1).unwrap_err();
        assert!(is_limit_message(&too_many.message), "{}", too_many.message);
        for bad in [
            connection_cost(Some(0), None, 1),
            connection_cost(Some(1), Some(1), 1),
        ] {
            assert!(!is_limit_message(&bad.unwrap_err().message));
        }
    }
}
