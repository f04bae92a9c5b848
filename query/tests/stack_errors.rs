//! Issue 13: every word family's error describes the stack as it really is: the items the
//! word looked at, deepest first, a list with what it holds, a long string by its first
//! bytes and its length. One test per family of words.

use sextant_query::interpret;

fn err(src: &str) -> String {
    interpret(src)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| panic!("{src} should fail"))
}

#[test]
fn query_words() {
    assert_eq!(
        err("name,:eq"),
        ":eq at 5: expected a key and a value (strings) on the stack, found only the string \"name\""
    );
    assert_eq!(
        err("(,a,),b,:eq"),
        ":eq at 8: expected a key and a value (strings) on the stack, found the list (,a,), the \
         string \"b\""
    );
    assert_eq!(
        err("name,a,:eq,:and"),
        ":and at 11: expected two queries or two time series on the stack, found only a query"
    );
    assert_eq!(
        err("name,(,a,),:re"),
        ":re at 11: expected a key and a regular expression on the stack, found the string \
         \"name\", the list (,a,)"
    );
}

#[test]
fn aggregation_words() {
    assert_eq!(
        err("foo,:sum"),
        ":sum at 4: expected a query or a time series on the stack, found the string \"foo\""
    );
    assert!(err("name,a,:eq,(,a,),(,b,),:by")
        .ends_with("on the stack, found the list (,a,), the list (,b,)"));
}

#[test]
fn math_words() {
    assert_eq!(
        err("name,a,:eq,:sum,foo,:add"),
        ":add at 20: expected two time series on the stack, found a data expression, the string \
         \"foo\""
    );
    assert_eq!(
        err("name,a,:eq,(,abc,),:percentiles"),
        ":percentiles at 19: expected a data expression and a list of percentiles on the stack, \
         found a query, the list (,abc,)"
    );
    assert_eq!(
        err("(,1,2,),:neg"),
        ":neg at 8: expected a time series on the stack, found the list (,1,2,)"
    );
}

#[test]
fn stateful_words() {
    assert_eq!(
        err("name,a,:eq,:sum,abc,:rolling-count"),
        ":rolling-count at 20: expected a time series and a window size on the stack, found a \
         data expression, the string \"abc\""
    );
    assert_eq!(
        err("name,a,:eq,:sum,x,:trend"),
        ":trend at 18: expected a time series and a duration on the stack, found a data \
         expression, the string \"x\""
    );
    assert!(
        err("name,a,:eq,:sum,10x,:offset").ends_with("found a data expression, the string \"10x\"")
    );
}

#[test]
fn filter_words() {
    assert_eq!(
        err("name,a,:eq,:sum,foo,:gt,:filter"),
        ":gt at 20: expected a key and a value (strings) or two time series on the stack, found \
         a data expression, the string \"foo\""
    );
    assert!(err("name,a,:eq,:sum,(,x,),3,:topk")
        .contains("found a data expression, the list (,x,), the string \"3\""));
}

#[test]
fn style_words() {
    assert_eq!(
        err("name,a,:eq,:sum,(,a,),:color"),
        ":color at 22: expected an expression and a string on the stack, found a data \
         expression, the list (,a,)"
    );
    assert_eq!(
        err("(,a,),:legend"),
        ":legend at 6: expected an expression and a string on the stack, found only the list \
         (,a,)"
    );
}

#[test]
fn stack_words() {
    assert_eq!(
        err(":swap"),
        ":swap at 0: expected two items on the stack, found an empty stack"
    );
    assert_eq!(
        err("a,:drop,:drop"),
        ":drop at 8: expected an item on the stack, found an empty stack"
    );
    assert_eq!(
        err("a,(,b,),:get"),
        ":get at 8: expected a variable name on the stack, found the list (,b,)"
    );
}

/// A megabyte on the stack comes back as its first bytes and its length.
#[test]
fn long_items_are_shown_by_their_first_bytes() {
    let long = "x".repeat(1 << 20);
    let e = err(&format!("{long},:sum"));
    assert!(e.len() < 400, "{} bytes", e.len());
    assert!(
        e.ends_with(&format!(
            "found the string \"{}… (1048576 bytes)\"",
            "x".repeat(64)
        )),
        "{e}"
    );
    let e = err(&format!("(,{long},),:neg"));
    assert!(e.len() < 400 && e.contains("bytes)"), "{e}");
}
