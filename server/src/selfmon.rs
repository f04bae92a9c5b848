//! The server monitors itself: its own meters, kept in a `sextant-meters` registry (which has
//! no publisher), are written into its own store once per step, in-process, so the server's
//! health is one query away (`nf.app,sextant,:eq`). [`SelfMetrics::run`] is that registry's
//! exporter, as the client's HTTP publisher is for a service's.
//!
//! | name | tags | what |
//! |---|---|---|
//! | `sextant.publish.requests` | | publish requests decoded, per second |
//! | `sextant.publish.datapoints` | `result=accepted\|rejected` | datapoints of publish requests, per second |
//! | `sextant.ingest.samples` | `result=stored\|counterPrimed\|duplicate\|outOfOrder\|late\|tooOld\|fromFuture\|seriesLimit\|seriesPerNameLimit` | what the store did with samples, per second |
//! | `sextant.store.series` | | live series (gauge) |
//! | `sextant.store.memoryBytes` | | estimated bytes held by series, tags and index (gauge) |
//! | `sextant.store.sealedBytes` | | encoded bytes of sealed blocks (gauge) |
//! | `sextant.process.residentBytes` | | resident set size of the process (gauge, Linux) |
//! | `sextant.query.latency` | `format` | graph requests: a percentile timer (`:percentiles` works on it) |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sextant_meters::{Gauge, Id, MonotonicCounter, PercentileTimer, Registry, RegistryConfig};

use crate::clock::Clock;
use crate::ingest::IngestService;
use std::borrow::Cow;

use sextant_store::Store;
use sextant_store::{Datapoint, Decoded, IngestCounters};

/// Tag every self-metric carries, so one clause finds them all.
const APP: (&str, &str) = ("nf.app", "sextant");

/// The server's own meters.
#[derive(Clone)]
pub struct SelfMetrics {
    registry: Registry,
    /// In a cluster: this node's id, tagged `nf.node` on every meter, which then goes
    /// through the write path (the stream) like any publish, so every node answers it.
    node: Option<String>,
}

/// One measurement: tags sorted by key, timestamp, value.
type Measured = (Vec<(String, String)>, i64, f64);

/// Where one of the store's sample counters lives.
type StoreCounter = fn(&Store) -> &AtomicU64;

struct Totals {
    publishes: MonotonicCounter,
    accepted: MonotonicCounter,
    rejected: MonotonicCounter,
    samples: Vec<(MonotonicCounter, StoreCounter)>,
    series: Gauge,
    memory: Gauge,
    sealed: Gauge,
    resident: Gauge,
}

fn id(name: &str) -> Id {
    Id::new(name).with_tag(APP.0, APP.1)
}

impl SelfMetrics {
    /// Meters with step `step` (the store's): [`SelfMetrics::run`] writes them into the
    /// store. Fails unless the step is a whole number of milliseconds.
    pub fn new(step: Duration) -> Result<SelfMetrics, sextant_meters::Error> {
        Ok(SelfMetrics {
            registry: Registry::new(RegistryConfig::new(step)?),
            node: None,
        })
    }

    /// The same meters for node `node` of a cluster: tagged with it and published through
    /// the write path instead of written into the local store.
    pub fn for_cluster_node(mut self, node: &str) -> SelfMetrics {
        self.node = Some(node.to_string());
        self
    }

    /// The latency timer of graph requests in `format`.
    pub fn query_latency(&self, format: &str) -> PercentileTimer {
        self.registry.percentile_timer_with_range(
            id("sextant.query.latency").with_tag("format", format),
            Duration::from_micros(100),
            Duration::from_secs(60),
        )
    }

    fn totals(&self) -> Totals {
        let r = &self.registry;
        let result = |name: &str, v: &str| r.monotonic_counter(id(name).with_tag("result", v));
        let samples: Vec<(MonotonicCounter, StoreCounter)> = vec![
            (result("sextant.ingest.samples", "stored"), |s| {
                &s.counters().accepted
            }),
            (result("sextant.ingest.samples", "counterPrimed"), |s| {
                &s.counters().primed
            }),
            (result("sextant.ingest.samples", "duplicate"), |s| {
                &s.counters().duplicate
            }),
            (result("sextant.ingest.samples", "outOfOrder"), |s| {
                &s.counters().out_of_order
            }),
            (result("sextant.ingest.samples", "late"), |s| {
                &s.counters().late
            }),
            (result("sextant.ingest.samples", "tooOld"), |s| {
                &s.counters().too_old
            }),
            (result("sextant.ingest.samples", "fromFuture"), |s| {
                &s.counters().from_future
            }),
            (result("sextant.ingest.samples", "seriesLimit"), |s| {
                &s.counters().series_limit
            }),
            (
                result("sextant.ingest.samples", "seriesPerNameLimit"),
                |s| &s.counters().series_per_name_limit,
            ),
        ];
        Totals {
            publishes: r.monotonic_counter(id("sextant.publish.requests")),
            accepted: result("sextant.publish.datapoints", "accepted"),
            rejected: result("sextant.publish.datapoints", "rejected"),
            samples,
            series: r.gauge(id("sextant.store.series")),
            memory: r.gauge(id("sextant.store.memoryBytes")),
            sealed: r.gauge(id("sextant.store.sealedBytes")),
            resident: r.gauge(id("sextant.process.residentBytes")),
        }
    }

    /// Copies the counters into the meters, and the meters of the step just ended into
    /// the store. Returns how many datapoints were written.
    /// Sets the totals and takes one step's measurements: (tags sorted by key, timestamp,
    /// value).
    fn measure(&self, totals: &Totals, store: &Store, http: &IngestCounters) -> Vec<Measured> {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        totals.publishes.set(load(&http.batches));
        totals.accepted.set(load(&http.datapoints_accepted));
        totals.rejected.set(load(&http.datapoints_rejected));
        for (meter, counter) in &totals.samples {
            meter.set(load(counter(store)));
        }
        let stats = store.stats();
        totals.series.set(stats.series as f64);
        totals.memory.set(stats.memory_bytes as f64);
        totals.sealed.set(stats.sealed_bytes as f64);
        if let Some(rss) = resident_bytes() {
            totals.resident.set(rss as f64);
        }
        let index = self.registry.advance();
        let measured = self
            .registry
            .measure(index)
            .into_iter()
            .map(|m| {
                let mut tags: Vec<(String, String)> =
                    m.id.tags()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                tags.push(("name".into(), m.id.name().to_string()));
                if let Some(node) = &self.node {
                    tags.push(("nf.node".into(), node.clone()));
                }
                tags.sort_unstable();
                (tags, m.timestamp, m.value)
            })
            .collect();
        self.registry.remove_expired(index);
        measured
    }

    /// One step's measurements written into `store`; how many were stored.
    fn collect(&self, totals: &Totals, store: &Store, http: &IngestCounters) -> usize {
        self.measure(totals, store, http)
            .iter()
            .filter(|(tags, ts, v)| store.write(tags, *ts, *v).is_ok())
            .count()
    }

    /// One step's measurements published through `ingest` (a cluster node's stream).
    async fn publish(&self, totals: &Totals, store: &Store, ingest: &IngestService) -> usize {
        let measured =
            tokio::task::block_in_place(|| self.measure(totals, store, ingest.counters()));
        let points = measured
            .into_iter()
            .map(|(tags, timestamp, value)| Datapoint {
                tags: tags
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
                    .collect(),
                timestamp,
                value,
            })
            .collect();
        match ingest
            .apply(Decoded {
                points,
                errors: Vec::new(),
            })
            .await
        {
            Ok(outcome) => outcome.accepted,
            Err(e) => {
                tracing::warn!(error = %e, "self metrics not published");
                0
            }
        }
    }

    /// Every step, just after the boundary, writes the meters into `store`. Runs until the
    /// task is dropped.
    pub async fn run(self, store: Arc<Store>, ingest: Arc<IngestService>, clock: Arc<dyn Clock>) {
        let totals = self.totals();
        let step = store.config().step_ms.max(1);
        loop {
            let now = clock.now_ms();
            // A little past the boundary, so the step has ended for the registry too.
            let next = now - now.rem_euclid(step) + step + step.min(200) / 2;
            tokio::time::sleep(Duration::from_millis((next - now).max(1) as u64)).await;
            // Walking the store for its stats can take a while on a big store.
            let written = if self.node.is_some() {
                self.publish(&totals, &store, &ingest).await
            } else {
                tokio::task::block_in_place(|| self.collect(&totals, &store, ingest.counters()))
            };
            tracing::trace!(written, "self metrics written");
        }
    }
}

/// Resident set size of this process, from /proc (Linux only).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_query::{Database, Query, ScanRequest};
    use sextant_store::StoreConfig;

    #[test]
    fn meters_land_in_the_store_with_the_app_tag() -> Result<(), Box<dyn std::error::Error>> {
        let store = Store::new(StoreConfig {
            step_ms: 1000,
            ..StoreConfig::default()
        });
        let http = IngestCounters::default();
        http.batches.store(5, Ordering::Relaxed);
        let me = SelfMetrics::new(Duration::from_secs(1))?;
        let totals = me.totals();
        me.query_latency("json").record(Duration::from_millis(3));
        assert!(me.collect(&totals, &store, &http) > 0);
        let mut names = Vec::new();
        let q = Query::eq("nf.app", "sextant");
        store.scan(
            &ScanRequest {
                query: &q,
                start: 0,
                end: 1000,
            },
            &mut |tags, _| {
                names.extend(
                    tags.iter()
                        .filter(|(k, _)| *k == "name")
                        .map(|(_, v)| v.to_string()),
                );
                Ok(())
            },
        )?;
        for want in [
            "sextant.store.series",
            "sextant.publish.requests",
            "sextant.query.latency",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
        Ok(())
    }
}
