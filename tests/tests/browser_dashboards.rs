//! Dashboards in a real headless chromium (see `common/browser.rs`): created, edited
//! (variable, panels added, validated, reordered, resized, removed), exported and imported,
//! and the demo's own dashboards.

#[path = "common/browser.rs"]
mod browser;

use browser::{demo, Browser};
use serde_json::{json, Value};

/// Sets the value of the `n`th (0-based) element matching `selector` and fires `change`,
/// as a user leaving the field does.
fn fill(b: &mut Browser, selector: &str, n: usize, value: &str) {
    b.eval(&format!(
        "(() => {{ const e = document.querySelectorAll({})[{n}]; e.value = {}; \
         e.dispatchEvent(new Event('change')); return true; }})()",
        json!(selector),
        json!(value)
    ));
}

/// Waits until the grid has drawn `n` panels and returns their titles.
fn wait_panels(b: &mut Browser, n: usize) -> Value {
    b.wait(
        &format!("{n} panels drawn"),
        &format!(
            "(() => {{ const g = document.getElementById('dash-grid'); \
             return g.dataset.drawn === '{n}' && g.querySelectorAll('figure.panel').length === {n} \
               ? [...g.querySelectorAll('figcaption .title')].map(t => t.textContent) : null; }})()"
        ),
    )
}

/// The legend labels of panel `i`.
fn legend_labels(b: &mut Browser, i: usize) -> Value {
    b.eval(&format!(
        "[...document.querySelectorAll('#dash-grid figure.panel')[{i}].querySelectorAll('.legend tbody tr')]\
         .map(tr => tr.cells[0].textContent)"
    ))
}

#[test]
fn a_dashboard_is_edited_with_a_variable_and_survives_a_reload() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/?view=dashboards"));
    b.type_into("dash-new-name", "team");
    b.click("document.querySelector('#dash-new button')");
    b.wait(
        "the new dashboard in edit mode",
        "location.search.includes('name=team') && !document.getElementById('dash-editor').hidden",
    );

    // A variable $app over the apps that report user CPU.
    b.click("document.getElementById('var-add')");
    fill(&mut b, ".var-name", 0, "app");
    fill(&mut b, ".var-key", 0, "nf.app");
    fill(&mut b, ".var-q", 0, "name,ssCpuUser,:eq");
    // Two panels, the second with a typo.
    b.click("document.getElementById('panel-add')");
    b.click("document.getElementById('panel-add')");
    wait_panels(&mut b, 2);
    fill(&mut b, ".panel-title", 0, "cpu of $app");
    wait_panels(&mut b, 2);
    fill(
        &mut b,
        ".panel-q",
        0,
        "name,ssCpuUser,:eq,nf.app,$app,:eq,:and,(,nf.node,),:by",
    );
    wait_panels(&mut b, 2);
    fill(&mut b, ".panel-title", 1, "system");
    wait_panels(&mut b, 2);
    fill(&mut b, ".panel-q", 1, "name,ssCpuSystem,:eq,:bogus");
    wait_panels(&mut b, 2);
    b.click("document.getElementById('dash-save')");
    let err = b.wait(
        "the server's refusal",
        "(() => { const e = document.getElementById('dash-save-error'); return e.hidden ? null : e.textContent; })()",
    );
    let err = err.as_str().unwrap_or_default();
    assert!(
        err.contains("graphs[1] ('system')") && err.contains(":bogus"),
        "{err}"
    );
    fill(&mut b, ".panel-q", 1, "name,ssCpuSystem,:eq,:sum");
    wait_panels(&mut b, 2);
    b.click("document.getElementById('dash-save')");
    b.wait(
        "the save",
        "document.getElementById('dash-save-status').textContent === 'saved' \
         && document.getElementById('dash-editor').hidden",
    );

    // The variable's values come from the tags API; the first is chosen.
    let options = b.wait(
        "the $app selector",
        "(() => { const s = document.getElementById('var-app'); \
         return s && s.options.length ? [...s.options].map(o => o.value) : null; })()",
    );
    assert_eq!(options, json!(["api", "db", "www"]));
    let titles = wait_panels(&mut b, 2);
    assert_eq!(titles, json!(["cpu of $app", "system"]));
    let labels = legend_labels(&mut b, 0);
    let labels = labels.as_array().cloned().unwrap_or_default();
    assert_eq!(labels.len(), 8, "one line per api node: {labels:?}");
    assert!(labels
        .iter()
        .all(|l| l.as_str().is_some_and(|l| l.contains("i-api-"))));
    // Another value redraws the panels with it, and the URL remembers it.
    b.eval(
        "(() => { const s = document.getElementById('var-app'); s.value = 'db'; \
         s.dispatchEvent(new Event('change')); return true; })()",
    );
    b.wait(
        "the db nodes",
        "(() => { const f = document.querySelector('#dash-grid figure.panel .legend tbody tr'); \
         return f && f.cells[0].textContent.includes('i-db-'); })()",
    );
    let url = b.eval("location.search");
    assert!(
        url.as_str().is_some_and(|u| u.contains("var-app=db")),
        "{url}"
    );

    // Reorder, resize, save.
    b.click("document.getElementById('dash-edit')");
    wait_panels(&mut b, 2);
    b.click("document.querySelectorAll('.panel-down')[0]");
    let titles = wait_panels(&mut b, 2);
    assert_eq!(titles, json!(["system", "cpu of $app"]));
    fill(&mut b, ".panel-w", 0, "600");
    wait_panels(&mut b, 2);
    fill(&mut b, ".panel-h", 0, "260");
    wait_panels(&mut b, 2);
    b.click("document.getElementById('dash-save')");
    b.wait(
        "the second save",
        "document.getElementById('dash-editor').hidden",
    );

    // A reload shows the saved order and size, with the chosen variable value.
    let url = b.eval("location.href");
    b.goto(url.as_str().unwrap_or_default());
    let titles = wait_panels(&mut b, 2);
    assert_eq!(titles, json!(["system", "cpu of $app"]));
    let size = b.eval(
        "(() => { const p = document.querySelector('#dash-grid figure.panel .chart').sextantPlot; \
         return [p.width, p.height]; })()",
    );
    assert_eq!(size, json!([600, 260]));
    let chosen = b.eval("document.getElementById('var-app').value");
    assert_eq!(chosen, json!("db"));
    let stored = sextant_e2e::get(&server.at("/api/v1/dashboards/team"));
    let stored: Value = serde_json::from_str(&stored.body).expect("JSON");
    assert_eq!(
        stored["variables"],
        json!([{"name": "app", "key": "nf.app", "q": "name,ssCpuUser,:eq"}])
    );
    assert_eq!(stored["graphs"][0]["w"], json!(600));

    // Export, then import under another name.
    let exported = b.eval(
        "decodeURIComponent(document.getElementById('dash-export').getAttribute('href').split(',').slice(1).join(','))",
    );
    let exported: Value =
        serde_json::from_str(exported.as_str().unwrap_or_default()).expect("exported JSON");
    assert_eq!(exported["graphs"].as_array().map(Vec::len), Some(2));
    b.goto(&server.at("/?view=dashboards"));
    b.click("document.querySelector('#dash-import-box summary')");
    b.type_into("dash-import-name", "team-copy");
    b.type_into("dash-import-json", &exported.to_string());
    b.click("document.getElementById('dash-import')");
    let titles = wait_panels(&mut b, 2);
    assert_eq!(titles, json!(["system", "cpu of $app"]));
    assert!(b
        .eval("location.search")
        .as_str()
        .is_some_and(|u| u.contains("name=team-copy")));

    // Remove a panel.
    b.click("document.getElementById('dash-edit')");
    wait_panels(&mut b, 2);
    b.click("document.querySelectorAll('.panel-remove')[0]");
    wait_panels(&mut b, 1);
    b.click("document.getElementById('dash-save')");
    b.wait("the save", "document.getElementById('dash-editor').hidden");
    let stored = sextant_e2e::get(&server.at("/api/v1/dashboards/team-copy"));
    let stored: Value = serde_json::from_str(&stored.body).expect("JSON");
    assert_eq!(stored["graphs"].as_array().map(Vec::len), Some(1));
}

#[test]
fn the_demo_ships_two_dashboards_that_draw() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/"));
    let links = b.wait(
        "the dashboards on the landing page",
        "(() => { const a = [...document.querySelectorAll('#guide-dashboard-links a')].map(a => a.textContent); \
         return a.length ? a : null; })()",
    );
    assert_eq!(links, json!(["service-overview", "sextant-self"]));
    for (name, panels) in [("service-overview", 6), ("sextant-self", 5)] {
        b.goto(&server.at(&format!("/?view=dashboard&name={name}")));
        wait_panels(&mut b, panels);
        let failed = b.eval("document.querySelectorAll('#dash-grid .chart .error').length");
        assert_eq!(failed, json!(0), "every panel of {name} evaluates");
        let drawn = b.eval("document.querySelectorAll('#dash-grid .chart canvas').length");
        assert_eq!(drawn, json!(panels), "every panel of {name} is drawn");
    }
}

#[test]
fn a_drag_on_one_panel_zooms_the_whole_dashboard_and_pauses_refresh() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/?view=dashboard&name=service-overview&refresh=30"));
    wait_panels(&mut b, 6);
    let state = b.eval("document.getElementById('dash-refresh-state').textContent");
    assert_eq!(state, json!("live"));
    let (x, y, w, h) = b.rect("document.querySelector('#dash-grid .u-over')");
    b.drag((x + w * 0.2, y + h * 0.5), (x + w * 0.6, y + h * 0.5));
    b.wait(
        "every panel at the zoomed range",
        "document.getElementById('dash-refresh-state').textContent === 'refresh paused while zoomed' \
         && document.getElementById('dash-grid').dataset.drawn === '6'",
    );
    let ranges = b.eval(
        "[...document.querySelectorAll('#dash-grid a.png')].map(a => { \
           const p = new URL(a.href).searchParams; return [p.get('s'), p.get('e')]; })",
    );
    let ranges = ranges.as_array().cloned().unwrap_or_default();
    assert_eq!(ranges.len(), 6);
    let first = ranges[0].clone();
    for r in &ranges {
        assert_eq!(r, &first, "one range for all panels");
        assert!(
            r[0].as_str()
                .is_some_and(|s| s.bytes().all(|c| c.is_ascii_digit())),
            "{r}"
        );
    }
    let url = b.eval("location.search");
    assert!(
        url.as_str()
            .is_some_and(|u| u.contains(&format!("s={}", first[0].as_str().unwrap_or("?")))),
        "{url}"
    );
    b.click("document.getElementById('dash-zoom-out')");
    b.wait(
        "live again",
        "document.getElementById('dash-refresh-state').textContent === 'live' \
         && document.getElementById('dash-grid').dataset.drawn === '6'",
    );
}
