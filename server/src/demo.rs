//! Synthetic demo data, so a newcomer running `sextant serve --demo` sees realistic lines
//! at once: request rates with a daily shape and noise, latencies, CPU gauges, error
//! counts with bursts and a percentile timer, over several apps, regions and nodes.
//!
//! Every value is a pure function of the series and the timestamp (noise comes from a
//! hash), so the backfilled history and the live feed join without a seam.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use sextant_store::Store;

const APPS: [(&str, f64); 3] = [("www", 120.0), ("api", 300.0), ("db", 40.0)];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const NODES_PER_CLUSTER: usize = 4;
/// Percentile buckets reported by the demo timer: this many buckets either side of the
/// bucket of [`TYPICAL_LATENCY_NS`].
const PERCENTILE_SPREAD: usize = 20;
/// The latency the demo timer's distribution centres on: 40 ms.
const TYPICAL_LATENCY_NS: i64 = 40_000_000;
const DAY_MS: f64 = 86_400_000.0;

type Tags = Vec<(String, String)>;

struct DemoSeries {
    tags: Tags,
    seed: u64,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    /// CPU percent of a node: gauge.
    Cpu { base: f64 },
    /// Requests per second of a status class: rate.
    Requests { base: f64, share: f64, bursty: bool },
    /// Total latency seconds per second: rate.
    LatencyTotal { base: f64 },
    /// Max latency in the step: gauge.
    LatencyMax,
    /// Per-bucket event rate of a percentile timer: rate.
    Bucket { base: f64, bucket: usize },
}

/// The demo feed over a store.
pub struct Demo {
    store: Arc<Store>,
    series: Vec<DemoSeries>,
}

fn noise(seed: u64, t: i64) -> f64 {
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(&t.to_le_bytes(), seed);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// 1.0 at the daily mean, higher by day, lower by night.
fn daily(t: i64) -> f64 {
    let phase = (t as f64 % DAY_MS) / DAY_MS * std::f64::consts::TAU;
    1.0 + 0.45 * (phase - 2.2).sin()
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl Kind {
    fn value(self, seed: u64, t: i64) -> f64 {
        let n = noise(seed, t);
        match self {
            Kind::Cpu { base } => round2((base * daily(t) + 10.0 * (n - 0.5)).clamp(0.0, 100.0)),
            Kind::Requests {
                base,
                share,
                bursty,
            } => {
                // Errors come in bursts: a few minutes in an hour are twenty times worse.
                let burst = if bursty && noise(seed ^ 0xB0B, t / 300_000) > 0.85 {
                    20.0
                } else {
                    1.0
                };
                // Integer events per minute, reported per second, as a real counter would.
                (base * share * daily(t) * burst * 60.0 * (0.9 + 0.2 * n)).round() / 60.0
            }
            Kind::LatencyTotal { base } => round2(base * daily(t) * (0.04 + 0.02 * n)),
            Kind::LatencyMax => round2(0.1 + 0.9 * n * n),
            Kind::Bucket { base, bucket } => {
                // A log-normal-ish shape centred on the bucket of the typical latency.
                let d = bucket as f64 - sextant_query::bucket_index(TYPICAL_LATENCY_NS) as f64;
                let weight = (-(d * d) / 60.0).exp();
                (base * daily(t) * weight * 60.0 * (0.8 + 0.4 * n)).round() / 60.0
            }
        }
    }
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    let mut t: Tags = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    t.sort();
    t
}

impl Demo {
    /// The demo series over `store` (none written yet).
    pub fn new(store: Arc<Store>) -> Demo {
        let mut series = Vec::new();
        let mut add = |tags: Tags, kind: Kind| {
            let seed = sextant_store::identity(&tags) as u64;
            series.push(DemoSeries { tags, seed, kind });
        };
        for (app, rps) in APPS {
            for region in REGIONS {
                for n in 0..NODES_PER_CLUSTER {
                    let node = format!("i-{app}-{region}-{n:02}");
                    let cluster = format!("{app}-main");
                    let base = |name: &str, extra: &[(&str, &str)]| {
                        let mut t = vec![
                            ("name", name),
                            ("nf.app", app),
                            ("nf.cluster", cluster.as_str()),
                            ("nf.region", region),
                            ("nf.node", node.as_str()),
                        ];
                        t.extend_from_slice(extra);
                        tags(&t)
                    };
                    let cpu = 20.0 + 10.0 * n as f64;
                    add(
                        base("ssCpuUser", &[("atlas.dstype", "gauge")]),
                        Kind::Cpu { base: cpu },
                    );
                    add(
                        base("ssCpuSystem", &[("atlas.dstype", "gauge")]),
                        Kind::Cpu { base: cpu / 4.0 },
                    );
                    for (status, share, bursty) in [
                        ("2xx", 0.95, false),
                        ("4xx", 0.04, false),
                        ("5xx", 0.01, true),
                    ] {
                        add(
                            base(
                                "server.requestCount",
                                &[("status", status), ("statistic", "count")],
                            ),
                            Kind::Requests {
                                base: rps,
                                share,
                                bursty,
                            },
                        );
                    }
                    add(
                        base("server.requestLatency", &[("statistic", "totalTime")]),
                        Kind::LatencyTotal { base: rps },
                    );
                    add(
                        base("server.requestLatency", &[("statistic", "count")]),
                        Kind::Requests {
                            base: rps,
                            share: 1.0,
                            bursty: false,
                        },
                    );
                    add(
                        base(
                            "server.requestLatency",
                            &[("atlas.dstype", "gauge"), ("statistic", "max")],
                        ),
                        Kind::LatencyMax,
                    );
                    if app == "api" {
                        let centre = sextant_query::bucket_index(TYPICAL_LATENCY_NS);
                        for bucket in
                            centre.saturating_sub(PERCENTILE_SPREAD)..centre + PERCENTILE_SPREAD
                        {
                            let label = format!("T{bucket:04X}");
                            add(
                                base(
                                    "server.ptime",
                                    &[("percentile", &label), ("statistic", "percentile")],
                                ),
                                Kind::Bucket { base: rps, bucket },
                            );
                        }
                    }
                }
            }
        }
        Demo { store, series }
    }

    /// Number of demo series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when there are no demo series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    fn write_step(&self, t: i64) -> usize {
        let mut written = 0;
        for s in &self.series {
            if self
                .store
                .write(&s.tags, t, s.kind.value(s.seed, t))
                .is_ok()
            {
                written += 1;
            }
        }
        written
    }

    /// Writes the history up to `now` (the whole retention, at most a day) and returns how
    /// many datapoints it wrote.
    pub fn backfill(&self, now: i64) -> usize {
        let step = self.store.config().step_ms.max(1);
        let span = self.store.config().retention_ms.min(DAY_MS as i64);
        let last = now - now.rem_euclid(step);
        let mut t = last - span + step;
        let mut written = 0;
        while t <= last {
            written += self.write_step(t);
            t += step;
        }
        self.store.maintain(now);
        written
    }

    /// Writes one step of values at every step boundary, forever.
    pub async fn run(self, clock: Arc<dyn Clock>) {
        let step = self.store.config().step_ms.max(1);
        let mut last = {
            let now = clock.now_ms();
            now - now.rem_euclid(step)
        };
        loop {
            let now = clock.now_ms();
            let next = last + step;
            if now < next {
                tokio::time::sleep(Duration::from_millis((next - now) as u64)).await;
                continue;
            }
            // After a stall, catch up every missed step rather than leave holes.
            let mut t = next;
            while t <= now {
                self.write_step(t);
                t += step;
            }
            last = t - step;
        }
    }
}

/// The dashboards the demo ships: a service overview (request rate, errors, latency,
/// CPU, with a `$app` variable) and the server's own health (`nf.app=sextant`).
pub fn dashboards() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let app = "nf.app,$app,:eq,:and";
    let req = format!("name,server.requestCount,:eq,{app}");
    let lat = format!("name,server.requestLatency,:eq,{app}");
    let own = |name: &str| format!("nf.app,sextant,:eq,name,{name},:eq,:and");
    let overview = json!({
        "title": "Service overview",
        "variables": [{"name": "app", "key": "nf.app", "q": "name,server.requestCount,:eq"}],
        "graphs": [
            {"title": "Requests per second by status", "w": 500, "h": 200,
             "q": format!("{req},(,status,),:by,:stack")},
            {"title": "Errors: share of 5xx responses (%)", "w": 500, "h": 200,
             "q": format!("{req},status,5xx,:eq,:and,:sum,{req},:sum,:div,100,:mul,5xx %,:legend")},
            {"title": "Average latency (s) by region", "w": 500, "h": 200,
             "q": format!("{lat},statistic,totalTime,:eq,:and,(,nf.region,),:by,\
                           {lat},statistic,count,:eq,:and,(,nf.region,),:by,:div,$nf.region,:legend")},
            {"title": "Max latency (s) by region", "w": 500, "h": 200,
             "q": format!("{lat},statistic,max,:eq,:and,:max,(,nf.region,),:by,$nf.region,:legend")},
            {"title": "Latency percentiles of the api (percentile timer)", "w": 500, "h": 200,
             "q": "name,server.ptime,:eq,nf.app,api,:eq,:and,(,50,90,99,),:percentiles,p$percentile,:legend"},
            {"title": "User CPU (%) by node", "w": 500, "h": 200,
             "q": format!("name,ssCpuUser,:eq,{app},(,nf.node,),:by,$nf.node,:legend")},
        ],
    });
    let health = json!({
        "title": "Sextant self-monitoring",
        "graphs": [
            {"title": "Ingest: samples per second by result", "w": 500, "h": 200,
             "q": format!("{},(,result,),:by,:stack,$result,:legend", own("sextant.ingest.samples"))},
            {"title": "Publish: datapoints per second", "w": 500, "h": 200,
             "q": format!("{},(,result,),:by,$result,:legend", own("sextant.publish.datapoints"))},
            {"title": "Live series", "w": 500, "h": 200,
             "q": format!("{},:max,series,:legend", own("sextant.store.series"))},
            {"title": "Memory (bytes)", "w": 500, "h": 200,
             "q": format!("{},:max,resident,:legend,{},:max,series and index,:legend,{},:max,sealed blocks,:legend",
                          own("sextant.process.residentBytes"), own("sextant.store.memoryBytes"),
                          own("sextant.store.sealedBytes"))},
            {"title": "Graph query latency percentiles", "w": 500, "h": 200,
             "q": format!("{},(,50,90,99,),:percentiles,p$percentile,:legend", own("sextant.query.latency"))},
        ],
    });
    vec![("service-overview", overview), ("sextant-self", health)]
}

/// Saves the demo's [`dashboards`] that do not exist yet: a dashboard a user changed or
/// deleted and re-created is left as it is.
pub fn install_dashboards(store: &crate::dashboard::DashboardStore) {
    for (name, doc) in dashboards() {
        if !matches!(
            store.get(name),
            Err(crate::dashboard::DashboardError::NotFound(_))
        ) {
            continue;
        }
        if let Err(e) = store.put(name, doc.to_string().as_bytes()) {
            tracing::warn!(dashboard = name, error = %e, "demo dashboard not saved");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_query::{Database, Query, ScanRequest};
    use sextant_store::StoreConfig;

    #[test]
    fn backfill_fills_every_series_with_finite_values() {
        let store = Arc::new(Store::new(StoreConfig {
            step_ms: 60_000,
            retention_ms: 3_600_000,
            ..StoreConfig::default()
        }));
        let demo = Demo::new(store.clone());
        let now = 1_700_000_000_000;
        let written = demo.backfill(now);
        assert_eq!(store.len(), demo.len());
        assert_eq!(written, demo.len() * 60);
        assert!(
            demo.len() >= 200,
            "a few hundred series, got {}",
            demo.len()
        );
        let end = now - now.rem_euclid(60_000) + 60_000;
        let req = ScanRequest {
            query: &Query::eq("name", "ssCpuUser"),
            start: end - 3_600_000,
            end,
        };
        let mut lines = 0;
        let r = store.scan(&req, &mut |_, values| {
            lines += 1;
            assert!(values
                .iter()
                .all(|v| v.is_finite() && (0.0..=100.0).contains(v)));
            Ok(())
        });
        assert!(r.is_ok());
        assert_eq!(lines, APPS.len() * REGIONS.len() * NODES_PER_CLUSTER);
    }

    #[test]
    fn demo_dashboards_are_valid_and_installed_once() {
        let store = crate::dashboard::DashboardStore::in_memory();
        install_dashboards(&store);
        assert_eq!(
            store.list().expect("list"),
            ["service-overview", "sextant-self"]
        );
        // A user's change survives the next start.
        store
            .put("sextant-self", br#"{"title":"mine","graphs":[]}"#)
            .expect("put");
        install_dashboards(&store);
        assert_eq!(store.get("sextant-self").expect("get")["title"], "mine");
    }
}
