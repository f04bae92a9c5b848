//! The web UI in a real browser: Debian's `chromium`, headless, driven over the Chrome
//! DevTools Protocol (`common/browser.rs`) against the real server with demo data. This
//! file covers the views and the page-wide defects (token box, broken image, theme);
//! `browser_charts.rs`, `browser_dashboards.rs` and `browser_alerts.rs` the interactive
//! parts.

#[path = "common/browser.rs"]
mod browser;

use browser::{demo, distinct_colors, Browser};
use serde_json::json;
use sextant_e2e::{wait_for, TestServer};

#[test]
fn graph_page_draws_the_typed_expression() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/"));
    b.type_into("q", "name,ssCpuUser,:eq,(,nf.app,),:by");
    // The stack preview follows typing.
    b.wait(
        "the stack preview",
        "document.querySelectorAll('#stack li').length === 1",
    );
    b.click("document.getElementById('run')");
    let legend = b.wait_chart("chart", "legend");
    assert_eq!(legend, json!(3), "one legend row per app");
    // The PNG of the same graph stays one click away, for links and e-mails.
    let src = b.eval("document.getElementById('png-link').getAttribute('href')");
    let src = src.as_str().unwrap_or_default().to_string();
    assert!(src.starts_with("/api/v1/graph?"), "{src}");
    assert!(
        src.contains("q=name%2CssCpuUser%2C%3Aeq%2C%28%2Cnf.app%2C%29%2C%3Aby"),
        "{src}"
    );
    b.click("document.querySelector('details summary')");
    b.wait(
        "the data table",
        "document.querySelectorAll('#data tbody tr').length > 10",
    );
    // The shareable URL restores the expression.
    let share = b.eval("document.getElementById('share').href");
    let share = share.as_str().unwrap_or_default().to_string();
    b.goto(&share);
    let q = b.wait("the restored form", "document.getElementById('q').value");
    assert_eq!(q, json!("name,ssCpuUser,:eq,(,nf.app,),:by"));

    // A typo is reported next to the expression with its position.
    b.type_into("q", "name,ssCpuUser,:eq,:bogus");
    let err = b.wait(
        "the error message",
        "(() => { const e = document.getElementById('q-error'); \
         return e.hidden ? null : e.textContent; })()",
    );
    let err = err.as_str().unwrap_or_default();
    assert!(err.contains(":bogus") && err.contains('^'), "{err}");

    let shot = b.screenshot();
    assert!(
        distinct_colors(&shot) > 20,
        "the screenshot looks blank ({} bytes)",
        shot.len()
    );
}

#[test]
fn tag_explorer_adds_a_clause() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/?view=tags&q=name,ssCpuUser,:eq"));
    b.wait(
        "the tag keys",
        "document.querySelector('#tag-keys tr[data-key=\"nf.app\"]') !== null",
    );
    let count = b.eval(
        "document.querySelector('#tag-keys tr[data-key=\"nf.app\"] td:nth-child(2)').textContent",
    );
    assert!(
        count
            .as_str()
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(0)
            > 0,
        "{count}"
    );
    b.click("document.querySelector('#tag-keys tr[data-key=\"nf.app\"]')");
    b.wait(
        "the values of nf.app",
        "document.querySelector('#tag-values tr[data-value=\"www\"]') !== null",
    );
    b.click("document.querySelector('#tag-values tr[data-value=\"www\"]')");
    let q = b.wait(
        "the graph page with the clause",
        "!document.getElementById('graph-view').hidden && document.getElementById('q').value",
    );
    assert_eq!(q, json!("name,ssCpuUser,:eq,nf.app,www,:eq,:and"));
    b.wait_chart("chart", "legend");
}

#[test]
fn dashboard_is_saved_and_reopened() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/?q=name,ssCpuSystem,:eq,:sum&w=400&h=150"));
    b.wait_chart("chart", "legend");
    b.type_into("dash-name", "ops");
    b.type_into("dash-title", "system cpu");
    b.click("document.getElementById('dash-add')");
    b.wait(
        "the save confirmation",
        "document.getElementById('dash-status').textContent === 'saved to ops'",
    );

    b.goto(&server.at("/?view=dashboards"));
    b.wait(
        "the dashboard list",
        "[...document.querySelectorAll('#dash-list a')].some(a => a.textContent === 'ops')",
    );
    b.click("[...document.querySelectorAll('#dash-list a')].find(a => a.textContent === 'ops')");
    let caption = b.wait(
        "the dashboard grid",
        "document.getElementById('dash-grid').dataset.drawn === '1' \
           && document.querySelector('#dash-grid canvas') \
           ? document.querySelector('#dash-grid figcaption .title').textContent : null",
    );
    assert_eq!(caption, json!("system cpu"));
    let src = b.eval("document.querySelector('#dash-grid a.png').getAttribute('href')");
    assert!(
        src.as_str()
            .is_some_and(|s| s.contains("q=name%2CssCpuSystem%2C%3Aeq%2C%3Asum")),
        "{src}"
    );
    // The shared range applies to every graph.
    b.eval("(() => { const r = document.getElementById('dash-range'); r.value = 'e-1h'; r.dispatchEvent(new Event('change')); return true; })()");
    b.wait(
        "the grid to use the new range",
        "document.querySelector('#dash-grid a.png').getAttribute('href').includes('s=e-1h')",
    );
    let shot = b.screenshot();
    assert!(distinct_colors(&shot) > 20, "the screenshot looks blank");
}

#[test]
fn alerts_page_lists_rules_and_firing_alerts() {
    let dir = std::env::temp_dir().join(format!(
        "sextant-e2e-browser-alerts-{}-{}",
        std::process::id(),
        sextant_e2e::now_ms()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rules = dir.join("rules.toml");
    // CPU is always above zero in the demo data, so this rule fires at its first evaluation.
    std::fs::write(
        &rules,
        "[[rules]]\nname = \"CpuBusy\"\nexpr = \"name,ssCpuUser,:eq,:max,0,:gt\"\nseverity = \"page\"\n",
    )
    .expect("rules file");
    let server = TestServer::start(&[
        "--demo",
        "--step",
        "1s",
        "--retention",
        "5m",
        "--rules",
        &rules.to_string_lossy(),
        "--data-dir",
        &dir.join("data").to_string_lossy(),
    ]);
    let mut b = Browser::launch();
    // The page shows what the server knew when it loaded: reload until the rule fired.
    let alerts_url = server.at("/?view=alerts");
    wait_for("the alert to fire", || {
        b.goto(&alerts_url);
        let state = b.wait(
            "the alerts table",
            "document.querySelector('#alerts-table tbody tr') && \
             document.querySelector('#rules-grid figure') ? \
             document.querySelector('#rules-grid .rule-state').textContent : null",
        );
        (state.as_str().is_some_and(|s| s.starts_with("firing"))).then_some(())
    });
    let row = b.eval("document.querySelector('#alerts-table tbody tr').textContent");
    assert!(
        row.as_str()
            .is_some_and(|r| r.contains("CpuBusy") && r.contains("firing")),
        "{row}"
    );
    b.wait(
        "the rule's chart",
        "(() => { const i = document.querySelector('#rules-grid img'); return i && i.complete && i.naturalWidth > 0; })()",
    );
    let src = b.eval("document.querySelector('#rules-grid img').getAttribute('src')");
    assert!(
        src.as_str()
            .is_some_and(|s| s.starts_with("/api/v1/graph?q=name%2CssCpuUser")),
        "{src}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// With tokens on, the page still loads, asks for a token when the API says 401, and after
/// it is given sends it with every call: the chart's data arrives with it.
#[test]
fn with_tokens_the_page_asks_for_one_and_then_works() {
    let token = "read-token-for-the-browser-test";
    let server = TestServer::start_with_env(&["--demo"], &[("SEXTANT_TOKEN_READ", token)]);
    let mut b = Browser::launch();
    b.goto(&server.at("/?q=name,ssCpuUser,:eq,(,nf.app,),:by"));
    let why = b.wait(
        "the token form",
        "(() => { const f = document.getElementById('token-form'); \
         return f.hidden ? null : document.getElementById('token-why').textContent; })()",
    );
    let why = why.as_str().unwrap_or_default();
    assert!(why.contains("authentication required"), "{why}");
    b.type_into("token", token);
    // The save reloads the page: click after this evaluation has answered.
    b.eval("setTimeout(() => document.getElementById('token-save').click(), 0), true");
    let legend = b.wait_chart("chart", "legend");
    assert_eq!(legend, json!(3), "one legend row per app");
    let hidden = b.eval("document.getElementById('token-form').hidden");
    assert_eq!(hidden, json!(true), "no token form once the token works");
}

/// Defect: the token form was shown with authentication off, because `form.token
/// {display: flex}` beat the `hidden` attribute.
#[test]
fn without_tokens_the_token_box_stays_hidden() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/?q=name,ssCpuUser,:eq,:sum"));
    b.wait_chart("chart", "legend");
    let shown = b.eval(
        "(() => { const f = document.getElementById('token-form'); \
         return [f.hidden, getComputedStyle(f).display, f.getBoundingClientRect().width]; })()",
    );
    assert_eq!(
        shown,
        json!([true, "none", 0]),
        "the token box is invisible"
    );
}

/// Defect: the landing page showed a broken image labelled "chart" (an `<img>` without a
/// source). Now it shows a guide whose examples graph on click, and no broken image.
#[test]
fn landing_page_has_a_guide_and_no_broken_image() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/"));
    let examples = b.wait(
        "the guide's examples",
        "!document.getElementById('guide').hidden && document.querySelectorAll('#examples a').length",
    );
    assert!(examples.as_u64().unwrap_or(0) >= 3, "{examples}");
    let broken = b.eval(
        "[...document.images].filter(i => i.offsetParent !== null && !(i.complete && i.naturalWidth > 0)).length",
    );
    assert_eq!(broken, json!(0), "no visible image without a picture");
    let chart_box_hidden = b.eval("document.getElementById('chart-box').hidden");
    assert_eq!(
        chart_box_hidden,
        json!(true),
        "no empty chart before a query"
    );
    b.click("document.querySelector('#examples a')");
    let legend = b.wait_chart("chart", "legend");
    assert_eq!(
        legend,
        json!(3),
        "the first example graphs user CPU per app"
    );
    let q = b.eval("document.getElementById('q').value");
    assert_eq!(q, json!("name,ssCpuUser,:eq,(,nf.app,),:by"));
    let guide_hidden = b.eval("document.getElementById('guide').hidden");
    assert_eq!(guide_hidden, json!(true));
}

/// Defect: the dark theme darkened only the chart. Now the page follows it, and a change
/// of theme redraws the chart in the theme's colors.
#[test]
fn the_page_follows_the_theme() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/?q=name,ssCpuUser,:eq,:sum&theme=dark"));
    b.wait_chart("chart", "legend");
    let dark = b.eval(
        "[getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color, \
          getComputedStyle(document.getElementById('chart')).backgroundColor, \
          getComputedStyle(document.getElementById('q')).backgroundColor]",
    );
    assert_eq!(
        dark,
        json!([
            "rgb(10, 10, 10)",
            "rgb(232, 232, 232)",
            "rgb(0, 0, 0)",
            "rgb(21, 21, 21)"
        ]),
        "page, text, chart canvas and inputs are dark"
    );
    let shot = b.screenshot();
    assert!(distinct_colors(&shot) > 20, "the screenshot looks blank");
    b.eval(
        "(() => { const t = document.getElementById('theme'); t.value = 'light'; \
         t.dispatchEvent(new Event('change')); return true; })()",
    );
    b.wait(
        "the chart redrawn on the light canvas",
        "getComputedStyle(document.getElementById('chart')).backgroundColor === 'rgb(255, 255, 255)' \
         && getComputedStyle(document.body).backgroundColor === 'rgb(245, 245, 245)'",
    );
    // The choice is remembered for the next page.
    b.goto(&server.at("/?view=alerts"));
    let bg = b.eval("getComputedStyle(document.body).backgroundColor");
    assert_eq!(bg, json!("rgb(245, 245, 245)"));
}

/// The page's files and JSON documents over plain HTTP: what the page needs, and bad
/// requests answered with a 4xx that says what was wrong.
#[test]
fn ui_files_and_chart_answers() {
    let server = demo();
    for (file, kind) in [
        ("app.js", "javascript"),
        ("chart.js", "javascript"),
        ("uPlot.iife.min.js", "javascript"),
        ("uPlot.min.css", "css"),
        ("style.css", "css"),
    ] {
        let r = sextant_e2e::get(&server.at(&format!("/ui/{file}")));
        assert_eq!(r.status, 200, "{file}");
        let ct = r
            .headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        assert!(ct.contains(kind), "{file}: {ct}");
    }
    let missing = sextant_e2e::get(&server.at(&format!("/ui/{}", "x".repeat(500))));
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("no such file") && missing.body.len() < 300,
        "{}",
        missing.body
    );
    let bad = sextant_e2e::get(&server.at("/api/v1/chart?q=name,cpu,:eq,:bogus"));
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains(":bogus"), "{}", bad.body);
    let none = sextant_e2e::get(&server.at("/api/v1/chart"));
    assert_eq!(none.status, 400, "{}", none.body);
    let words = sextant_e2e::get(&server.at("/api/v1/words"));
    let words: serde_json::Value = serde_json::from_str(&words.body).expect("JSON");
    let sum = words
        .as_array()
        .and_then(|w| w.iter().find(|w| w["word"] == json!(":sum")))
        .cloned();
    assert!(
        sum.is_some_and(|s| s["effect"].as_str().is_some_and(|e| e.contains("--"))),
        "{words}"
    );
}
