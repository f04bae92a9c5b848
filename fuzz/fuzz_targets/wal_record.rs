//! The write-ahead log's record reader: arbitrary bytes never panic `read_record` (header,
//! length and CRC checks) or `decode_points` (the payload, as if its checksum matched);
//! a record that reads is no longer than the input; and points that decode re-encode
//! into a record that reads back to the same points, bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_store::wal_record::{decode_points, read_record, Encoder, Point, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok((payload, len)) = read_record(data) {
        assert!(len <= data.len() && len == HEADER_LEN + payload.len());
        if let Ok(points) = decode_points(payload) {
            round_trip(&points);
        }
    }
    if let Ok(points) = decode_points(data) {
        round_trip(&points);
    }
});

fn round_trip(points: &[Point<'_>]) {
    let mut enc = Encoder::with_capacity(points.len());
    for p in points {
        enc.push(&p.tags, p.timestamp, p.value);
    }
    let record = enc.finish();
    let (payload, len) = read_record(&record).expect("a fresh record reads");
    assert_eq!(len, record.len());
    let again = decode_points(payload).expect("a fresh record decodes");
    assert_eq!(again.len(), points.len());
    for (a, b) in again.iter().zip(points) {
        assert_eq!(a.tags, b.tags);
        assert_eq!(a.timestamp, b.timestamp);
        assert_eq!(a.value.to_bits(), b.value.to_bits());
    }
}
