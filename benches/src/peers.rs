//! The seeded dataset of the peers benchmark (`benches/peers/`): the same series, values and
//! timestamps as an Atlas publish body for Sextant and as Prometheus text (with millisecond
//! timestamps) for VictoriaMetrics and, through vmagent, Prometheus; and the answers the
//! servers must give, computed from the values themselves.
//!
//! Series `i` belongs to host `i / 10` and field `i % 10`. Six fields are gauges and four are
//! counters, so each host publishes both families:
//!
//! | field | name | values |
//! |---|---|---|
//! | `user`, `system`, `iowait`, `steal` | `peers_gauge` | 2-decimal random walk in [0, 100] |
//! | `queue` | `peers_gauge` | integer gauge that changes now and then |
//! | `limit` | `peers_gauge` | constant |
//! | `requests`, `bytesIn`, `bytesOut` | `peers_counter` | monotonic counter of Poisson counts per minute |
//! | `errors` | `peers_counter` | monotonic counter that rarely moves |
//!
//! Every timestamp is a multiple of the one-minute step, so Sextant's gauge (the max per
//! step) is the sample itself, and its counter rate at `T` is `(v(T) - v(T - 1m)) / 60`,
//! which PromQL writes `(peers_counter - peers_counter offset 1m) / 60` (Prometheus's
//! `rate(peers_counter[1m])` gives the same; VictoriaMetrics's `rate` widens its window to
//! two intervals, so it is not used).
//!
//! ```
//! use sextant_benches::peers::Dataset;
//! let d = Dataset { series: 20, points: 5, seed: 1, end_ms: 60_000 * 1000 };
//! let bodies: Vec<_> = d.bodies(30).collect();
//! assert_eq!(bodies.len(), 4); // 100 points in bodies of 30
//! assert_eq!(bodies[0].points, 30);
//! ```

use std::collections::BTreeMap;

use serde::Serialize;

use crate::families::Family;

/// The step of every series, ms.
pub const STEP_MS: i64 = 60_000;

/// Fields of a host, in series order, with their metric name and value family.
const FIELDS: [(&str, Kind, Family); 10] = [
    ("user", Kind::Gauge, Family::Gauge2dp),
    ("system", Kind::Gauge, Family::Gauge2dp),
    ("iowait", Kind::Gauge, Family::Gauge2dp),
    ("steal", Kind::Gauge, Family::Gauge2dp),
    ("queue", Kind::Gauge, Family::IntGauge),
    ("limit", Kind::Gauge, Family::Constant),
    ("requests", Kind::Counter, Family::CountPerMin),
    ("errors", Kind::Counter, Family::SparseErr),
    ("bytesIn", Kind::Counter, Family::CountPerMin),
    ("bytesOut", Kind::Counter, Family::CountPerMin),
];

/// Regions hosts are spread over (`host % REGIONS`).
const REGIONS: usize = 9;

/// Whether a series is sampled or counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `peers_gauge`, `atlas.dstype=gauge`.
    Gauge,
    /// `peers_counter`, `atlas.dstype=counter`; a monotonic count.
    Counter,
}

impl Kind {
    /// The metric name (valid in Atlas and in Prometheus).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gauge => "peers_gauge",
            Kind::Counter => "peers_counter",
        }
    }

    fn dstype(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// The dataset: `series` series of `points` one-minute values each, the last at `end_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    /// Number of series (10 per host).
    pub series: usize,
    /// Values per series.
    pub points: usize,
    /// Seed of every value.
    pub seed: u64,
    /// Timestamp of the last value, epoch ms; rounded down to the step.
    pub end_ms: i64,
}

/// One request body, the same points in both formats.
#[derive(Debug, Clone)]
pub struct Body {
    /// Atlas publish JSON (`POST /api/v1/publish`).
    pub atlas: String,
    /// Prometheus text with ms timestamps (`POST /api/v1/import/prometheus`).
    pub prometheus: String,
    /// Datapoints in the body.
    pub points: usize,
}

/// A question asked of every server, in each one's language, with the answer the values give.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Short name for the table.
    pub name: &'static str,
    /// Atlas stack expression.
    pub atlas: String,
    /// PromQL for VictoriaMetrics and Prometheus.
    pub promql: String,
    /// The tag that names a line of the answer (its group-by key).
    pub by: &'static str,
    /// Each line's values, one per step from the first timestamp; `None` where the line has
    /// no value (a counter's first step).
    pub expected: BTreeMap<String, Vec<Option<f64>>>,
    /// Sum of every value of every line.
    pub expected_sum: f64,
    /// Values (lines × timestamps that have a value) in the answer.
    pub expected_cells: u64,
}

impl Check {
    fn new(
        name: &'static str,
        atlas: String,
        promql: String,
        by: &'static str,
        expected: BTreeMap<String, Vec<Option<f64>>>,
    ) -> Self {
        let values = expected.values().flatten().flatten();
        Check {
            name,
            atlas,
            promql,
            by,
            expected_sum: values.clone().sum(),
            expected_cells: values.count() as u64,
            expected,
        }
    }
}

/// Adds `values` to the line `group` of an expected answer `points` long.
fn add_line(
    answer: &mut BTreeMap<String, Vec<Option<f64>>>,
    group: &str,
    values: impl Iterator<Item = Option<f64>>,
    points: usize,
) {
    let line = answer
        .entry(group.to_string())
        .or_insert_with(|| vec![None; points]);
    for (cell, v) in line.iter_mut().zip(values) {
        if let Some(v) = v {
            *cell = Some(cell.unwrap_or(0.0) + v);
        }
    }
}

/// What the generator wrote, for the orchestration script.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Series.
    pub series: usize,
    /// Values per series.
    pub points: usize,
    /// Seed.
    pub seed: u64,
    /// First and last timestamps, epoch ms.
    pub start_ms: i64,
    /// Last timestamp, epoch ms.
    pub end_ms: i64,
    /// Step, ms.
    pub step_ms: i64,
    /// Datapoints in all bodies.
    pub datapoints: u64,
    /// Datapoints per body (the last may hold fewer).
    pub batch: usize,
    /// Number of bodies.
    pub bodies: usize,
    /// Values Sextant stores: every gauge sample, and every counter sample but the first of
    /// each series (it only primes the rate).
    pub sextant_stored: u64,
    /// The questions, in table order: group-by first.
    pub checks: Vec<Check>,
}

/// The tags of series `i` besides its name and dstype, in a fixed order.
fn tags(i: usize) -> [(&'static str, String); 4] {
    let host = i / 10;
    [
        ("app", format!("app{:02}", host % 20)),
        ("region", format!("r{}", host % REGIONS)),
        ("node", node(host)),
        ("id", FIELDS[i % 10].0.to_string()),
    ]
}

fn node(host: usize) -> String {
    format!("n{host:06}")
}

impl Dataset {
    fn hosts(&self) -> usize {
        self.series.div_ceil(10)
    }

    /// Timestamp of the first value.
    pub fn start_ms(&self) -> i64 {
        self.end() - (self.points as i64 - 1) * STEP_MS
    }

    fn end(&self) -> i64 {
        self.end_ms.div_euclid(STEP_MS) * STEP_MS
    }

    /// The kind of series `i`.
    pub fn kind(&self, i: usize) -> Kind {
        FIELDS[i % 10].1
    }

    /// The values of series `i`, one per step from [`start_ms`](Self::start_ms).
    pub fn values(&self, i: usize) -> Vec<f64> {
        let (_, kind, family) = FIELDS[i % 10];
        let seed = self.seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
        let raw = family.generate(seed, self.points);
        match kind {
            Kind::Gauge => raw,
            Kind::Counter => {
                // Counts per minute (SparseErr is a rate: back to whole counts), added up
                // from an offset so the counter does not start at zero.
                let per_count = if family == Family::SparseErr {
                    60.0
                } else {
                    1.0
                };
                let mut total = (seed % 100_000) as f64;
                raw.iter()
                    .map(|v| {
                        total += (v * per_count).round();
                        total
                    })
                    .collect()
            }
        }
    }

    /// The bodies, `batch` datapoints each: time-major (every series at the first step, then
    /// every series at the next), as a fleet publishes.
    pub fn bodies(&self, batch: usize) -> impl Iterator<Item = Body> + '_ {
        let batch = batch.max(1);
        let values: Vec<Vec<f64>> = (0..self.series).map(|i| self.values(i)).collect();
        let tags: Vec<_> = (0..self.series).map(tags).collect();
        let total = self.series * self.points;
        let start = self.start_ms();
        (0..total.div_ceil(batch)).map(move |b| {
            let range = b * batch..((b + 1) * batch).min(total);
            let mut atlas = String::with_capacity(range.len() * 140);
            let mut prometheus = String::with_capacity(range.len() * 100);
            atlas.push_str(r#"{"tags":{},"metrics":["#);
            for (n, k) in range.clone().enumerate() {
                let (step, i) = (k / self.series, k % self.series);
                let (t, v, kind) = (start + step as i64 * STEP_MS, values[i][step], self.kind(i));
                if n > 0 {
                    atlas.push(',');
                }
                atlas.push_str(r#"{"tags":{"name":""#);
                atlas.push_str(kind.name());
                for (key, value) in &tags[i] {
                    atlas.push_str(&format!(r#"",{key:?}:"{value}"#));
                }
                atlas.push_str(&format!(
                    r#"","atlas.dstype":"{}"}},"timestamp":{t},"value":{v}}}"#,
                    kind.dstype()
                ));
                prometheus.push_str(kind.name());
                prometheus.push('{');
                for (j, (key, value)) in tags[i].iter().enumerate() {
                    if j > 0 {
                        prometheus.push(',');
                    }
                    prometheus.push_str(&format!("{key}=\"{value}\""));
                }
                prometheus.push_str(&format!("}} {v} {t}\n"));
            }
            atlas.push_str("]}");
            Body {
                atlas,
                prometheus,
                points: range.len(),
            }
        })
    }

    /// The manifest of the bodies [`bodies`](Self::bodies)`(batch)` yields, with the
    /// expected answers.
    pub fn manifest(&self, batch: usize) -> Manifest {
        let total = (self.series * self.points) as u64;
        let counters = (0..self.series)
            .filter(|i| self.kind(*i) == Kind::Counter)
            .count() as u64;
        Manifest {
            series: self.series,
            points: self.points,
            seed: self.seed,
            start_ms: self.start_ms(),
            end_ms: self.end(),
            step_ms: STEP_MS,
            datapoints: total,
            batch: batch.max(1),
            bodies: (total as usize).div_ceil(batch.max(1)),
            sextant_stored: total - counters.min(total) * u64::from(self.points > 0),
            checks: self.checks(),
        }
    }

    /// The group-by (gauges summed by region), the counters' rates summed by region, one
    /// node's gauges by field, and the gauges of the nodes a regex selects, summed by node;
    /// each with the values every line must have at every step.
    fn checks(&self) -> Vec<Check> {
        let hosts = self.hosts();
        // Fixed hosts when the dataset has them, so the queries are the same at every scale
        // from 200 series up.
        let one = node(42 % hosts);
        let prefix = if hosts >= 20 {
            "n00001".to_string()
        } else {
            node(0)
        };
        let n = self.points;
        let mut answers: [BTreeMap<String, Vec<Option<f64>>>; 4] = Default::default();
        for i in 0..self.series {
            let tags = tags(i);
            let (region, host, field) = (&tags[1].1, &tags[2].1, &tags[3].1);
            let values = self.values(i);
            match self.kind(i) {
                Kind::Gauge => {
                    let line = || values.iter().map(|v| Some(*v));
                    add_line(&mut answers[0], region, line(), n);
                    if *host == one {
                        add_line(&mut answers[2], field, line(), n);
                    }
                    if host.starts_with(&prefix) {
                        add_line(&mut answers[3], host, line(), n);
                    }
                }
                Kind::Counter => {
                    // The first step has no rate; each later one the delta over 60 s.
                    let rates = std::iter::once(None)
                        .chain(values.windows(2).map(|w| Some((w[1] - w[0]) / 60.0)));
                    add_line(&mut answers[1], region, rates, n);
                }
            }
        }
        let [by_region, rates, by_field, by_node] = answers;
        let (gauge, counter) = (Kind::Gauge.name(), Kind::Counter.name());
        vec![
            Check::new(
                "group-by",
                format!("name,{gauge},:eq,(,region,),:by"),
                format!("sum by (region) ({gauge})"),
                "region",
                by_region,
            ),
            Check::new(
                "counter rates by region",
                format!("name,{counter},:eq,(,region,),:by"),
                // Not rate(): VictoriaMetrics widens a rate's window to take in two
                // samples before T, which averages two intervals; the delta over one step is
                // what Sextant stores and what Prometheus's rate over [1m] gives.
                format!("sum by (region) (({counter} - {counter} offset 1m) / 60)"),
                "region",
                rates,
            ),
            Check::new(
                "single node",
                format!("name,{gauge},:eq,node,{one},:eq,:and,(,id,),:by"),
                format!("sum by (id) ({gauge}{{node=\"{one}\"}})"),
                "id",
                by_field,
            ),
            Check::new(
                "regex",
                format!("name,{gauge},:eq,node,{prefix},:re,:and,(,node,),:by"),
                format!("sum by (node) ({gauge}{{node=~\"{prefix}.*\"}})"),
                "node",
                by_node,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Point = (String, i64, u64);

    fn dataset() -> Dataset {
        Dataset {
            series: 230,
            points: 7,
            seed: 5,
            end_ms: 28_000_000 * STEP_MS + 1234,
        }
    }

    /// Points of an Atlas body as (sorted tags, timestamp, value bits).
    fn atlas_points(body: &str) -> Vec<Point> {
        let v: serde_json::Value = serde_json::from_str(body).expect("valid JSON");
        v["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| {
                let tags: BTreeMap<String, String> = m["tags"]
                    .as_object()
                    .expect("tags")
                    .iter()
                    .filter(|(k, _)| *k != "atlas.dstype")
                    .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_string()))
                    .collect();
                let key = format!("{tags:?}");
                let t = m["timestamp"].as_i64().expect("timestamp");
                let value = m["value"].as_f64().expect("value");
                (key, t, value.to_bits())
            })
            .collect()
    }

    /// Points of a Prometheus text body, parsed by hand: `name{k="v",...} value ts`.
    fn prometheus_points(body: &str) -> Vec<Point> {
        body.lines()
            .map(|line| {
                let (series, rest) = line.split_once("} ").expect("labels end");
                let (name, labels) = series.split_once('{').expect("labels start");
                let mut tags: BTreeMap<String, String> = labels
                    .split(',')
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').expect("label");
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect();
                tags.insert("name".to_string(), name.to_string());
                let (value, t) = rest.split_once(' ').expect("timestamp");
                let value: f64 = value.parse().expect("number");
                (format!("{tags:?}"), t.parse().expect("ms"), value.to_bits())
            })
            .collect()
    }

    #[test]
    fn both_formats_carry_the_same_points_in_the_same_order() {
        let d = dataset();
        let mut all = Vec::new();
        for body in d.bodies(100) {
            let a = atlas_points(&body.atlas);
            assert_eq!(a, prometheus_points(&body.prometheus));
            assert_eq!(a.len(), body.points);
            all.extend(a);
        }
        assert_eq!(all.len(), d.series * d.points);
        // Time-major, every timestamp on the step, from start to end.
        assert!(all.windows(2).all(|w| w[0].1 <= w[1].1));
        assert_eq!(all[0].1, d.start_ms());
        assert_eq!(all[all.len() - 1].1, d.manifest(100).end_ms);
        assert!(all.iter().all(|p| p.1 % STEP_MS == 0));
        let distinct: std::collections::BTreeSet<_> = all.iter().map(|p| (&p.0, p.1)).collect();
        assert_eq!(distinct.len(), all.len(), "one value per series and step");
    }

    #[test]
    fn same_seed_same_values_other_seed_other_values() {
        let d = dataset();
        let again = Dataset { ..d };
        assert_eq!(d.values(17), again.values(17));
        let other = Dataset { seed: 6, ..d };
        assert_ne!(d.values(17), other.values(17));
    }

    #[test]
    fn counters_never_decrease_and_gauges_are_in_range() {
        let d = dataset();
        for i in 0..d.series {
            let v = d.values(i);
            match d.kind(i) {
                Kind::Counter => assert!(v.windows(2).all(|w| w[1] >= w[0]), "series {i}"),
                Kind::Gauge => assert!(v.iter().all(|x| x.is_finite() && *x >= 0.0)),
            }
        }
    }

    #[test]
    fn expected_answers_follow_from_the_values() {
        let d = dataset();
        let m = d.manifest(100);
        assert_eq!(m.datapoints, 230 * 7);
        assert_eq!(m.bodies, (230 * 7usize).div_ceil(100));
        // 23 hosts x 4 counters, whose first samples Sextant does not store.
        assert_eq!(m.sextant_stored, 230 * 7 - 23 * 4);
        let by_region = &m.checks[0];
        let gauges: f64 = (0..d.series)
            .filter(|i| d.kind(*i) == Kind::Gauge)
            .flat_map(|i| d.values(i))
            .sum();
        assert!((by_region.expected_sum - gauges).abs() <= 1e-9 * gauges.abs());
        assert_eq!(by_region.expected_cells, 9 * 7);
        let rates = &m.checks[1];
        let first_to_last: f64 = (0..d.series)
            .filter(|i| d.kind(*i) == Kind::Counter)
            .map(|i| {
                let v = d.values(i);
                (v[v.len() - 1] - v[0]) / 60.0
            })
            .sum();
        assert!((rates.expected_sum - first_to_last).abs() <= 1e-9 * first_to_last);
        assert_eq!(rates.expected_cells, 9 * 6);
        assert_eq!(rates.expected.len(), 9);
        assert!(rates.expected.values().all(|line| line[0].is_none()));
        // Each region's line at each step is the sum of its gauges there.
        let r3: Vec<usize> = (0..d.series)
            .filter(|i| d.kind(*i) == Kind::Gauge && (i / 10) % 9 == 3)
            .collect();
        for step in 0..d.points {
            let want: f64 = r3.iter().map(|i| d.values(*i)[step]).sum();
            let got = by_region.expected["r3"][step].expect("a value at every step");
            assert!((got - want).abs() <= 1e-9 * want.abs(), "step {step}");
        }
        // Node n000019 (42 % 23) has 6 gauge fields; the regex selects hosts 10..=19.
        assert!(m.checks[2].atlas.contains("node,n000019,:eq"));
        assert_eq!(m.checks[2].expected_cells, 6 * 7);
        assert_eq!(m.checks[3].expected_cells, 10 * 7);
    }
}
