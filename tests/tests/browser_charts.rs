//! The graph page's interactive chart and expression editor in a real headless chromium
//! (see `common/browser.rs`): hover values, drag to zoom, legend toggle, autocomplete of
//! words and tag values, history, explain, and live refresh pausing while zoomed. Mouse
//! and keys are real input events dispatched by DevTools, not synthetic DOM events.

#[path = "common/browser.rs"]
mod browser;

use browser::{demo, Browser};
use serde_json::json;

const Q: &str = "name,ssCpuUser,:eq,(,nf.app,),:by";

/// A legend value such as `412` or `1.2k` as a number, for ordering.
fn parse_metric(text: &str) -> f64 {
    let (num, mult) = match text.chars().last() {
        Some('k') => (&text[..text.len() - 1], 1e3),
        Some('M') => (&text[..text.len() - 1], 1e6),
        Some('m') => (&text[..text.len() - 1], 1e-3),
        _ => (text, 1.0),
    };
    num.parse::<f64>().map(|v| v * mult).unwrap_or(f64::NAN)
}

/// The plot area (uPlot's `.u-over`) of the graph page's chart: x, y, width, height.
fn plot_area(b: &mut Browser) -> (f64, f64, f64, f64) {
    b.rect("document.querySelector('#chart .u-over')")
}

#[test]
fn hover_shows_every_lines_value_at_the_cursor() {
    let server = demo();
    let mut b = Browser::launch();
    // A fixed window, so the page and the std.json below see the same rows.
    let e = sextant_e2e::now_ms() / 60_000 * 60_000 - 5 * 60_000;
    let window = format!("s={}&e={e}&tz=UTC", e - 3_600_000);
    b.goto(&server.at(&format!("/?q={Q}&{window}")));
    assert_eq!(b.wait_chart("chart", "legend"), json!(3));
    let (x, y, w, h) = plot_area(&mut b);
    b.mouse_move(x + w * 0.5, y + h * 0.5);
    let values = b.wait(
        "a value per line in the legend",
        "(() => { const v = [...document.querySelectorAll('#legend tbody td.value')].map(td => td.textContent); \
         return v.length === 3 && v.every(t => t !== '') ? v : null; })()",
    );
    // Each value is what std.json has for that line at the hovered row.
    let idx = b.eval("document.getElementById('chart').sextantPlot.cursor.idx");
    let idx = idx.as_u64().expect("the cursor is on a row");
    let expected = b.eval(&format!(
        "(async () => {{ const r = await fetch('/api/v1/graph?q={Q}&{window}&format=std.json'); \
         const d = await r.json(); return d.values[{idx}].map(fmt); }})()"
    ));
    assert_eq!(values, expected, "legend values at row {idx}");
    // A tooltip at the cursor lists the same values, largest first.
    let tip = b.eval(
        "(() => { const t = document.querySelector('#chart .chart-tip'); \
         return t.hidden ? null : [...t.children].slice(1).map(d => d.textContent.split('  ')[0]); })()",
    );
    let mut sorted: Vec<(f64, String)> = values
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|v| {
            let text = v.as_str().unwrap_or_default().to_string();
            (parse_metric(&text), text)
        })
        .collect();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let sorted: Vec<String> = sorted.into_iter().map(|(_, t)| t).collect();
    assert_eq!(tip, json!(sorted), "tooltip values, largest first");
    let head = b.eval("document.querySelector('#legend th.cursor-time').textContent");
    assert!(
        head.as_str()
            .is_some_and(|t| t.len() == 16 && t.contains(':')),
        "the legend names the hovered time: {head}"
    );
}

#[test]
fn drag_zooms_and_updates_the_range_and_share_link() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at(&format!("/?q={Q}&refresh=30")));
    b.wait_chart("chart", "legend");
    b.wait(
        "live refresh",
        "document.getElementById('chart-status').textContent.startsWith('live')",
    );
    let before = b.eval("document.getElementById('chart').dataset.drawn");
    let (x, y, w, h) = plot_area(&mut b);
    b.drag((x + w * 0.25, y + h * 0.5), (x + w * 0.75, y + h * 0.5));
    let range = b.wait(
        "the zoomed range",
        "/^\\d+$/.test(document.getElementById('s').value) ? \
         [document.getElementById('s').value, document.getElementById('e').value] : null",
    );
    let s: i64 = range[0].as_str().unwrap_or("0").parse().unwrap_or(0);
    let e: i64 = range[1].as_str().unwrap_or("0").parse().unwrap_or(0);
    // Half of a 3 h window.
    let span = e - s;
    assert!(
        (80 * 60_000..=100 * 60_000).contains(&span),
        "zoomed to {span} ms"
    );
    b.wait(
        "the chart redrawn for the new range",
        &format!(
            "document.getElementById('chart').dataset.drawn !== {before} \
             && document.getElementById('chart').dataset.drawn !== 'error'"
        ),
    );
    let share = b.eval("document.getElementById('share').href");
    let share = share.as_str().unwrap_or_default();
    assert!(
        share.contains(&format!("s={s}")) && share.contains(&format!("e={e}")),
        "{share}"
    );
    let url = b.eval("location.search");
    assert!(
        url.as_str().is_some_and(|u| u.contains(&format!("s={s}"))),
        "{url}"
    );
    // Set once the redraw has also refreshed the data table: waited for, not raced.
    b.wait(
        "refresh paused while zoomed",
        "document.getElementById('chart-status').textContent === 'refresh paused while zoomed'",
    );
    // Zoom out returns to a live range.
    b.click("document.getElementById('zoom-out')");
    b.wait(
        "live again",
        "document.getElementById('e').value === 'now' \
         && document.getElementById('chart-status').textContent.startsWith('live')",
    );
}

#[test]
fn a_click_on_a_legend_row_hides_and_shows_its_line() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at(&format!("/?q={Q}")));
    b.wait_chart("chart", "legend");
    let (x, y, w, h) = b.rect("document.querySelector('#legend tbody tr:nth-child(2)')");
    let click = |b: &mut Browser| {
        for kind in ["mousePressed", "mouseReleased"] {
            b.page(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x + w / 2.0, "y": y + h / 2.0, "button": "left", "clickCount": 1}),
            );
        }
    };
    click(&mut b);
    let state = b.wait(
        "the second line hidden",
        "(() => { const p = document.getElementById('chart').sextantPlot; \
         return p.series[2].show === false ? p.series.slice(1).map(s => s.show) : null; })()",
    );
    assert_eq!(state, json!([true, false, true]));
    let off =
        b.eval("document.querySelector('#legend tbody tr:nth-child(2)').classList.contains('off')");
    assert_eq!(off, json!(true));
    click(&mut b);
    b.wait(
        "the second line back",
        "document.getElementById('chart').sextantPlot.series[2].show === true",
    );
}

#[test]
fn stacked_lines_and_several_axes_get_the_pngs_colors() {
    let server = demo();
    let mut b = Browser::launch();
    // Three stacked lines on axis 0, one red line on axis 1.
    let q = "name,ssCpuUser,:eq,(,nf.app,),:by,:stack,name,ssCpuSystem,:eq,:sum,1,:axis,f00,:color";
    b.goto(&server.at(&format!("/?q={q}")));
    b.wait_chart("chart", "legend");
    let model = b.eval(&format!(
        "(async () => {{ const r = await fetch('/api/v1/chart?q={q}&tz=UTC'); const d = await r.json(); \
         return [d.lines.map(l => [l.style, l.axis, l.color]), d.axes.map(a => a.color)]; }})()"
    ));
    let lines = model[0].as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0][0], json!("stack"));
    assert_eq!(lines[3][1], json!(1), "the last line is on axis 1");
    let axes = model[1].as_array().cloned().unwrap_or_default();
    assert_eq!(axes.len(), 2);
    assert_eq!(axes[0], lines[0][2], "each axis in its first line's color");
    assert_eq!(axes[1], json!("#ff0000"));
    // The page draws what the model says: stroke colors, one scale per axis, axis colors.
    let drawn = b.eval(
        "(() => { const p = document.getElementById('chart').sextantPlot; \
         return [p.series.slice(1).map((s, i) => s.stroke(p, i + 1)), p.series.slice(1).map(s => s.scale), \
                 p.axes.slice(1).map((a, i) => a.stroke(p, i + 1))]; })()",
    );
    let colors: Vec<_> = lines.iter().map(|l| l[2].clone()).collect();
    assert_eq!(drawn[0], json!(colors));
    assert_eq!(drawn[1], json!(["y0", "y0", "y0", "y1"]));
    assert_eq!(drawn[2], model[1]);
    // Stacked: band fills between consecutive stacked lines.
    let bands = b.eval("document.getElementById('chart').sextantPlot.bands.map(b => b.series)");
    assert_eq!(bands, json!([[2, 1], [3, 2]]));
}

#[test]
fn a_vspan_shades_the_full_height_where_its_line_is_not_zero() {
    let server = demo();
    let mut b = Browser::launch();
    // The 5xx bursts of the demo: non-zero where the error rate is above 5 per second.
    let q = "name,server.requestCount,:eq,status,5xx,:eq,:and,:sum,5,:gt,:vspan,\
             name,server.requestCount,:eq,status,5xx,:eq,:and,:sum";
    b.goto(&server.at(&format!("/?q={q}&s=e-1d")));
    b.wait_chart("chart", "legend");
    let span = b.eval(
        "(() => { const p = document.getElementById('chart').sextantPlot; \
         const d = p.data[1]; return [p.series[1].scale, p.scales.vspan.min, p.scales.vspan.max, \
           d.every(v => v === 1 || v === null), d.some(v => v === 1), p.series[2].scale]; })()",
    );
    assert_eq!(span, json!(["vspan", 0, 1, true, true, "y0"]));
}

#[test]
fn autocomplete_offers_words_with_signatures_and_tag_values() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/"));
    b.type_into("q", "name,ssCpuUser,:eq,:su");
    let offered = b.wait(
        "word suggestions",
        "(() => { const li = document.querySelector('#suggest li[data-text=\":sum\"]'); \
         return !document.getElementById('suggest').hidden && li ? li.textContent : null; })()",
    );
    let offered = offered.as_str().unwrap_or_default();
    assert!(
        offered.contains("TS -- TS") || offered.contains("--"),
        "a signature: {offered}"
    );
    // Arrow down to :sum if it is not first, then Tab accepts.
    let first = b.eval("document.querySelector('#suggest li.active').dataset.text");
    if first != json!(":sum") {
        let pos = b.eval(
            "[...document.querySelectorAll('#suggest li')].findIndex(li => li.dataset.text === ':sum')",
        );
        for _ in 0..pos.as_u64().unwrap_or(0) {
            b.key("ArrowDown", 40);
        }
    }
    b.key("Tab", 9);
    let q = b.wait(
        "the accepted word",
        "document.getElementById('q').value.endsWith(':sum') ? document.getElementById('q').value : null",
    );
    assert_eq!(q, json!("name,ssCpuUser,:eq,:sum"));
    // Ctrl+Enter graphs it.
    for kind in ["rawKeyDown", "keyUp"] {
        b.page(
            "Input.dispatchKeyEvent",
            json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "modifiers": 2}),
        );
    }
    assert_eq!(b.wait_chart("chart", "legend"), json!(1));
    let url = b.eval("decodeURIComponent(location.search)");
    assert!(
        url.as_str()
            .is_some_and(|u| u.contains("q=name,ssCpuUser,:eq,:sum")),
        "{url}"
    );

    // Values of a key, scoped by the query already on the stack.
    b.type_into("q", "name,server.ptime,:eq,nf.app,");
    let values = b.wait(
        "tag value suggestions",
        "(() => { const li = [...document.querySelectorAll('#suggest li')].map(l => l.dataset.text); \
         return !document.getElementById('suggest').hidden && li.includes('api') ? li : null; })()",
    );
    // Only the api app has percentile timers in the demo.
    assert_eq!(values, json!(["api"]));
    // And keys where a key is expected.
    b.type_into("q", "name,ssCpuUser,:eq,nf.r");
    let keys = b.wait(
        "tag key suggestions",
        "(() => { const li = [...document.querySelectorAll('#suggest li')].map(l => l.dataset.text); \
         return !document.getElementById('suggest').hidden && li.includes('nf.region') ? li : null; })()",
    );
    assert_eq!(keys, json!(["nf.region"]));
    b.key("Enter", 13);
    let q = b.wait(
        "the key and its comma",
        "document.getElementById('q').value.endsWith('nf.region,') ? document.getElementById('q').value : null",
    );
    assert_eq!(q, json!("name,ssCpuUser,:eq,nf.region,"));
}

#[test]
fn history_remembers_graphed_expressions_and_explain_shows_each_step() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/"));
    for q in ["name,ssCpuUser,:eq,:sum", "name,ssCpuSystem,:eq,:max"] {
        b.type_into("q", q);
        b.click("document.getElementById('run')");
        b.wait(
            "the expression in the history",
            &format!(
                "[...document.querySelectorAll('#history option')].some(o => o.value === {})",
                json!(q)
            ),
        );
    }
    // Newest first, and kept across page loads.
    b.goto(&server.at("/"));
    let history = b.wait(
        "the history after a reload",
        "(() => { const o = [...document.querySelectorAll('#history option')].map(o => o.value).filter(v => v); \
         return o.length ? o : null; })()",
    );
    assert_eq!(
        history,
        json!(["name,ssCpuSystem,:eq,:max", "name,ssCpuUser,:eq,:sum"])
    );
    b.eval(
        "(() => { const h = document.getElementById('history'); h.value = h.options[2].value; \
         h.dispatchEvent(new Event('change')); return true; })()",
    );
    b.wait_chart("chart", "legend");
    let q = b.eval("document.getElementById('q').value");
    assert_eq!(q, json!("name,ssCpuUser,:eq,:sum"));

    b.click("document.getElementById('explain-btn')");
    let rows = b.wait(
        "the explanation",
        "(() => { const r = [...document.querySelectorAll('#explain-table tbody tr')]\
           .map(tr => [...tr.cells].slice(1).map(td => td.textContent)); return r.length === 4 ? r : null; })()",
    );
    assert_eq!(rows[0][0], json!("name"));
    assert_eq!(rows[2][0], json!(":eq"));
    assert!(
        rows[2][1].as_str().is_some_and(|m| m.contains("k v -- Q")),
        "{}",
        rows[2][1]
    );
    assert_eq!(rows[2][2], json!("name,ssCpuUser,:eq"));
    assert_eq!(rows[3][0], json!(":sum"));
    assert_eq!(rows[3][2], json!("name,ssCpuUser,:eq,:sum"));
}
