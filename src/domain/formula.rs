//! Accounting formulas for HPC tasks, as HEAppE has them
//! (`/work/shared/reference/heappe.md` §3, upstream `Utils/ResourceAccountingUtils.cs`).
//!
//! A formula such as `NumNodes * RunTime` is arithmetic over the parameters the
//! scheduler reports for a task (`scontrol show job -o`: `NumNodes=2 RunTime=01:30:00`).
//! Evaluated, it gives the task's usage, in whatever unit the formula yields.
//!
//! # Where Tally deliberately differs from HEAppE
//!
//! HEAppE strips the spaces, replaces each parameter name in the text by its value
//! and hands the result to `DataTable.Compute`; any error becomes a usage of 0.
//! Tally instead:
//!
//! - **Validates a formula when it is created** ([`Formula::parse`]). It keeps upstream's
//!   rules (at most 200 characters, `^[a-zA-Z0-9_\s+\-*/%().]*$`, balanced
//!   parentheses) and adds a grammar: numbers, the names in [`KNOWN_VARIABLES`],
//!   `+ - * / %`, unary `-` and parentheses. Nothing else is accepted: no
//!   functions, no booleans, no assignments, strings, tuples or `;` chains. Upstream's
//!   character rule already forbids `,`, so `min`/`max` could not take two
//!   arguments. `DataTable.Compute` has no `floor`/`ceil`. So every Tally formula is
//!   still a valid HEAppE formula.
//! - **Parses and evaluates with [`evalexpr`]** on a checked tree. Variables are bound
//!   by name, not by text replacement. Integer constants are turned into floats, so
//!   `3 / 2` is 1.5 and never 1.
//! - **Fails loudly.** A [`FormulaError`] names the missing parameter, the unreadable
//!   value or the non-finite or negative result. It never gives a silent 0.
//! - **Reads durations the way Slurm prints them** ([`duration_hours`]): `D-HH:MM:SS` as
//!   well as .NET's `[d.]hh:mm:ss[.fffffff]`. A two-field `A:B` means
//!   *minutes:seconds*, as in Slurm (sacct's `TotalCPU`), where .NET's `TimeSpan` would
//!   read hours:minutes. `scontrol` always prints at least `HH:MM:SS`, so upstream
//!   data do not change meaning.
//!
//! [`select`] picks the formula version that applies to a task. [`to_milli`] rounds
//! a usage the way HEAppE stores it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use evalexpr::error::EvalexprResultValue;
use evalexpr::{
    Context, DefaultNumericTypes, EvalexprError, EvalexprResult, Node, Operator, Value,
};

/// HEAppE's maximum formula length (`Accounting.Formula`, 200 characters).
pub const MAX_LENGTH: usize = 200;

/// The scheduler parameters a formula may use. Names are case-sensitive, because
/// HEAppE substitutes by exact key.
///
/// Only parameters whose values are numbers or durations are listed. A name whose
/// value can never be evaluated would let a formula pass validation and then fail
/// on every task.
///
/// - **Slurm `scontrol show job -o`**, the keys HEAppE's Slurm adapter passes through
///   (`SlurmDataConvertor.cs`). HEAppE's accounting docs name `NumNodes`, `NumCPUs`,
///   `NumTasks`, `RunTime` and `TimeLimit`. This list adds `TimeMin` (a duration like
///   `TimeLimit`) and `MinCPUsNode` (a count). Some keys are left out on purpose:
///   - `SubmitTime`, `StartTime`, `EndTime` and `EligibleTime` are timestamps, neither
///     number nor duration. HEAppE's docs list `SubmitTime`, but upstream evaluates
///     it as 0.
///   - `MinMemoryNode`, `MinMemoryCPU` and `MinTmpDiskNode` carry unit suffixes
///     (`4G`).
///   - `CPUs/Task` contains `/`, which upstream's tokenizer splits, so upstream
///     cannot use it either.
///   - Node lists, names and states are text.
/// - **The exploded TRES** (`AllocTRES=cpu=4,mem=8G,node=1,billing=4,gres/gpu=2`). These
///   are `cpu`, `mem`, `node`, `billing`, `gres_gpu` (upstream turns `/` into `_` since
///   2026-04) and `energy`. When a plain name is already taken, upstream prefixes it, so
///   `AllocTRES_cpu` … and `ReqTRES_cpu` … are listed too. Typed GRES
///   (`gres/gpu:a100`) contain `:` and cannot be names.
///
/// PBS keys (`Resource_List.nodect`, `resources_used.walltime`) are not supported yet.
/// The lexer already accepts dotted names, as upstream's character rule does. Adding
/// them means listing them here, or mapping them to `_` names where the parameters
/// are collected.
pub const KNOWN_VARIABLES: &[&str] = &[
    // Slurm `scontrol show job`: counts.
    "NumNodes",
    "NumCPUs",
    "NumTasks",
    "MinCPUsNode",
    // Slurm `scontrol show job`: durations (evaluated in hours).
    "RunTime",
    "TimeLimit",
    "TimeMin",
    // Exploded TRES (`AllocTRES`, or `ReqTRES` when `AllocTRES` is absent).
    "cpu",
    "mem",
    "node",
    "billing",
    "gres_gpu",
    "energy",
    // Prefixed forms, written when the plain name is already taken.
    "AllocTRES_cpu",
    "AllocTRES_mem",
    "AllocTRES_node",
    "AllocTRES_billing",
    "AllocTRES_gres_gpu",
    "AllocTRES_energy",
    "ReqTRES_cpu",
    "ReqTRES_mem",
    "ReqTRES_node",
    "ReqTRES_billing",
    "ReqTRES_gres_gpu",
    "ReqTRES_energy",
];

/// Why a formula is rejected at creation, or why it cannot be evaluated for a task.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormulaError {
    /// At creation: the formula is empty or only whitespace.
    #[error("the formula is empty")]
    Empty,
    /// At creation: the formula is longer than HEAppE allows.
    #[error("the formula is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// The formula's length in characters.
        len: usize,
        /// The maximum, [`MAX_LENGTH`].
        max: usize,
    },
    /// At creation: the formula is not a well-formed arithmetic expression. Causes
    /// include unbalanced parentheses, a missing operand or operator, and a
    /// malformed number.
    #[error("invalid formula: {0}")]
    Syntax(String),
    /// At creation: a name that is not one of [`KNOWN_VARIABLES`].
    #[error(
        "unknown variable `{0}`: a formula may only use the scheduler parameters Tally knows \
         (names are case-sensitive){hint}",
        hint = suggestion(.0)
    )]
    UnknownVariable(String),
    /// At creation: something other than arithmetic. This covers a character outside
    /// upstream's set, a function call and a boolean.
    #[error(
        "not allowed in a formula: {0}; only numbers, scheduler parameters, + - * / %, \
         unary - and parentheses are"
    )]
    Forbidden(String),
    /// At evaluation: the task has no usable value for a variable the formula uses.
    /// Upstream's `(null)`, `N/A` and `Unknown` count as no value.
    #[error("the task has no value for `{0}`")]
    MissingVariable(String),
    /// At evaluation: a parameter value that is neither a number nor a duration.
    #[error("the value `{value}` of `{variable}` is neither a number nor a duration")]
    InvalidValue {
        /// The variable's name.
        variable: String,
        /// The raw value the scheduler reported.
        value: String,
    },
    /// At evaluation: the result is NaN or infinite, for example after a division
    /// by zero.
    #[error("the formula's result is not a finite number (a division by zero?)")]
    NotFinite,
    /// At evaluation: the result is below zero, and usage cannot be negative.
    #[error("the formula's result {0} is negative; usage cannot be negative")]
    Negative(f64),
}

/// `; did you mean `NumNodes`?` when `name` differs from a known variable only in
/// case, else nothing.
fn suggestion(name: &str) -> String {
    KNOWN_VARIABLES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .map(|known| format!("; did you mean `{known}`?"))
        .unwrap_or_default()
}

/// A validated formula: parsed once, evaluated many times.
///
/// Two formulas are equal when their source texts are.
#[derive(Debug, Clone)]
pub struct Formula {
    /// The expression exactly as given.
    source: String,
    /// The checked tree. It holds only arithmetic operators, float constants and reads
    /// of known variables.
    tree: Node<DefaultNumericTypes>,
    /// The variables the tree reads, sorted and without duplicates.
    variables: Vec<&'static str>,
}

impl Formula {
    /// Validates `expression` and parses it.
    ///
    /// The checks run in this order:
    /// 1. The length: not empty, and at most [`MAX_LENGTH`] characters.
    /// 2. The characters, by upstream's rule `^[a-zA-Z0-9_\s+\-*/%().]*$` (ASCII
    ///    whitespace only).
    /// 3. The grammar: balanced parentheses, and operands and operators alternating.
    ///    Numbers are plain decimals (`2`, `1.5`, `.5`).
    /// 4. The names, each of which must be in [`KNOWN_VARIABLES`].
    /// 5. evalexpr's own parse, whose tree is walked again as a second line of defence.
    ///
    /// # Errors
    /// [`FormulaError::Empty`], [`FormulaError::TooLong`], [`FormulaError::Forbidden`],
    /// [`FormulaError::Syntax`] or [`FormulaError::UnknownVariable`].
    pub fn parse(expression: &str) -> Result<Self, FormulaError> {
        if expression.trim().is_empty() {
            return Err(FormulaError::Empty);
        }
        let len = expression.chars().count();
        if len > MAX_LENGTH {
            return Err(FormulaError::TooLong {
                len,
                max: MAX_LENGTH,
            });
        }
        check_characters(expression)?;
        let lexemes = lex(expression)?;
        check_grammar(&lexemes)?;
        check_names(&lexemes)?;

        let mut tree = evalexpr::build_operator_tree::<DefaultNumericTypes>(expression)
            .map_err(|error| FormulaError::Syntax(error.to_string()))?;
        let mut variables = Vec::new();
        check_tree(&mut tree, &mut variables)?;
        variables.sort_unstable();
        variables.dedup();
        Ok(Self {
            source: expression.to_owned(),
            tree,
            variables,
        })
    }

    /// The expression exactly as it was given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variables the formula uses, sorted and without duplicates.
    pub fn variables(&self) -> Vec<&str> {
        self.variables.clone()
    }

    /// Evaluates the formula with a task's scheduler `parameters` (name to raw value).
    ///
    /// Each variable's value is read as a number if it is one. A `,` decimal separator
    /// becomes `.`, as upstream does. Otherwise the value is read as a duration in
    /// hours ([`duration_hours`]). All arithmetic is in `f64`.
    ///
    /// # Errors
    /// - [`FormulaError::MissingVariable`]: a variable is absent, or empty, `(null)`,
    ///   `N/A` or `Unknown`.
    /// - [`FormulaError::InvalidValue`]: a value is neither a number nor a duration.
    /// - [`FormulaError::NotFinite`]: the result is NaN or infinite, for example after
    ///   a division by zero.
    /// - [`FormulaError::Negative`]: the result is below zero.
    pub fn evaluate(&self, parameters: &BTreeMap<String, String>) -> Result<f64, FormulaError> {
        let mut bindings = Bindings(Vec::with_capacity(self.variables.len()));
        for &name in &self.variables {
            let raw = parameters
                .get(name)
                .ok_or_else(|| FormulaError::MissingVariable(name.to_owned()))?;
            bindings
                .0
                .push((name, Value::Float(parameter_value(name, raw)?)));
        }
        // Cannot fail on a checked tree with every variable bound. If it ever does,
        // the reason is reported and not turned into a number.
        let result = self
            .tree
            .eval_float_with_context(&bindings)
            .map_err(|error| FormulaError::Syntax(format!("evaluation failed: {error}")))?;
        usage(result)
    }
}

impl PartialEq for Formula {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Formula {}

impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for Formula {
    type Err = FormulaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Checks a result: finite and at least 0. `-0.0` becomes `0.0`.
fn usage(result: f64) -> Result<f64, FormulaError> {
    if !result.is_finite() {
        Err(FormulaError::NotFinite)
    } else if result < 0.0 {
        Err(FormulaError::Negative(result))
    } else {
        // `abs` turns `-0.0` (e.g. `0 * -1`) into `0.0` and leaves the rest alone.
        Ok(result.abs())
    }
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// Upstream's rule `^[a-zA-Z0-9_\s+\-*/%().]*$`, with `\s` narrowed to ASCII
/// whitespace.
fn check_characters(expression: &str) -> Result<(), FormulaError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+-*/%(). \t\n\r\x0B\x0C".contains(c);
    match expression.chars().enumerate().find(|&(_, c)| !allowed(c)) {
        None => Ok(()),
        Some((index, c)) => Err(FormulaError::Forbidden(format!(
            "the character {c:?} at column {}{}",
            index + 1,
            match c {
                '^' => " (exponentiation)",
                '=' => " (assignment or comparison)",
                '"' | '\'' => " (strings)",
                ';' => " (expression chains)",
                ',' => " (tuples and function arguments)",
                '<' | '>' | '!' | '&' | '|' => " (comparisons and logic)",
                _ => "",
            }
        ))),
    }
}

/// What a lexeme is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A plain decimal number.
    Number,
    /// A name: a letter or `_` first, then letters, digits, `_` or `.`.
    Name,
    /// One of `+ - * / %`.
    Operator,
    /// `(`.
    Open,
    /// `)`.
    Close,
}

/// A token of a formula. It splits the text at the same places evalexpr's tokenizer
/// does (whitespace, operators and parentheses).
#[derive(Debug, Clone, Copy)]
struct Lexeme<'s> {
    kind: Kind,
    text: &'s str,
    /// 1-based column, for error messages.
    column: usize,
}

/// Splits an expression into lexemes. The expression must already have passed
/// [`check_characters`], so it is ASCII.
fn lex(expression: &str) -> Result<Vec<Lexeme<'_>>, FormulaError> {
    let bytes = expression.as_bytes();
    let mut lexemes = Vec::new();
    let mut start = 0;
    while let Some(&byte) = bytes.get(start) {
        let single = match byte {
            b'+' | b'-' | b'*' | b'/' | b'%' => Some(Kind::Operator),
            b'(' => Some(Kind::Open),
            b')' => Some(Kind::Close),
            _ => None,
        };
        if let Some(kind) = single {
            lexemes.push(Lexeme {
                kind,
                text: expression.get(start..=start).unwrap_or_default(),
                column: start + 1,
            });
            start += 1;
        } else if byte.is_ascii_whitespace() || byte == b'\x0B' {
            start += 1;
        } else {
            let mut end = start;
            while bytes
                .get(end)
                .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.'))
            {
                end += 1;
            }
            if end == start {
                // Unreachable after `check_characters`. Refuse rather than loop.
                return Err(FormulaError::Forbidden(format!(
                    "the character at column {}",
                    start + 1
                )));
            }
            let text = expression.get(start..end).unwrap_or_default();
            let column = start + 1;
            let kind = if byte.is_ascii_digit() || byte == b'.' {
                if !is_decimal(text) {
                    return Err(FormulaError::Syntax(format!(
                        "malformed number `{text}` at column {column}: write plain decimals \
                         such as `2` or `1.5` (no exponents, hexadecimal or separators)"
                    )));
                }
                Kind::Number
            } else {
                Kind::Name
            };
            lexemes.push(Lexeme { kind, text, column });
            start = end;
        }
    }
    Ok(lexemes)
}

/// `12`, `1.5`, `1.` or `.5`: ASCII digits with at most one `.`, and at least one
/// digit.
fn is_decimal(text: &str) -> bool {
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty())
}

/// Checks that parentheses balance and that operands and binary operators
/// alternate. A `-` where an operand is expected is unary minus.
fn check_grammar(lexemes: &[Lexeme<'_>]) -> Result<(), FormulaError> {
    let syntax = |message: String| Err(FormulaError::Syntax(message));
    let mut expect_operand = true;
    let mut open: Vec<usize> = Vec::new();
    let mut previous: Option<&Lexeme<'_>> = None;
    for lexeme in lexemes {
        let Lexeme { kind, text, column } = *lexeme;
        match (expect_operand, kind) {
            (true, Kind::Number | Kind::Name) => expect_operand = false,
            (true, Kind::Open) => open.push(column),
            (true, Kind::Operator) if text == "-" => {}
            (true, Kind::Operator) => {
                return syntax(format!("`{text}` at column {column} has no left operand"));
            }
            (true, Kind::Close) => {
                return match previous {
                    Some(p) if p.kind == Kind::Open => {
                        syntax(format!("empty parentheses at column {}", p.column))
                    }
                    _ if open.is_empty() => syntax(format!(
                        "unbalanced parentheses: `)` at column {column} has no matching `(`"
                    )),
                    _ => syntax(format!(
                        "an operand is missing before `)` at column {column}"
                    )),
                };
            }
            (false, Kind::Operator) => expect_operand = true,
            (false, Kind::Close) => {
                if open.pop().is_none() {
                    return syntax(format!(
                        "unbalanced parentheses: `)` at column {column} has no matching `(`"
                    ));
                }
            }
            (false, Kind::Open) => {
                return match previous {
                    Some(p) if p.kind == Kind::Name => Err(FormulaError::Forbidden(format!(
                        "the function call `{}(…)` at column {}",
                        p.text, p.column
                    ))),
                    _ => syntax(format!(
                        "an operator is missing before `(` at column {column}"
                    )),
                };
            }
            (false, Kind::Number | Kind::Name) => {
                let before = previous.map_or("", |p| p.text);
                return syntax(format!(
                    "an operator is missing between `{before}` and `{text}` at column {column}"
                ));
            }
        }
        previous = Some(lexeme);
    }
    if let Some(&column) = open.last() {
        return syntax(format!(
            "unbalanced parentheses: `(` at column {column} is never closed"
        ));
    }
    match previous {
        Some(last) if expect_operand => syntax(format!(
            "the formula ends with `{}` at column {}: an operand is missing",
            last.text, last.column
        )),
        None => Err(FormulaError::Empty),
        _ => Ok(()),
    }
}

/// Checks that every name is a known variable. evalexpr reads `true` and `false` as
/// booleans, so they are refused by name.
fn check_names(lexemes: &[Lexeme<'_>]) -> Result<(), FormulaError> {
    for lexeme in lexemes.iter().filter(|l| l.kind == Kind::Name) {
        if matches!(lexeme.text, "true" | "false") {
            return Err(FormulaError::Forbidden(format!(
                "the boolean `{}` at column {}",
                lexeme.text, lexeme.column
            )));
        }
        known(lexeme.text)?;
    }
    Ok(())
}

/// The entry of [`KNOWN_VARIABLES`] named `name`.
fn known(name: &str) -> Result<&'static str, FormulaError> {
    KNOWN_VARIABLES
        .iter()
        .copied()
        .find(|&known| known == name)
        .ok_or_else(|| FormulaError::UnknownVariable(name.to_owned()))
}

/// Walks evalexpr's tree. It accepts only arithmetic operators with the right number
/// of operands, numeric constants (made floats) and reads of known variables (collected
/// into `variables`). After the checks above nothing else can occur. The walk makes
/// sure of it rather than trusting that evalexpr parses the same language.
fn check_tree(
    node: &mut Node<DefaultNumericTypes>,
    variables: &mut Vec<&'static str>,
) -> Result<(), FormulaError> {
    let operands = match node.operator_mut() {
        Operator::RootNode | Operator::Neg => 1,
        Operator::Add | Operator::Sub | Operator::Mul | Operator::Div | Operator::Mod => 2,
        Operator::Const { value } => {
            // Float arithmetic everywhere: `3 / 2` must be 1.5, not evalexpr's
            // integer 1, so integer constants become floats.
            *value = Value::Float(constant(value)?);
            0
        }
        Operator::VariableIdentifierRead { identifier } => {
            variables.push(known(identifier)?);
            0
        }
        // Function calls, `^`, comparisons, logic, assignments, tuples, `;` chains.
        other => {
            return Err(FormulaError::Forbidden(format!("the operator `{other}`")));
        }
    };
    if node.children().len() != operands {
        return Err(FormulaError::Syntax(format!(
            "`{}` needs {operands} operand(s), found {}",
            node.operator(),
            node.children().len()
        )));
    }
    for child in node.children_mut() {
        check_tree(child, variables)?;
    }
    Ok(())
}

/// A constant of the tree as a finite float.
fn constant(value: &Value<DefaultNumericTypes>) -> Result<f64, FormulaError> {
    match value {
        Value::Int(int) => Ok(*int as f64),
        Value::Float(float) if float.is_finite() => Ok(*float),
        Value::Float(_) => Err(FormulaError::Syntax("a number is out of range".to_owned())),
        other => Err(FormulaError::Forbidden(format!("the constant `{other}`"))),
    }
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

/// The variables of one evaluation. This is an evalexpr context with no functions,
/// built-in or otherwise, that cannot be assigned to.
struct Bindings(Vec<(&'static str, Value<DefaultNumericTypes>)>);

impl Context for Bindings {
    type NumericTypes = DefaultNumericTypes;

    fn get_value(&self, identifier: &str) -> Option<&Value<DefaultNumericTypes>> {
        self.0
            .iter()
            .find(|(name, _)| *name == identifier)
            .map(|(_, value)| value)
    }

    fn call_function(
        &self,
        identifier: &str,
        _argument: &Value<DefaultNumericTypes>,
    ) -> EvalexprResultValue<DefaultNumericTypes> {
        Err(EvalexprError::FunctionIdentifierNotFound(
            identifier.to_owned(),
        ))
    }

    fn are_builtin_functions_disabled(&self) -> bool {
        true
    }

    fn set_builtin_functions_disabled(
        &mut self,
        disabled: bool,
    ) -> EvalexprResult<(), DefaultNumericTypes> {
        if disabled {
            Ok(())
        } else {
            Err(EvalexprError::BuiltinFunctionsCannotBeEnabled)
        }
    }
}

/// Reads one parameter value: a number, else a duration in hours.
fn parameter_value(variable: &str, raw: &str) -> Result<f64, FormulaError> {
    let text = raw.trim();
    // Upstream's Slurm adapter turns these into "" (SlurmDataConvertor.cs).
    if text.is_empty()
        || ["(null)", "N/A", "Unknown"]
            .iter()
            .any(|none| text.eq_ignore_ascii_case(none))
    {
        return Err(FormulaError::MissingVariable(variable.to_owned()));
    }
    number(text)
        .or_else(|| duration_hours(text))
        .ok_or_else(|| FormulaError::InvalidValue {
            variable: variable.to_owned(),
            value: raw.to_owned(),
        })
}

/// A finite number in invariant-culture form (`-1.5`, `2`, `1e3`), with `,` read as
/// the decimal separator as upstream does (`1,5` is 1.5). Rust's own parser would
/// also take `inf`, `NaN` and `infinity`, so the shape is checked first.
fn number(text: &str) -> Option<f64> {
    let text = text.replace(',', ".");
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(&text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let exponent_ok = exponent.is_none_or(|exponent| {
        let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if !exponent_ok || !is_decimal(mantissa) {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// Reads a duration as hours, like .NET's `TimeSpan.TotalHours`. Returns `None` if
/// `text` is not a duration.
///
/// Accepted forms, with surrounding whitespace ignored:
/// - `HH:MM:SS[.f]`, as Slurm and PBS print elapsed times. Hours may exceed 24
///   (`125:30:00`).
/// - `MM:SS[.f]`, Slurm's minutes:seconds (`90:00` is 1.5 h).
/// - `D-HH:MM:SS[.f]`, `D-HH:MM` and `D-HH`, Slurm's days forms (`1-02:00:00` is 26 h).
/// - `D.HH:MM:SS[.f]` and `D.HH:MM`, .NET's `TimeSpan` days form.
///
/// Fields after the first are bounded: hours after days below 24, minutes and
/// seconds below 60. Fractions of a second take 1 to 7 digits, .NET's tick
/// precision. The result is computed as .NET computes it: whole ticks (100 ns)
/// divided by ticks per hour. So `01:30:00` is exactly 1.5.
pub fn duration_hours(text: &str) -> Option<f64> {
    const TICKS_PER_SECOND: u64 = 10_000_000;
    const TICKS_PER_HOUR: u64 = 3_600 * TICKS_PER_SECOND;

    let text = text.trim();
    let (days, clock) = match text.split_once('-') {
        Some((days, clock)) => (Some(days), clock),
        None => match text.split_once(':') {
            Some((head, _)) if head.contains('.') => {
                let (days, clock) = text.split_once('.')?;
                (Some(days), clock)
            }
            _ => (None, text),
        },
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let (days, hours, minutes, seconds) = match (days, parts.as_slice()) {
        (Some(days), [hours]) if text.contains('-') => (field(days)?, bounded(hours, 24)?, 0, "0"),
        (Some(days), [hours, minutes]) => (
            field(days)?,
            bounded(hours, 24)?,
            bounded(minutes, 60)?,
            "0",
        ),
        (Some(days), [hours, minutes, seconds]) => (
            field(days)?,
            bounded(hours, 24)?,
            bounded(minutes, 60)?,
            *seconds,
        ),
        (None, [minutes, seconds]) => (0, 0, field(minutes)?, *seconds),
        (None, [hours, minutes, seconds]) => (0, field(hours)?, bounded(minutes, 60)?, *seconds),
        _ => return None,
    };
    let (whole_seconds, fraction) = match seconds.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (seconds, None),
    };
    let fraction_ticks = match fraction {
        None => 0,
        Some(digits) if (1..=7).contains(&digits.len()) => {
            // Pad to 7 digits: `5` is 5_000_000 ticks.
            field(digits)?.checked_mul(10u64.pow(7 - digits.len() as u32))?
        }
        Some(_) => return None,
    };
    let total_seconds = days
        .checked_mul(24)?
        .checked_add(hours)?
        .checked_mul(60)?
        .checked_add(minutes)?
        .checked_mul(60)?
        .checked_add(bounded(whole_seconds, 60)?)?;
    let ticks = total_seconds
        .checked_mul(TICKS_PER_SECOND)?
        .checked_add(fraction_ticks)?;
    // TimeSpan's range: the ticks must fit an i64.
    if ticks > i64::MAX as u64 {
        return None;
    }
    Some(ticks as f64 / TICKS_PER_HOUR as f64)
}

/// An unsigned field made only of ASCII digits.
fn field(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A [`field`] below `limit`.
fn bounded(text: &str, limit: u64) -> Option<u64> {
    field(text).filter(|&value| value < limit)
}

/// Converts a usage to thousandths, as Tally stores it (`usage_milli`). Returns `None`
/// if the usage is not finite or does not fit an `i64`.
///
/// HEAppE stores `Math.Round(x, 3)`, which rounds half to even (`MidpointRounding.ToEven`).
/// .NET's `Math.Round(double, int, MidpointRounding)` (in `System.Private.CoreLib`)
/// computes it for `|x| < 1e16` as `r = Round(x * 1000)`, then returns `r / 1000`.
/// The `f64` product is rounded half to even. This function returns `r`, the
/// thousandths that .NET's result stands for:
/// - `0.0025 * 1000` is exactly `2.5` in `f64`, so the result is `2`, where
///   `format!("{:.3}", 0.0025)` rounds the exact binary value (just above 0.0025) up.
/// - `0.1235 * 1000` is `123.5`, so the result is `124`, where `{:.3}` gives `0.123`.
///
/// For `|x| >= 1e16`, .NET returns `x` unchanged. Such values overflow `i64`
/// thousandths anyway.
pub fn to_milli(usage: f64) -> Option<i64> {
    // -2^63 is exact in f64. 2^63 is the first value too large for i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let scaled = (usage * 1000.0).round_ties_even();
    // NaN and the infinities are outside the range too.
    (-LIMIT..LIMIT).contains(&scaled).then_some(scaled as i64)
}

// ---------------------------------------------------------------------------
// Choosing the version
// ---------------------------------------------------------------------------

/// A formula version with its validity window: one row of the `formulas` table. The
/// formula is borrowed, so a caller can parse the rows once and build versions over
/// them.
#[derive(Debug, Clone, Copy)]
pub struct FormulaVersion<'a> {
    /// The row's id, which breaks ties between equal `validity_from`.
    pub id: i64,
    /// The start of validity (inclusive).
    pub validity_from: DateTime<Utc>,
    /// The end of validity (inclusive). `None` means open-ended.
    pub validity_to: Option<DateTime<Utc>>,
    /// The parsed formula.
    pub formula: &'a Formula,
}

impl FormulaVersion<'_> {
    /// HEAppE's `Accounting.IsValid(s)`: `ValidityFrom <= s && (ValidityTo == null ||
    /// ValidityTo >= s)`. Both bounds are inclusive.
    pub fn is_valid_at(&self, instant: DateTime<Utc>) -> bool {
        self.validity_from <= instant && self.validity_to.is_none_or(|to| to >= instant)
    }
}

/// Chooses the formula version for a task that started at `task_start`, as HEAppE
/// does (heappe.md §3 step 1). Among the versions valid at the start, it takes the one
/// with the greatest `validity_from`, then the greatest `id`.
///
/// Returns `None` if the task has not started or no version is valid then, in which
/// case upstream writes no usage. Soft-deleted versions are the caller's to leave out.
pub fn select<'a>(
    versions: &'a [FormulaVersion<'a>],
    task_start: Option<DateTime<Utc>>,
) -> Option<&'a FormulaVersion<'a>> {
    let start = task_start?;
    versions
        .iter()
        .filter(|version| version.is_valid_at(start))
        .max_by_key(|version| (version.validity_from, version.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn eval(formula: &str, pairs: &[(&str, &str)]) -> Result<f64, FormulaError> {
        Formula::parse(formula).unwrap().evaluate(&params(pairs))
    }

    // --- Documented examples -----------------------------------------------

    #[test]
    fn docs_examples() {
        let p = [("NumNodes", "2"), ("RunTime", "01:30:00")];
        assert_eq!(eval("NumNodes * RunTime", &p), Ok(3.0));
        assert_eq!(eval("NumNodes * RunTime / 8", &p), Ok(0.375));
        // ((2 * 1.5) / 60) * 1.2 + 25 = 25.06
        let value = eval("((NumNodes * RunTime) / 60) * 1.2 + 25", &p).unwrap();
        assert_eq!(value, ((2.0 * 1.5) / 60.0) * 1.2 + 25.0);
        assert!((value - 25.06).abs() < 1e-12);
        assert_eq!(to_milli(value), Some(25_060));
    }

    #[test]
    fn tres_keys() {
        let p = [("cpu", "4"), ("gres_gpu", "2"), ("RunTime", "02:15:00")];
        assert_eq!(eval("cpu * RunTime", &p), Ok(9.0));
        assert_eq!(eval("gres_gpu * RunTime", &p), Ok(4.5));
        assert_eq!(
            eval(
                "AllocTRES_cpu + ReqTRES_gres_gpu",
                &[("AllocTRES_cpu", "8"), ("ReqTRES_gres_gpu", "1")]
            ),
            Ok(9.0)
        );
    }

    #[test]
    fn spaces_are_optional_and_source_is_kept() {
        let formula = Formula::parse("  NumNodes*RunTime ").unwrap();
        assert_eq!(formula.source(), "  NumNodes*RunTime ");
        assert_eq!(formula.to_string(), "  NumNodes*RunTime ");
        assert_eq!(formula, "  NumNodes*RunTime ".parse::<Formula>().unwrap());
        assert_eq!(
            formula.evaluate(&params(&[("NumNodes", "3"), ("RunTime", "1:00:00")])),
            Ok(3.0)
        );
    }

    #[test]
    fn variables_are_sorted_and_unique() {
        let formula = Formula::parse("RunTime * NumNodes + cpu * RunTime + 1").unwrap();
        assert_eq!(formula.variables(), vec!["NumNodes", "RunTime", "cpu"]);
        assert!(Formula::parse("2 * 3").unwrap().variables().is_empty());
    }

    #[test]
    fn only_the_used_variables_are_read() {
        // Other parameters may be missing or unreadable.
        assert_eq!(
            eval(
                "NumNodes",
                &[("NumNodes", "2"), ("RunTime", "UNLIMITED"), ("Foo", "x")]
            ),
            Ok(2.0)
        );
    }

    #[test]
    fn arithmetic_is_in_floats_with_usual_precedence() {
        assert_eq!(eval("3 / 2", &[]), Ok(1.5));
        assert_eq!(eval("7 % 4", &[]), Ok(3.0));
        assert_eq!(eval("7.5 % 2", &[]), Ok(1.5));
        assert_eq!(eval("2 + 3 * 4", &[]), Ok(14.0));
        assert_eq!(eval("(2 + 3) * 4", &[]), Ok(20.0));
        assert_eq!(eval("10 - 4 - 3", &[]), Ok(3.0));
        assert_eq!(eval("16 / 4 / 2", &[]), Ok(2.0));
        assert_eq!(eval("6 / 3 * 2", &[]), Ok(4.0));
        assert_eq!(eval("-2 * -3", &[]), Ok(6.0));
        assert_eq!(eval("5 - -1", &[]), Ok(6.0));
        assert_eq!(eval(".5 + 1.", &[]), Ok(1.5));
        assert_eq!(eval("0 * -1", &[]).map(f64::to_bits), Ok(0.0f64.to_bits()));
        // Large integers become floats, not overflowing i64 arithmetic.
        assert_eq!(
            eval("9223372036854775807 * 2", &[]),
            Ok(1.8446744073709552e19)
        );
    }

    // --- Values ------------------------------------------------------------

    #[test]
    fn durations_in_hours() {
        assert_eq!(duration_hours("01:30:00"), Some(1.5));
        assert_eq!(duration_hours("1-02:03:04"), Some(93_784.0 / 3_600.0));
        assert_eq!(duration_hours("00:00:30"), Some(30.0 / 3_600.0));
        assert_eq!(duration_hours("90:00"), Some(1.5)); // MM:SS
        assert_eq!(duration_hours("00:01.5"), Some(1.5 / 3_600.0)); // sacct TotalCPU
        assert_eq!(duration_hours("00:00:01.250"), Some(1.25 / 3_600.0));
        assert_eq!(duration_hours("125:30:00"), Some(125.5)); // PBS walltime
        assert_eq!(duration_hours("2-00:00:00"), Some(48.0));
        assert_eq!(duration_hours("1-12"), Some(36.0)); // D-HH
        assert_eq!(duration_hours("1-12:30"), Some(36.5)); // D-HH:MM
        assert_eq!(duration_hours("1.02:00:00"), Some(26.0)); // .NET d.hh:mm:ss
        assert_eq!(duration_hours(" 00:15:00 "), Some(0.25));
        for not_a_duration in
            "|5|1,5|UNLIMITED|INVALID|01:60:00|00:00:60|1-24:00:00|1:2:3:4|-01:00:00|1-|-1|:|\
            01::00|00:00:00.12345678|00:00:00.|a:b|1.5|2024-05-01T10:00:00|\
            99999999999999999999:00:00"
                .split('|')
        {
            assert_eq!(duration_hours(not_a_duration), None, "{not_a_duration:?}");
        }
        // TimeSpan's range: at most i64::MAX ticks.
        assert_eq!(
            duration_hours("10675199-00:00:00").map(|h| h > 0.0),
            Some(true)
        );
        assert_eq!(duration_hours("10675200-00:00:00"), None);
    }

    #[test]
    fn parameter_values() {
        assert_eq!(parameter_value("cpu", "4"), Ok(4.0));
        assert_eq!(parameter_value("cpu", " 4 "), Ok(4.0));
        assert_eq!(parameter_value("cpu", "1,5"), Ok(1.5));
        assert_eq!(parameter_value("cpu", "1.5"), Ok(1.5));
        assert_eq!(parameter_value("cpu", "1e3"), Ok(1000.0));
        assert_eq!(parameter_value("RunTime", "01:30:00"), Ok(1.5));
        assert_eq!(
            parameter_value("RunTime", "1-02:03:04"),
            Ok(93_784.0 / 3_600.0)
        );
        for missing in ["", "  ", "(null)", "N/A", "Unknown"] {
            assert_eq!(
                parameter_value("TimeMin", missing),
                Err(FormulaError::MissingVariable("TimeMin".to_owned()))
            );
        }
        for invalid in "inf NaN infinity 1e999 4G UNLIMITED 1,000,000 abc".split_whitespace() {
            assert_eq!(
                parameter_value("mem", invalid),
                Err(FormulaError::InvalidValue {
                    variable: "mem".to_owned(),
                    value: invalid.to_owned()
                }),
                "{invalid:?}"
            );
        }
    }

    // --- Rejected at creation ----------------------------------------------

    fn rejected(formula: &str) -> FormulaError {
        match Formula::parse(formula) {
            Ok(parsed) => panic!("{formula:?} was accepted: {parsed:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn syntax_errors() {
        for formula in
            "NumNodes *|(NumNodes|NumNodes)|2 +|NumNodes NumCPUs|* NumNodes|+2|()|2 * ()|(2 +)|\
            2 (3)|)(|NumNodes // 2|1.5.2|1e5|0x10|2NumNodes|1_000|."
                .split('|')
        {
            assert!(
                matches!(rejected(formula), FormulaError::Syntax(_)),
                "{formula:?}: {:?}",
                rejected(formula)
            );
        }
        assert_eq!(
            rejected("(NumNodes").to_string(),
            "invalid formula: unbalanced parentheses: `(` at column 1 is never closed"
        );
        assert_eq!(
            rejected("NumNodes)").to_string(),
            "invalid formula: unbalanced parentheses: `)` at column 9 has no matching `(`"
        );
        assert_eq!(
            rejected("NumNodes NumCPUs").to_string(),
            "invalid formula: an operator is missing between `NumNodes` and `NumCPUs` at column 10"
        );
        assert_eq!(
            rejected("NumNodes *").to_string(),
            "invalid formula: the formula ends with `*` at column 10: an operand is missing"
        );
    }

    #[test]
    fn unknown_variables() {
        assert_eq!(
            rejected("Foo * 2"),
            FormulaError::UnknownVariable("Foo".to_owned())
        );
        assert_eq!(
            rejected("a + 1"),
            FormulaError::UnknownVariable("a".to_owned())
        );
        // evalexpr would read these as float constants.
        assert_eq!(
            rejected("inf"),
            FormulaError::UnknownVariable("inf".to_owned())
        );
        assert_eq!(
            rejected("NaN * 1"),
            FormulaError::UnknownVariable("NaN".to_owned())
        );
        // Not substituted upstream either, and not a number: a timestamp.
        assert_eq!(
            rejected("SubmitTime"),
            FormulaError::UnknownVariable("SubmitTime".to_owned())
        );
        // PBS keys are not supported yet.
        assert_eq!(
            rejected("Resource_List.nodect * 2"),
            FormulaError::UnknownVariable("Resource_List.nodect".to_owned())
        );
        // Case-sensitive, with a hint.
        let error = rejected("numnodes * RunTime");
        assert_eq!(error, FormulaError::UnknownVariable("numnodes".to_owned()));
        assert!(
            error.to_string().ends_with("did you mean `NumNodes`?"),
            "{error}"
        );
    }

    #[test]
    fn forbidden_constructs() {
        for formula in "NumNodes; 3|a = 2|\"x\"|NumNodes ^ 2|NumNodes == 2|NumNodes > 2|!true|\
            min(NumNodes, 2)|(1, 2)|NumNodes += 1|NumNodes && 1|'x'|NumNodes\u{a0}* 2|NumNödes|\
            floor(RunTime)|NumNodes (2)|true|false + 1"
            .split('|')
        {
            assert!(
                matches!(rejected(formula), FormulaError::Forbidden(_)),
                "{formula:?}: {:?}",
                rejected(formula)
            );
        }
        assert_eq!(
            rejected("NumNodes ^ 2").to_string(),
            "not allowed in a formula: the character '^' at column 10 (exponentiation); \
             only numbers, scheduler parameters, + - * / %, unary - and parentheses are"
        );
        assert_eq!(
            rejected("floor(RunTime)"),
            FormulaError::Forbidden("the function call `floor(…)` at column 1".to_owned())
        );
    }

    #[test]
    fn empty_and_too_long() {
        assert_eq!(rejected(""), FormulaError::Empty);
        assert_eq!(rejected(" \t\n"), FormulaError::Empty);
        let long = format!("1{}", " + 1".repeat(50)); // 201 characters
        assert_eq!(long.len(), 201);
        assert_eq!(
            rejected(&long),
            FormulaError::TooLong { len: 201, max: 200 }
        );
        let just_fits = format!("{}1", " ".repeat(199));
        assert_eq!(just_fits.len(), 200);
        assert!(Formula::parse(&just_fits).is_ok());
        let deep = format!("{}NumNodes{}", "(".repeat(96), ")".repeat(96));
        assert!(deep.len() <= MAX_LENGTH);
        assert_eq!(
            Formula::parse(&deep)
                .unwrap()
                .evaluate(&params(&[("NumNodes", "2")])),
            Ok(2.0)
        );
        let negations = format!("{}2", "-".repeat(198));
        assert_eq!(
            Formula::parse(&negations)
                .unwrap()
                .evaluate(&BTreeMap::new()),
            Ok(2.0)
        );
    }

    // --- Evaluation errors -------------------------------------------------

    #[test]
    fn evaluation_errors() {
        let formula = Formula::parse("NumNodes * RunTime").unwrap();
        assert_eq!(
            formula.evaluate(&params(&[("NumNodes", "2")])),
            Err(FormulaError::MissingVariable("RunTime".to_owned()))
        );
        assert_eq!(
            formula.evaluate(&params(&[("NumNodes", "(null)"), ("RunTime", "01:00:00")])),
            Err(FormulaError::MissingVariable("NumNodes".to_owned()))
        );
        assert_eq!(
            formula.evaluate(&params(&[("NumNodes", "two"), ("RunTime", "01:00:00")])),
            Err(FormulaError::InvalidValue {
                variable: "NumNodes".to_owned(),
                value: "two".to_owned()
            })
        );
        assert_eq!(
            eval("NumNodes / 0", &[("NumNodes", "2")]),
            Err(FormulaError::NotFinite)
        );
        assert_eq!(
            eval("NumNodes / (cpu - 4)", &[("NumNodes", "2"), ("cpu", "4")]),
            Err(FormulaError::NotFinite)
        );
        assert_eq!(eval("0 / 0", &[]), Err(FormulaError::NotFinite));
        assert_eq!(
            eval("NumNodes % 0", &[("NumNodes", "2")]),
            Err(FormulaError::NotFinite)
        );
        assert_eq!(
            eval("cpu * cpu", &[("cpu", "1e200")]),
            Err(FormulaError::NotFinite)
        );
        assert_eq!(
            eval("NumNodes - 3", &[("NumNodes", "2")]),
            Err(FormulaError::Negative(-1.0))
        );
        assert_eq!(
            eval("cpu", &[("cpu", "-4")]),
            Err(FormulaError::Negative(-4.0))
        );
        assert_eq!(
            FormulaError::Negative(-1.0).to_string(),
            "the formula's result -1 is negative; usage cannot be negative"
        );
    }

    // --- Rounding ----------------------------------------------------------

    #[test]
    fn to_milli_rounds_like_math_round_3() {
        assert_eq!(to_milli(3.0), Some(3_000));
        assert_eq!(to_milli(0.0), Some(0));
        assert_eq!(to_milli(1.0 / 3.0), Some(333));
        // Exact binary midpoints: half to even.
        assert_eq!(to_milli(0.0625), Some(62)); // 62.5
        assert_eq!(to_milli(0.1875), Some(188)); // 187.5
        assert_eq!(to_milli(0.3125), Some(312)); // 312.5
        // Decimal midpoints: `x * 1000` lands on .5 in f64, then goes to even (as .NET).
        assert_eq!(to_milli(0.0015), Some(2));
        assert_eq!(to_milli(0.0025), Some(2));
        assert_eq!(to_milli(0.0035), Some(4));
        assert_eq!(to_milli(0.0045), Some(4));
        assert_eq!(to_milli(1.0005), Some(1_000));
        assert_eq!(to_milli(1.2345), Some(1_234));
        assert_eq!(to_milli(0.1235), Some(124));
        assert_eq!(to_milli(-0.0025), Some(-2));
        // `{:.3}` rounds the exact binary value instead. The rule differs from it on
        // purpose, and these two cases pin the difference.
        assert_eq!(format!("{:.3}", 0.0025), "0.003");
        assert_eq!(format!("{:.3}", 0.1235), "0.123");
        // Just off the midpoint after scaling: ordinary rounding.
        assert_eq!(to_milli(2.0125), Some(2_013)); // 2012.5000000000002
        // Out of range.
        assert_eq!(to_milli(f64::NAN), None);
        assert_eq!(to_milli(f64::INFINITY), None);
        assert_eq!(to_milli(1e16), None);
        assert_eq!(to_milli(-1e16), None);
        assert_eq!(to_milli(9e15), Some(9_000_000_000_000_000_000));
    }

    // --- Choosing the version ----------------------------------------------

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0).unwrap()
    }

    #[test]
    fn selection_by_validity_window() {
        let formula = Formula::parse("NumNodes * RunTime").unwrap();
        let version = |id, from, to: Option<u32>| FormulaVersion {
            id,
            validity_from: at(from),
            validity_to: to.map(at),
            formula: &formula,
        };
        let versions = [
            version(1, 1, Some(10)),
            version(2, 5, Some(10)),
            version(3, 5, Some(8)),
            version(4, 12, None),
        ];
        let chosen = |day: u32| select(&versions, Some(at(day))).map(|v| v.id);
        // Start boundary inclusive.
        assert_eq!(chosen(1), Some(1));
        // Newest validity_from wins; tie on validity_from → greatest id.
        assert_eq!(chosen(5), Some(3));
        assert_eq!(chosen(7), Some(3));
        // End boundary inclusive.
        assert_eq!(chosen(8), Some(3));
        assert_eq!(chosen(9), Some(2));
        assert_eq!(chosen(10), Some(2));
        // A gap between windows.
        assert_eq!(chosen(11), None);
        // Open-ended.
        assert_eq!(chosen(12), Some(4));
        assert_eq!(chosen(28), Some(4));
        // Exactly one second past the end of a window.
        let after = at(10) + chrono::Duration::seconds(1);
        assert_eq!(select(&versions[..2], Some(after)).map(|v| v.id), None);
        // Before every window, or no start.
        assert_eq!(select(&versions[1..], Some(at(1))).map(|v| v.id), None);
        assert_eq!(select(&versions, None).map(|v| v.id), None);
        assert_eq!(select(&[], Some(at(1))).map(|v| v.id), None);
        // The chosen version carries its formula.
        assert_eq!(
            select(&versions, Some(at(1))).unwrap().formula.source(),
            "NumNodes * RunTime"
        );
    }

    // --- Fuzz --------------------------------------------------------------

    /// xorshift64*: small, deterministic, good enough to shake the parser.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const VALUES: &str = "0|1|2|4|-1|1,5|0.25|1e3|1e200|1e999|01:30:00|1-02:03:04|90:00|00:00:30.5|(null)|N/A|\
        Unknown||abc|NaN|inf|UNLIMITED|4G|99999999999999999999999";

    fn random_parameters(rng: &mut Rng, values: &[&str]) -> BTreeMap<String, String> {
        let mut parameters = BTreeMap::new();
        for name in KNOWN_VARIABLES {
            // Now and then a parameter is absent altogether.
            if rng.below(8) != 0 {
                parameters.insert((*name).to_owned(), rng.pick(values).to_owned());
            }
        }
        parameters
    }

    /// Reference evaluator with the usual precedence. Unary minus binds tightest,
    /// binary operators associate left. It checks evalexpr's tree.
    struct Reference<'s> {
        tokens: Vec<Lexeme<'s>>,
        at: usize,
        values: &'s BTreeMap<&'static str, f64>,
    }

    impl<'s> Reference<'s> {
        fn peek(&self) -> Option<&'s str> {
            self.tokens.get(self.at).map(|l| l.text)
        }

        fn expression(&mut self) -> f64 {
            let mut value = self.term();
            while let Some(op @ ("+" | "-")) = self.peek() {
                self.at += 1;
                let right = self.term();
                value = if op == "+" {
                    value + right
                } else {
                    value - right
                };
            }
            value
        }

        fn term(&mut self) -> f64 {
            let mut value = self.unary();
            while let Some(op @ ("*" | "/" | "%")) = self.peek() {
                self.at += 1;
                let right = self.unary();
                value = match op {
                    "*" => value * right,
                    "/" => value / right,
                    _ => value % right,
                };
            }
            value
        }

        fn unary(&mut self) -> f64 {
            let lexeme = self.tokens[self.at];
            self.at += 1;
            match lexeme.kind {
                Kind::Operator => -self.unary(),
                Kind::Open => {
                    let value = self.expression();
                    self.at += 1; // `)`
                    value
                }
                Kind::Number => lexeme.text.parse().unwrap(),
                Kind::Name => self.values[lexeme.text],
                Kind::Close => unreachable!(),
            }
        }
    }

    fn check_never_panics_and_agrees(formula: &str, rng: &mut Rng, accepted: &mut usize) {
        let Ok(parsed) = Formula::parse(formula) else {
            return;
        };
        *accepted += 1;
        for _ in 0..4 {
            let parameters = random_parameters(rng, &VALUES.split('|').collect::<Vec<_>>());
            let result = parsed.evaluate(&parameters);
            if let Ok(value) = result {
                assert!(
                    value.is_finite() && value >= 0.0,
                    "{formula:?} gave {value}"
                );
            }
            // When every variable has a value, the result must match the reference.
            let values: Option<BTreeMap<&'static str, f64>> = parsed
                .variables
                .iter()
                .map(|&name| {
                    let raw = parameters.get(name)?;
                    Some((name, parameter_value(name, raw).ok()?))
                })
                .collect();
            if let Some(values) = values {
                let mut reference = Reference {
                    tokens: lex(formula).unwrap(),
                    at: 0,
                    values: &values,
                };
                let expected = usage(reference.expression());
                assert_eq!(
                    result.map(f64::to_bits),
                    expected.map(f64::to_bits),
                    "{formula:?} with {values:?}"
                );
            }
        }
    }

    #[test]
    fn fuzz_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut accepted = 0;

        // Character level: the formula alphabet plus a few forbidden characters.
        let alphabet: Vec<char> = "NumNodesRuTimcpu_gr0123456789 +-*/%().\t^=,;\"é"
            .chars()
            .collect();
        for _ in 0..20_000 {
            let len = rng.below(24);
            let formula: String = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            check_never_panics_and_agrees(&formula, &mut rng, &mut accepted);
        }

        // Token level: mostly well-formed pieces, so the evaluator gets exercised.
        const PIECES: &str = "NumNodes|RunTime|cpu|gres_gpu|TimeLimit|AllocTRES_mem|Foo|0|1|2|3|0.5|1.|.25|60|\
            9223372036854775807|+|-|*|/|%|-|-|(|(|)|)| |1e5|true|^";
        let pieces: Vec<&str> = PIECES.split('|').collect();
        for _ in 0..40_000 {
            let len = 1 + rng.below(16);
            let formula: String = (0..len)
                .map(|_| rng.pick(&pieces))
                .collect::<Vec<_>>()
                .join(" ");
            check_never_panics_and_agrees(&formula, &mut rng, &mut accepted);
        }
        // Make sure the fuzz reached evaluation often enough to mean something.
        assert!(accepted > 1_000, "only {accepted} formulas parsed");
    }
}
