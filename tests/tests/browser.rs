//! The web UI in a real browser: Debian's `chromium`, headless, driven over the Chrome
//! DevTools Protocol against the real server with demo data.
//!
//! The CDP client is a few dozen lines over a blocking websocket (`tungstenite`) rather
//! than the `headless_chrome` crate: we need four commands (navigate, evaluate, insert
//! text, screenshot), want the system binary with our exact flags, and avoid a large
//! dependency tree whose default features download a browser.
//!
//! Needs `/usr/bin/chromium`: `scripts/setup-test-deps.sh` installs it.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use sextant_e2e::{wait_for, TestServer, DEADLINE};
use tungstenite::{Message, WebSocket};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless chromium and one page in it.
struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    profile: PathBuf,
}

impl Browser {
    fn launch() -> Browser {
        assert!(
            std::path::Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run scripts/setup-test-deps.sh (installs Debian's chromium)"
        );
        // Tests launch browsers in parallel: two sharing a profile would make the second
        // hand its window to the first and exit, so each gets a name of its own.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let profile = std::env::temp_dir().join(format!(
            "sextant-chromium-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,1400",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium could not start");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        // Chromium announces its websocket on stderr once it listens.
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.split("DevTools listening on ").nth(1) {
                        break rest.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    panic!("chromium exited before it listened for DevTools");
                }
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let addr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let stream = TcpStream::connect(&addr).expect("connect to DevTools");
        stream
            .set_read_timeout(Some(DEADLINE))
            .expect("set a read timeout");
        let (ws, _) = tungstenite::client(url.as_str(), stream).expect("DevTools handshake");
        let mut browser = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            profile,
        };
        let target = browser.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap_or_default().to_string();
        let attached = browser.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        browser.page("Page.enable", json!({}));
        browser.page("Runtime.enable", json!({}));
        browser
    }

    /// Sends a command and returns its result, skipping the events that arrive meanwhile.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        match self.try_call(session, method, params) {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e}"),
        }
    }

    /// [`Browser::call`], handing back DevTools' error instead of failing on it.
    fn try_call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send to DevTools");
        loop {
            let reply = self
                .ws
                .read()
                .unwrap_or_else(|e| panic!("no answer to {method}: {e}"));
            let Message::Text(text) = reply else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools sends JSON");
            if v["id"] == json!(id) {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params)
    }

    /// Evaluates `js` in the page (awaiting promises) and returns its value.
    fn eval(&mut self, js: &str) -> Value {
        let r = self.page(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("page script failed: {js}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `js` is truthy in the page.
    fn wait(&mut self, what: &str, js: &str) -> Value {
        // While a navigation is under way the old or a half-built document answers; a
        // script that throws there means "not yet", not a failure.
        let guarded =
            format!("(() => {{ try {{ return ({js}); }} catch (_) {{ return null; }} }})()");
        let session = self.session.clone();
        wait_for(what, || {
            let params =
                json!({"expression": guarded, "returnByValue": true, "awaitPromise": true});
            // During a reload the evaluation itself can fail ("Inspected target navigated
            // or closed"): also "not yet".
            let r = self
                .try_call(Some(&session), "Runtime.evaluate", params)
                .ok()?;
            let v = r["result"]["value"].clone();
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            truthy.then_some(v)
        })
    }

    fn goto(&mut self, url: &str) {
        self.page("Page.navigate", json!({"url": url}));
        self.wait(
            "the page to load",
            &format!(
                "location.href.startsWith({}) && document.readyState === 'complete'",
                json!(url.split('?').next().unwrap_or(url))
            ),
        );
    }

    /// Focuses element `id`, clears it and types `text` as keyboard input.
    fn type_into(&mut self, id: &str, text: &str) {
        self.eval(&format!(
            "(() => {{ const e = document.getElementById({}); e.focus(); e.select(); return true; }})()",
            json!(id)
        ));
        self.page("Input.insertText", json!({"text": text}));
    }

    fn click(&mut self, js_element: &str) {
        self.eval(&format!("({js_element}).click(), true"));
    }

    fn screenshot(&mut self) -> Vec<u8> {
        let r = self.page("Page.captureScreenshot", json!({"format": "png"}));
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap_or_default())
            .expect("screenshot is base64")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.ws.send(Message::text(
            json!({"id": 0, "method": "Browser.close"}).to_string(),
        ));
        // Give chromium a moment to close by itself, then make sure.
        for _ in 0..40 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A demo server with a data directory of its own (see `graph_images.rs`, `demo`).
fn demo() -> TestServer {
    TestServer::start(&["--demo"])
}

/// Number of distinct colors in a PNG: a blank page has one or two.
fn distinct_colors(png_bytes: &[u8]) -> usize {
    let decoder = png::Decoder::new(png_bytes);
    let mut reader = decoder.read_info().expect("screenshot is a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let channels = info.color_type.samples();
    let mut colors: Vec<&[u8]> = buf[..info.buffer_size()]
        .chunks(channels)
        .step_by(7)
        .collect();
    colors.sort_unstable();
    colors.dedup();
    colors.len()
}

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
    let src = b.wait(
        "the chart to load",
        "(() => { const i = document.getElementById('chart'); \
         return i.complete && i.naturalWidth > 0 ? i.getAttribute('src') : null; })()",
    );
    let src = src.as_str().unwrap_or_default().to_string();
    assert!(src.starts_with("/api/v1/graph?"), "{src}");
    assert!(
        src.contains("q=name%2CssCpuUser%2C%3Aeq%2C%28%2Cnf.app%2C%29%2C%3Aby"),
        "{src}"
    );
    let legend = b.wait(
        "the legend",
        "document.querySelectorAll('#legend tbody tr').length",
    );
    assert_eq!(legend, json!(3), "one legend row per app");
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
    b.wait(
        "the chart",
        "document.getElementById('chart').complete && document.getElementById('chart').naturalWidth > 0",
    );
}

#[test]
fn dashboard_is_saved_and_reopened() {
    let server = demo();
    let mut b = Browser::launch();
    b.goto(&server.at("/?q=name,ssCpuSystem,:eq,:sum&w=400&h=150"));
    b.wait(
        "the chart",
        "document.getElementById('chart').complete && document.getElementById('chart').naturalWidth > 0",
    );
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
        "(() => { const i = document.querySelector('#dash-grid img'); \
         return i && i.complete && i.naturalWidth > 0 \
           ? document.querySelector('#dash-grid figcaption').textContent : null; })()",
    );
    assert_eq!(caption, json!("system cpu"));
    let src = b.eval("document.querySelector('#dash-grid img').getAttribute('src')");
    assert!(
        src.as_str()
            .is_some_and(|s| s.contains("q=name%2CssCpuSystem%2C%3Aeq%2C%3Asum")),
        "{src}"
    );
    // The shared range applies to every graph.
    b.eval("(() => { const r = document.getElementById('dash-range'); r.value = 'e-1h'; r.dispatchEvent(new Event('change')); return true; })()");
    b.wait(
        "the grid to use the new range",
        "document.querySelector('#dash-grid img').getAttribute('src').includes('s=e-1h')",
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
/// it is given sends it with every call: the chart arrives through a blob URL.
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
    let src = b.wait(
        "the chart to load with the token",
        "(() => { const i = document.getElementById('chart'); \
         return i && i.complete && i.naturalWidth > 0 ? i.getAttribute('src') : null; })()",
    );
    let src = src.as_str().unwrap_or_default();
    assert!(src.starts_with("blob:"), "{src}");
    let legend = b.wait(
        "the legend",
        "document.querySelectorAll('#legend tbody tr').length || null",
    );
    assert_eq!(legend, json!(3), "one legend row per app");
    let hidden = b.eval("document.getElementById('token-form').hidden");
    assert_eq!(hidden, json!(true), "no token form once the token works");
}
