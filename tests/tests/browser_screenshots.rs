//! The screenshots of `docs/ui.md`, taken with the real headless chromium (see
//! `common/browser.rs`) against a demo server. Ignored by default (they rewrite files):
//!
//! ```sh
//! SEXTANT_SCREENSHOTS=docs/img cargo test -p sextant-e2e --test browser_screenshots -- --ignored
//! ```
//!
//! Without `SEXTANT_SCREENSHOTS` the pictures go to the system's temporary directory.

#[path = "common/browser.rs"]
mod browser;

use std::path::PathBuf;

use browser::{distinct_colors, Browser};
use serde_json::json;
use sextant_e2e::TestServer;

fn out_dir() -> PathBuf {
    let dir = std::env::var_os("SEXTANT_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("sextant-screenshots"));
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

fn save(b: &mut Browser, name: &str) {
    let png = b.screenshot();
    assert!(distinct_colors(&png) > 20, "{name} looks blank");
    let path = out_dir().join(name);
    std::fs::write(&path, png).expect("write the screenshot");
    eprintln!("wrote {}", path.display());
}

/// The viewport of the screenshots: wide enough for two dashboard panels side by side.
fn viewport(b: &mut Browser, height: u32) {
    b.page(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1100, "height": height, "deviceScaleFactor": 1, "mobile": false}),
    );
}

#[test]
#[ignore = "writes the documentation's screenshots; run on purpose"]
fn take_the_screenshots_of_docs_ui() {
    let dir = std::env::temp_dir().join(format!(
        "sextant-e2e-screenshots-{}-{}",
        std::process::id(),
        sextant_e2e::now_ms()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\nname = \"HighCpu\"\nexpr = \"name,ssCpuUser,:eq,(,nf.app,nf.node,),:by,:dup,50,:gt,:mul\"\n\
         annotations = { summary = \"CPU user {{ value }}% on {{ tags.nf.node }}\" }\n",
    )
    .expect("rules file");
    let server = TestServer::start(&["--demo"]);
    let mut b = Browser::launch();

    viewport(&mut b, 700);
    b.goto(&server.at("/"));
    b.wait(
        "the guide",
        "document.querySelectorAll('#guide-dashboard-links a').length",
    );
    save(&mut b, "ui-landing.png");

    // The graph page with the cursor on the chart: every line's value in the legend.
    viewport(&mut b, 820);
    b.goto(&server.at(
        "/?q=name,server.requestCount,:eq,(,status,),:by,:stack,name,server.requestLatency,:eq,statistic,max,:eq,:and,:max,1,:axis,max latency,:legend&s=e-6h",
    ));
    b.wait_chart("chart", "legend");
    let (x, y, w, h) = b.rect("document.querySelector('#chart .u-over')");
    b.mouse_move(x + w * 0.6, y + h * 0.4);
    b.wait(
        "hover values",
        "document.querySelector('#legend td.value').textContent !== ''",
    );
    save(&mut b, "ui-graph.png");

    // Autocomplete of tag values, then the explain table, in the dark theme.
    b.goto(&server.at("/?q=name,ssCpuUser,:eq,(,nf.app,),:by&theme=dark"));
    b.wait_chart("chart", "legend");
    b.click("document.getElementById('explain-btn')");
    b.wait(
        "the explanation",
        "document.querySelectorAll('#explain-table tbody tr').length === 7",
    );
    b.type_into("q", "name,ssCpuUser,:eq,nf.app,");
    b.wait(
        "value suggestions",
        "!document.getElementById('suggest').hidden && document.querySelectorAll('#suggest li').length === 3",
    );
    save(&mut b, "ui-editor-dark.png");
    b.eval(
        "(() => { const t = document.getElementById('theme'); t.value = 'light'; \
         t.dispatchEvent(new Event('change')); return true; })()",
    );

    viewport(&mut b, 1000);
    b.goto(&server.at("/?view=dashboard&name=service-overview&refresh=60"));
    b.wait(
        "the dashboard",
        "document.getElementById('dash-grid').dataset.drawn === '6'",
    );
    save(&mut b, "ui-dashboard.png");
    b.click("document.getElementById('dash-edit')");
    b.wait(
        "the editor",
        "document.getElementById('dash-grid').dataset.drawn === '6' && document.querySelectorAll('.panel-edit').length === 6",
    );
    save(&mut b, "ui-dashboard-edit.png");

    // The alerts on a server with a short step, so the rule fires within seconds.
    drop(server);
    let server = TestServer::start(&[
        "--demo",
        "--step",
        "5s",
        "--rules",
        &rules.to_string_lossy(),
        "--data-dir",
        &dir.join("data").to_string_lossy(),
    ]);
    viewport(&mut b, 1000);
    b.goto(&server.at("/?view=alerts&filter=nf.app=api"));
    b.wait(
        "firing alerts",
        "document.querySelectorAll('#alerts-table tbody tr.alert-firing').length > 0",
    );
    b.click("document.querySelector('#alerts-table tbody tr.alert-firing .silence-this')");
    b.type_into("silence-by", "oncall");
    b.type_into("silence-comment", "node replaced");
    b.click("document.getElementById('silence-create')");
    b.wait(
        "the silence",
        "document.querySelector('#silences-table tbody tr.silence-active') !== null",
    );
    b.eval("window.scrollTo(0, 0), true");
    save(&mut b, "ui-alerts.png");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
