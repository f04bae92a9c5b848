//! The `std` vocabulary: stack manipulation, variables, lists and calls.
//!
//! Atlas reference: `StandardVocabulary.scala`, `DOCS/asl/ref/*.md`.

use super::args::sig;
use super::{Interp, StackItem, Step};
use crate::error::Result;
use crate::lexer::unescape;

pub(crate) fn run(it: &mut Interp) -> Result<Step> {
    let word = it.word.clone();
    match word.as_str() {
        "call" => {
            let [list] = sig!(it, [List], "a list to call");
            if let StackItem::List(items) = list {
                it.run_list(items)?;
            }
        }
        "clear" => it.stack.clear(),
        "depth" => {
            let n = it.stack.len();
            it.push(StackItem::Str(n.to_string()))?;
        }
        "drop" => {
            let [_] = sig!(it, [Any], "an item");
        }
        "dup" => {
            let [a] = sig!(it, [Any], "an item");
            it.push(a.clone())?;
            it.push(a)?;
        }
        "each" => {
            let [items, f] = sig!(it, [List, List], "a list and a function list");
            if let (StackItem::List(items), StackItem::List(f)) = (items, f) {
                // Atlas iterates the reversed list, so the first element's result ends on top.
                for x in items.into_iter().rev() {
                    it.push(x)?;
                    it.run_list(f.clone())?;
                }
            }
        }
        "format" => {
            let [pattern, args] = sig!(it, [Str, List], "a pattern and a list of arguments");
            let pattern = it.string(pattern)?;
            let StackItem::List(args) = args else {
                return Err(it.err("internal: expected a list"));
            };
            let formatted = format(it, &pattern, &args)?;
            it.push(StackItem::Str(formatted))?;
        }
        "freeze" => {
            let live = std::mem::take(&mut it.stack);
            it.frozen.extend(live);
            it.vars.clear();
        }
        "get" => {
            let [k] = sig!(it, [Str], "a variable name");
            let k = it.string(k)?;
            match it.vars.get(&k).cloned() {
                Some(v) => it.push(v)?,
                None => return Err(it.err(format!("variable '{k}' is not set"))),
            }
        }
        "pick" => {
            let [n] = sig!(it, [Int], "an index");
            let n = it.int_in(n, "pick index", 0, i64::MAX)?;
            let len = it.stack.len();
            match len
                .checked_sub(n + 1)
                .and_then(|i| it.stack.get(i))
                .cloned()
            {
                Some(v) => it.push(v)?,
                None => return Err(it.err(format!("index {n} out of range for depth {len}"))),
            }
        }
        "map" => {
            let [items, f] = sig!(it, [List, List], "a list and a function list");
            if let (StackItem::List(items), StackItem::List(f)) = (items, f) {
                let saved = std::mem::take(&mut it.stack);
                let mut out = Vec::with_capacity(items.len());
                for x in items {
                    it.stack.clear();
                    it.stack.push(x);
                    if let Err(e) = it.run_list(f.clone()) {
                        it.stack = saved;
                        return Err(e);
                    }
                    if let Some(top) = it.stack.pop() {
                        out.push(top);
                    }
                }
                it.stack = saved;
                it.push(StackItem::List(out))?;
            }
        }
        "ndrop" => {
            let [n] = sig!(it, [Int], "a count");
            let n = it.int_in(n, "count", 0, i64::MAX)?;
            let keep = it.stack.len().saturating_sub(n);
            it.stack.truncate(keep);
        }
        "nlist" => {
            let [n] = sig!(it, [Int], "a count");
            let n = it.int_in(n, "count", 0, i64::MAX)?;
            let base = it.stack.len().saturating_sub(n);
            let items = it.stack.split_off(base);
            it.push(StackItem::List(items))?;
        }
        "over" => {
            let [a, b] = sig!(it, [Any, Any], "two items");
            it.push(a.clone())?;
            it.push(b)?;
            it.push(a)?;
        }
        "-rot" => {
            let [a] = sig!(it, [Any], "an item");
            it.stack.insert(0, a);
        }
        "roll" => {
            let [n] = sig!(it, [Int], "an index");
            let n = it.int_in(n, "roll index", 0, i64::MAX)?;
            let len = it.stack.len();
            match len.checked_sub(n + 1) {
                Some(i) => {
                    let v = it.stack.remove(i);
                    it.push(v)?;
                }
                None => return Err(it.err(format!("index {n} out of range for depth {len}"))),
            }
        }
        "rot" => {
            if it.stack.is_empty() {
                return Ok(Step::NoMatch("an item", 1));
            }
            let v = it.stack.remove(0);
            it.push(v)?;
        }
        "set" => {
            let [k, v] = sig!(it, [Str, Any], "a variable name and a value");
            let k = it.string(k)?;
            it.vars.insert(k, v);
        }
        "swap" => {
            let [a, b] = sig!(it, [Any, Any], "two items");
            it.push(b)?;
            it.push(a)?;
        }
        "list" => {
            let mut items = std::mem::take(&mut it.stack);
            items.reverse();
            it.push(StackItem::List(items))?;
        }
        "2over" => it.run_macro(":over,:over")?,
        "nip" => it.run_macro(":swap,:drop")?,
        "tuck" => it.run_macro(":swap,:over")?,
        "fcall" => it.run_macro(":get,:call")?,
        "sset" => it.run_macro(":swap,:set")?,
        _ => return Ok(Step::Unknown),
    }
    Ok(Step::Done)
}

/// A subset of Java's `String.format`: `%s`, `%d`, `%%` and `%n`.
fn format(it: &Interp, pattern: &str, args: &[StackItem]) -> Result<String> {
    let mut out = String::with_capacity(pattern.len());
    let mut next = args.iter();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('n') => out.push('\n'),
            Some('s' | 'd') => match next.next() {
                Some(StackItem::Str(s)) => out.push_str(&unescape(s)),
                Some(other) => out.push_str(&other.to_string()),
                None => return Err(it.err("format: not enough arguments")),
            },
            other => {
                return Err(it.err(format!(
                    "format: unsupported conversion %{}",
                    other.map(String::from).unwrap_or_default()
                )))
            }
        }
    }
    Ok(out)
}
