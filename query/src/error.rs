//! The one error type of the crate.
//!
//! Errors raised while reading an expression carry the byte offset of the offending token in
//! the original string so the HTTP layer can point the user at it.

use crate::DatabaseError;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while parsing or evaluating an expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A token cannot be read or a word cannot run on the current stack.
    #[error("{token} at {pos}: {message}")]
    Syntax {
        /// The token as written (a word such as `:sum`, a literal, `(`, `/*`).
        token: String,
        /// Byte offset of the token in the original expression.
        pos: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// The final stack holds an item that is not a time series expression.
    #[error("expecting time series expr, found {found}")]
    NotAnExpression {
        /// Description of the offending stack item.
        found: String,
    },
    /// The expression is well formed but cannot be evaluated (bad join, bad encoding).
    #[error("{0}")]
    Eval(String),
    /// A limit of the evaluation context was exceeded.
    #[error("{what}: {actual} is over the limit of {limit} by {over}; narrow the query (more tag clauses, fewer group-by keys, a shorter range or a larger step)", over = actual.saturating_sub(*limit))]
    Limit {
        /// What was counted, e.g. "lines" or "datapoints".
        what: &'static str,
        /// The configured limit.
        limit: usize,
        /// How many the query needed (at least).
        actual: usize,
    },
    /// The store failed or refused the scan.
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

impl Error {
    /// Byte offset in the expression string for errors tied to a token.
    pub fn position(&self) -> Option<usize> {
        match self {
            Error::Syntax { pos, .. } => Some(*pos),
            _ => None,
        }
    }

    pub(crate) fn syntax(token: &str, pos: usize, message: impl Into<String>) -> Error {
        Error::Syntax {
            token: shown(token),
            pos,
            message: message.into(),
        }
    }
}

/// Longest offending value an error message repeats whole, bytes.
const SHOWN_WHOLE: usize = 120;

/// `value` as an error message should repeat it: whole when short, otherwise its first
/// bytes and its length, so a megabyte of input never comes back in the answer.
///
/// ```
/// assert_eq!(sextant_query::shown("abc"), "abc");
/// let long = "x".repeat(10_000);
/// assert_eq!(sextant_query::shown(&long), format!("{}… (10000 bytes)", "x".repeat(64)));
/// ```
pub fn shown(value: &str) -> String {
    if value.len() <= SHOWN_WHOLE {
        return value.to_string();
    }
    let mut cut = 64;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes)", &value[..cut], value.len())
}
