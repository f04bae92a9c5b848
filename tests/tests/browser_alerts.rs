//! The alerts page in a real headless chromium (see `common/browser.rs`): rules with their
//! state and expression link, instances filtered by label, and a silence created from an
//! alert (matchers pre-filled), listed, seen to mute the alert, and expired.

#[path = "common/browser.rs"]
mod browser;

use browser::Browser;
use serde_json::json;
use sextant_e2e::{wait_for, TestServer};

/// A demo server with one rule per app that fires at its first evaluation.
fn alerting_server(dir: &std::path::Path) -> TestServer {
    std::fs::create_dir_all(dir).expect("temp dir");
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\nname = \"CpuBusy\"\nexpr = \"name,ssCpuUser,:eq,:max,(,nf.app,),:by,0,:gt\"\n\
         severity = \"page\"\n",
    )
    .expect("rules file");
    TestServer::start(&[
        "--demo",
        "--step",
        "1s",
        "--retention",
        "5m",
        "--rules",
        &rules.to_string_lossy(),
        "--data-dir",
        &dir.join("data").to_string_lossy(),
    ])
}

#[test]
fn silences_are_created_from_an_alert_listed_and_expired() {
    let dir = std::env::temp_dir().join(format!(
        "sextant-e2e-browser-silences-{}-{}",
        std::process::id(),
        sextant_e2e::now_ms()
    ));
    let server = alerting_server(&dir);
    let mut b = Browser::launch();
    let url = server.at("/?view=alerts");
    b.goto(&url);
    // Refresh every 10 s is the page's own polling; waiting on it proves auto-refresh.
    b.eval(
        "(() => { const r = document.getElementById('alerts-refresh'); r.value = '10'; \
         r.dispatchEvent(new Event('change')); return true; })()",
    );
    let rows = b.wait(
        "three firing alerts, one per app",
        "(() => { const r = [...document.querySelectorAll('#alerts-table tbody tr.alert-firing')]; \
         return r.length === 3 ? r.map(tr => tr.cells[2].textContent) : null; })()",
    );
    assert!(
        rows.as_array().is_some_and(|r| r
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains("nf.app=db")))),
        "{rows}"
    );
    // The rule links to its expression on the graph page.
    let link = b.eval("document.querySelector('#rules-table a.rule-expr').getAttribute('href')");
    assert!(
        link.as_str()
            .is_some_and(|l| l.starts_with("/?q=name%2CssCpuUser")),
        "{link}"
    );
    // Filter by label.
    b.type_into("alerts-filter", "nf.app=db");
    let filtered = b.wait(
        "only the db alert",
        "(() => { const r = [...document.querySelectorAll('#alerts-table tbody tr.alert-firing')]; \
         return r.length === 1 ? r[0].cells[2].textContent : null; })()",
    );
    assert!(
        filtered.as_str().is_some_and(|l| l.contains("nf.app=db")),
        "{filtered}"
    );

    // Silence it from its row: the matchers are its labels.
    b.click("document.querySelector('#alerts-table tbody tr.alert-firing .silence-this')");
    let matchers = b.eval("document.getElementById('silence-matchers').value");
    let matchers = matchers.as_str().unwrap_or_default().to_string();
    assert!(
        matchers.lines().any(|l| l == "nf.app=db")
            && matchers.lines().any(|l| l == "alertname=CpuBusy"),
        "{matchers}"
    );
    b.type_into("silence-by", "oncall");
    b.type_into("silence-comment", "db maintenance");
    b.click("document.getElementById('silence-create')");
    let created = b.wait(
        "the active silence",
        "(() => { const r = document.querySelector('#silences-table tbody tr.silence-active'); \
         return r ? [...r.cells].map(c => c.textContent) : null; })()",
    );
    assert_eq!(created[4], json!("oncall"));
    assert_eq!(created[5], json!("db maintenance"));
    assert!(
        created[2].as_str().is_some_and(|m| m.contains("nf.app=db")),
        "{created}"
    );
    // The db alert shows as silenced, the others do not.
    b.click("document.getElementById('alerts-filter')");
    b.type_into("alerts-filter", "");
    let silenced = b.wait(
        "the silenced column",
        "(() => { const r = [...document.querySelectorAll('#alerts-table tbody tr.alert-firing')]; \
         return r.length === 3 ? r.map(tr => [tr.cells[2].textContent.includes('nf.app=db'), tr.cells[5].textContent]) : null; })()",
    );
    for row in silenced.as_array().cloned().unwrap_or_default() {
        let expected = if row[0] == json!(true) { "yes" } else { "" };
        assert_eq!(row[1], json!(expected), "{silenced}");
    }
    let api = sextant_e2e::get(&server.at("/api/v1/silences"));
    assert!(api.body.contains("db maintenance"), "{}", api.body);

    // Expire it from the list.
    b.click("document.querySelector('#silences-table tbody tr.silence-active .silence-expire')");
    let expired = b.wait(
        "the expired silence",
        "(() => { const r = document.querySelector('#silences-table tbody tr.silence-expired'); \
         return r ? r.cells[1].textContent : null; })()",
    );
    assert_eq!(expired, json!("expired"));
    wait_for("the server to report it expired", || {
        let list = sextant_e2e::get(&server.at("/api/v1/silences"));
        list.body.contains("\"expired\"").then_some(())
    });
    // A bad matcher is refused on the page, naming the line.
    b.type_into("silence-matchers", "just words");
    b.click("document.getElementById('silence-create')");
    let err = b.wait(
        "the matcher error",
        "(() => { const e = document.getElementById('silence-error'); return e.hidden ? null : e.textContent; })()",
    );
    assert!(
        err.as_str()
            .is_some_and(|e| e.contains("not a matcher: just words")),
        "{err}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
