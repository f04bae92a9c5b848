//! The registry as an exporter sees it: advance to the step the clock is in, measure the step
//! just ended, expire idle meters, and report failures into the registry's error log.

use std::time::Duration;

use sextant_meters::{
    bucket_index, bucket_value, timer_tag, Clock, ManualClock, Measurement, Registry,
    RegistryConfig,
};

const STEP: Duration = Duration::from_secs(10);

fn registry(clock: &ManualClock) -> Registry {
    Registry::new(RegistryConfig::new(STEP).unwrap().with_clock(clock.clone()))
}

/// The value of the measurement named `name` with `statistic`, if reported.
fn value(ms: &[Measurement], name: &str, statistic: &str) -> Option<f64> {
    ms.iter()
        .find(|m| m.id.name() == name && m.id.tag("statistic") == Some(statistic))
        .map(|m| m.value)
}

#[test]
fn an_exporter_measures_the_step_just_ended() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let requests = r.counter("requests");
    let latency = r.timer("latency");
    for _ in 0..50 {
        requests.increment();
        latency.record(Duration::from_millis(20));
    }
    let index = r.advance();
    assert_eq!(index, 0);
    assert_eq!(value(&r.measure(index), "requests", "count"), Some(0.0));

    clock.set_wall_time(10_000);
    let index = r.advance();
    assert_eq!(index, 1);
    let ms = r.measure(index);
    assert!(ms.iter().all(|m| m.timestamp == 10_000), "{ms:?}");
    assert_eq!(value(&ms, "requests", "count"), Some(5.0)); // 50 in 10 s
    assert_eq!(value(&ms, "latency", "count"), Some(5.0));
    let total = value(&ms, "latency", "totalTime").unwrap();
    assert!((total - 0.1).abs() < 1e-12, "{total}"); // 1 s of latency in 10 s
    assert_eq!(
        r.measure(index),
        ms,
        "polling does not consume: the same step reads the same"
    );
    assert_eq!(r.advance(), 1, "the step has not ended yet");
}

/// A clock that is not cheap to read, as the system clock is not.
#[derive(Debug, Clone)]
struct CostlyClock(ManualClock);

impl Clock for CostlyClock {
    fn wall_time(&self) -> i64 {
        self.0.wall_time()
    }
    fn monotonic_time(&self) -> i64 {
        self.0.monotonic_time()
    }
}

#[test]
fn with_a_step_thread_records_belong_to_the_step_it_advanced_to() {
    for (step_thread, want) in [(true, 0.4), (false, 0.1)] {
        let clock = ManualClock::new(0);
        let r = Registry::new(
            RegistryConfig::new(STEP)
                .unwrap()
                .with_clock(CostlyClock(clock.clone()))
                .with_step_thread(step_thread),
        );
        let c = r.counter("c");
        c.increment();
        // The boundary has passed, but no step thread has advanced the registry yet.
        clock.set_wall_time(10_500);
        c.increment_by(3);
        let index = r.advance();
        assert_eq!(index, 1);
        assert_eq!(
            value(&r.measure(index), "c", "count"),
            Some(want),
            "step thread: {step_thread}"
        );
    }
}

#[test]
fn idle_meters_stop_reporting_and_unreferenced_ones_are_removed() {
    let clock = ManualClock::new(0);
    let r = Registry::new(
        RegistryConfig::new(STEP)
            .unwrap()
            .with_clock(clock.clone())
            .with_meter_ttl(Duration::from_secs(30)),
    );
    r.counter("dropped").increment();
    let held = r.counter("held");
    held.increment();
    clock.set_wall_time(10_000);
    let index = r.advance();
    let ms = r.measure(index);
    assert_eq!(value(&ms, "dropped", "count"), Some(0.1));
    assert_eq!(value(&ms, "held", "count"), Some(0.1));

    clock.set_wall_time(100_000);
    let index = r.advance();
    assert!(r.measure(index).is_empty(), "both idle past the TTL");
    assert_eq!(r.len(), 2);
    r.remove_expired(index);
    assert_eq!(r.len(), 1, "the meter a handle still refers to stays");
    held.increment();
    clock.set_wall_time(110_000);
    let index = r.advance();
    assert_eq!(value(&r.measure(index), "held", "count"), Some(0.1));
}

#[test]
fn the_registry_and_its_exporter_share_one_error_log() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    assert_eq!(r.last_error(), None);
    let _ = r.counter("x");
    assert!(r.timer("x").is_noop());
    let conflict = r.last_error().unwrap();
    assert!(conflict.contains("already a counter"), "{conflict}");
    r.note_error("publish to http://example: HTTP 503");
    assert_eq!(
        r.last_error().as_deref(),
        Some("publish to http://example: HTTP 503")
    );
    for i in 0..20 {
        r.note_error(format!("error {i}"));
    }
    let recent = r.recent_errors();
    assert_eq!(recent.len(), 16);
    assert_eq!(recent.first().map(String::as_str), Some("error 4"));
    assert_eq!(recent.last().map(String::as_str), Some("error 19"));
}

#[test]
fn a_full_registry_hands_out_no_op_meters() {
    let clock = ManualClock::new(0);
    let r = Registry::new(
        RegistryConfig::new(STEP)
            .unwrap()
            .with_clock(clock.clone())
            .with_max_meters(1),
    );
    let _ = r.counter("first");
    assert!(r.timer("second").is_noop());
    assert_eq!(r.len(), 1);
    assert!(r.last_error().unwrap().contains("max_meters=1"));
}

#[test]
fn percentile_timers_count_into_the_shared_bucket_table() {
    let clock = ManualClock::new(0);
    let r = registry(&clock);
    let t = r.percentile_timer("lat");
    for _ in 0..10 {
        t.record(Duration::from_millis(12));
    }
    clock.set_wall_time(10_000);
    let index = r.advance();
    let ms = r.measure(index);
    let bucket = bucket_index(12_000_000);
    assert!(12_000_000 <= bucket_value(bucket).unwrap());
    let tag = timer_tag(bucket);
    assert_eq!(tag, "T0065");
    let counted: Vec<_> = ms
        .iter()
        .filter(|m| m.id.name() == "lat" && m.id.tag("statistic") == Some("percentile"))
        .map(|m| {
            (
                m.id.tag("percentile").unwrap_or_default().to_string(),
                m.value,
            )
        })
        .collect();
    assert_eq!(counted, [(tag, 1.0)]); // 10 in 10 s
    let p50 = t.percentile(50.0);
    assert!((p50 - 0.01188).abs() < 1e-4, "{p50}");
}
