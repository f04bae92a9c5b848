//! The stack language itself: stack words, overloads, coercions, errors with positions,
//! printing and normalization.

use sextant_query::{interpret, normalize, parse, Error, StackItem};

fn stack(src: &str) -> Vec<String> {
    match interpret(src) {
        Ok(items) => items.iter().map(|i| i.to_string()).collect(),
        Err(e) => panic!("{src}: {e}"),
    }
}

fn err(src: &str) -> String {
    match interpret(src) {
        Ok(s) => panic!("{src}: expected an error, got {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn std_words_follow_the_atlas_tables() {
    assert_eq!(stack("a,b,:swap"), ["b", "a"]);
    assert_eq!(stack("a,:dup"), ["a", "a"]);
    assert_eq!(stack("a,b,:over"), ["a", "b", "a"]);
    assert_eq!(stack("a,b,:drop"), ["a"]);
    assert_eq!(stack("a,b,c,:clear"), Vec::<String>::new());
    assert_eq!(stack("a,b,:depth"), ["a", "b", "2"]);
    assert_eq!(stack("a,b,c,2,:pick"), ["a", "b", "c", "a"]);
    assert_eq!(stack("a,b,c,2,:roll"), ["b", "c", "a"]);
    assert_eq!(stack("a,b,c,:rot"), ["b", "c", "a"]);
    assert_eq!(stack("a,b,c,:-rot"), ["c", "a", "b"]);
    assert_eq!(stack("a,b,c,2,:ndrop"), ["a"]);
    assert_eq!(stack("a,b,c,5,:ndrop"), Vec::<String>::new());
    assert_eq!(stack("a,b,c,2,:nlist"), ["a", "(,b,c,)"]);
    assert_eq!(stack("a,b,:list"), ["(,b,a,)"]);
    assert_eq!(stack("a,b,:2over"), ["a", "b", "a", "b"]);
    assert_eq!(stack("a,b,:nip"), ["b"]);
    assert_eq!(stack("a,b,:tuck"), ["b", "a", "b"]);
    assert_eq!(stack("k,v,:set,k,:get"), ["v"]);
    assert_eq!(stack("v,k,:sset,k,:get"), ["v"]);
    assert_eq!(stack("(,a,b,),:call"), ["a", "b"]);
    assert_eq!(stack("f,(,:dup,),:set,x,f,:fcall"), ["x", "x"]);
    assert_eq!(stack("a,b,:freeze,c"), ["a", "b", "c"]);
    assert_eq!(stack("a,:freeze,:clear,c"), ["a", "c"]);
}

/// `EachSuite`: `:each` iterates the list reversed, so the first element ends on top.
#[test]
fn each_and_map_orders() {
    assert_eq!(
        stack("(,a%s,b%s,),(,(,.netflix.com,),:format,),:each"),
        ["b.netflix.com", "a.netflix.com"]
    );
    assert_eq!(stack("(,1,2,),(,:dup,),:map"), ["(,1,2,)"]);
    assert_eq!(stack("a,b,:list,(,x,:swap,),:each"), ["x", "a", "x", "b"]);
}

#[test]
fn lists_are_raw_and_unescaped_when_used() {
    assert_eq!(stack("(,a\\u002Cb,)"), ["(,a\\u002Cb,)"]);
    let exprs = parse("k,(,a\\u002Cb,c,),:in").unwrap_or_default();
    assert_eq!(exprs.len(), 1);
    assert_eq!(exprs[0].to_string(), "k,(,a\\u002Cb,c,),:in,:sum");
    assert_eq!(stack("a\\u003Ab"), ["a:b"]);
}

#[test]
fn overloads_follow_vocabulary_order() {
    // Two strings are a tag query, not a comparison.
    assert_eq!(stack("1,2,:lt"), ["1,2,:lt"]);
    assert_eq!(stack("1,2,:const,:lt"), ["1.0,:const"]);
    assert_eq!(stack(":true,55,:gt"), [":true,:sum,55.0,:const,:gt"]);
    // A query under :sum is the data aggregate; a data expression gets the math one.
    assert_eq!(stack("a,b,:eq,:sum"), ["a,b,:eq,:sum"]);
    assert_eq!(stack("a,b,:eq,:sum,:count"), ["a,b,:eq,:sum,:count"]);
    assert_eq!(stack("a,b,:eq,(,k,),:by"), ["a,b,:eq,:sum,(,k,),:by"]);
    assert_eq!(
        stack("a,b,:eq,(,k,j,),:by,:max,(,k,),:by"),
        ["a,b,:eq,:sum,(,k,j,),:by,:max,(,k,),:by"]
    );
}

#[test]
fn constant_folding_as_atlas() {
    assert_eq!(stack("5,:neg,:abs"), ["5.0,:const"]);
    assert_eq!(stack("5,4,:mul,2,:add"), ["22.0,:const"]);
    assert_eq!(stack("5,:per-step"), ["5.0,:const,:per-step"]);
}

#[test]
fn errors_name_token_position_and_expectation() {
    assert_eq!(
        err("name,cpu,:eq,foo,:sum"),
        ":sum at 17: expected a query or a time series on the stack, found the string \"foo\""
    );
    assert_eq!(err("a,:nope"), ":nope at 2: unknown word");
    assert_eq!(
        err(":dup"),
        ":dup at 0: expected an item on the stack, found an empty stack"
    );
    assert_eq!(err("a,(,b"), "( at 2: unmatched opening parenthesis");
    assert_eq!(err("a,)"), ") at 2: unmatched closing parenthesis");
    assert_eq!(err("a,/* b"), "/* at 2: unclosed comment");
    assert!(err("k,[,:re").starts_with(":re at 4: invalid regular expression"));
    assert_eq!(
        err("q,:has,0,:rolling-count"),
        ":rolling-count at 9: window size must be in 1..=86400, found 0"
    );
    let e = interpret("a,b,:eq,(,x,),:by,c,d,:eq,(,y,),:by,:add").err();
    assert!(matches!(e, Some(Error::Syntax { pos: 36, .. })), "{e:?}");
    let e = interpret("q,:has,(,a,),:by,:sum,(,b,),:by")
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some(":by at 28: requirement failed: (,b,) is not a subset of (,a,)")
    );
    let e = parse("foo").err().map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("expecting time series expr, found String 'foo'")
    );
}

#[test]
fn limits_on_stack_and_calls() {
    let big: Vec<String> = (0..1025).map(|i| i.to_string()).collect();
    assert!(err(&big.join(",")).contains("stack larger than the limit of 1024"));
    assert!(err("f,(,f,:fcall,),:set,f,:fcall").contains("looping detected"));
    let deep = "(,".repeat(100);
    assert!(err(&deep).contains("lists nested deeper than 64"));
}

#[test]
fn style_settings_print_in_atlas_order() {
    let src = "name,sps,:eq,(,nf.cluster,),:by,$nf.cluster,:legend,f00,:color,40,:alpha,2,:lw,:area,1,:axis,max,:sort,desc,:order,5,:limit";
    let exprs = parse(src).unwrap_or_default();
    assert_eq!(
        exprs[0].to_string(),
        "name,sps,:eq,:sum,(,nf.cluster,),:by,max,:sort,desc,:order,2.0,:lw,:area,5,:limit,$nf.cluster,:legend,40ff0000,:color,1,:axis"
    );
    let e = parse("a,b,:eq,red1,:color,80,:alpha,blues,:palette").unwrap_or_default();
    assert_eq!(e[0].to_string(), "a,b,:eq,:sum,blues,:palette,80,:alpha");
    let e = parse("a,b,:eq,(,1d,1w,),:offset").unwrap_or_default();
    assert_eq!(e[0].to_string(), "a,b,:eq,:sum,(,1d,1w,),:offset");
    let e = parse("a,b,:eq,:sum,1h,:offset,foo,:legend,(,1,),:s").err();
    assert!(e.is_some(), "the :s word needs a regex and a replacement");
}

#[test]
fn named_rewrites_print_as_written() {
    for src in [
        "name,sps,:eq,:avg",
        "name,sps,:eq,:avg,(,nf.app,),:by",
        "name,sps,:eq,:dist-avg",
        "name,sps,:eq,:dist-max,(,nf.app,),:by",
        "name,sps,:eq,:sum,:stddev",
        "name,sps,:eq,:avg,1h,:offset",
        "name,sps,:eq,:sum,(,k,),:by,:pct",
        "name,sps,:eq,:sum,(,25.0,50.0,),:percentiles",
    ] {
        let exprs = parse(src).unwrap_or_default();
        let printed = exprs[0].to_string();
        let again = parse(&printed).unwrap_or_default();
        assert_eq!(again, exprs, "{src} -> {printed}");
    }
    let e = parse("name,sps,:eq,:avg,(,nf.app,),:by").unwrap_or_default();
    assert_eq!(e[0].to_string(), "name,sps,:eq,:avg,(,nf.app,),:by");
}

/// `ExprNormalizerSuite`-style expectations (atlas.md §2.5).
#[test]
fn normalize_reorders_and_simplifies() {
    let n = |s: &str| normalize(s).unwrap_or_default();
    assert_eq!(
        n("nf.app,www,:eq,name,sps,:eq,:and,:sum"),
        ["name,sps,:eq,nf.app,www,:eq,:and"]
    );
    assert_eq!(
        n("statistic,count,:eq,name,sps,:eq,:and,zone,a,:eq,:and"),
        ["name,sps,:eq,zone,a,:eq,:and,statistic,count,:eq,:and"]
    );
    assert_eq!(n("42,:const"), ["42.0"]);
    assert_eq!(n("a,b,:eq,:line"), ["a,b,:eq"]);
    assert_eq!(n("a,b,:eq,$name-x,:legend"), ["a,b,:eq,$(name-x),:legend"]);
    assert_eq!(n("a,b,:eq,:sum,:count"), ["a,b,:eq,:sum,:count"]);
    assert_eq!(n("a,b,:eq,(,k,),:by"), ["a,b,:eq,(,k,),:by"]);
    assert_eq!(n("a,b,:eq,c,d,:eq"), ["a,b,:eq", "c,d,:eq"]);
    // Normalized forms evaluate to the same expressions.
    for src in [
        "a,b,:eq,2,:mul",
        "a,b,:eq,:sum,:count",
        "a,b,:eq,(,k,),:by,1h,:offset",
        "a,b,:eq,:cf-max",
    ] {
        let before = parse(src).unwrap_or_default();
        let after: Vec<_> = n(src)
            .iter()
            .flat_map(|s| parse(s).unwrap_or_default())
            .collect();
        assert_eq!(before, after, "{src}");
    }
}

#[test]
fn final_stack_coercions() {
    let exprs = parse("42,name,a,:eq").unwrap_or_default();
    assert_eq!(exprs.len(), 2);
    assert_eq!(exprs[0].to_string(), "42.0,:const");
    assert_eq!(exprs[1].to_string(), "name,a,:eq,:sum");
    assert!(matches!(
        interpret("(,a,)").map(|s| s.into_iter().next()),
        Ok(Some(StackItem::List(_)))
    ));
}
