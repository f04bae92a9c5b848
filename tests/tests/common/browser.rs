//! A headless chromium driven over the Chrome DevTools Protocol, shared by the browser
//! tests (`browser*.rs`): Debian's `chromium` against the real server.
//!
//! The CDP client is a few dozen lines over a blocking websocket (`tungstenite`) rather
//! than the `headless_chrome` crate: we need a handful of commands (navigate, evaluate,
//! insert text, mouse and key events, screenshot), want the system binary with our exact
//! flags, and avoid a large dependency tree whose default features download a browser.
//!
//! Needs `/usr/bin/chromium`: `scripts/setup-test-deps.sh` installs it.

// Each test file uses a different part of the harness.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use sextant_e2e::{wait_for, TestServer, DEADLINE};
use tungstenite::{Message, WebSocket};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless chromium and one page in it.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    profile: PathBuf,
}

impl Browser {
    pub fn launch() -> Browser {
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
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        match self.try_call(session, method, params) {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e}"),
        }
    }

    /// [`Browser::call`], handing back DevTools' error instead of failing on it.
    pub fn try_call(
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

    /// Sends a command to the page's session.
    pub fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params)
    }

    /// Evaluates `js` in the page (awaiting promises) and returns its value.
    pub fn eval(&mut self, js: &str) -> Value {
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
    pub fn wait(&mut self, what: &str, js: &str) -> Value {
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

    /// Opens `url` and waits until it has loaded.
    pub fn goto(&mut self, url: &str) {
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
    pub fn type_into(&mut self, id: &str, text: &str) {
        self.eval(&format!(
            "(() => {{ const e = document.getElementById({}); e.focus(); e.select(); return true; }})()",
            json!(id)
        ));
        self.page("Input.insertText", json!({"text": text}));
    }

    /// Clicks the element `js_element` (a script expression) from script.
    pub fn click(&mut self, js_element: &str) {
        self.eval(&format!("({js_element}).click(), true"));
    }

    /// The bounding box of the element `js_element` in viewport pixels: (x, y, w, h).
    pub fn rect(&mut self, js_element: &str) -> (f64, f64, f64, f64) {
        let r = self.eval(&format!(
            "(() => {{ const r = ({js_element}).getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }})()"
        ));
        let n = |i: usize| r[i].as_f64().unwrap_or_default();
        (n(0), n(1), n(2), n(3))
    }

    /// Moves the real mouse pointer to (x, y).
    pub fn mouse_move(&mut self, x: f64, y: f64) {
        self.page(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        );
    }

    /// Drags with the left button from `from` to `to`, through a few points between.
    pub fn drag(&mut self, from: (f64, f64), to: (f64, f64)) {
        self.mouse_move(from.0, from.1);
        let press = json!({"type": "mousePressed", "x": from.0, "y": from.1, "button": "left", "clickCount": 1});
        self.page("Input.dispatchMouseEvent", press);
        for i in 1..=5 {
            let f = f64::from(i) / 5.0;
            let (x, y) = (from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f);
            self.page(
                "Input.dispatchMouseEvent",
                json!({"type": "mouseMoved", "x": x, "y": y, "button": "left", "buttons": 1}),
            );
        }
        let release = json!({"type": "mouseReleased", "x": to.0, "y": to.1, "button": "left", "clickCount": 1});
        self.page("Input.dispatchMouseEvent", release);
    }

    /// Presses and releases a key that types no text (`Tab`, `ArrowDown`, `Escape`...).
    pub fn key(&mut self, key: &str, code: u32) {
        for kind in ["rawKeyDown", "keyUp"] {
            self.page(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code}),
            );
        }
    }

    /// Types `text` at the caret of the focused element (no clearing).
    pub fn type_more(&mut self, text: &str) {
        self.page("Input.insertText", json!({"text": text}));
    }

    /// Waits until the chart box `id` has drawn (uPlot canvas present) and returns how
    /// many legend rows its legend table `legend_id` has.
    pub fn wait_chart(&mut self, id: &str, legend_id: &str) -> Value {
        self.wait(
            &format!("the chart {id} to be drawn"),
            &format!(
                "(() => {{ const c = document.getElementById({}); \
                 return c && c.dataset.drawn && c.dataset.drawn !== 'error' && c.querySelector('canvas') \
                   ? document.querySelectorAll('#' + {} + ' tbody tr').length : null; }})()",
                json!(id),
                json!(legend_id)
            ),
        )
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
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
pub fn demo() -> TestServer {
    TestServer::start(&["--demo"])
}

/// Number of distinct colors in a PNG: a blank page has one or two.
pub fn distinct_colors(png_bytes: &[u8]) -> usize {
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
