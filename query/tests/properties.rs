//! Property tests: printing round-trips, and random programs never panic.

use proptest::prelude::*;
use sextant_query::testing::StaticDatabase;
use sextant_query::{evaluate, interpret, normalize, parse, EvalContext};

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["name", "nf.app", "statistic", "zone", "k,x", "a:b"])
        .prop_map(|k| k.replace(',', "\\u002C").replace(':', "\\u003A"))
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["cpu", "www", "1", "a b", "x(y)", "$v", "-"]).prop_map(String::from)
}

fn query() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (key(), value()).prop_map(|(k, v)| format!("{k},{v},:eq")),
        key().prop_map(|k| format!("{k},:has")),
        (key(), value(), value()).prop_map(|(k, a, b)| format!("{k},(,{a},{b},),:in")),
        (key(), value()).prop_map(|(k, v)| format!("{k},{v},:lt")),
        (key(), prop::sample::select(vec!["a.*", "[0-9]+", "x|y"]))
            .prop_map(|(k, r)| format!("{k},{r},:re")),
        Just(":true".to_string()),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a},{b},:and")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a},{b},:or")),
            inner.prop_map(|a| format!("{a},:not")),
        ]
    })
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (-1000i64..1000).prop_map(|v| v.to_string()),
        (-1e6f64..1e6).prop_map(|v| format!("{v}")),
        Just("1e300".to_string()),
        Just("Infinity".to_string()),
    ]
}

fn ts() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        query(),
        (
            query(),
            prop::sample::select(vec![
                "sum",
                "count",
                "min",
                "max",
                "avg",
                "dist-max",
                "node-avg",
                "eureka-avg"
            ])
        )
            .prop_map(|(q, w)| format!("{q},:{w}")),
        (query(), prop::sample::select(vec!["name", "zone"]))
            .prop_map(|(q, k)| format!("{q},(,{k},),:by")),
        (query(), 0u32..5, 5u32..100).prop_map(|(q, a, b)| format!("{q},{a},{b},:sample-count")),
        number().prop_map(|n| format!("{n},:const")),
        Just(":random".to_string()),
        Just("hourOfDay,:time".to_string()),
        (query(), prop::collection::vec(0u8..=100, 1..4)).prop_map(|(q, ps)| {
            let ps: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
            format!("{q},(,{},),:percentiles", ps.join(","))
        }),
    ];
    leaf.prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec![
                    "abs",
                    "neg",
                    "sqrt",
                    "per-step",
                    "integral",
                    "derivative",
                    "cumulative-max",
                    "sum",
                    "count",
                    "max",
                    "stddev",
                    "pct",
                    "cf-max",
                    "cf-sum",
                    "approx-distinct",
                    "approx-distinct-cumulative"
                ])
            )
                .prop_map(|(a, w)| format!("{a},:{w}")),
            (
                inner.clone(),
                inner.clone(),
                prop::sample::select(vec!["add", "sub", "mul", "div", "fdiv", "gt", "and", "pow"])
            )
                .prop_map(|(a, b, w)| format!("{a},{b},:{w}")),
            (
                inner.clone(),
                1u32..50,
                prop::sample::select(vec!["rolling-count", "rolling-max", "delay", "rolling-sum"])
            )
                .prop_map(|(a, n, w)| format!("{a},{n},:{w}")),
            (inner.clone(), 1u32..10).prop_map(|(a, n)| format!("{a},{n},1,:rolling-mean")),
            (
                inner.clone(),
                prop::sample::select(vec!["1h", "1w", "90s", "PT5M"])
            )
                .prop_map(|(a, d)| format!("{a},{d},:offset")),
            (
                inner.clone(),
                prop::sample::select(vec!["max", "avg", "last"]),
                1u32..5
            )
                .prop_map(|(a, s, k)| format!("{a},{s},{k},:topk")),
            (inner.clone(), 0.0f64..100.0)
                .prop_map(|(a, v)| format!("{a},:stat-max,{v},:gt,:filter")),
            (inner.clone(), 0.0f64..1.0).prop_map(|(a, v)| format!("{a},{v},:clamp-min")),
            (inner.clone(), prop::sample::select(vec!["app", "zone"]))
                .prop_map(|(a, k)| format!("{a},{k},x,:as")),
            (inner.clone(), 2u32..20).prop_map(|(a, n)| format!("{a},{n},0.1,0.5,:des")),
            (inner, 1u32..20)
                .prop_map(|(a, n)| format!("{a},{n},0.1,0.5,0.2,0.1,4,:des-epic-signal")),
        ]
    })
}

fn styled() -> impl Strategy<Value = String> {
    let setting = prop::sample::select(vec![
        "$name foo,:legend",
        "f00,:color",
        "80,:alpha",
        "red1,:color",
        "blues,:palette",
        "(,f00,00ff00,),:palette",
        ":area",
        ":stack",
        "2.5,:lw",
        "1,:axis",
        "max,:sort",
        "desc,:order",
        "3,:limit",
        "hex,:decode",
        "^(.*)$,[$1],:s",
        "(,1h,1d,),:offset",
    ]);
    (ts(), prop::collection::vec(setting, 0..4)).prop_map(|(t, s)| {
        let mut out = t;
        for x in s {
            out.push(',');
            out.push_str(x);
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// parse → print → parse is the identity, and printing is stable.
    #[test]
    fn print_then_parse_is_identity(src in styled()) {
        if let Ok(exprs) = parse(&src) {
            for e in &exprs {
                let printed = e.to_string();
                let again = parse(&printed);
                prop_assert!(again.is_ok(), "{src} -> {printed}: {again:?}");
                let again = again.unwrap_or_default();
                prop_assert_eq!(again.len(), 1);
                prop_assert_eq!(again[0].to_string(), printed.clone(), "{}", src);
                if !printed.contains("NaN") {
                    prop_assert_eq!(&again[0], e, "{} -> {}", src, printed);
                }
            }
            // The normalized form reads back too.
            let norm = normalize(&src);
            prop_assert!(norm.is_ok(), "{src}: {norm:?}");
            for n in norm.unwrap_or_default() {
                prop_assert!(parse(&n).is_ok(), "{src} normalized to {n}");
            }
        }
    }

    /// Random token soup never panics the parser, the interpreter or the evaluator.
    #[test]
    fn random_programs_never_panic(tokens in prop::collection::vec(prop::sample::select(vec![
        ":dup", ":swap", ":drop", ":over", ":rot", ":-rot", ":list", ":each", ":map", ":call",
        ":nlist", ":pick", ":roll", ":ndrop", ":depth", ":clear", ":get", ":set", ":freeze",
        ":format", ":fcall", ":sset", ":2over", ":nip", ":tuck",
        ":eq", ":has", ":and", ":or", ":not", ":re", ":in", ":cq", ":true", ":false", ":lt",
        ":sum", ":count", ":max", ":min", ":all", ":by", ":offset", ":cf-max", ":percentiles",
        ":add", ":div", ":fdiv", ":neg", ":const", ":time", ":random", ":avg", ":stddev",
        ":pct", ":as", ":cg", ":dist-avg", ":node-avg", ":eureka-avg", ":sample-count",
        ":approx-distinct", ":approx-distinct-cumulative", ":median", ":cos", ":time-span", ":srandom",
        ":rolling-count", ":rolling-mean", ":des", ":sdes", ":trend", ":integral",
        ":derivative", ":delay", ":des-simple", ":sdes-fast", ":des-epic-signal", ":des-epic-viz",
        ":stat", ":stat-max", ":filter", ":topk", ":bottomk-others-avg", ":consolidate",
        ":legend", ":color", ":alpha", ":palette", ":ls", ":lw", ":area", ":sort", ":order",
        ":limit", ":s", ":decode", ":axis", ":strip-style", ":percentiles-heatmap",
        "(", ")", "/*", "*/", "name", "type", "constant", "1", "0", "-1", "NaN", "1e9",
        "5m", "1w", "max", "avg", "hex", "f00", "%s", "\\u002C", "\\uD83D", "99999999999",
        "hourOfDay", "gs", "ge-1h", "asc", "desc", "[", "line",
    ]), 0..40)) {
        let src = tokens.join(",");
        if let Ok(exprs) = parse(&src) {
            let db = StaticDatabase::constants();
            let _ = evaluate(&exprs, &EvalContext::new(0, 600_000, 60_000), &db);
            for e in &exprs {
                let _ = parse(&e.to_string());
            }
        }
        let _ = interpret(&src);
    }

    /// Arbitrary text never panics the tokenizer.
    #[test]
    fn arbitrary_text_never_panics(src in ".{0,200}") {
        let _ = interpret(&src);
    }
}

/// Guards the generator: most generated programs must be valid, or the round-trip
/// property above would test little.
#[test]
fn generator_mostly_produces_valid_programs() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = styled();
    let mut ok = 0;
    for _ in 0..200 {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        if parse(&tree.current()).is_ok() {
            ok += 1;
        }
    }
    assert!(ok > 120, "only {ok} of 200 generated programs parse");
}
