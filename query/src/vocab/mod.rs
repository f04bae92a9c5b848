//! The interpreter: runs words against a stack, trying each vocabulary in Atlas's order
//! (std → query → data → math → stateful → filter → style), first match wins.
//!
//! Atlas reference: `Interpreter.scala`, `Context.scala`, `DataType.scala`,
//! `ModelDataTypes.scala`.

mod args;
mod data;
mod filter;
mod math;
mod query;
mod stateful;
mod std_words;
mod style;

use std::collections::HashMap;
use std::fmt;

pub(crate) use args::Kind;

use crate::error::{Error, Result};
use crate::lexer::{parse_items, unescape, Item, MAX_ITEMS};
use crate::model::{escape_literal, DataExpr, Expr, Printer, StyleExpr};
use crate::Query;

/// Atlas raises "looping detected" beyond this call depth (`:call`, `:each`, `:map`, macros).
pub const MAX_CALL_DEPTH: usize = 10;

/// Atlas's `maxStackSize`.
pub const MAX_STACK_SIZE: usize = MAX_ITEMS;

/// One item of the interpreter's stack.
#[derive(Debug, Clone, PartialEq)]
pub enum StackItem {
    /// A literal; numbers stay strings until a word coerces them.
    Str(String),
    /// A list, head first (paren lists in source order, raw tokens).
    List(Vec<StackItem>),
    /// A tag query.
    Query(Query),
    /// A time series expression (including data expressions).
    Expr(Expr),
    /// An expression with presentation settings.
    Style(StyleExpr),
}

impl StackItem {
    /// How error messages name this item.
    pub fn describe(&self) -> String {
        match self {
            StackItem::Str(s) => format!("the string \"{}\"", crate::shown(s)),
            // With its items: "expected a list of numbers, found a list" says nothing.
            StackItem::List(_) => format!("the list {}", crate::shown(&self.to_string())),
            StackItem::Query(_) => "a query".into(),
            StackItem::Expr(Expr::Data(_)) => "a data expression".into(),
            StackItem::Expr(_) => "a time series expression".into(),
            StackItem::Style(_) => "a styled expression".into(),
        }
    }

    /// Coerces a final stack item to a presentation expression as the graph API does.
    pub fn into_style_expr(self) -> Result<StyleExpr> {
        match self {
            StackItem::Style(s) => Ok(s),
            StackItem::Expr(e) => Ok(StyleExpr::new(e)),
            StackItem::Query(q) => Ok(StyleExpr::new(Expr::Data(DataExpr::sum(q)))),
            StackItem::Str(s) => match args::parse_f64(&s) {
                Some(v) => Ok(StyleExpr::new(Expr::Const(v))),
                None => Err(Error::NotAnExpression {
                    found: format!("String '{s}'"),
                }),
            },
            StackItem::List(_) => Err(Error::NotAnExpression {
                found: "a list".into(),
            }),
        }
    }
}

impl fmt::Display for StackItem {
    /// The item in stack language, e.g. `(,a,b,)` for a list.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackItem::Str(s) => f.write_str(&escape_literal(s)),
            StackItem::List(items) => {
                f.write_str("(")?;
                for i in items {
                    // List elements are raw tokens, printed as written.
                    match i {
                        StackItem::Str(s) => write!(f, ",{s}")?,
                        other => write!(f, ",{other}")?,
                    }
                }
                f.write_str(",)")
            }
            StackItem::Query(q) => write!(f, "{q}"),
            StackItem::Expr(e) => write!(f, "{e}"),
            StackItem::Style(s) => {
                let mut out = String::new();
                Printer::default().style_expr(s, &mut out);
                f.write_str(&out)
            }
        }
    }
}

/// What a vocabulary did with a word.
pub(crate) enum Step {
    /// It ran.
    Done,
    /// The vocabulary has the word but the stack does not fit: what it expected, and how
    /// many stack items that signature reads.
    NoMatch(&'static str, usize),
    /// The vocabulary has no such word.
    Unknown,
}

/// The interpreter state.
#[derive(Debug, Default)]
pub(crate) struct Interp {
    /// Top is last.
    pub stack: Vec<StackItem>,
    /// Items moved aside by `:freeze`, bottom first.
    pub frozen: Vec<StackItem>,
    pub vars: HashMap<String, StackItem>,
    depth: usize,
    /// Word being run and its position, for errors raised inside words.
    pub word: String,
    pub pos: usize,
}

type Vocab = fn(&mut Interp) -> Result<Step>;

/// Atlas's vocabulary order; overloads resolve to the first that matches.
const VOCABS: [Vocab; 7] = [
    std_words::run,
    query::run,
    data::run,
    math::run,
    stateful::run,
    filter::run,
    style::run,
];

fn to_stack_items(items: &[Item]) -> Vec<StackItem> {
    items
        .iter()
        .map(|i| match i {
            Item::Word { name, .. } => StackItem::Str(format!(":{name}")),
            Item::Literal { raw, .. } => StackItem::Str(raw.clone()),
            Item::List { items, .. } => StackItem::List(to_stack_items(items)),
        })
        .collect()
}

impl Interp {
    /// An error at the current word.
    pub fn err(&self, message: impl Into<String>) -> Error {
        Error::syntax(&format!(":{}", self.word), self.pos, message)
    }

    pub fn push(&mut self, item: StackItem) -> Result<()> {
        if self.stack.len() >= MAX_STACK_SIZE {
            return Err(self.err(format!("stack larger than the limit of {MAX_STACK_SIZE}")));
        }
        self.stack.push(item);
        Ok(())
    }

    /// Runs a parsed program.
    pub fn run_items(&mut self, items: &[Item]) -> Result<()> {
        for item in items {
            match item {
                Item::Word { name, pos } => self.run_word(name, *pos)?,
                Item::Literal { raw, pos } => {
                    self.word.clear();
                    self.pos = *pos;
                    if self.stack.len() >= MAX_STACK_SIZE {
                        return Err(Error::syntax(
                            raw,
                            *pos,
                            format!("stack larger than the limit of {MAX_STACK_SIZE}"),
                        ));
                    }
                    self.stack.push(StackItem::Str(unescape(raw)));
                }
                Item::List { items, pos } => {
                    if self.stack.len() >= MAX_STACK_SIZE {
                        return Err(Error::syntax(
                            "(",
                            *pos,
                            format!("stack larger than the limit of {MAX_STACK_SIZE}"),
                        ));
                    }
                    self.stack.push(StackItem::List(to_stack_items(items)));
                }
            }
        }
        Ok(())
    }

    /// Runs a list as a program (`:call`, `:each`, `:map`, macros), one level deeper.
    pub fn run_list(&mut self, list: Vec<StackItem>) -> Result<()> {
        if self.depth >= MAX_CALL_DEPTH {
            return Err(self.err(format!(
                "looping detected: call depth over the limit of {MAX_CALL_DEPTH}"
            )));
        }
        let (word, pos) = (self.word.clone(), self.pos);
        self.depth += 1;
        let result = (|| {
            for item in list {
                match item {
                    StackItem::Str(s) => match s.strip_prefix(':') {
                        Some(name) => self.run_word(name, pos)?,
                        None => self.push(StackItem::Str(unescape(&s)))?,
                    },
                    other => self.push(other)?,
                }
            }
            Ok(())
        })();
        self.depth -= 1;
        self.word = word;
        self.pos = pos;
        result
    }

    /// Runs a fixed program (a macro body) at the position of the current word.
    pub fn run_macro(&mut self, body: &str) -> Result<()> {
        let items = parse_items(body)?;
        self.run_list(to_stack_items(&items))
    }

    /// Runs one word: tries each vocabulary in order.
    pub fn run_word(&mut self, name: &str, pos: usize) -> Result<()> {
        let mut expected: Vec<&'static str> = Vec::new();
        let mut arity = 0;
        for vocab in VOCABS {
            self.word = name.to_string();
            self.pos = pos;
            match vocab(self)? {
                Step::Done => return Ok(()),
                Step::NoMatch(e, n) => {
                    if !expected.contains(&e) {
                        expected.push(e);
                    }
                    arity = arity.max(n);
                }
                Step::Unknown => {}
            }
        }
        self.word = name.to_string();
        self.pos = pos;
        if expected.is_empty() {
            return Err(self.err("unknown word"));
        }
        let found = self.describe_top(arity);
        Err(self.err(format!(
            "expected {} on the stack, found {found}",
            expected.join(" or ")
        )))
    }

    fn describe_top(&self, n: usize) -> String {
        if self.stack.is_empty() {
            return "an empty stack".into();
        }
        let start = self.stack.len().saturating_sub(n.max(1));
        let parts: Vec<String> = self.stack[start..].iter().map(|i| i.describe()).collect();
        if self.stack.len() < n {
            format!("only {}", parts.join(", "))
        } else {
            parts.join(", ")
        }
    }

    /// Ends the program: frozen items below the live stack, bottom first.
    pub fn finish(self) -> Vec<StackItem> {
        let mut out = self.frozen;
        out.extend(self.stack);
        out
    }
}

/// Runs an expression and returns the final stack, bottom first (frozen items first).
pub fn interpret(src: &str) -> Result<Vec<StackItem>> {
    let items = parse_items(src)?;
    let mut it = Interp::default();
    it.run_items(&items)?;
    Ok(it.finish())
}

/// Parses an expression into the presentation expressions of its final stack, bottom first.
pub fn parse(src: &str) -> Result<Vec<StyleExpr>> {
    interpret(src)?
        .into_iter()
        .map(StackItem::into_style_expr)
        .collect()
}

/// Parses a query alone, such as the `cq` parameter of `/api/v1/graph`
/// (`nf.app,www,:eq`); anything but exactly one query on the final stack is an error.
///
/// ```
/// let q = sextant_query::parse_query("nf.app,www,:eq")?;
/// assert_eq!(q, sextant_query::Query::eq("nf.app", "www"));
/// # Ok::<(), sextant_query::Error>(())
/// ```
pub fn parse_query(src: &str) -> Result<crate::Query> {
    let mut items = interpret(src)?;
    match (items.pop(), items.is_empty()) {
        (Some(StackItem::Query(q)), true) => Ok(q),
        (Some(item), true) => Err(crate::Error::NotAnExpression {
            found: format!("{} where a query was expected", item.describe()),
        }),
        (None, _) => Err(crate::Error::NotAnExpression {
            found: "an empty stack where a query was expected".to_string(),
        }),
        (Some(_), false) => Err(crate::Error::NotAnExpression {
            found: format!("{} items where one query was expected", items.len() + 1),
        }),
    }
}

/// ANDs `q` into every query clause of `expr`, as the `:cq` word does: how the graph API
/// applies its `cq` parameter to every expression of `q`.
pub fn and_common_query(mut expr: StyleExpr, q: &crate::Query) -> StyleExpr {
    query::and_query(&mut expr.expr, q);
    expr
}

/// Canonical, normalized form of each expression (`/api/v1/expr/normalize`): query clauses
/// reordered, implicit `:sum` and `:const` dropped, `:line` removed, `$k` legends as `$(k)`.
pub fn normalize(src: &str) -> Result<Vec<String>> {
    let printer = Printer { normalize: true };
    Ok(parse(src)?
        .iter()
        .map(|se| {
            let mut out = String::new();
            printer.style_expr(se, &mut out);
            out
        })
        .collect())
}
