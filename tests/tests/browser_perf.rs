//! Benchmark: how long a dashboard of 12 panels x 50 lines x 1 day at 1 minute (1440 points
//! per line, 864 000 points in all) takes from navigation to the last panel drawn, in the
//! real headless chromium (see `common/browser.rs`) against a demo server holding a day of
//! data. The target is 1 s on an idle machine.
//!
//! Ignored by default: it measures, so it belongs on a quiet machine:
//!
//! ```sh
//! SEXTANT_E2E_PROFILE=release cargo test -p sextant-e2e --test browser_perf -- --ignored --nocapture
//! ```
//!
//! The harness runs the debug build of the server (`sextant_e2e::binary`) unless
//! `SEXTANT_E2E_PROFILE=release` is set, which is how to measure it; the page's own share
//! is printed apart: the main-thread time spent drawing (uPlot and legends). It prints each run's figures and
//! their median, and asserts what was drawn, never a time.

#[path = "common/browser.rs"]
mod browser;

use browser::Browser;
use serde_json::{json, Value};
use sextant_e2e::{put_json, TestServer};

const PANELS: usize = 12;
const LINES: usize = 50;
const POINTS: usize = 1440;
const RUNS: usize = 5;

/// Panel `i`: 50 of the demo's 80 percentile-bucket lines per region, each panel a
/// different expression so no answer is shared. The width of 1440 pixels is what lets the
/// server keep the 1-minute step (one datapoint per pixel at most).
fn panel(i: usize) -> Value {
    json!({
        "title": format!("panel {i}"),
        "q": format!("name,server.ptime,:eq,(,percentile,nf.region,),:by,{},:mul,{LINES},:limit", i + 1),
        "w": POINTS,
        "h": 200,
    })
}

#[test]
#[ignore = "a benchmark: run on purpose on a quiet machine"]
fn a_dashboard_of_12_panels_of_50_lines_over_a_day_draws() {
    let server = TestServer::start(&["--demo", "--retention", "1d"]);
    let dash = json!({"title": "perf", "graphs": (0..PANELS).map(panel).collect::<Vec<_>>()});
    let put = put_json(&server.at("/api/v1/dashboards/perf"), &dash.to_string());
    assert_eq!(put.status, 200, "{}", put.body);
    let mut b = Browser::launch();
    let url = server.at("/?view=dashboard&name=perf&s=e-1d&refresh=0");
    let mut since_navigation = Vec::new();
    for run in 0..RUNS {
        b.goto(&url);
        let done = b.wait(
            "the last panel drawn",
            &format!(
                "document.getElementById('dash-grid').dataset.drawn === '{PANELS}' \
                 ? [window.sextantBoardDoneAt, window.sextantBoardDrawMs, window.sextantDrawMs] : null"
            ),
        );
        // What was drawn: every panel, every line, a value per minute of the day.
        let shape = b.eval(
            "[...document.querySelectorAll('#dash-grid .chart')].map(c => { const p = c.sextantPlot; \
             return p ? [p.series.length - 1, p.data[0].length, p.data[1].filter(v => v !== null).length] : c.textContent; })",
        );
        let shape = shape.as_array().cloned().unwrap_or_default();
        assert_eq!(shape.len(), PANELS, "{shape:?}");
        for s in &shape {
            assert_eq!(s[0], json!(LINES), "{s}");
            assert_eq!(s[1], json!(POINTS), "{s}");
            assert!(
                s[2].as_u64().unwrap_or(0) > (POINTS as u64) * 9 / 10,
                "a day of data: {s}"
            );
        }
        let total = done[0].as_f64().unwrap_or(f64::NAN);
        let board = done[1].as_f64().unwrap_or(f64::NAN);
        let drawing = done[2].as_f64().unwrap_or(f64::NAN);
        eprintln!(
            "run {run}: last panel drawn {total:.0} ms after navigation; fetching and drawing \
             the panels {board:.0} ms, of which drawing on the main thread {drawing:.0} ms"
        );
        since_navigation.push(total);
    }
    since_navigation.sort_by(f64::total_cmp);
    eprintln!(
        "{PANELS} panels x {LINES} lines x {POINTS} points: median {:.0} ms from navigation \
         to the last panel drawn ({RUNS} runs)",
        since_navigation[RUNS / 2]
    );
}
