//! Step semantics and statistics of every meter, driven by a manual clock through the real
//! registry (no background thread: `enabled(false)`), inspected with `measurements()`.

use std::time::Duration;

use sextant_client::{ConfigBuilder, Id, ManualClock, Measurement, Registry};

const STEP: i64 = 60_000;

fn registry(clock: &ManualClock) -> Registry {
    Registry::new(
        ConfigBuilder::new()
            .enabled(false)
            .step(Duration::from_millis(STEP as u64))
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn find<'a>(ms: &'a [Measurement], name: &str, stat: &str) -> Option<&'a Measurement> {
    ms.iter()
        .find(|m| m.id.name() == name && m.id.tag("statistic") == Some(stat))
}

fn value(r: &Registry, name: &str, stat: &str) -> Option<f64> {
    find(&r.measurements(), name, stat).map(|m| m.value)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn counter_counts_in_a_step_become_a_rate_reported_in_the_next_step() {
    let clock = ManualClock::new(5_000);
    let r = registry(&clock);
    let c = r.counter("requests");
    c.increment_by(30);
    // Still step 0: the completed step (-1) was empty.
    assert_eq!(value(&r, "requests", "count"), Some(0.0));
    clock.set_wall_time(STEP + 10);
    let ms = r.measurements();
    let m = find(&ms, "requests", "count").unwrap();
    assert_eq!(m.value, 0.5, "30 in a 60 s step");
    assert_eq!(
        m.timestamp, STEP,
        "stamped with the boundary that ended the interval"
    );
    assert_eq!(m.id.tag("atlas.dstype"), Some("rate"));
    // Records in step 1 do not show until step 2; the step-1 report is stable.
    c.increment_by(120);
    clock.set_wall_time(2 * STEP - 1);
    assert_eq!(value(&r, "requests", "count"), Some(0.5));
    clock.set_wall_time(2 * STEP);
    assert_eq!(value(&r, "requests", "count"), Some(2.0));
}

#[test]
fn a_gap_of_more_than_one_step_resets() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let c = r.counter("c");
    c.increment_by(60);
    clock.set_wall_time(2 * STEP);
    // Nothing was recorded in step 1, so step 1 reports 0 even though step 0 had 60.
    assert_eq!(value(&r, "c", "count"), Some(0.0));
    c.increment_by(60);
    clock.set_wall_time(3 * STEP);
    assert_eq!(value(&r, "c", "count"), Some(1.0));
}

#[test]
fn counter_ignores_non_positive_and_non_finite_amounts() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let c = r.counter("c");
    c.add(1.5);
    c.add(-4.0);
    c.add(f64::NAN);
    c.add(f64::INFINITY);
    c.increment_by(0);
    c.increment();
    clock.set_wall_time(STEP);
    assert!(close(value(&r, "c", "count").unwrap(), 2.5 / 60.0));
    assert_eq!(c.last_step_total(), 2.5);
}

#[test]
fn counters_from_two_threads_lose_nothing() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let c = r.counter("c");
    std::thread::scope(|s| {
        for _ in 0..2 {
            let c = c.clone();
            s.spawn(move || {
                for _ in 0..100_000 {
                    c.increment();
                }
            });
        }
    });
    clock.set_wall_time(STEP);
    assert_eq!(c.last_step_total(), 200_000.0);
}

#[test]
fn timer_reports_count_total_squares_and_max_in_seconds() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let t = r.timer(Id::new("latency").with_tag("route", "/a"));
    t.record(Duration::from_millis(10));
    t.record(Duration::from_millis(20));
    // Zero counts but adds nothing else, as in Spectator.
    t.record_nanos(0);
    t.record_nanos(-5);
    clock.set_wall_time(STEP);
    let ms = r.measurements();
    let get = |s| find(&ms, "latency", s).unwrap();
    assert!(close(get("count").value, 4.0 / 60.0));
    assert!(close(get("totalTime").value, 0.030 / 60.0));
    assert!(close(
        get("totalOfSquares").value,
        (0.01f64 * 0.01 + 0.02 * 0.02) / 60.0
    ));
    assert!(close(get("max").value, 0.020));
    assert_eq!(get("max").id.tag("atlas.dstype"), Some("gauge"));
    assert_eq!(get("totalTime").id.tag("atlas.dstype"), Some("rate"));
    assert_eq!(get("count").id.tag("route"), Some("_a"));
    // An idle step reports zeros, max included.
    clock.set_wall_time(2 * STEP);
    let ms = r.measurements();
    assert_eq!(find(&ms, "latency", "count").unwrap().value, 0.0);
    assert_eq!(find(&ms, "latency", "max").unwrap().value, 0.0);
}

#[test]
fn timer_helpers_use_the_registry_clock() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let t = r.timer("t");
    {
        let _g = t.start();
        clock.advance(Duration::from_millis(7));
    }
    let out = t.time(|| {
        clock.advance(Duration::from_millis(3));
        42
    });
    assert_eq!(out, 42);
    let g = t.start();
    clock.advance(Duration::from_millis(5));
    assert_eq!(g.stop(), Duration::from_millis(5));
    clock.set_wall_time(STEP);
    let ms = r.measurements();
    assert!(close(find(&ms, "t", "count").unwrap().value, 3.0 / 60.0));
    assert!(close(
        find(&ms, "t", "totalTime").unwrap().value,
        0.015 / 60.0
    ));
    assert!(close(find(&ms, "t", "max").unwrap().value, 0.007));
}

#[test]
fn distribution_summary_reports_raw_units() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let d = r.distribution_summary("bytes");
    d.record(100);
    d.record(300);
    d.record(-1);
    clock.set_wall_time(STEP);
    let ms = r.measurements();
    assert!(close(
        find(&ms, "bytes", "count").unwrap().value,
        3.0 / 60.0
    ));
    assert!(close(
        find(&ms, "bytes", "totalAmount").unwrap().value,
        400.0 / 60.0
    ));
    assert!(close(
        find(&ms, "bytes", "totalOfSquares").unwrap().value,
        100_000.0 / 60.0
    ));
    assert_eq!(find(&ms, "bytes", "max").unwrap().value, 300.0);
}

#[test]
fn gauge_reports_last_value_and_skips_nan() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let g = r.gauge("queue.size");
    assert_eq!(value(&r, "queue.size", "gauge"), None, "never set");
    g.set(3.0);
    g.set(7.0);
    let ms = r.measurements();
    let m = find(&ms, "queue.size", "gauge").unwrap();
    assert_eq!(m.value, 7.0);
    assert_eq!(m.id.tag("atlas.dstype"), Some("gauge"));
    clock.set_wall_time(5 * STEP);
    assert_eq!(
        value(&r, "queue.size", "gauge"),
        Some(7.0),
        "kept until expiry"
    );
    g.set(f64::NAN);
    assert_eq!(value(&r, "queue.size", "gauge"), None);
    assert!(g.value().is_nan());
}

#[test]
fn max_gauge_reports_step_maximum_even_negative() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let g = r.max_gauge("m");
    g.set(-5.0);
    g.set(-3.0);
    g.set(-4.0);
    g.set(f64::INFINITY);
    clock.set_wall_time(STEP);
    let ms = r.measurements();
    let m = find(&ms, "m", "max").unwrap();
    assert_eq!(m.value, -3.0);
    assert_eq!(m.id.tag("atlas.dstype"), Some("gauge"));
    // A step without values reports nothing.
    clock.set_wall_time(2 * STEP);
    assert_eq!(value(&r, "m", "max"), None);
    g.set(1.0);
    clock.set_wall_time(4 * STEP);
    assert_eq!(value(&r, "m", "max"), None, "gap: step 3 was empty");
}

#[test]
fn monotonic_counter_reports_increase_per_second() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let m = r.monotonic_counter("bytes.read");
    m.set(1_000);
    clock.set_wall_time(STEP);
    assert_eq!(
        value(&r, "bytes.read", "count"),
        Some(0.0),
        "first sample is the baseline"
    );
    m.set(1_600);
    clock.set_wall_time(2 * STEP);
    assert_eq!(value(&r, "bytes.read", "count"), Some(10.0));
    assert_eq!(
        value(&r, "bytes.read", "count"),
        Some(10.0),
        "stable within the step"
    );
    m.set(50); // the source restarted
    clock.set_wall_time(3 * STEP);
    assert_eq!(value(&r, "bytes.read", "count"), Some(0.0));
    m.set(110);
    clock.set_wall_time(4 * STEP);
    assert_eq!(value(&r, "bytes.read", "count"), Some(1.0));
}

#[test]
fn long_task_timer_reports_active_tasks_and_their_total_duration() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let ltt = r.long_task_timer("migration");
    let a = ltt.start();
    clock.advance(Duration::from_secs(4));
    let b = ltt.start();
    clock.advance(Duration::from_secs(1));
    assert_eq!(value(&r, "migration", "activeTasks"), Some(2.0));
    assert_eq!(value(&r, "migration", "duration"), Some(6.0));
    let ms = r.measurements();
    assert_eq!(
        find(&ms, "migration", "duration")
            .unwrap()
            .id
            .tag("atlas.dstype"),
        Some("gauge")
    );
    assert_eq!(a.stop(), Duration::from_secs(5));
    drop(b);
    assert_eq!(ltt.active_tasks(), 0);
    assert_eq!(value(&r, "migration", "activeTasks"), Some(0.0));
}

#[test]
fn percentile_timer_counts_buckets_with_t_tags() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let id = Id::new("server.ptime");
    let p = r.percentile_timer(&id);
    for _ in 0..60 {
        p.record(Duration::from_millis(12));
    }
    p.record(Duration::from_secs(1));
    clock.set_wall_time(STEP);
    let ms = r.measurements();
    let bucket = |tag: &str| {
        ms.iter()
            .find(|m| m.id.name() == "server.ptime" && m.id.tag("percentile") == Some(tag))
            .map(|m| (m.value, m.id.tag("statistic"), m.id.tag("atlas.dstype")))
    };
    assert_eq!(
        bucket("T0065"),
        Some((1.0, Some("percentile"), Some("rate")))
    );
    assert_eq!(bucket("T0083").map(|b| b.0), Some(1.0 / 60.0));
    assert!(close(
        find(&ms, "server.ptime", "count").unwrap().value,
        61.0 / 60.0
    ));
    // Only the buckets used exist, plus the four timer statistics.
    assert_eq!(
        ms.iter().filter(|m| m.id.name() == "server.ptime").count(),
        6
    );
    // The same handle comes back for the same id.
    assert_eq!(r.percentile_timer(&id).percentile(50.0), p.percentile(50.0));
    let p50 = p.percentile(50.0);
    assert!(p50 > 0.0111 && p50 < 0.0126, "{p50}");
}

#[test]
fn percentile_timer_range_clamps_amounts() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let p = r.percentile_timer_with_range(
        "clamped",
        Duration::from_millis(10),
        Duration::from_secs(60),
    );
    p.record(Duration::from_micros(1));
    p.record(Duration::from_secs(3600));
    clock.set_wall_time(STEP);
    let tags: Vec<String> = r
        .measurements()
        .iter()
        .filter_map(|m| m.id.tag("percentile").map(str::to_string))
        .collect();
    let mut tags = tags;
    tags.sort();
    assert_eq!(
        tags,
        ["T0064", "T009D"],
        "10 ms → bucket 100, 60 s → bucket 157"
    );
}

#[test]
fn percentile_distribution_summary_uses_d_tags_and_skips_negatives() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let p = r.percentile_distribution_summary("size");
    p.record(87);
    p.record(-1);
    clock.set_wall_time(STEP);
    let ms = r.measurements();
    assert!(ms.iter().any(|m| m.id.tag("percentile") == Some("D0019")));
    assert!(close(find(&ms, "size", "count").unwrap().value, 1.0 / 60.0));
    assert!(p.percentile(100.0) <= 106.0);
}

#[test]
fn a_type_conflict_returns_a_noop_and_says_why() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let c = r.counter("x");
    let t = r.timer("x");
    assert!(!c.is_noop());
    assert!(t.is_noop());
    t.record(Duration::from_secs(1));
    let e = r.last_error().unwrap();
    assert!(e.contains("already a counter"), "{e}");
    let pt = r.percentile_timer("y");
    let ps = r.percentile_distribution_summary("y");
    pt.record(Duration::from_millis(1));
    ps.record(1);
    assert!(r.last_error().unwrap().contains("percentile"));
}

#[test]
fn polled_gauge_is_called_per_poll_and_survives_a_panic() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let q = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(4));
    let q2 = q.clone();
    r.polled_gauge("queue.len", move || {
        q2.load(std::sync::atomic::Ordering::Relaxed) as f64
    });
    assert_eq!(value(&r, "queue.len", "gauge"), Some(4.0));
    q.store(9, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(value(&r, "queue.len", "gauge"), Some(9.0));
    r.polled_gauge("broken", || panic!("boom"));
    let ms = r.measurements();
    assert!(find(&ms, "queue.len", "gauge").is_some());
    assert!(find(&ms, "broken", "gauge").is_none());
    assert!(r.last_error().unwrap().contains("broken"));
}

#[test]
fn ids_are_sanitised_like_spectator() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    r.counter(Id::new("my counter").with_tag("k:1", "v/é"))
        .increment();
    let ms = r.measurements();
    let m = &ms[0];
    assert_eq!(m.id.name(), "my_counter");
    assert_eq!(m.id.tag("k_1"), Some("v__"));
    assert_eq!(r.len(), 1);
    // The same raw id finds the same meter.
    let _ = r.counter(Id::new("my counter").with_tag("k:1", "v/é"));
    assert_eq!(r.len(), 1);
}

#[test]
fn user_statistic_tag_is_kept() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    r.counter(Id::new("c").with_tag("statistic", "percentile"))
        .increment();
    let ms = r.measurements();
    assert_eq!(ms[0].id.tag("statistic"), Some("percentile"));
    assert_eq!(ms[0].id.tag("atlas.dstype"), Some("rate"));
}

#[test]
fn idle_meters_stop_reporting_after_the_ttl() {
    let clock = ManualClock::new(0);
    let r = Registry::new(
        ConfigBuilder::new()
            .enabled(false)
            .meter_ttl(Duration::from_secs(120))
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
    .unwrap();
    let c = r.counter("c");
    c.increment();
    clock.set_wall_time(2 * STEP);
    assert!(value(&r, "c", "count").is_some());
    clock.set_wall_time(3 * STEP);
    assert!(
        value(&r, "c", "count").is_none(),
        "idle for more than 2 min"
    );
    c.increment();
    clock.set_wall_time(4 * STEP);
    assert_eq!(value(&r, "c", "count"), Some(1.0 / 60.0), "back once used");
}

/// A manual clock that claims to be expensive to read, so the registry uses the step index
/// its background thread advances (the production path) instead of reading it per record.
#[derive(Debug, Clone)]
struct SlowManualClock(ManualClock);

impl sextant_client::Clock for SlowManualClock {
    fn wall_time(&self) -> i64 {
        self.0.wall_time()
    }
    fn monotonic_time(&self) -> i64 {
        self.0.monotonic_time()
    }
}

#[test]
fn with_a_step_index_records_count_in_the_step_the_index_is_in() {
    let clock = ManualClock::new(0);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = Registry::new(
        ConfigBuilder::new()
            .uri(format!("http://127.0.0.1:{closed}/api/v1/publish"))
            .max_attempts(1)
            .clock(SlowManualClock(clock.clone()))
            .build()
            .unwrap(),
    )
    .unwrap();
    let c = r.counter("c");
    c.increment_by(60);
    // The boundary passed but nothing advanced the index yet (the background thread sleeps
    // on real time): this record still belongs to step 0.
    clock.set_wall_time(STEP + 1);
    c.increment_by(60);
    assert_eq!(value(&r, "c", "count"), Some(2.0));
    // Polling advanced the index: records now land in step 1.
    c.increment_by(30);
    // The index jumps from 1 to 3: the meter rolled at 1 is not treated as a gap, because
    // the index, not the meter, skipped step 2.
    clock.set_wall_time(3 * STEP);
    assert_eq!(value(&r, "c", "count"), Some(0.5));
}

#[test]
fn max_meters_caps_cardinality_with_noop_meters() {
    let clock = ManualClock::new(0);
    let r = Registry::new(
        ConfigBuilder::new()
            .enabled(false)
            .max_meters(3)
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
    .unwrap();
    let handles: Vec<_> = (0..5)
        .map(|i| r.counter(Id::new("user.requests").with_tag("user", i.to_string())))
        .collect();
    assert_eq!(r.len(), 3);
    assert_eq!(handles.iter().filter(|c| c.is_noop()).count(), 2);
    assert!(r.last_error().unwrap().contains("max_meters=3"));
    // Existing ids are still found.
    assert!(!r
        .counter(Id::new("user.requests").with_tag("user", "0"))
        .is_noop());
}
