//! Alerting end to end: the real server with a rules file, a real HTTP webhook receiver
//! on loopback (scripted answers), and the real Alertmanager from Debian's
//! `prometheus-alertmanager` package.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use sextant_e2e::{get, now_ms, post_json, wait_for, TestServer};

/// A scratch directory removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("sextant-e2e-alert-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    fn write(&self, file: &str, text: &str) -> String {
        let p = self.0.join(file);
        std::fs::write(&p, text).expect("write temp file");
        p.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One request the webhook receiver got, and the status it answered.
#[derive(Debug, Clone)]
struct Hit {
    body: Value,
    status: u16,
}

/// A webhook receiver: records every POST and answers with scripted statuses (200 once
/// the script is used up).
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    fn start(script: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let script = Arc::new(Mutex::new(
            script.iter().copied().collect::<VecDeque<u16>>(),
        ));
        let h = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let status = script.lock().unwrap().pop_front().unwrap_or(200);
                if let Some(body) = serve(stream, status) {
                    h.lock().unwrap().push(Hit { body, status });
                }
            }
        });
        Receiver { url, hits }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits for the first successful delivery matching `pred`.
    fn wait(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(what, || {
            self.hits()
                .into_iter()
                .find(|h| h.status < 300 && pred(&h.body))
                .map(|h| h.body)
        })
    }
}

/// Reads one HTTP request (headers, then `content-length` bytes) and answers `status`.
fn serve(stream: TcpStream, status: u16) -> Option<Value> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    stream.write_all(answer.as_bytes()).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Publishes gauges `name=alerttest` (one per tag set) every 100 ms until dropped; the value
/// can be changed while it runs.
struct Publisher {
    value: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Publisher {
    fn start(server: &TestServer, extra_tags: &[&[(&str, &str)]], value: f64) -> Publisher {
        let value = Arc::new(AtomicU64::new(value.to_bits()));
        let stop = Arc::new(AtomicBool::new(false));
        let url = server.at("/api/v1/publish");
        let tag_sets: Vec<Value> = extra_tags
            .iter()
            .map(|extra| {
                let mut tags = json!({"name": "alerttest", "atlas.dstype": "gauge"});
                for (k, v) in *extra {
                    tags[*k] = json!(v);
                }
                tags
            })
            .collect();
        let (v, s) = (value.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let now = now_ms();
                let x = f64::from_bits(v.load(Ordering::Relaxed));
                let metrics: Vec<Value> = tag_sets
                    .iter()
                    .map(|t| json!({"tags": t, "timestamp": now, "value": x}))
                    .collect();
                let _ = post_json(&url, &json!({ "metrics": metrics }).to_string());
                // Paces the feed (several samples per 1 s step), not a wait for a result.
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Publisher {
            value,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, v: f64) {
        self.value.store(v.to_bits(), Ordering::Relaxed);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(dir: &TempDir, rules: &str) -> TestServer {
    let file = dir.write("rules.toml", rules);
    let data = dir.0.join("data").display().to_string();
    TestServer::start(&["--step", "1s", "--rules", &file, "--data-dir", &data])
}

fn rule(s: &TestServer, name: &str) -> Value {
    let rules = get(&s.at("/api/v1/rules")).json();
    rules["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

fn stats(s: &TestServer, receiver: &str) -> Value {
    get(&s.at("/api/v1/alerts/stats")).json()["receivers"][receiver].clone()
}

fn webhook(url: &str, extra: &str) -> String {
    // Retries stop at the group interval: keep a long one where retries are counted.
    let interval = if extra.contains("group_interval") {
        ""
    } else {
        "group_interval = \"1s\"\n"
    };
    format!(
        "[[receivers]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\n\
         group_wait = \"0s\"\n{interval}backoff = \"100ms\"\n{extra}\n"
    )
}

#[test]
fn pending_firing_notified_then_resolved() {
    let dir = TempDir::new("flow");
    let hook = Receiver::start(&[]);
    let rules = format!(
        "{}\n[[rules]]\nname = \"XHigh\"\nexpr = \"name,alerttest,:eq,:max,50,:gt\"\nfor = \"3s\"\n\
         severity = \"page\"\nreceivers = [\"hook\"]\nlabels = {{ team = \"core\" }}\n\
         annotations = {{ summary = \"x is {{{{ value }}}}\", graph = \"{{{{ graph_url }}}}\" }}\n",
        webhook(&hook.url, "")
    );
    let s = start(&dir, &rules);
    let publisher = Publisher::start(&s, &[&[]], 90.0);
    wait_for("the rule to be pending", || {
        (rule(&s, "XHigh")["state"] == "pending").then_some(())
    });
    assert!(hook.hits().is_empty(), "pending alerts are not notified");
    wait_for("the rule to fire", || {
        (rule(&s, "XHigh")["state"] == "firing").then_some(())
    });
    let body = hook.wait("the firing notification", |b| b["status"] == "firing");
    assert_eq!(body["version"], "4");
    assert_eq!(body["receiver"], "hook");
    assert_eq!(body["groupLabels"], json!({"alertname": "XHigh"}));
    assert_eq!(body["groupKey"], "{}:{alertname=\"XHigh\"}");
    assert_eq!(body["commonLabels"]["severity"], "page");
    assert_eq!(body["commonLabels"]["team"], "core");
    assert_eq!(body["externalURL"], s.url);
    let alert = &body["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["alertname"], "XHigh");
    assert_eq!(alert["annotations"]["summary"], "x is 1");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alert["fingerprint"].as_str().map(str::len), Some(16));
    let link = alert["generatorURL"].as_str().unwrap_or("");
    assert!(
        link.starts_with(&format!(
            "{}/api/v1/graph?q=name%2Calerttest%2C%3Aeq",
            s.url
        )),
        "{link}"
    );
    assert_eq!(alert["annotations"]["graph"], link);
    // The link works: it is our own graph endpoint.
    assert_eq!(get(&format!("{link}&format=json")).status, 200);
    let alerts = get(&s.at("/api/v1/alerts")).json();
    assert_eq!(alerts["alerts"][0]["state"], "firing");

    publisher.set(10.0);
    let body = hook.wait("the resolved notification", |b| b["status"] == "resolved");
    assert_eq!(body["alerts"][0]["status"], "resolved");
    assert_ne!(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(body["alerts"][0]["annotations"]["summary"], "x is 0");
    let r = rule(&s, "XHigh");
    assert_eq!(r["state"], "inactive");
    assert_eq!(r["health"], "ok");
    assert!(r["lastEvaluation"].is_string());
    assert_eq!(r["alerts"][0]["state"], "resolved");
}

#[test]
fn a_silence_suppresses_until_it_is_expired() {
    let dir = TempDir::new("silence");
    let hook = Receiver::start(&[]);
    let rules = format!(
        "{}\n[[rules]]\nname = \"Loud\"\nexpr = \"name,alerttest,:eq,:max,50,:gt\"\nreceivers = [\"hook\"]\n\
         \n[[rules]]\nname = \"Muted\"\nexpr = \"name,alerttest,:eq,:max,50,:gt\"\nreceivers = [\"hook\"]\n",
        // One group for everything: the first notification shows who was left out.
        webhook(&hook.url, "group_by = []")
    );
    let s = start(&dir, &rules);
    let ends = "2999-01-01T00:00:00Z";
    let bad = post_json(
        &s.at("/api/v1/silences"),
        &json!({"matchers": [], "endsAt": ends}).to_string(),
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("matchers"),
        "{}",
        bad.body
    );
    let bad = post_json(
        &s.at("/api/v1/silences"),
        &json!({"matchers": [{"name": "alertname", "value": "Muted"}], "endsAt": "soon"})
            .to_string(),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("endsAt"), "{}", bad.body);
    let created = post_json(
        &s.at("/api/v1/silences"),
        &json!({"matchers": [{"name": "alertname", "value": "Muted", "isRegex": false}],
                "endsAt": ends, "comment": "maintenance", "createdBy": "e2e"})
        .to_string(),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.json()["silenceID"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let listed = get(&s.at("/api/v1/silences")).json();
    assert_eq!(listed[0]["status"]["state"], "active");
    assert_eq!(listed[0]["createdBy"], "e2e");

    let _publisher = Publisher::start(&s, &[&[]], 90.0);
    let body = hook.wait("the first notification", |b| b["status"] == "firing");
    let names: Vec<&str> = body["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["labels"]["alertname"].as_str())
        .collect();
    assert_eq!(names, ["Loud"], "the silenced alert is not notified");
    let alerts = get(&s.at("/api/v1/alerts")).json();
    let muted = alerts["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["rule"] == "Muted")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        muted["state"], "firing",
        "silenced alerts are still evaluated"
    );
    assert_eq!(muted["silencedBy"][0], id);

    let expired = sextant_e2e_delete(&s.at(&format!("/api/v1/silences/{id}")));
    assert_eq!(expired, 200);
    assert_eq!(sextant_e2e_delete(&s.at("/api/v1/silences/nope")), 404);
    let body = hook.wait("the notification once the silence is expired", |b| {
        b["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["labels"]["alertname"] == "Muted")
    });
    assert_eq!(body["notification_reason"], "new alerts added");
}

/// DELETE `url`; returns the status.
fn sextant_e2e_delete(url: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .delete(url)
        .call()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn one_rule(receiver: &str) -> String {
    format!(
        "{receiver}\n[[rules]]\nname = \"XHigh\"\nexpr = \"name,alerttest,:eq,:max,50,:gt\"\n\
         receivers = [\"hook\"]\n"
    )
}

#[test]
fn server_errors_are_retried_until_one_delivery_succeeds() {
    let dir = TempDir::new("retry");
    let hook = Receiver::start(&[500, 500]);
    let s = start(
        &dir,
        &one_rule(&webhook(&hook.url, "group_interval = \"1h\"")),
    );
    let _publisher = Publisher::start(&s, &[&[]], 90.0);
    hook.wait("a successful delivery", |_| true);
    let st = wait_for("the stats to count the delivery", || {
        let st = stats(&s, "hook");
        (st["delivered"] == 1).then_some(st)
    });
    assert_eq!(st["attempts"], 3);
    assert_eq!(st["retries"], 2);
    assert_eq!(st["failed"], 0);
    let statuses: Vec<u16> = hook.hits().iter().map(|h| h.status).collect();
    assert_eq!(statuses, [500, 500, 200], "exactly one successful delivery");
}

#[test]
fn client_errors_are_not_retried() {
    let dir = TempDir::new("noretry");
    let hook = Receiver::start(&[400]);
    let s = start(
        &dir,
        &one_rule(&webhook(&hook.url, "group_interval = \"1h\"")),
    );
    let _publisher = Publisher::start(&s, &[&[]], 90.0);
    let st = wait_for("the delivery to be given up", || {
        let st = stats(&s, "hook");
        (st["failed"] == 1).then_some(st)
    });
    assert_eq!(st["attempts"], 1);
    assert_eq!(st["delivered"], 0);
    assert!(
        st["last_error"].as_str().unwrap_or("").contains("400"),
        "{st}"
    );
    assert_eq!(hook.hits().len(), 1);
    let rules = get(&s.at("/api/v1/rules")).json();
    assert_eq!(rules["receivers"][0]["stats"]["failed"], 1);
}

#[test]
fn a_broken_expression_shows_the_error_state() {
    let dir = TempDir::new("error");
    let hook = Receiver::start(&[]);
    // Parses, but cannot be evaluated once two series exist: an ungrouped operand with
    // two lines cannot join a grouped one.
    let rules = format!(
        "{}\n[[rules]]\nname = \"Broken\"\nexpr = \"name,alerttest,:eq,(,node,),:by,name,alerttest,:eq,:all,:sub\"\n\
         receivers = [\"hook\"]\n",
        webhook(&hook.url, "")
    );
    let s = start(&dir, &rules);
    let _publisher = Publisher::start(&s, &[&[("node", "a")], &[("node", "b")]], 1.0);
    let r = wait_for("the error state", || {
        let r = rule(&s, "Broken");
        (r["state"] == "error").then_some(r)
    });
    assert_eq!(r["health"], "error");
    assert!(
        r["lastError"].as_str().unwrap_or("").contains("ungrouped"),
        "{r}"
    );
    assert!(hook.hits().is_empty());
}

#[test]
fn a_bad_reload_keeps_the_old_rules_and_names_the_line() {
    let dir = TempDir::new("reload");
    let good = one_rule(&webhook("http://127.0.0.1:9/hook", ""));
    let s = start(&dir, &good);
    let bad = format!("{good}\n[[rules]]\nname = \"Second\"\nexpr = \"1\"\nfor = \"whenever\"\n");
    dir.write("rules.toml", &bad);
    let a = post_json(&s.at("/api/v1/rules/reload"), "");
    assert_eq!(a.status, 400, "{}", a.body);
    let message = a.json()["message"].as_str().unwrap_or("").to_string();
    let second = bad
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "[[rules]]")
        .nth(1)
        .map(|(i, _)| i + 1)
        .unwrap_or(0);
    assert!(
        message.starts_with(&format!("line {second}: ")),
        "{message}"
    );
    assert!(
        message.contains("rule 'Second': for: invalid duration"),
        "{message}"
    );
    let names: Vec<Value> = get(&s.at("/api/v1/rules")).json()["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, [json!("XHigh")], "the old rules keep running");

    dir.write("rules.toml", "[[rules]\nname = 1\n");
    let syntax = post_json(&s.at("/api/v1/rules/reload"), "");
    assert_eq!(syntax.status, 400);
    assert!(
        syntax.json()["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("line 1:"),
        "{}",
        syntax.body
    );

    dir.write("rules.toml", &bad.replace("whenever", "1s"));
    let a = post_json(&s.at("/api/v1/rules/reload"), "");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["rules"], 2);
}

/// The real Alertmanager, killed when dropped.
struct Alertmanager {
    child: Child,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alertmanager_binary() -> PathBuf {
    let candidates = ["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "the Alertmanager binary is missing (looked for {candidates:?}); \
                 run scripts/setup-test-deps.sh to install Debian's prometheus-alertmanager"
            )
        })
}

fn start_alertmanager(dir: &TempDir) -> Alertmanager {
    let binary = alertmanager_binary();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let config = dir.write(
        "alertmanager.yml",
        "route:\n  receiver: blackhole\n  group_wait: 0s\nreceivers:\n  - name: blackhole\n",
    );
    let storage = dir.0.join("am-data");
    let child = Command::new(binary)
        .arg(format!("--config.file={config}"))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("alertmanager starts");
    let am = Alertmanager {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    wait_for("alertmanager to be ready", || {
        let ready = ureq::get(&format!("{}/-/ready", am.url)).call();
        matches!(ready, Ok(r) if r.status() == 200).then_some(())
    });
    am
}

#[test]
fn alerts_reach_a_real_alertmanager() {
    let dir = TempDir::new("am");
    let am = start_alertmanager(&dir);
    let rules = format!(
        "[[receivers]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"{}\"\n\n\
         [[rules]]\nname = \"XHigh\"\nexpr = \"name,alerttest,:eq,(,nf.app,),:by,50,:gt\"\nreceivers = [\"am\"]\n\
         annotations = {{ summary = \"{{{{ tags.nf.app }}}} is hot\" }}\n",
        am.url
    );
    let s = start(&dir, &rules);
    let _publisher = Publisher::start(&s, &[&[("nf.app", "www")]], 90.0);
    let alert = wait_for("the alert in Alertmanager", || {
        let a = get(&format!("{}/api/v2/alerts", am.url));
        if a.status != 200 {
            return None;
        }
        a.json()
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["labels"]["alertname"] == "XHigh")
            .cloned()
    });
    assert_eq!(alert["labels"]["nf_app"], "www");
    assert_eq!(alert["annotations"]["summary"], "www is hot");
    assert_eq!(alert["status"]["state"], "active");
    assert!(alert["generatorURL"]
        .as_str()
        .unwrap_or("")
        .contains("/api/v1/graph?q="));
    assert_eq!(stats(&s, "am")["failed"], 0);
}

#[test]
fn a_restart_neither_refires_nor_forgets() {
    let dir = TempDir::new("restart");
    let hook = Receiver::start(&[]);
    // keep-last: the store is in memory, so the first interval after the restart may
    // hold no sample yet; that must not resolve the alert.
    let rules = format!(
        "{}no_data = \"keep-last\"\n",
        one_rule(&webhook(&hook.url, "group_interval = \"1h\""))
    );
    let s = start(&dir, &rules);
    let publisher = Publisher::start(&s, &[&[]], 90.0);
    hook.wait("the firing notification", |b| b["status"] == "firing");
    // The delivery is recorded in the state file after the receiver answered.
    let state = dir.0.join("data/alerting/state.json");
    wait_for("the delivery to be saved", || {
        let text = std::fs::read_to_string(&state).ok()?;
        let saved: Value = serde_json::from_str(&text).ok()?;
        let groups = saved["groups"]["groups"].as_object()?.clone();
        groups
            .values()
            .any(|g| g["sent"].as_object().is_some_and(|m| !m.is_empty()))
            .then_some(())
    });
    s.stop();
    drop(publisher);

    let s = start(&dir, &rules);
    let r = rule(&s, "XHigh");
    assert_eq!(
        r["state"], "firing",
        "restored from the data directory: {r}"
    );
    let _publisher = Publisher::start(&s, &[&[]], 90.0);
    // Several evaluations and notifier ticks after the restart, and still one message.
    wait_for("evaluations after the restart", || {
        let st = get(&s.at("/api/v1/alerts/stats")).json();
        (st["evaluations"].as_u64().unwrap_or(0) >= 3).then_some(())
    });
    assert_eq!(rule(&s, "XHigh")["state"], "firing");
    assert_eq!(hook.hits().len(), 1, "the receiver was not told again");
}
