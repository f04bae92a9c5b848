//! Prometheus end to end, against the real Prometheus and promtool from Debian's
//! `prometheus` package (installed by scripts/setup-test-deps.sh):
//! - Prometheus scrapes itself and remote-writes to Sextant; the series arrive with their
//!   labels, gauges hold the very values Prometheus stored and counters the rates those
//!   values imply;
//! - the same synthetic data is remote-written to Sextant and to a Prometheus with its
//!   remote-write receiver on, and `promtool query instant` / `promtool query range` give
//!   the same answers from both for a table of PromQL expressions;
//! - the requests Grafana's Prometheus data source sends when a dashboard loads.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sextant_e2e::{get, now_ms, post, TestServer};
use sextant_protocols::remote_write::{encode, Label, Sample, TimeSeries, WriteRequest};

/// Longer than the harness's deadline: a remote-write batch follows a scrape by seconds.
const SLOW_DEADLINE: Duration = Duration::from_secs(90);

fn wait_long<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < SLOW_DEADLINE,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A scratch directory removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("sextant-e2e-prom-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running Prometheus, killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn tool(name: &str) -> PathBuf {
    let p = PathBuf::from("/usr/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing; run scripts/setup-test-deps.sh to install Debian's prometheus",
        p.display()
    );
    p
}

/// Starts Prometheus with `config` (YAML text; `PORT` is replaced by its own port).
fn start_prometheus(name: &str, config: &str, extra: &[&str]) -> Prometheus {
    let dir = TempDir::new(name);
    let port = free_port();
    let file = dir.0.join("prometheus.yml");
    std::fs::write(&file, config.replace("PORT", &port.to_string())).expect("write config");
    let child = Command::new(tool("prometheus"))
        .arg(format!("--config.file={}", file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.0.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let p = Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    wait_long("prometheus to be ready", || {
        let ready = ureq::get(&format!("{}/-/ready", p.url)).call();
        matches!(ready, Ok(r) if r.status() == 200).then_some(())
    });
    p
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `data.result` of a query against a Prometheus API root (`.../api/v1/<what>?...`).
fn api(root: &str, what: &str, params: &[(&str, String)]) -> Value {
    let q: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    let a = get(&format!("{root}/api/v1/{what}?{}", q.join("&")));
    assert_eq!(a.status, 200, "{what} {params:?}: {}", a.body);
    a.json()["data"].clone()
}

type Key = BTreeMap<String, String>;

/// `(labels, [(time ms, value)])` of a matrix.
fn matrix(data: &Value) -> Vec<(Key, Vec<(i64, f64)>)> {
    data["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| {
                    let labels: Key =
                        serde_json::from_value(s["metric"].clone()).unwrap_or_default();
                    let points = s["values"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .map(|p| {
                                    let t = (p[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
                                    let v = p[1].as_str().and_then(|v| v.parse().ok());
                                    (t, v.unwrap_or(f64::NAN))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (labels, points)
                })
                .collect()
        })
        .unwrap_or_default()
}

const STEP_S: i64 = 5;

#[test]
fn prometheus_scrapes_itself_and_remote_writes_into_sextant() {
    let sextant = TestServer::start(&["--step", "5s"]);
    let config = format!(
        "global:\n  scrape_interval: {STEP_S}s\n\
         scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: [\"127.0.0.1:PORT\"]\n\
         remote_write:\n  - url: {}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n",
        sextant.url
    );
    let prom = start_prometheus("scrape", &config, &[]);
    let sx = sextant.at("/prometheus");

    // `up` arrives with its labels, the instance's `:` intact through the label rule.
    let up = wait_long("up in Sextant", || {
        let r = api(&sx, "query", &[("query", "up".into())]);
        r["result"].as_array().filter(|a| !a.is_empty()).cloned()
    });
    assert_eq!(
        up[0]["metric"],
        serde_json::json!({"__name__": "up", "instance": prom.url.trim_start_matches("http://"), "job": "prometheus"})
    );
    assert_eq!(up[0]["value"][1], "1");

    // Gauges: every sample Prometheus stored is the value of the step it falls in.
    let gauges = r#"{__name__=~"go_goroutines|prometheus_tsdb_head_series|process_resident_memory_bytes|go_memstats_heap_objects"}"#;
    let step = STEP_S * 1000;
    let compared = wait_long("six steps of gauges in both", || {
        let raw = api(&prom.url, "query", &[("query", format!("{gauges}[2m]"))]);
        let raw = matrix(&raw);
        let newest = raw.iter().flat_map(|s| s.1.iter().map(|p| p.0)).max()?;
        let oldest = raw.iter().flat_map(|s| s.1.iter().map(|p| p.0)).min()?;
        let start = (oldest / step + 1) * step;
        let end = (newest / step + 1) * step;
        let ours = api(
            &sx,
            "query_range",
            &[
                ("query", gauges.to_string()),
                ("start", (start / 1000).to_string()),
                ("end", (end / 1000).to_string()),
                ("step", format!("{STEP_S}s")),
            ],
        );
        let ours: BTreeMap<Key, BTreeMap<i64, f64>> = matrix(&ours)
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect();
        let mut pairs = Vec::new();
        for (labels, samples) in &raw {
            for (i, &(t, v)) in samples.iter().enumerate() {
                let interval = (t + step - 1) / step * step;
                // Only steps holding one sample: a gauge keeps the max of its step.
                let alone = samples
                    .iter()
                    .enumerate()
                    .all(|(j, p)| j == i || (p.0 + step - 1) / step * step != interval);
                if let (true, Some(got)) = (alone, ours.get(labels).and_then(|s| s.get(&interval)))
                {
                    pairs.push((labels.clone(), t, v, *got));
                }
            }
        }
        (pairs.len() >= 4 * 6).then_some(pairs)
    });
    for (labels, t, want, got) in &compared {
        assert_eq!(got, want, "{labels:?} at {t}");
    }

    // A counter: Sextant stores the rate its samples imply, spread over the steps by
    // time as Atlas does; recompute that from Prometheus's raw samples.
    let counter = r#"prometheus_http_requests_total{handler="/metrics"}"#;
    let checked = wait_long("a counter's rates in Sextant", || {
        let raw = matrix(&api(
            &prom.url,
            "query",
            &[("query", format!("{counter}[2m]"))],
        ));
        let samples = raw.first()?.1.clone();
        let (first, last) = (samples.first()?.0, samples.last()?.0);
        let start = (first / step + 2) * step;
        let end = last / step * step;
        let ours = matrix(&api(
            &sx,
            "query_range",
            &[
                ("query", counter.to_string()),
                ("start", (start / 1000).to_string()),
                ("end", (end / 1000).to_string()),
                ("step", format!("{STEP_S}s")),
            ],
        ));
        let ours: BTreeMap<i64, f64> = ours.first()?.1.iter().copied().collect();
        // A step is complete once the sample after it has arrived (samples come in
        // order): compare only steps two before the newest one Sextant has.
        let complete = *ours.keys().next_back()? - 2 * step;
        let mut out = Vec::new();
        let mut t_end = start;
        while t_end <= end.min(complete) {
            let (lo, hi) = (t_end - step, t_end);
            let mut expected = 0.0;
            for w in samples.windows(2) {
                let (a, b) = (w[0], w[1]);
                let rate = ((b.1 - a.1).max(0.0)) / ((b.0 - a.0) as f64 / 1000.0);
                let overlap = (hi.min(b.0) - lo.max(a.0)).max(0);
                expected += rate * overlap as f64 / step as f64;
            }
            if let Some(got) = ours.get(&t_end) {
                out.push((t_end, expected, *got));
            }
            t_end += step;
        }
        (out.len() >= 4).then_some(out)
    });
    for (t, want, got) in checked {
        assert!(
            (want - got).abs() <= 1e-9 * want.abs().max(1.0),
            "at {t}: {got} != {want}"
        );
    }
}

/// One synthetic series: labels, and its value at sample `k`.
struct Synthetic {
    labels: Vec<(&'static str, &'static str)>,
    value: Box<dyn Fn(i64) -> f64>,
}

fn synthetic() -> Vec<Synthetic> {
    let s = |labels: Vec<(&'static str, &'static str)>, f: Box<dyn Fn(i64) -> f64>| Synthetic {
        labels,
        value: f,
    };
    let step = 15.0;
    vec![
        // Gauges: linear (so delta and deriv, which Prometheus extrapolates, agree).
        s(
            vec![("__name__", "temp"), ("site", "a:1"), ("room", "r1")],
            Box::new(|k| 20.0 + 0.01 * k as f64),
        ),
        s(
            vec![("__name__", "temp"), ("site", "a:1"), ("room", "r2")],
            Box::new(|k| 25.0 + 0.02 * k as f64),
        ),
        s(
            vec![("__name__", "temp"), ("site", "b:2"), ("room", "r1")],
            Box::new(|k| 30.0 - 0.015 * k as f64),
        ),
        s(
            vec![("__name__", "temp"), ("site", "b:2"), ("room", "r3")],
            Box::new(|k| 15.0 + 0.05 * k as f64),
        ),
        // A gauge that is not linear: every third sample 1.
        s(
            vec![("__name__", "load"), ("host", "h1")],
            Box::new(|k| if k % 3 == 0 { 1.0 } else { 0.0 }),
        ),
        // Counters at constant rates (2, 0.5 and 5 per second).
        s(
            vec![
                ("__name__", "requests_total"),
                ("code", "200"),
                ("path", "/a"),
            ],
            Box::new(move |k| 1000.0 + 2.0 * step * k as f64),
        ),
        s(
            vec![
                ("__name__", "requests_total"),
                ("code", "500"),
                ("path", "/a"),
            ],
            Box::new(move |k| 500.0 + 0.5 * step * k as f64),
        ),
        s(
            vec![
                ("__name__", "requests_total"),
                ("code", "200"),
                ("path", "/b"),
            ],
            Box::new(move |k| 100.0 + 5.0 * step * k as f64),
        ),
        // A histogram: cumulative buckets at 1, 3, 3.5 and 4 per second.
        s(
            vec![("__name__", "lat_bucket"), ("le", "0.1")],
            Box::new(move |k| step * k as f64),
        ),
        s(
            vec![("__name__", "lat_bucket"), ("le", "0.5")],
            Box::new(move |k| 3.0 * step * k as f64),
        ),
        s(
            vec![("__name__", "lat_bucket"), ("le", "1")],
            Box::new(move |k| 3.5 * step * k as f64),
        ),
        s(
            vec![("__name__", "lat_bucket"), ("le", "+Inf")],
            Box::new(move |k| 4.0 * step * k as f64),
        ),
        s(
            vec![("__name__", "lat_count")],
            Box::new(move |k| 4.0 * step * k as f64),
        ),
        s(
            vec![("__name__", "lat_sum")],
            Box::new(move |k| 1.2 * step * k as f64),
        ),
    ]
}

/// `(expression, also as a range query)`: topk/bottomk rank whole lines in Sextant (the
/// last value), per step in Prometheus, so only their instant answers agree.
const EXPRESSIONS: &[(&str, bool)] = &[
    ("temp", true),
    (r#"temp{site="a:1"}"#, true),
    (r#"temp{room=~"r[12]"}"#, true),
    (r#"temp{room!="r1"}"#, true),
    (r#"temp{room!~"r1|r3"}"#, true),
    (r#"{__name__="temp", site=~"b:.*"}"#, true),
    ("sum(temp)", true),
    ("sum by (room) (temp)", true),
    ("sum without (site) (temp)", true),
    ("avg by (room) (temp)", true),
    ("min(temp)", true),
    ("max by (site) (temp)", true),
    ("count(temp)", true),
    ("quantile(0.5, temp)", true),
    ("quantile by (room) (0.9, temp)", true),
    ("stddev(temp)", true),
    ("stdvar by (site) (temp)", true),
    ("group by (room) (temp)", true),
    ("temp * 2", true),
    ("100 - temp", true),
    ("temp / 4", true),
    ("temp ^ 2", true),
    ("-temp", true),
    ("temp > 25", true),
    ("temp > bool 25", true),
    ("30 > temp", true),
    ("load == 1", true),
    ("load != 1", true),
    ("rate(requests_total[5m])", true),
    ("irate(requests_total[5m])", true),
    ("increase(requests_total[5m])", true),
    ("sum(rate(requests_total[5m]))", true),
    ("sum by (code) (rate(requests_total[5m]))", true),
    ("max by (path) (rate(requests_total[5m]))", true),
    (
        r#"rate(requests_total{code="500"}[5m]) / ignoring(code) rate(requests_total{code="200"}[5m])"#,
        true,
    ),
    (
        r#"sum by (path) (rate(requests_total{code="200"}[5m])) / on(path) sum by (path) (rate(requests_total[5m]))"#,
        true,
    ),
    (r#"temp{site="a:1"} - on(room) temp{site="b:2"}"#, true),
    ("avg_over_time(temp[5m])", true),
    ("max_over_time(load[5m])", true),
    ("min_over_time(temp[5m])", true),
    ("sum_over_time(load[5m])", true),
    ("count_over_time(temp[5m])", true),
    ("delta(temp[5m])", true),
    ("idelta(temp[5m])", true),
    ("deriv(temp[5m])", true),
    ("temp offset 5m", true),
    ("abs(temp - 22)", true),
    ("sqrt(temp)", true),
    ("exp(temp / 10)", true),
    ("clamp_max(temp, 25)", true),
    ("clamp_min(temp, 25)", true),
    ("clamp(temp, 18, 26)", true),
    ("sgn(temp - 25)", true),
    (
        r#"sum(rate(requests_total{code="404"}[5m])) or vector(0)"#,
        true,
    ),
    ("temp and temp > 25", true),
    (
        r#"label_replace(temp, "place", "$1", "site", "(.*):.*")"#,
        true,
    ),
    (
        r#"label_replace(sum by (site) (temp), "site", "", "site", "b.*")"#,
        true,
    ),
    ("temp unless temp > 25", true),
    ("temp > 26 or temp < 18", true),
    (
        r#"rate(requests_total[5m]) and on(path) rate(requests_total{code="500"}[5m])"#,
        true,
    ),
    ("temp * scalar(load)", true),
    (
        "histogram_quantile(0.9, sum by (le) (rate(lat_bucket[5m])))",
        true,
    ),
    ("histogram_quantile(0.5, rate(lat_bucket[5m]))", true),
    ("rate(lat_sum[5m]) / rate(lat_count[5m])", true),
    (r#"absent(nothing{job="x"})"#, true),
    ("absent(temp)", true),
    ("vector(3)", true),
    ("time()", true),
    ("topk(2, temp)", false),
    ("bottomk(1, temp)", false),
];

/// promtool's JSON answer for `args`.
fn promtool(args: &[String]) -> Value {
    let out = Command::new(tool("promtool"))
        .arg("query")
        .arg("-o")
        .arg("json")
        .args(args)
        .output()
        .expect("promtool runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "promtool {args:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("promtool {args:?}: {e}: {text}"))
}

/// Sorted `(labels, [(time, value)])` of a promtool answer (vector, matrix or scalar).
fn normalise(v: &Value) -> Vec<(Key, Vec<(f64, f64)>)> {
    let point = |p: &Value| {
        (
            p[0].as_f64().unwrap_or(f64::NAN),
            p[1].as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN),
        )
    };
    let mut out: Vec<(Key, Vec<(f64, f64)>)> = match v {
        Value::Array(items) if items.first().is_some_and(|i| !i.is_object()) => {
            vec![(Key::new(), vec![point(v)])]
        }
        Value::Array(items) => items
            .iter()
            .map(|s| {
                let labels: Key = serde_json::from_value(s["metric"].clone()).unwrap_or_default();
                let points = match s.get("values") {
                    Some(Value::Array(ps)) => ps.iter().map(point).collect(),
                    _ => vec![point(&s["value"])],
                };
                (labels, points)
            })
            .collect(),
        _ => Vec::new(),
    };
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn promtool_answers_match_a_real_prometheus_on_the_same_data() {
    let step = 15_000;
    let sextant = TestServer::start(&["--step", "15s", "--max-age", "1h"]);
    let prom = start_prometheus(
        "receiver",
        "global:\n  scrape_interval: 1m\n",
        &["--web.enable-remote-write-receiver"],
    );
    // 40 minutes of samples, each a second before a step boundary, the newest a step ago.
    let end = now_ms() / step * step - step;
    let n = 160;
    let first = end - n * step;
    let series: Vec<TimeSeries> = synthetic()
        .into_iter()
        .map(|s| TimeSeries {
            labels: s
                .labels
                .iter()
                .map(|(k, v)| Label {
                    name: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: (1..=n)
                .map(|k| Sample {
                    timestamp: first + k * step - 1000,
                    value: (s.value)(k),
                })
                .collect(),
            histograms: Vec::new(),
        })
        .collect();
    let body = encode(&WriteRequest { timeseries: series });
    let headers = [
        ("content-type", "application/x-protobuf"),
        ("content-encoding", "snappy"),
        ("x-prometheus-remote-write-version", "0.1.0"),
    ];
    for url in [
        sextant.at("/api/v1/write"),
        format!("{}/api/v1/write", prom.url),
    ] {
        let a = post(&url, &headers, &body);
        assert!(
            a.status == 204 || a.status == 200,
            "{url}: {} {}",
            a.status,
            a.body
        );
    }

    let sx = sextant.at("/prometheus");
    // The newest step is not complete in Sextant: the rate of its last second comes from a
    // sample that was never sent. Ask one step earlier.
    let t_end = ((end - step) / 1000).to_string();
    let t_start = ((end - step - 20 * 60_000) / 1000).to_string();
    let (mut compared, mut with_data, mut empty) = (0, 0, Vec::new());
    for (expr, range) in EXPRESSIONS {
        let mut runs = vec![vec!["instant".to_string(), format!("--time={t_end}")]];
        if *range {
            runs.push(vec![
                "range".to_string(),
                format!("--start={t_start}"),
                format!("--end={t_end}"),
                "--step=1m".to_string(),
            ]);
        }
        for run in runs {
            let ask = |server: &str| {
                let mut args = run.clone();
                // `--` so an expression starting with `-` is not read as a flag.
                args.push("--".to_string());
                args.push(server.to_string());
                args.push(expr.to_string());
                normalise(&promtool(&args))
            };
            let (want, got) = (ask(&prom.url), ask(&sx));
            let labels =
                |x: &[(Key, Vec<(f64, f64)>)]| x.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
            assert_eq!(labels(&got), labels(&want), "{} {expr}: labels", run[0]);
            for ((l, g), (_, w)) in got.iter().zip(&want) {
                assert_eq!(
                    g.len(),
                    w.len(),
                    "{} {expr} {l:?}: points {g:?} vs {w:?}",
                    run[0]
                );
                for (gp, wp) in g.iter().zip(w) {
                    assert!(
                        same(gp.0, wp.0) && same(gp.1, wp.1),
                        "{} {expr} {l:?}: Sextant {gp:?}, Prometheus {wp:?}",
                        run[0]
                    );
                }
            }
            compared += 1;
            if want.is_empty() {
                empty.push(format!("{} {expr}", run[0]));
            } else {
                with_data += 1;
            }
        }
    }
    // Every answer but these holds data (at the instant, load is 1).
    assert!(compared >= 100, "{compared} comparisons");
    assert_eq!(
        empty,
        [
            "instant load != 1",
            "instant absent(temp)",
            "range absent(temp)"
        ]
    );
    assert_eq!(with_data, compared - 3);
}

#[test]
fn the_requests_grafana_sends_when_a_dashboard_loads() {
    let sextant = TestServer::start(&["--step", "15s"]);
    let now = now_ms();
    let series = vec![TimeSeries {
        labels: vec![
            Label {
                name: "__name__".into(),
                value: "node_load1".into(),
            },
            Label {
                name: "instance".into(),
                value: "host:9100".into(),
            },
            Label {
                name: "job".into(),
                value: "node".into(),
            },
        ],
        samples: vec![Sample {
            timestamp: now - 1000,
            value: 0.5,
        }],
        histograms: Vec::new(),
    }];
    let body = encode(&WriteRequest { timeseries: series });
    let a = post(
        &sextant.at("/api/v1/write"),
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "snappy"),
        ],
        &body,
    );
    assert_eq!(a.status, 204, "{}", a.body);
    let root = sextant.at("/prometheus/api/v1");
    let (start, end) = ((now - 3_600_000) / 1000, now / 1000 + 60);
    let form = [("content-type", "application/x-www-form-urlencoded")];

    // Save & test: Grafana runs `1+1` as its health check, then asks buildinfo which API
    // it talks to.
    let health = get(&format!(
        "{root}/query?query={}&time={}",
        urlencode("1+1"),
        now / 1000
    ));
    assert_eq!(
        health.json()["data"],
        serde_json::json!({"resultType": "scalar", "result": [now / 1000, "2"]}),
        "{}",
        health.body
    );
    let b = get(&format!("{root}/status/buildinfo")).json();
    assert_eq!(b["status"], "success");
    assert!(
        b["data"]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.")),
        "{b}"
    );

    // Query editor: label names, metric names, series and metadata.
    let labels = post(
        &format!("{root}/labels"),
        &form,
        format!("start={start}&end={end}").as_bytes(),
    );
    assert_eq!(labels.status, 200, "{}", labels.body);
    let names = labels.json()["data"].clone();
    for want in ["__name__", "instance", "job"] {
        assert!(
            names
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n == want)),
            "{names}"
        );
    }
    let values = get(&format!(
        "{root}/label/__name__/values?start={start}&end={end}"
    ))
    .json();
    assert!(
        values["data"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n == "node_load1")),
        "{values}"
    );
    let inst = get(&format!(
        "{root}/label/instance/values?match[]={}&start={start}&end={end}",
        urlencode("node_load1{job=\"node\"}")
    ))
    .json();
    assert_eq!(inst["data"], serde_json::json!(["host:9100"]));
    let s = post(
        &format!("{root}/series"),
        &form,
        format!(
            "match[]={}&start={start}&end={end}",
            urlencode("node_load1")
        )
        .as_bytes(),
    );
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(
        s.json()["data"],
        serde_json::json!([{"__name__": "node_load1", "instance": "host:9100", "job": "node"}])
    );
    let m = get(&format!("{root}/metadata")).json();
    assert_eq!(m["status"], "success");

    // A panel: query_range as a POST form with Grafana's parameters.
    let q = post(
        &format!("{root}/query_range"),
        &form,
        format!(
            "query={}&start={start}&end={end}&step=15",
            urlencode("sum by (instance) (node_load1)")
        )
        .as_bytes(),
    );
    assert_eq!(q.status, 200, "{}", q.body);
    let data = q.json()["data"].clone();
    assert_eq!(data["resultType"], "matrix");
    assert_eq!(
        data["result"][0]["metric"],
        serde_json::json!({"instance": "host:9100"})
    );
    assert_eq!(data["result"][0]["values"][0][1], "0.5");
    // An instant query (table panels, stat panels).
    let i = post(
        &format!("{root}/query"),
        &form,
        format!("query=node_load1&time={}", now / 1000 + 1).as_bytes(),
    );
    assert_eq!(i.json()["data"]["resultType"], "vector", "{}", i.body);

    // Errors in Prometheus's shape: Grafana shows `error`.
    let e = post(
        &format!("{root}/query_range"),
        &form,
        format!("query=holt_winters_fake(node_load1)&start={start}&end={end}&step=15").as_bytes(),
    );
    assert_eq!(e.status, 400, "{}", e.body);
    let e = e.json();
    assert_eq!(e["status"], "error");
    assert_eq!(e["errorType"], "bad_data");
    let e = post(
        &format!("{root}/query_range"),
        &form,
        format!("query=count_values(\"v\", node_load1)&start={start}&end={end}&step=15").as_bytes(),
    );
    assert_eq!(e.status, 400);
    assert_eq!(
        e.json()["error"],
        "aggregation count_values at position 0 is not supported by Sextant (see docs/promql.md)"
    );
    // The Atlas API is where it was.
    assert_eq!(get(&sextant.at("/api/v1/tags")).status, 200);
}
