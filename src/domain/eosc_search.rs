//! The search filter of the EOSC Accounting System: the JSON body of
//! `POST /accounting-system/{metrics,installations,projects,providers,metric-definitions}/search`
//! (`/work/shared/reference/eosc.md` §2, upstream `util/QueryParser.java`,
//! `enums/Operand.java`, `enums/Operator.java`).
//!
//! A body is one criterion, a *query* or a *filter*:
//!
//! ```json
//! {"type": "query", "field": "value", "values": 60, "operand": "lt"}
//! {"type": "filter", "operator": "OR", "criteria": [<query or filter>, …]}
//! ```
//!
//! [`parse`] turns a body into a typed [`Criterion`] for one [`Collection`], and
//! [`Criterion::condition`] turns that into a `sea_query` [`Condition`] over columns the
//! caller names. [`OPERANDS`] and [`OPERATORS`] are the bodies of `GET /operands` and
//! `GET /operators`.
//!
//! # What Tally keeps from upstream
//!
//! - The six operands `eq neq lt lte gt gte` and the operators `AND OR`, both
//!   case-insensitive. A missing (or `null`) `operand` means `eq`.
//! - `eq` on a string matches the whole string ignoring case; `eq` on a number is exact.
//! - A string shaped exactly `yyyy-MM-dd'T'HH:mm:ss'Z'` is a timestamp, other strings
//!   are strings, JSON numbers are numbers.
//! - A filter with one criterion is that criterion; one with no criteria matches
//!   everything ([`parse`] answers `None`).
//! - `neq` also matches rows where the field is empty (`NULL`), as Mongo's `$ne`
//!   matches documents without the field.
//!
//! # Where Tally deliberately differs
//!
//! Upstream builds a Mongo query from whatever it is given and answers 500 when that
//! fails. Tally checks the whole body first and answers every mistake with a
//! [`SearchError`] that says what is wrong and where (meant for a 400):
//!
//! - **Fields are whitelisted per collection** ([`Collection::fields`]), each with a
//!   [`FieldKind`]. Upstream passes any name to Mongo, where an unknown one matches
//!   nothing. `_id`, upstream's stored name, is accepted for the collection's id field.
//! - **A value must fit its field.** Upstream's own guide compares `"values": "1000.0"`
//!   (a string) with the numeric `value`, which in Mongo silently matches nothing. Tally
//!   answers "field 'value' takes a number" instead: an empty result would hide the
//!   mistake. Likewise a timestamp on a text field, a plain string on a time field.
//!   Date fields (project `start_date`, `end_date`) take `yyyy-MM-dd` and compare as
//!   calendar days, which is what upstream's comparison of `yyyy-MM-dd` strings means.
//! - **`eq` on a string is a literal comparison.** Upstream builds the regex
//!   `(?i)^value$` without escaping the value, so `.` or `*` in it act as regex
//!   metacharacters. Tally compares `LOWER(column) = LOWER(value)`, so `a.c` matches
//!   only `a.c`. `LOWER` is the database's: on SQLite it folds only ASCII letters.
//! - **`neq` on a string ignores case too**, the mirror of `eq`. Upstream's `$ne` is
//!   exact.
//! - **`lt lte gt gte` on text follow the database's collation**, not Mongo's
//!   byte order.
//! - **`type` is case-insensitive.** Upstream compares it exactly and skips a criterion
//!   of any other type (at the top level, the search then matches everything).
//! - **Every key the grammar names is required**: `type`, `field`, `values`,
//!   `operator`, `criteria`. Upstream fails on most missing ones, reads `operator`
//!   only when there are two criteria or more, and takes a missing or `null` `values`
//!   as "the field is absent". `values` may not be `null`, a boolean, an array or an
//!   object. Unknown keys are ignored, as upstream does.
//! - **An empty filter inside another one** matches everything: it is dropped from an
//!   `AND` and makes an `OR` match everything. Upstream fails on it.
//! - **Limits:** filters nest at most [`MAX_DEPTH`] levels and hold at most
//!   [`MAX_CRITERIA`] criteria in total.
//! - **Bare words are tolerated.** Upstream's published metric page shows
//!   `"operand": lt`, which is not JSON. When a body is not valid JSON, a bare word in
//!   value position is quoted and the body read again; a body still broken is rejected
//!   with the original JSON error.
//! - Numbers are compared as `f64`: the one numeric field, a metric's `value`, is a
//!   double upstream and in Tally.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike as _, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait as _, Func};
use serde::Serialize;
use serde_json::{Map, Value as Json};

/// How deeply filters may nest; the top-level filter is level 1.
pub const MAX_DEPTH: usize = 32;

/// How many criteria a body may hold in total, counting the entries of every
/// `criteria` array.
pub const MAX_CRITERIA: usize = 1000;

/// The JSON nesting read before filters are counted: each filter is an object holding
/// an array, the innermost query one more object, and one filter level more than
/// allowed is let through so that the error says where it is. Deeper bodies are
/// refused before they are parsed, so the answer is [`SearchError::TooDeep`] and not
/// `serde_json`'s own recursion limit (128) showing through as a JSON error.
const MAX_JSON_DEPTH: usize = 2 * (MAX_DEPTH + 1) + 1;

/// How much of a client's text an error message repeats.
const MAX_ECHO: usize = 64;

/// One entry of `GET /operands` or `GET /operators`, as upstream serialises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Label {
    /// What a filter says (`"eq"`, `"and"`).
    pub label: &'static str,
    /// How a user interface shows it (`"=="`, `"AND"`).
    pub display_value: &'static str,
}

impl Label {
    const fn new(label: &'static str, display_value: &'static str) -> Self {
        Self {
            label,
            display_value,
        }
    }
}

/// The body of `GET /operands`, in upstream's order.
pub const OPERANDS: &[Label] = &[
    Label::new("eq", "=="),
    Label::new("neq", "!="),
    Label::new("lt", "<"),
    Label::new("lte", "<="),
    Label::new("gt", ">"),
    Label::new("gte", ">="),
];

/// The body of `GET /operators`, in upstream's order.
pub const OPERATORS: &[Label] = &[Label::new("and", "AND"), Label::new("or", "OR")];

/// A searchable collection: each has its own fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    /// `/metrics/search`.
    Metrics,
    /// `/installations/search`.
    Installations,
    /// `/projects/search`.
    Projects,
    /// `/providers/search`.
    Providers,
    /// `/metric-definitions/search`.
    MetricDefinitions,
}

/// What a field holds, which decides the values it takes and how it compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// Text: `eq`/`neq` ignore case, the others follow the database's collation.
    Text,
    /// A number, compared as `f64`.
    Number,
    /// An instant, given as `yyyy-MM-dd'T'HH:mm:ss'Z'`.
    Time,
    /// A calendar day, given as `yyyy-MM-dd`.
    Date,
}

impl FieldKind {
    /// What a message says the field takes.
    const fn expected(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "a number",
            Self::Time => "a timestamp like 2022-01-05T09:13:07Z",
            Self::Date => "a date like 2022-01-05",
        }
    }
}

/// A searchable field of a collection, by its upstream name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Field {
    name: &'static str,
    kind: FieldKind,
}

impl Field {
    const fn new(name: &'static str, kind: FieldKind) -> Self {
        Self { name, kind }
    }

    /// The upstream name (`time_period_start`); `_id` is reported as the id field's
    /// name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        self.name
    }

    /// What the field holds.
    #[must_use]
    pub const fn kind(self) -> FieldKind {
        self.kind
    }
}

/// A metric's fields: its own, and the denormalised names of where it was accounted
/// (`project` is the project's acronym, `project_id` its grant id).
const METRIC_FIELDS: &[Field] = &[
    Field::new("id", FieldKind::Text),
    Field::new("time_period_start", FieldKind::Time),
    Field::new("time_period_end", FieldKind::Time),
    Field::new("value", FieldKind::Number),
    Field::new("metric_definition_id", FieldKind::Text),
    Field::new("project", FieldKind::Text),
    Field::new("project_id", FieldKind::Text),
    Field::new("provider", FieldKind::Text),
    Field::new("installation_id", FieldKind::Text),
    Field::new("installation", FieldKind::Text),
    Field::new("infrastructure", FieldKind::Text),
    Field::new("resource", FieldKind::Text),
    Field::new("user_id", FieldKind::Text),
    Field::new("group_id", FieldKind::Text),
];

const INSTALLATION_FIELDS: &[Field] = &[
    Field::new("id", FieldKind::Text),
    Field::new("project", FieldKind::Text),
    Field::new("organisation", FieldKind::Text),
    Field::new("infrastructure", FieldKind::Text),
    Field::new("installation", FieldKind::Text),
    Field::new("resource", FieldKind::Text),
    Field::new("unit_of_access", FieldKind::Text),
];

const PROJECT_FIELDS: &[Field] = &[
    Field::new("id", FieldKind::Text),
    Field::new("acronym", FieldKind::Text),
    Field::new("title", FieldKind::Text),
    Field::new("call_identifier", FieldKind::Text),
    Field::new("start_date", FieldKind::Date),
    Field::new("end_date", FieldKind::Date),
];

const PROVIDER_FIELDS: &[Field] = &[
    Field::new("id", FieldKind::Text),
    Field::new("name", FieldKind::Text),
    Field::new("website", FieldKind::Text),
    Field::new("abbreviation", FieldKind::Text),
    Field::new("logo", FieldKind::Text),
];

const METRIC_DEFINITION_FIELDS: &[Field] = &[
    Field::new("metric_definition_id", FieldKind::Text),
    Field::new("metric_name", FieldKind::Text),
    Field::new("metric_description", FieldKind::Text),
    Field::new("unit_type", FieldKind::Text),
    Field::new("metric_type", FieldKind::Text),
];

impl Collection {
    /// Every collection.
    pub const ALL: [Self; 5] = [
        Self::Metrics,
        Self::Installations,
        Self::Projects,
        Self::Providers,
        Self::MetricDefinitions,
    ];

    /// The collection's path segment (`metric-definitions`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Metrics => "metrics",
            Self::Installations => "installations",
            Self::Projects => "projects",
            Self::Providers => "providers",
            Self::MetricDefinitions => "metric-definitions",
        }
    }

    /// The fields a filter may name, by their upstream names.
    #[must_use]
    pub const fn fields(self) -> &'static [Field] {
        match self {
            Self::Metrics => METRIC_FIELDS,
            Self::Installations => INSTALLATION_FIELDS,
            Self::Projects => PROJECT_FIELDS,
            Self::Providers => PROVIDER_FIELDS,
            Self::MetricDefinitions => METRIC_DEFINITION_FIELDS,
        }
    }

    /// The field called `name` (case-sensitive, as Mongo's field names are); `_id`
    /// is the id field.
    #[must_use]
    pub fn field(self, name: &str) -> Option<Field> {
        let name = if name == "_id" { self.id_field() } else { name };
        self.fields().iter().copied().find(|f| f.name == name)
    }

    /// The field names, for a message.
    fn field_list(self) -> String {
        let names: Vec<_> = self.fields().iter().map(|f| f.name).collect();
        names.join(", ")
    }

    /// The field upstream stores as `_id`.
    const fn id_field(self) -> &'static str {
        match self {
            Self::MetricDefinitions => "metric_definition_id",
            _ => "id",
        }
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a query compares its field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    /// Equal; ignoring case on text.
    Eq,
    /// Not equal, or empty; ignoring case on text.
    Neq,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
}

impl Operand {
    /// Every operand, in upstream's order.
    pub const ALL: [Self; 6] = [
        Self::Eq,
        Self::Neq,
        Self::Lt,
        Self::Lte,
        Self::Gt,
        Self::Gte,
    ];

    /// What a filter says (`"lte"`).
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Neq => "neq",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Gt => "gt",
            Self::Gte => "gte",
        }
    }

    /// How a user interface shows it (`"<="`).
    #[must_use]
    pub const fn display_value(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Neq => "!=",
            Self::Lt => "<",
            Self::Lte => "<=",
            Self::Gt => ">",
            Self::Gte => ">=",
        }
    }

    /// The operand labelled `text`, ignoring case.
    fn from_label(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|op| op.label().eq_ignore_ascii_case(text))
    }
}

/// How a filter combines its criteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    And,
    Or,
}

/// A query's value, typed to fit its field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// For a [`FieldKind::Text`] field.
    Text(String),
    /// For a [`FieldKind::Number`] field.
    Number(f64),
    /// For a [`FieldKind::Time`] field.
    Time(DateTime<Utc>),
    /// For a [`FieldKind::Date`] field.
    Date(NaiveDate),
}

impl Value {
    fn expr(&self) -> Expr {
        match self {
            Self::Text(text) => Expr::val(text.as_str()),
            Self::Number(number) => Expr::val(*number),
            Self::Time(time) => Expr::val(*time),
            Self::Date(date) => Expr::val(*date),
        }
    }
}

/// One query: a field, an operand and a value that fits the field.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    field: Field,
    operand: Operand,
    value: Value,
}

impl Comparison {
    /// The field compared.
    #[must_use]
    pub const fn field(&self) -> Field {
        self.field
    }

    /// How it is compared.
    #[must_use]
    pub const fn operand(&self) -> Operand {
        self.operand
    }

    /// What it is compared with; its variant matches the field's kind.
    #[must_use]
    pub const fn value(&self) -> &Value {
        &self.value
    }

    fn condition(&self, column: &dyn Fn(&str) -> Expr) -> Condition {
        let col = column(self.field.name);
        let folds_case = matches!(self.value, Value::Text(_))
            && matches!(self.operand, Operand::Eq | Operand::Neq);
        let (left, right) = if folds_case {
            (
                Expr::from(Func::lower(col.clone())),
                Expr::from(Func::lower(self.value.expr())),
            )
        } else {
            (col.clone(), self.value.expr())
        };
        let all = Condition::all();
        match self.operand {
            Operand::Eq => all.add(left.eq(right)),
            Operand::Neq => Condition::any().add(left.ne(right)).add(col.is_null()),
            Operand::Lt => all.add(left.lt(right)),
            Operand::Lte => all.add(left.lte(right)),
            Operand::Gt => all.add(left.gt(right)),
            Operand::Gte => all.add(left.gte(right)),
        }
    }
}

/// A parsed search filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    /// A query on one field.
    Compare(Comparison),
    /// A filter with operator `AND` and two criteria or more.
    All(Vec<Criterion>),
    /// A filter with operator `OR` and two criteria or more.
    Any(Vec<Criterion>),
}

impl Criterion {
    /// The SQL condition, given the column expression of each upstream field name
    /// (`column("project")` might be the joined project's acronym).
    #[must_use]
    pub fn condition(&self, column: &dyn Fn(&str) -> Expr) -> Condition {
        match self {
            Self::Compare(comparison) => comparison.condition(column),
            Self::All(criteria) => criteria
                .iter()
                .fold(Condition::all(), |all, c| all.add(c.condition(column))),
            Self::Any(criteria) => criteria
                .iter()
                .fold(Condition::any(), |any, c| any.add(c.condition(column))),
        }
    }
}

/// Where in a body a problem is: the `criteria` indexes from the top-level object
/// down. It is written as the prefix of a message (`criteria[1].criteria[0]: `), and
/// as nothing at the top level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct At(Vec<usize>);

impl At {
    /// The `criteria` indexes, outermost first; empty at the top level.
    #[must_use]
    pub fn indexes(&self) -> &[usize] {
        &self.0
    }

    fn child(&self, index: usize) -> Self {
        let mut indexes = self.0.clone();
        indexes.push(index);
        Self(indexes)
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, index) in self.0.iter().enumerate() {
            let dot = if n == 0 { "" } else { "." };
            write!(f, "{dot}criteria[{index}]")?;
        }
        if self.0.is_empty() {
            Ok(())
        } else {
            f.write_str(": ")
        }
    }
}

/// Why a search body is refused. Every variant is the client's mistake (a 400);
/// texts the client sent are repeated shortened to 64 characters and escaped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    /// The body is empty or blank (upstream's exact message).
    #[error("The request body is empty.")]
    Empty,
    /// The body is not JSON, even with bare words quoted; `serde_json`'s message.
    #[error("the request body is not valid JSON: {0}")]
    Json(String),
    /// A criterion is not a JSON object.
    #[error("{at}expected an object with a \"type\" of query or filter; found {found}")]
    NotAnObject {
        /// Where.
        at: At,
        /// The JSON kind found (`an array`).
        found: &'static str,
    },
    /// A required key is missing or `null`.
    #[error("{at}missing \"{key}\"{hint}")]
    Missing {
        /// Where.
        at: At,
        /// The key.
        key: &'static str,
        /// A likely cause, or empty.
        hint: &'static str,
    },
    /// `type`, `field`, `operand` or `operator` is not a string.
    #[error("{at}\"{key}\" must be a string; found {found}")]
    NotAString {
        /// Where.
        at: At,
        /// The key.
        key: &'static str,
        /// The JSON kind found.
        found: &'static str,
    },
    /// `type` is neither `query` nor `filter`.
    #[error("{at}unknown type '{found}'; expected query or filter")]
    UnknownType {
        /// Where.
        at: At,
        /// What was sent.
        found: String,
    },
    /// `field` is not one of the collection's fields.
    #[error("{at}unknown field '{found}' for {collection}; expected one of {}", .collection.field_list())]
    UnknownField {
        /// Where.
        at: At,
        /// What was sent.
        found: String,
        /// The collection searched.
        collection: Collection,
    },
    /// `values` is `null`, a boolean, an array or an object.
    #[error("{at}\"values\" is {found}; expected a string or a number")]
    UnsupportedValue {
        /// Where.
        at: At,
        /// The JSON kind found.
        found: &'static str,
    },
    /// `operand` is not one of [`OPERANDS`].
    #[error("{at}unknown operand '{found}'; expected one of eq, neq, lt, lte, gt, gte")]
    UnknownOperand {
        /// Where.
        at: At,
        /// What was sent.
        found: String,
    },
    /// `operator` is not one of [`OPERATORS`].
    #[error("{at}unknown operator '{found}'; expected AND or OR")]
    UnknownOperator {
        /// Where.
        at: At,
        /// What was sent.
        found: String,
    },
    /// `criteria` is not an array.
    #[error("{at}\"criteria\" must be an array; found {found}")]
    CriteriaNotArray {
        /// Where.
        at: At,
        /// The JSON kind found.
        found: &'static str,
    },
    /// `values` does not fit the field's kind.
    #[error("{at}field '{field}' takes {expected}; found {found}")]
    Mismatch {
        /// Where.
        at: At,
        /// The field.
        field: &'static str,
        /// What the field takes.
        expected: &'static str,
        /// What was sent (`the string '1000.0'`).
        found: String,
    },
    /// Filters nest deeper than [`MAX_DEPTH`].
    #[error("{at}filters nest deeper than {max} levels", max = MAX_DEPTH)]
    TooDeep {
        /// Where the first filter too deep is (the top level when the body's JSON
        /// itself is too deep to be read).
        at: At,
    },
    /// More than [`MAX_CRITERIA`] criteria.
    #[error("{at}more than {max} criteria in total", max = MAX_CRITERIA)]
    TooManyCriteria {
        /// Where the first criterion over the limit is.
        at: At,
    },
}

/// Parses a search body for `collection`. `None` means the filter matches
/// everything (a filter with no criteria).
///
/// # Errors
/// The body is empty, not JSON (even with bare words quoted), or not a valid filter
/// for the collection; the error says what and where.
pub fn parse(body: &str, collection: Collection) -> Result<Option<Criterion>, SearchError> {
    if body.trim_matches(is_json_space).is_empty() {
        return Err(SearchError::Empty);
    }
    if nests_deeper_than(body, MAX_JSON_DEPTH) {
        return Err(SearchError::TooDeep { at: At::default() });
    }
    let json = read_json(body)?;
    Parser {
        collection,
        criteria: 0,
    }
    .criterion(&json, &At::default(), 1)
}

/// Reads the body strictly, then, if that fails, with bare words quoted.
fn read_json(body: &str) -> Result<Json, SearchError> {
    serde_json::from_str(body).or_else(|strict| {
        quote_bare_words(body)
            .and_then(|repaired| serde_json::from_str(&repaired).ok())
            .ok_or_else(|| SearchError::Json(strict.to_string()))
    })
}

const fn is_json_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Whether `{`/`[` outside strings nest deeper than `limit`. Unbalanced text is
/// left to the JSON parser.
fn nests_deeper_than(text: &str, limit: usize) -> bool {
    let mut depth = 0_usize;
    let mut in_string = false;
    let mut escaped = false;
    for b in text.bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Quotes every bare word (`[A-Za-z_][A-Za-z0-9_]*` other than `true`, `false` and
/// `null`) that follows a `:` outside strings, so `"operand": lt` reads as
/// `"operand": "lt"`. `None` when there is none. Everything else is left as it is,
/// for the JSON parser to accept or refuse.
fn quote_bare_words(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    // Up to where `text` has been copied to `out`. Only ever an ASCII byte's
    // position or the end, so slicing there stays on character boundaries.
    let mut copied = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut after_colon = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if after_colon && (b.is_ascii_alphabetic() || b == b'_') {
            let end = bytes[i..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                .map_or(bytes.len(), |n| i + n);
            let word = &text[i..end];
            if !matches!(word, "true" | "false" | "null") {
                out.push_str(&text[copied..i]);
                out.push('"');
                out.push_str(word);
                out.push('"');
                copied = end;
            }
            after_colon = false;
            i = end;
            continue;
        } else {
            match b {
                b'"' => {
                    in_string = true;
                    after_colon = false;
                }
                b':' => after_colon = true,
                b' ' | b'\t' | b'\n' | b'\r' => {}
                _ => after_colon = false,
            }
        }
        i += 1;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// Walks a body, counting criteria.
struct Parser {
    collection: Collection,
    criteria: usize,
}

impl Parser {
    /// A query or filter at `depth` (the top level is 1).
    fn criterion(
        &mut self,
        json: &Json,
        at: &At,
        depth: usize,
    ) -> Result<Option<Criterion>, SearchError> {
        let Json::Object(object) = json else {
            return Err(SearchError::NotAnObject {
                at: at.clone(),
                found: kind(json),
            });
        };
        let kind = required_string(object, "type", at)?;
        if kind.eq_ignore_ascii_case("query") {
            self.query(object, at).map(Some)
        } else if kind.eq_ignore_ascii_case("filter") {
            self.filter(object, at, depth)
        } else {
            Err(SearchError::UnknownType {
                at: at.clone(),
                found: echo(kind),
            })
        }
    }

    fn filter(
        &mut self,
        object: &Map<String, Json>,
        at: &At,
        depth: usize,
    ) -> Result<Option<Criterion>, SearchError> {
        if depth > MAX_DEPTH {
            return Err(SearchError::TooDeep { at: at.clone() });
        }
        let operator = required_string(object, "operator", at)?;
        let operator = if operator.eq_ignore_ascii_case("and") {
            Operator::And
        } else if operator.eq_ignore_ascii_case("or") {
            Operator::Or
        } else {
            return Err(SearchError::UnknownOperator {
                at: at.clone(),
                found: echo(operator),
            });
        };
        let criteria = match object.get("criteria") {
            Some(Json::Array(criteria)) => criteria,
            None | Some(Json::Null) => return Err(missing(at, "criteria")),
            Some(other) => {
                return Err(SearchError::CriteriaNotArray {
                    at: at.clone(),
                    found: kind(other),
                });
            }
        };
        let mut children = Vec::with_capacity(criteria.len().min(MAX_CRITERIA));
        let mut matches_all = false;
        for (index, child) in criteria.iter().enumerate() {
            let child_at = at.child(index);
            self.criteria += 1;
            if self.criteria > MAX_CRITERIA {
                return Err(SearchError::TooManyCriteria { at: child_at });
            }
            match self.criterion(child, &child_at, depth + 1)? {
                Some(criterion) => children.push(criterion),
                None => matches_all = true,
            }
        }
        // An empty filter matches everything: neutral in an AND, absorbing in an OR.
        if operator == Operator::Or && matches_all {
            return Ok(None);
        }
        let wrap = match operator {
            Operator::And => Criterion::All,
            Operator::Or => Criterion::Any,
        };
        Ok(match children.len() {
            0 => None,
            1 => children.pop(),
            _ => Some(wrap(children)),
        })
    }

    fn query(&self, object: &Map<String, Json>, at: &At) -> Result<Criterion, SearchError> {
        let name = required_string(object, "field", at)?;
        let field = self
            .collection
            .field(name)
            .ok_or_else(|| SearchError::UnknownField {
                at: at.clone(),
                found: echo(name),
                collection: self.collection,
            })?;
        let operand = match optional_string(object, "operand", at)? {
            None => Operand::Eq,
            Some(label) => {
                Operand::from_label(label).ok_or_else(|| SearchError::UnknownOperand {
                    at: at.clone(),
                    found: echo(label),
                })?
            }
        };
        let value = match object.get("values") {
            Some(Json::Null) | None => {
                let hint = if object.contains_key("value") {
                    " (the key is \"values\", plural)"
                } else {
                    ""
                };
                return Err(SearchError::Missing {
                    at: at.clone(),
                    key: "values",
                    hint,
                });
            }
            Some(json) => typed(json, field, at)?,
        };
        Ok(Criterion::Compare(Comparison {
            field,
            operand,
            value,
        }))
    }
}

/// The value `json` as `field` takes it.
fn typed(json: &Json, field: Field, at: &At) -> Result<Value, SearchError> {
    let value = match json {
        Json::String(text) => match field.kind {
            FieldKind::Text if timestamp(text).is_none() => Some(Value::Text(text.clone())),
            FieldKind::Time => timestamp(text).map(Value::Time),
            FieldKind::Date => date(text).map(Value::Date),
            FieldKind::Text | FieldKind::Number => None,
        },
        Json::Number(number) => match field.kind {
            FieldKind::Number => number.as_f64().map(Value::Number),
            _ => None,
        },
        other => {
            return Err(SearchError::UnsupportedValue {
                at: at.clone(),
                found: kind(other),
            });
        }
    };
    value.ok_or_else(|| SearchError::Mismatch {
        at: at.clone(),
        field: field.name,
        expected: field.kind.expected(),
        found: match json {
            Json::String(text) if timestamp(text).is_some() => {
                format!("the timestamp '{}'", echo(text))
            }
            Json::String(text) => format!("the string '{}'", echo(text)),
            other => format!("the number {other}"),
        },
    })
}

/// `text` as an instant if it is exactly `yyyy-MM-dd'T'HH:mm:ss'Z'` (the shape
/// upstream turns into a date) and a real one.
fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    const SHAPE: &[u8; 20] = b"0000-00-00T00:00:00Z";
    let shaped = text.len() == SHAPE.len()
        && text.bytes().zip(SHAPE).all(|(b, s)| {
            if *s == b'0' {
                b.is_ascii_digit()
            } else {
                b == *s
            }
        });
    if !shaped {
        return None;
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        // chrono reads second 60 as a leap second; Java's formatter refuses it.
        .filter(|t| t.nanosecond() == 0)
        .map(|t| t.and_utc())
}

/// `text` as a calendar day if it is exactly `yyyy-MM-dd` and a real one.
fn date(text: &str) -> Option<NaiveDate> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// The string at `key`; `None` when absent or `null`.
fn optional_string<'a>(
    object: &'a Map<String, Json>,
    key: &'static str,
    at: &At,
) -> Result<Option<&'a str>, SearchError> {
    match object.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(text)) => Ok(Some(text)),
        Some(other) => Err(SearchError::NotAString {
            at: at.clone(),
            key,
            found: kind(other),
        }),
    }
}

fn required_string<'a>(
    object: &'a Map<String, Json>,
    key: &'static str,
    at: &At,
) -> Result<&'a str, SearchError> {
    optional_string(object, key, at)?.ok_or_else(|| missing(at, key))
}

fn missing(at: &At, key: &'static str) -> SearchError {
    SearchError::Missing {
        at: at.clone(),
        key,
        hint: "",
    }
}

/// The JSON kind of `json`, for messages.
const fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A client's text as a message repeats it: at most [`MAX_ECHO`] characters,
/// escaped so that control characters and quotes cannot garble the message.
fn echo(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHO) {
        Some((end, _)) => format!("{}…", text[..end].escape_debug()),
        None => text.escape_debug().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Alias, Asterisk, PostgresQueryBuilder, Query, SqliteQueryBuilder};
    use serde_json::json;

    /// "Search for Metrics", Example 1 of the published metric page, as printed.
    const EXAMPLE_1: &str = r#"{
"type": "query",
"field": "time_period_start",
"values": "2022-01-05T09:13:07Z",
"operand": "gte"
}"#;

    /// Example 2 of the same page, as printed: `"operand": lt` is not JSON.
    const EXAMPLE_2: &str = r#"{
"type": "filter",
"operator": "OR",
"criteria": [
{
"type": "query",
"field": "value",
"values": 60,
"operand": lt
},
{
"type": "filter",
"operator": "AND",
"criteria": [
{
"type": "query",
"field": "time_period_start",
"values": "2019-01-05T09:13:07Z",
"operand": "gte"
},
{
"type": "query",
"field": "time_period_end",
"values": "2023-10-05T09:15:07Z",
"operand": "lt"
}
]
}
]
}"#;

    fn time(text: &str) -> Value {
        Value::Time(text.parse().unwrap())
    }

    fn compare(collection: Collection, field: &str, operand: Operand, value: Value) -> Criterion {
        Criterion::Compare(Comparison {
            field: collection.field(field).unwrap(),
            operand,
            value,
        })
    }

    fn metric(field: &str, operand: Operand, value: Value) -> Criterion {
        compare(Collection::Metrics, field, operand, value)
    }

    fn text(value: &str) -> Value {
        Value::Text(value.to_owned())
    }

    fn parse_metrics(body: &str) -> Option<Criterion> {
        parse(body, Collection::Metrics).unwrap()
    }

    /// The message of the error `body` gets on metrics.
    fn error(body: &str) -> String {
        error_on(body, Collection::Metrics)
    }

    fn error_on(body: &str, collection: Collection) -> String {
        parse(body, collection).unwrap_err().to_string()
    }

    fn query(field: &str, values: &Json, operand: &str) -> Json {
        json!({"type": "query", "field": field, "values": values, "operand": operand})
    }

    fn filter(operator: &str, criteria: Vec<Json>) -> Json {
        json!({"type": "filter", "operator": operator, "criteria": criteria})
    }

    fn column(name: &str) -> Expr {
        Expr::col(Alias::new(name))
    }

    /// `SELECT * FROM "m" WHERE …` on PostgreSQL and SQLite.
    fn sql(criterion: &Criterion) -> (String, String) {
        let mut select = Query::select();
        select
            .column(Asterisk)
            .from(Alias::new("m"))
            .cond_where(criterion.condition(&column));
        (
            select.to_string(PostgresQueryBuilder),
            select.to_string(SqliteQueryBuilder),
        )
    }

    fn postgres(body: &str) -> String {
        sql(&parse_metrics(body).unwrap()).0
    }

    #[test]
    fn published_example_1_is_one_comparison() {
        assert_eq!(
            parse_metrics(EXAMPLE_1),
            Some(metric(
                "time_period_start",
                Operand::Gte,
                time("2022-01-05T09:13:07Z")
            ))
        );
    }

    #[test]
    fn published_example_2_parses_despite_its_bare_operand() {
        assert!(serde_json::from_str::<Json>(EXAMPLE_2).is_err());
        assert_eq!(
            parse_metrics(EXAMPLE_2),
            Some(Criterion::Any(vec![
                metric("value", Operand::Lt, Value::Number(60.0)),
                Criterion::All(vec![
                    metric(
                        "time_period_start",
                        Operand::Gte,
                        time("2019-01-05T09:13:07Z")
                    ),
                    metric("time_period_end", Operand::Lt, time("2023-10-05T09:15:07Z")),
                ]),
            ]))
        );
    }

    #[test]
    fn published_example_2_as_sql() {
        let (pg, lite) = sql(&parse_metrics(EXAMPLE_2).unwrap());
        assert_eq!(
            pg,
            r#"SELECT * FROM "m" WHERE "value" < 60 OR ("time_period_start" >= '2019-01-05 09:13:07.000000 +00:00' AND "time_period_end" < '2023-10-05 09:15:07.000000 +00:00')"#
        );
        assert_eq!(
            lite,
            r#"SELECT * FROM "m" WHERE "value" < 60 OR ("time_period_start" >= '2019-01-05 09:13:07.000000 +00:00' AND "time_period_end" < '2023-10-05 09:15:07.000000 +00:00')"#
        );
    }

    #[test]
    fn text_equality_ignores_case_on_both_databases() {
        let body = query("project", &json!("El_CapiTun"), "eq").to_string();
        let (pg, lite) = sql(&parse_metrics(&body).unwrap());
        assert_eq!(
            pg,
            r#"SELECT * FROM "m" WHERE LOWER("project") = LOWER('El_CapiTun')"#
        );
        assert_eq!(
            lite,
            r#"SELECT * FROM "m" WHERE LOWER("project") = LOWER('El_CapiTun')"#
        );
    }

    #[test]
    fn text_inequality_ignores_case_and_keeps_empty_fields() {
        let body = query("user_id", &json!("Alice"), "NEQ").to_string();
        assert_eq!(
            postgres(&body),
            r#"SELECT * FROM "m" WHERE LOWER("user_id") <> LOWER('Alice') OR "user_id" IS NULL"#
        );
    }

    #[test]
    fn text_order_and_numbers_compare_plainly() {
        let body = filter(
            "and",
            vec![
                query("provider", &json!("m"), "gte"),
                query("value", &json!(2.5), "neq"),
                query("value", &json!(-3), "eq"),
            ],
        )
        .to_string();
        assert_eq!(
            postgres(&body),
            r#"SELECT * FROM "m" WHERE "provider" >= 'm' AND ("value" <> 2.5 OR "value" IS NULL) AND "value" = -3"#
        );
    }

    #[test]
    fn regex_metacharacters_are_literal() {
        let body = query("installation", &json!("a.*'b"), "eq").to_string();
        let (pg, lite) = sql(&parse_metrics(&body).unwrap());
        assert_eq!(
            pg,
            r#"SELECT * FROM "m" WHERE LOWER("installation") = LOWER(E'a.*\'b')"#
        );
        assert_eq!(
            lite,
            r#"SELECT * FROM "m" WHERE LOWER("installation") = LOWER('a.*''b')"#
        );
    }

    #[test]
    fn dates_compare_as_days() {
        let body = filter(
            "OR",
            vec![
                query("start_date", &json!("2023-01-01"), "lt"),
                query("end_date", &json!("2024-02-29"), "eq"),
            ],
        )
        .to_string();
        let criterion = parse(&body, Collection::Projects).unwrap().unwrap();
        let (pg, lite) = sql(&criterion);
        assert_eq!(
            pg,
            r#"SELECT * FROM "m" WHERE "start_date" < '2023-01-01' OR "end_date" = '2024-02-29'"#
        );
        assert_eq!(pg, lite);
    }

    #[test]
    fn operand_defaults_to_eq() {
        let body = json!({"type": "query", "field": "resource", "values": "r1"}).to_string();
        assert_eq!(
            parse_metrics(&body),
            Some(metric("resource", Operand::Eq, text("r1")))
        );
        let null = json!({"type": "query", "field": "resource", "values": "r1", "operand": null});
        assert_eq!(
            parse_metrics(&null.to_string()),
            Some(metric("resource", Operand::Eq, text("r1")))
        );
    }

    #[test]
    fn names_ignore_case() {
        let body = json!({
            "type": "FILTER", "operator": "Or", "criteria": [
                {"type": "Query", "field": "value", "values": 1, "operand": "LtE"},
                {"type": "qUeRy", "field": "value", "values": 2, "operand": "GT"},
            ]
        })
        .to_string();
        assert_eq!(
            parse_metrics(&body),
            Some(Criterion::Any(vec![
                metric("value", Operand::Lte, Value::Number(1.0)),
                metric("value", Operand::Gt, Value::Number(2.0)),
            ]))
        );
    }

    #[test]
    fn every_operand_label_parses() {
        for operand in Operand::ALL {
            let body = query("value", &json!(1), operand.label()).to_string();
            assert_eq!(
                parse_metrics(&body),
                Some(metric("value", operand, Value::Number(1.0)))
            );
        }
    }

    #[test]
    fn one_criterion_is_that_criterion() {
        let inner = query("group_id", &json!("g"), "eq");
        let body = filter("AND", vec![filter("OR", vec![inner])]).to_string();
        assert_eq!(
            parse_metrics(&body),
            Some(metric("group_id", Operand::Eq, text("g")))
        );
    }

    #[test]
    fn empty_filters_match_everything() {
        assert_eq!(parse_metrics(&filter("AND", vec![]).to_string()), None);
        assert_eq!(parse_metrics(&filter("or", vec![]).to_string()), None);
        let q = || query("value", &json!(1), "gt");
        // Dropped from an AND…
        let and = filter("AND", vec![q(), filter("OR", vec![])]).to_string();
        assert_eq!(
            parse_metrics(&and),
            Some(metric("value", Operand::Gt, Value::Number(1.0)))
        );
        let and = filter("AND", vec![filter("AND", vec![]), filter("OR", vec![])]).to_string();
        assert_eq!(parse_metrics(&and), None);
        // …and it makes an OR match everything.
        let or = filter("OR", vec![q(), filter("AND", vec![])]).to_string();
        assert_eq!(parse_metrics(&or), None);
    }

    #[test]
    fn nested_filters_keep_their_shape() {
        let body = filter(
            "AND",
            vec![
                query("project", &json!("p"), "eq"),
                filter(
                    "OR",
                    vec![
                        query("installation", &json!("i1"), "eq"),
                        query("installation", &json!("i2"), "eq"),
                    ],
                ),
            ],
        )
        .to_string();
        let expected = Criterion::All(vec![
            metric("project", Operand::Eq, text("p")),
            Criterion::Any(vec![
                metric("installation", Operand::Eq, text("i1")),
                metric("installation", Operand::Eq, text("i2")),
            ]),
        ]);
        assert_eq!(parse_metrics(&body), Some(expected));
        assert_eq!(
            postgres(&body),
            r#"SELECT * FROM "m" WHERE LOWER("project") = LOWER('p') AND (LOWER("installation") = LOWER('i1') OR LOWER("installation") = LOWER('i2'))"#
        );
    }

    #[test]
    fn underscore_id_names_the_id_field() {
        for collection in Collection::ALL {
            let field = collection.field("_id").unwrap();
            assert_eq!(field.kind(), FieldKind::Text);
            assert!(collection.fields().contains(&field));
        }
        assert_eq!(
            Collection::MetricDefinitions.field("_id").unwrap().name(),
            "metric_definition_id"
        );
        let body = query("_id", &json!("725025"), "eq").to_string();
        assert_eq!(
            parse(&body, Collection::Projects).unwrap(),
            Some(compare(
                Collection::Projects,
                "id",
                Operand::Eq,
                text("725025")
            ))
        );
    }

    #[test]
    fn field_kinds_are_upstreams() {
        let kind = |c: Collection, f: &str| c.field(f).unwrap().kind();
        assert_eq!(kind(Collection::Metrics, "value"), FieldKind::Number);
        assert_eq!(
            kind(Collection::Metrics, "time_period_end"),
            FieldKind::Time
        );
        assert_eq!(kind(Collection::Projects, "end_date"), FieldKind::Date);
        assert_eq!(
            kind(Collection::Installations, "unit_of_access"),
            FieldKind::Text
        );
        assert_eq!(kind(Collection::Providers, "logo"), FieldKind::Text);
        assert_eq!(
            kind(Collection::MetricDefinitions, "metric_type"),
            FieldKind::Text
        );
        assert!(Collection::Metrics.field("Value").is_none());
    }

    #[test]
    fn labels_match_upstream() {
        assert_eq!(
            serde_json::to_value(OPERANDS).unwrap(),
            json!([
                {"label": "eq", "display_value": "=="},
                {"label": "neq", "display_value": "!="},
                {"label": "lt", "display_value": "<"},
                {"label": "lte", "display_value": "<="},
                {"label": "gt", "display_value": ">"},
                {"label": "gte", "display_value": ">="},
            ])
        );
        assert_eq!(
            serde_json::to_value(OPERATORS).unwrap(),
            json!([
                {"label": "and", "display_value": "AND"},
                {"label": "or", "display_value": "OR"},
            ])
        );
        let from_enum: Vec<_> = Operand::ALL
            .iter()
            .map(|op| (op.label(), op.display_value()))
            .collect();
        let listed: Vec<_> = OPERANDS
            .iter()
            .map(|l| (l.label, l.display_value))
            .collect();
        assert_eq!(from_enum, listed);
    }

    #[test]
    fn empty_body() {
        for body in ["", "   ", "\n\t\r\n "] {
            assert_eq!(parse(body, Collection::Metrics), Err(SearchError::Empty));
        }
        assert_eq!(error(""), "The request body is empty.");
    }

    #[test]
    fn invalid_json() {
        assert_eq!(
            error(r#"{"type": "query","#),
            "the request body is not valid JSON: EOF while parsing a value at line 1 column 17"
        );
        // Still broken once bare words are quoted: the strict parser's message.
        assert_eq!(
            error(r#"{"type": query "field": x}"#),
            "the request body is not valid JSON: expected value at line 1 column 10"
        );
        assert!(error("{'type': 'query'}").starts_with("the request body is not valid JSON: "));
        assert!(error("\u{a0}").starts_with("the request body is not valid JSON: "));
    }

    #[test]
    fn not_an_object() {
        assert_eq!(
            error("[1]"),
            "expected an object with a \"type\" of query or filter; found an array"
        );
        assert_eq!(
            error(&filter("AND", vec![json!(5)]).to_string()),
            "criteria[0]: expected an object with a \"type\" of query or filter; found a number"
        );
    }

    #[test]
    fn missing_or_unknown_type() {
        assert_eq!(error(r#"{"field": "value"}"#), r#"missing "type""#);
        assert_eq!(error(r#"{"type": null}"#), r#"missing "type""#);
        assert_eq!(
            error(r#"{"type": 1}"#),
            r#""type" must be a string; found a number"#
        );
        assert_eq!(
            error(r#"{"type": "search"}"#),
            "unknown type 'search'; expected query or filter"
        );
    }

    #[test]
    fn missing_or_unknown_field() {
        assert_eq!(
            error(r#"{"type": "query", "values": 1}"#),
            r#"missing "field""#
        );
        assert_eq!(
            error(r#"{"type": "query", "field": ["value"], "values": 1}"#),
            r#""field" must be a string; found an array"#
        );
        assert_eq!(
            error(&query("colour", &json!(1), "eq").to_string()),
            "unknown field 'colour' for metrics; expected one of id, time_period_start, \
             time_period_end, value, metric_definition_id, project, project_id, provider, \
             installation_id, installation, infrastructure, resource, user_id, group_id"
        );
        assert_eq!(
            error_on(
                &query("value", &json!(1), "eq").to_string(),
                Collection::Providers
            ),
            "unknown field 'value' for providers; expected one of id, name, website, \
             abbreviation, logo"
        );
    }

    #[test]
    fn missing_values() {
        assert_eq!(
            error(r#"{"type": "query", "field": "value"}"#),
            r#"missing "values""#
        );
        assert_eq!(
            error(r#"{"type": "query", "field": "value", "values": null}"#),
            r#"missing "values""#
        );
        assert_eq!(
            error(r#"{"type": "query", "field": "value", "value": 3}"#),
            r#"missing "values" (the key is "values", plural)"#
        );
    }

    #[test]
    fn unsupported_values() {
        for (values, kind) in [
            (json!(true), "a boolean"),
            (json!([1]), "an array"),
            (json!({"a": 1}), "an object"),
        ] {
            assert_eq!(
                error(&query("value", &values, "eq").to_string()),
                format!("\"values\" is {kind}; expected a string or a number")
            );
        }
    }

    #[test]
    fn unknown_operand() {
        let body = filter(
            "AND",
            vec![
                query("value", &json!(1), "eq"),
                filter(
                    "OR",
                    vec![
                        query("resource", &json!("x%"), "like"),
                        query("value", &json!(1), "eq"),
                    ],
                ),
            ],
        )
        .to_string();
        assert_eq!(
            error(&body),
            "criteria[1].criteria[0]: unknown operand 'like'; expected one of eq, neq, lt, lte, gt, gte"
        );
        assert_eq!(
            error(r#"{"type": "query", "field": "value", "values": 1, "operand": 2}"#),
            r#""operand" must be a string; found a number"#
        );
    }

    #[test]
    fn unknown_or_missing_operator() {
        assert_eq!(
            error(&filter("XOR", vec![]).to_string()),
            "unknown operator 'XOR'; expected AND or OR"
        );
        assert_eq!(
            error(r#"{"type": "filter", "criteria": []}"#),
            r#"missing "operator""#
        );
    }

    #[test]
    fn criteria_must_be_an_array() {
        assert_eq!(
            error(r#"{"type": "filter", "operator": "AND", "criteria": {}}"#),
            r#""criteria" must be an array; found an object"#
        );
        assert_eq!(
            error(r#"{"type": "filter", "operator": "AND"}"#),
            r#"missing "criteria""#
        );
    }

    #[test]
    fn values_must_fit_their_field() {
        // Upstream's guide compares a string with the numeric `value`.
        assert_eq!(
            error(r#"{"type":"query","field":"value","values":"1000.0","operand":"gt"}"#),
            "field 'value' takes a number; found the string '1000.0'"
        );
        assert_eq!(
            error(&filter("or", vec![query("project", &json!(7), "eq")]).to_string()),
            "criteria[0]: field 'project' takes text; found the number 7"
        );
        assert_eq!(
            error(&query("time_period_start", &json!("2022-01-05"), "gt").to_string()),
            "field 'time_period_start' takes a timestamp like 2022-01-05T09:13:07Z; \
             found the string '2022-01-05'"
        );
        assert_eq!(
            error(&query("time_period_start", &json!(1_641_373_987), "gt").to_string()),
            "field 'time_period_start' takes a timestamp like 2022-01-05T09:13:07Z; \
             found the number 1641373987"
        );
        assert_eq!(
            error(&query("user_id", &json!("2022-01-05T09:13:07Z"), "eq").to_string()),
            "field 'user_id' takes text; found the timestamp '2022-01-05T09:13:07Z'"
        );
        assert_eq!(
            error_on(
                &query("start_date", &json!("2022-02-30"), "gt").to_string(),
                Collection::Projects
            ),
            "field 'start_date' takes a date like 2022-01-05; found the string '2022-02-30'"
        );
    }

    #[test]
    fn timestamps_must_be_exactly_upstreams_shape() {
        assert!(timestamp("2022-01-05T09:13:07Z").is_some());
        for not in [
            "2022-01-05T09:13:07",
            "2022-01-05t09:13:07Z",
            "2022-01-05T09:13:07.5Z",
            "2022-01-05T09:13:07+00:00",
            "2022-1-05T09:13:07Z",
            "+2022-01-05T09:13:07Z",
            "2022-13-05T09:13:07Z",
            "2022-02-29T09:13:07Z",
            "2022-01-05T24:00:00Z",
            "2022-01-05T23:59:60Z",
            "２022-01-05T09:13:07Z",
        ] {
            assert_eq!(timestamp(not), None, "{not}");
        }
        assert!(date("2024-02-29").is_some());
        for not in [
            "2023-02-29",
            "2023-1-01",
            "20230101",
            "2023-01-01T00:00:00Z",
        ] {
            assert_eq!(date(not), None, "{not}");
        }
    }

    #[test]
    fn echoes_are_short_and_escaped() {
        let long = "x".repeat(500);
        let message = error(&query("value", &json!(1), &long).to_string());
        assert_eq!(
            message,
            format!(
                "unknown operand '{}…'; expected one of eq, neq, lt, lte, gt, gte",
                "x".repeat(MAX_ECHO)
            )
        );
        assert_eq!(
            error(&query("value", &json!(1), "a'\n\u{0}").to_string()),
            r"unknown operand 'a\'\n\0'; expected one of eq, neq, lt, lte, gt, gte"
        );
    }

    /// `depth` filters, one inside the other, around one query.
    fn nested(depth: usize) -> String {
        let mut body = query("value", &json!(1), "eq");
        for _ in 0..depth {
            body = filter("AND", vec![body]);
        }
        body.to_string()
    }

    #[test]
    fn nesting_is_limited() {
        assert_eq!(
            parse_metrics(&nested(MAX_DEPTH)),
            Some(metric("value", Operand::Eq, Value::Number(1.0)))
        );
        let too_deep = "criteria[0].".repeat(MAX_DEPTH - 1);
        assert_eq!(
            error(&nested(MAX_DEPTH + 1)),
            format!("{too_deep}criteria[0]: filters nest deeper than 32 levels")
        );
        // Too deep for serde_json to read at all: the same error, at the top.
        assert_eq!(error(&nested(200)), "filters nest deeper than 32 levels");
        assert_eq!(
            error(&"[".repeat(100_000)),
            "filters nest deeper than 32 levels"
        );
    }

    #[test]
    fn criteria_are_limited() {
        let q = || query("value", &json!(1), "eq");
        let full = filter("OR", (0..MAX_CRITERIA).map(|_| q()).collect()).to_string();
        assert!(matches!(parse_metrics(&full), Some(Criterion::Any(c)) if c.len() == MAX_CRITERIA));
        let over = filter("OR", (0..=MAX_CRITERIA).map(|_| q()).collect()).to_string();
        assert_eq!(
            error(&over),
            "criteria[1000]: more than 1000 criteria in total"
        );
        // Counted across nested filters, each filter being one criterion too.
        let halves = filter(
            "AND",
            vec![
                filter("OR", (0..600).map(|_| q()).collect()),
                filter("OR", (0..600).map(|_| q()).collect()),
            ],
        )
        .to_string();
        assert_eq!(
            error(&halves),
            "criteria[1].criteria[398]: more than 1000 criteria in total"
        );
    }

    #[test]
    fn repair_quotes_bare_words_in_value_position_only() {
        assert_eq!(
            quote_bare_words(r#"{"operand": lt, "x":gte_2}"#).as_deref(),
            Some(r#"{"operand": "lt", "x":"gte_2"}"#)
        );
        assert_eq!(
            quote_bare_words("{\"a\":\n\t_b}").as_deref(),
            Some("{\"a\":\n\t\"_b\"}")
        );
        // Literals, numbers, strings and keys are left alone.
        for unchanged in [
            r#"{"a": true, "b": false, "c": null, "d": -1e5, "e": 2E3}"#,
            r#"{"a": "b: lt", "c\": d": "x"}"#,
            r#"{type: "query"}"#,
            r#"{"a": [lt]}"#,
            r#"{"ü": "é:x", "😀": 1}"#,
        ] {
            assert_eq!(quote_bare_words(unchanged), None, "{unchanged}");
        }
        assert_eq!(
            quote_bare_words(r#"{"a\\": lt}"#).as_deref(),
            Some(r#"{"a\\": "lt"}"#)
        );
        assert_eq!(
            quote_bare_words(r#"{"é": ü, "b": truex}"#).as_deref(),
            Some(r#"{"é": ü, "b": "truex"}"#)
        );
        assert_eq!(quote_bare_words("x: y").as_deref(), Some(r#"x: "y""#));
    }

    #[test]
    fn repaired_bodies_still_meet_the_grammar() {
        assert_eq!(
            error(r#"{"type": "query", "field": "value", "values": 1, "operand": like}"#),
            "unknown operand 'like'; expected one of eq, neq, lt, lte, gt, gte"
        );
        assert_eq!(
            error(r#"{"type": query, "field": value, "values": NaN}"#),
            "field 'value' takes a number; found the string 'NaN'"
        );
    }

    /// xorshift64: deterministic, dependency-free randomness for the fuzz tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
        }

        fn chance(&mut self, percent: usize) -> bool {
            self.below(100) < percent
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }

        /// `word` with each letter's case flipped at random.
        fn case(&mut self, word: &str) -> String {
            word.chars()
                .map(|c| {
                    if self.chance(30) {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        }
    }

    const TEXTS: &[&str] = &[
        "",
        "a",
        "El_CapiTun",
        "ünïcödé",
        "😀 emoji",
        "quote ' and \" and \\",
        "a.*+?^$()[]{}|",
        "%_like",
        "\u{0}\u{1f}\u{7f}",
        "line\nbreak",
        "2022-01-05T09:13:07",
        "١٢٣",
    ];

    /// A random body that meets the grammar for `collection`.
    fn valid(rng: &mut Rng, collection: Collection, depth: usize) -> Json {
        if depth < 6 && rng.chance(35) {
            let operator = *rng.pick(&["and", "or"]);
            let operator = rng.case(operator);
            let criteria: Vec<_> = (0..rng.below(5))
                .map(|_| valid(rng, collection, depth + 1))
                .collect();
            return json!({"type": rng.case("filter"), "operator": operator, "criteria": criteria});
        }
        let field = *rng.pick(collection.fields());
        let name = if field.name == collection.id_field() && rng.chance(30) {
            "_id"
        } else {
            field.name
        };
        let values = match field.kind {
            FieldKind::Text => json!(rng.pick(TEXTS)),
            FieldKind::Number => match rng.below(4) {
                0 => json!(rng.next()),
                1 => json!(f64::from(u32::try_from(rng.next() >> 40).unwrap()) / 7.0),
                2 => json!(-i64::try_from(rng.next() >> 2).unwrap()),
                _ => json!(1e300),
            },
            FieldKind::Time => json!(format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                rng.below(10_000),
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60)
            )),
            FieldKind::Date => json!(format!(
                "{:04}-{:02}-{:02}",
                rng.below(10_000),
                1 + rng.below(12),
                1 + rng.below(28)
            )),
        };
        let mut object = json!({"type": rng.case("query"), "field": name, "values": values});
        if rng.chance(80) {
            let operand = rng.pick(&Operand::ALL).label();
            object["operand"] = json!(rng.case(operand));
        }
        object
    }

    const SPLICES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "\\",
        "\\u",
        "\\ud800",
        "lt",
        "true",
        "null",
        "1e999",
        "-",
        "0x1F",
        "123456789012345678901234567890",
        "1e-400",
        "ü",
        "😀",
        "\u{0}",
        " ",
        "\"type\":\"filter\"",
        "\"criteria\":[",
        "NaN",
        "_",
        "\u{feff}",
    ];

    /// `body` damaged one to three times.
    fn mutate(rng: &mut Rng, body: &str) -> String {
        let mut bytes = body.as_bytes().to_vec();
        for _ in 0..=rng.below(3) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(5) {
                0 => bytes.truncate(at),
                1 => {
                    if let Some(b) = bytes.get_mut(at) {
                        *b = u8::try_from(rng.next() & 0xff).unwrap();
                    }
                }
                2 => {
                    let splice = rng.pick(SPLICES).as_bytes();
                    bytes.splice(at..at, splice.iter().copied());
                }
                3 => {
                    let end = (at + rng.below(20)).min(bytes.len());
                    bytes.drain(at..end);
                }
                _ => {
                    let levels = rng.below(80);
                    let open = r#"{"type":"filter","operator":"and","criteria":["#.repeat(levels);
                    let close = "]}".repeat(levels);
                    bytes = [open.as_bytes(), &bytes, close.as_bytes()].concat();
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Parses, and renders what parses on both databases; must never panic.
    fn exercise(body: &str, collection: Collection) -> Result<Option<Criterion>, SearchError> {
        let parsed = parse(body, collection);
        if let Ok(Some(criterion)) = &parsed {
            let (pg, lite) = sql(criterion);
            assert!(pg.starts_with("SELECT") && lite.starts_with("SELECT"));
        }
        if let Err(e) = &parsed {
            assert!(!e.to_string().is_empty());
        }
        parsed
    }

    #[test]
    fn fuzz_valid_bodies_parse_and_damaged_ones_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut ok, mut err) = (0, 0);
        for round in 0..20_000 {
            let collection = *rng.pick(&Collection::ALL);
            let body = valid(&mut rng, collection, 1);
            let text = if rng.chance(50) {
                body.to_string()
            } else {
                serde_json::to_string_pretty(&body).unwrap()
            };
            assert_eq!(quote_bare_words(&text), None, "{text}");
            if let Err(e) = exercise(&text, collection) {
                // A valid tree is refused only for its size.
                assert!(
                    matches!(e, SearchError::TooManyCriteria { .. }),
                    "round {round}: {e}\n{text}"
                );
            }
            match exercise(&mutate(&mut rng, &text), collection) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
        }
        // The mutations reach both outcomes, so both paths were exercised.
        assert!(ok > 100 && err > 100, "ok {ok}, err {err}");
    }

    #[test]
    fn fuzz_random_bytes_never_panic() {
        const ALPHABET: &[u8] = b"{}[]\":,\\ \n\tabelnqrtuxyz_019-+.eE";
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..20_000 {
            let len = rng.below(64);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.chance(70) {
                        *rng.pick(ALPHABET)
                    } else {
                        u8::try_from(rng.next() & 0xff).unwrap()
                    }
                })
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            if let Some(repaired) = quote_bare_words(&text) {
                assert!(repaired.len() > text.len());
            }
            let collection = *rng.pick(&Collection::ALL);
            let _ = exercise(&text, collection);
        }
    }
}
