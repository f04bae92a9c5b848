//! Tokenizer and list parser for the stack language.
//!
//! Atlas (`Interpreter.scala`) removes `/* */` comments (which nest), splits the rest on `,`,
//! trims each token and drops empty ones. Parenthesised lists are grouped here but their
//! tokens are kept raw: Atlas neither executes nor unescapes them until a word uses them.

use nom::bytes::complete::{tag, take_till};
use nom::character::complete::char;
use nom::multi::separated_list0;
use nom::{IResult, Parser};

use crate::error::{Error, Result};

/// Lists nested deeper than this are refused: they are never useful and deep recursion over
/// user input could exhaust the thread stack.
pub(crate) const MAX_LIST_NESTING: usize = 64;

/// Atlas's `maxStackSize`, also applied to a list being built.
pub(crate) const MAX_ITEMS: usize = 1024;

/// One token: its raw text (trimmed, not unescaped) and its byte offset in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub text: String,
    pub pos: usize,
}

/// A parsed program item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// `:name`, stored without the colon.
    Word { name: String, pos: usize },
    /// Any other token, raw.
    Literal { raw: String, pos: usize },
    /// `( ... )`, items raw.
    List { items: Vec<Item>, pos: usize },
}

/// A piece of source text outside comments: `(offset in source, text)`.
type Piece<'a> = (usize, &'a str);

/// True when the `/` at byte `at` of `s` would form a comment marker (`/*` or `*/`) with a
/// neighbour: printers escape it, so a printed literal never opens or closes a comment.
pub(crate) fn slash_in_marker(s: &str, at: usize) -> bool {
    let b = s.as_bytes();
    b.get(at) == Some(&b'/')
        && (b.get(at + 1) == Some(&b'*') || (at > 0 && b.get(at - 1) == Some(&b'*')))
}

/// Text up to the next comment marker (`/*` or `*/`), possibly empty.
fn text_run(i: &str) -> IResult<&str, &str> {
    let end = [i.find("/*"), i.find("*/")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(i.len());
    Ok((&i[end..], &i[..end]))
}

/// A nested comment starting at `i` (which starts with `/*`); returns the rest after it, or
/// `None` when it never closes. Iterative so that deep nesting cannot overflow the stack.
fn nested_comment(i: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut rest = i;
    loop {
        if let Ok((r, _)) = tag::<_, _, nom::error::Error<&str>>("/*").parse(rest) {
            depth += 1;
            rest = r;
        } else if let Ok((r, _)) = tag::<_, _, nom::error::Error<&str>>("*/").parse(rest) {
            depth -= 1;
            rest = r;
            if depth == 0 {
                return Some(rest);
            }
        } else {
            let (r, skipped) = text_run(rest).ok()?;
            if skipped.is_empty() {
                return None; // end of input inside a comment
            }
            rest = r;
        }
    }
}

fn strip_comments(src: &str) -> Result<Vec<Piece<'_>>> {
    let offset = |s: &str| s.as_ptr() as usize - src.as_ptr() as usize;
    let mut pieces = Vec::new();
    let mut rest = src;
    loop {
        let (r, text) = text_run(rest).map_err(|_| Error::syntax("", 0, "unreadable input"))?;
        if !text.is_empty() {
            pieces.push((offset(text), text));
        }
        if r.is_empty() {
            return Ok(pieces);
        }
        if r.starts_with("*/") {
            return Err(Error::syntax("*/", offset(r), "unmatched comment close"));
        }
        rest =
            nested_comment(r).ok_or_else(|| Error::syntax("/*", offset(r), "unclosed comment"))?;
    }
}

fn split_commas(i: &str) -> IResult<&str, Vec<&str>> {
    separated_list0(char(','), take_till(|c| c == ',')).parse(i)
}

/// Splits `src` into trimmed, non-empty raw tokens with their byte offsets.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>> {
    let pieces = strip_comments(src)?;
    // Comments are removed before splitting, as in Atlas, so a comment inside a token joins
    // its halves. `map` translates offsets in `clean` back to the source.
    let mut clean = String::with_capacity(src.len());
    let mut map: Vec<(usize, usize)> = Vec::with_capacity(pieces.len());
    for (orig, text) in pieces {
        map.push((clean.len(), orig));
        clean.push_str(text);
    }
    let to_orig = |off: usize| {
        let k = map.partition_point(|(c, _)| *c <= off).saturating_sub(1);
        map.get(k).map_or(off, |(c, o)| o + (off - c))
    };
    let (_, parts) = split_commas(&clean).map_err(|_| Error::syntax("", 0, "unreadable input"))?;
    let base = clean.as_ptr() as usize;
    let mut tokens = Vec::new();
    for part in parts {
        let trimmed = part.trim();
        if trimmed.is_empty() {
            continue;
        }
        let off = trimmed.as_ptr() as usize - base;
        tokens.push(Token {
            text: trimmed.to_string(),
            pos: to_orig(off),
        });
    }
    Ok(tokens)
}

/// Groups tokens into words, literals and lists.
pub(crate) fn parse_items(src: &str) -> Result<Vec<Item>> {
    let tokens = tokenize(src)?;
    // Each open list: its `(` position and items so far.
    let mut open: Vec<(usize, Vec<Item>)> = Vec::new();
    let mut top: Vec<Item> = Vec::new();
    for Token { text, pos } in tokens {
        let item = match text.as_str() {
            "(" => {
                if open.len() >= MAX_LIST_NESTING {
                    return Err(Error::syntax(
                        "(",
                        pos,
                        format!("lists nested deeper than {MAX_LIST_NESTING} levels"),
                    ));
                }
                open.push((pos, Vec::new()));
                continue;
            }
            ")" => match open.pop() {
                Some((start, items)) => Item::List { items, pos: start },
                None => return Err(Error::syntax(")", pos, "unmatched closing parenthesis")),
            },
            _ => match text.strip_prefix(':') {
                Some(name) => Item::Word {
                    name: name.to_string(),
                    pos,
                },
                None => Item::Literal { raw: text, pos },
            },
        };
        let in_list = !open.is_empty();
        let dest = match open.last_mut() {
            Some((_, items)) => items,
            None => &mut top,
        };
        if in_list && dest.len() >= MAX_ITEMS {
            return Err(Error::syntax(
                &item_token(&item),
                item_pos(&item),
                format!("list larger than the limit of {MAX_ITEMS} items"),
            ));
        }
        dest.push(item);
    }
    if let Some((pos, _)) = open.first() {
        return Err(Error::syntax("(", *pos, "unmatched opening parenthesis"));
    }
    Ok(top)
}

fn item_token(item: &Item) -> String {
    match item {
        Item::Word { name, .. } => format!(":{name}"),
        Item::Literal { raw, .. } => raw.clone(),
        Item::List { .. } => "(".to_string(),
    }
}

fn item_pos(item: &Item) -> usize {
    match item {
        Item::Word { pos, .. } | Item::Literal { pos, .. } | Item::List { pos, .. } => *pos,
    }
}

/// Replaces `\uXXXX` escapes as Atlas's `Strings.unescape` does. Malformed escapes are kept
/// as written; a lone surrogate becomes U+FFFD.
pub(crate) fn unescape(s: &str) -> String {
    if !s.contains("\\u") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut high: Option<u32> = None;
    while let Some(i) = rest.find("\\u") {
        let hex = rest
            .get(i + 2..i + 6)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(code) = hex.and_then(|h| u32::from_str_radix(h, 16).ok()) else {
            flush_high(&mut out, &mut high);
            out.push_str(&rest[..i + 2]);
            rest = &rest[i + 2..];
            continue;
        };
        if i > 0 {
            flush_high(&mut out, &mut high);
            out.push_str(&rest[..i]);
        }
        match (high.take(), code) {
            (Some(h), 0xDC00..=0xDFFF) => {
                let c = 0x10000 + ((h - 0xD800) << 10) + (code - 0xDC00);
                out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            (prev, 0xD800..=0xDBFF) => {
                if prev.is_some() {
                    out.push('\u{FFFD}');
                }
                high = Some(code);
            }
            (prev, _) => {
                if prev.is_some() {
                    out.push('\u{FFFD}');
                }
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
        }
        rest = &rest[i + 6..];
    }
    flush_high(&mut out, &mut high);
    out.push_str(rest);
    out
}

fn flush_high(out: &mut String, high: &mut Option<u32>) {
    if high.take().is_some() {
        out.push('\u{FFFD}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<(String, usize)> {
        tokenize(src)
            .map(|ts| ts.into_iter().map(|t| (t.text, t.pos)).collect())
            .unwrap_or_default()
    }

    #[test]
    fn splits_trims_and_drops_empty_tokens() {
        assert_eq!(
            texts("a, b ,,c"),
            vec![("a".into(), 0), ("b".into(), 3), ("c".into(), 7)]
        );
    }

    #[test]
    fn nested_comments_are_removed_and_positions_kept() {
        assert_eq!(
            texts("a,/* x /* y */ z */b,c"),
            vec![("a".into(), 0), ("b".into(), 19), ("c".into(), 21)]
        );
        assert_eq!(texts("a/* x */b"), vec![("ab".into(), 0)]);
    }

    #[test]
    fn comment_errors_name_the_marker() {
        let e = tokenize("a,/* /* */").err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("/* at 2: unclosed comment".into())
        );
        let e = tokenize("a,*/").err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("*/ at 2: unmatched comment close".into())
        );
    }

    #[test]
    fn lists_group_raw_tokens() -> Result<()> {
        let items = parse_items("(,a\\u002C,(,b,),:sum,),x")?;
        let Some(Item::List { items: inner, pos }) = items.first() else {
            panic!("expected a list, got {items:?}");
        };
        assert_eq!(*pos, 0);
        assert_eq!(inner.len(), 3);
        assert_eq!(
            inner.first(),
            Some(&Item::Literal {
                raw: "a\\u002C".into(),
                pos: 2
            })
        );
        let e = parse_items("a,)").err().map(|e| e.to_string());
        assert_eq!(e, Some(") at 2: unmatched closing parenthesis".into()));
        let e = parse_items("(,a").err().map(|e| e.to_string());
        assert_eq!(e, Some("( at 0: unmatched opening parenthesis".into()));
        Ok(())
    }

    #[test]
    fn unescape_handles_bmp_surrogates_and_garbage() {
        assert_eq!(unescape("a\\u002Cb"), "a,b");
        assert_eq!(unescape("\\uD83D\\uDE00"), "\u{1F600}");
        assert_eq!(unescape("\\uD83Dx"), "\u{FFFD}x");
        assert_eq!(unescape("\\uZZZZ\\u"), "\\uZZZZ\\u");
    }
}
