//! The on-disk form of one log record and of a segment's header.
//!
//! ```text
//! segment = MAGIC (8 bytes "SXTWAL01") record*
//! record  = len: u32 LE | crc: u32 LE | payload (len bytes)
//!           crc = CRC-32 (IEEE) of the 4 len bytes followed by the payload, so a damaged
//!           length is caught as well as damaged data
//! payload = kind: u8 (1 = datapoints) | count: varint | point*
//! point   = timestamp: i64 LE | value: f64 bits, u64 LE | ntags: varint
//!           | (klen: varint | key | vlen: varint | value)*
//! ```
//!
//! Varints are unsigned LEB128. Everything read from disk is checked: a short buffer is a
//! torn record, anything inconsistent is corruption; nothing here panics on bad input.

/// The codec's LEB128 writer: one varint format in the project.
pub(crate) use sextant_codec::put_varint;

/// First bytes of every segment file: format name and version.
pub const MAGIC: &[u8; 8] = b"SXTWAL01";

/// Bytes before a record's payload.
pub const HEADER_LEN: usize = 8;

/// Largest payload accepted when reading. A publish body is at most a few tens of MiB, so
/// a length beyond this is a damaged length field, not a real record.
pub const MAX_PAYLOAD: usize = 1 << 30;

/// Record kind: the validated datapoints of one publish request.
const KIND_POINTS: u8 = 1;

/// One datapoint as read back from the log; strings borrow the segment's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Point<'a> {
    /// Tags, in the order they were logged (sorted by key, as validated).
    pub tags: Vec<(&'a str, &'a str)>,
    /// Epoch milliseconds.
    pub timestamp: i64,
    /// The value, bit for bit.
    pub value: f64,
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The bytes end before the record does: a write cut short by a crash.
    Torn,
    /// The record is complete but wrong (checksum, length, structure).
    Corrupt(String),
}

/// Builds the record of one request, ready to append: header included.
pub struct Encoder {
    buf: Vec<u8>,
    count: u64,
    max_ts: i64,
    /// The count already written after the kind byte ([`Encoder::for_points`]).
    declared: Option<u64>,
}

impl Encoder {
    /// An encoder with room for about `points` datapoints.
    pub fn with_capacity(points: usize) -> Self {
        let mut buf = Vec::with_capacity(HEADER_LEN + 16 + points * 96);
        buf.extend_from_slice(&[0; HEADER_LEN]);
        buf.push(KIND_POINTS);
        Encoder {
            buf,
            count: 0,
            max_ts: i64::MIN,
            declared: None,
        }
    }

    /// An encoder for exactly `points` datapoints: the count is written up front, so
    /// [`Encoder::finish`] need not move the whole record to insert it.
    pub fn for_points(points: usize) -> Self {
        Encoder::for_points_and_bytes(points, points * 96)
    }

    /// [`Encoder::for_points`] with room for `bytes` of datapoints, so a caller that knows
    /// the record's size spares the buffer's regrowth.
    pub fn for_points_and_bytes(points: usize, bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(HEADER_LEN + 16 + bytes);
        buf.extend_from_slice(&[0; HEADER_LEN]);
        buf.push(KIND_POINTS);
        put_varint(&mut buf, points as u64);
        Encoder {
            buf,
            count: 0,
            max_ts: i64::MIN,
            declared: Some(points as u64),
        }
    }

    /// Adds one datapoint.
    pub fn push<K: AsRef<str>, V: AsRef<str>>(&mut self, tags: &[(K, V)], ts: i64, value: f64) {
        self.buf.extend_from_slice(&ts.to_le_bytes());
        self.buf.extend_from_slice(&value.to_bits().to_le_bytes());
        put_varint(&mut self.buf, tags.len() as u64);
        for (k, v) in tags {
            put_str(&mut self.buf, k.as_ref());
            put_str(&mut self.buf, v.as_ref());
        }
        self.count += 1;
        self.max_ts = self.max_ts.max(ts);
    }

    /// The largest timestamp pushed (`i64::MIN` when empty).
    pub fn max_ts(&self) -> i64 {
        self.max_ts
    }

    /// The finished record. The count goes after the kind byte; it is written last, so the
    /// points are shifted once by its few bytes (cheap next to the I/O).
    pub fn finish(mut self) -> Vec<u8> {
        let at = HEADER_LEN + 1;
        match self.declared {
            Some(declared) if declared == self.count => {}
            declared => {
                // No count, or the wrong one, was written up front: put the right one in.
                let mut count = Vec::with_capacity(10);
                put_varint(&mut count, self.count);
                let written = declared.map_or(0, |d| {
                    let mut scratch = Vec::with_capacity(10);
                    put_varint(&mut scratch, d);
                    scratch.len()
                });
                self.buf.splice(at..at + written, count);
            }
        }
        let payload_len = (self.buf.len() - HEADER_LEN) as u32;
        let len_bytes = payload_len.to_le_bytes();
        let mut crc = crc32fast::Hasher::new();
        crc.update(&len_bytes);
        crc.update(&self.buf[HEADER_LEN..]);
        self.buf[0..4].copy_from_slice(&len_bytes);
        self.buf[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
        self.buf
    }
}

/// Appends a length-prefixed string.
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// Appends `payload` framed as a record (length and CRC header), the framing checkpoints
/// share with the log.
pub(crate) fn put_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len_bytes = (payload.len() as u32).to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len_bytes);
    crc.update(payload);
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

/// Reads the record at the start of `bytes`: its payload and its total length.
pub fn read_record(bytes: &[u8]) -> Result<(&[u8], usize), ReadError> {
    if bytes.len() < HEADER_LEN {
        return Err(ReadError::Torn);
    }
    let len_bytes = [bytes[0], bytes[1], bytes[2], bytes[3]];
    let len = u32::from_le_bytes(len_bytes) as usize;
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if len == 0 || len > MAX_PAYLOAD {
        return Err(ReadError::Corrupt(format!(
            "impossible record length {len}"
        )));
    }
    let Some(payload) = bytes.get(HEADER_LEN..HEADER_LEN + len) else {
        return Err(ReadError::Torn);
    };
    let mut h = crc32fast::Hasher::new();
    h.update(&len_bytes);
    h.update(payload);
    let actual = h.finalize();
    if actual != crc {
        return Err(ReadError::Corrupt(format!(
            "checksum mismatch: stored {crc:08x}, computed {actual:08x}"
        )));
    }
    Ok((payload, HEADER_LEN + len))
}

/// Decodes a checked payload into its datapoints.
pub fn decode_points(payload: &[u8]) -> Result<Vec<Point<'_>>, ReadError> {
    let mut r = Reader { bytes: payload };
    let kind = r.u8()?;
    if kind != KIND_POINTS {
        return Err(bad(format!("unknown record kind {kind}")));
    }
    let count = r.varint()?;
    // Each point takes at least 17 bytes: a count beyond that is damage, and must not
    // size an allocation.
    if count > (payload.len() / 17) as u64 + 1 {
        return Err(bad(format!("point count {count} exceeds the record")));
    }
    let mut points = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let timestamp = i64::from_le_bytes(r.array()?);
        let value = f64::from_bits(u64::from_le_bytes(r.array()?));
        let ntags = r.varint()?;
        if ntags > r.bytes.len() as u64 {
            return Err(bad(format!("tag count {ntags} exceeds the record")));
        }
        let mut tags = Vec::with_capacity(ntags as usize);
        for _ in 0..ntags {
            let k = r.str()?;
            let v = r.str()?;
            tags.push((k, v));
        }
        points.push(Point {
            tags,
            timestamp,
            value,
        });
    }
    if !r.bytes.is_empty() {
        return Err(bad(format!(
            "{} stray bytes after the points",
            r.bytes.len()
        )));
    }
    Ok(points)
}

fn bad(msg: String) -> ReadError {
    ReadError::Corrupt(msg)
}

/// A cursor over a payload whose checksum already matched: running out of bytes here is
/// corruption (a bad encoder), not a torn write.
pub(crate) struct Reader<'a> {
    /// What is left to read.
    pub(crate) bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        if self.bytes.len() < n {
            return Err(bad("record ends inside a point".to_string()));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ReadError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, ReadError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint longer than 64 bits".to_string()))
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, ReadError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| bad(format!("string length {len}")))?;
        let raw = self.take(len)?;
        std::str::from_utf8(raw).map_err(|e| bad(format!("tag is not UTF-8: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A declared count gives the same bytes as counting at the end, and a wrong
    /// declaration is corrected rather than written.
    #[test]
    fn declared_counts_encode_like_counted_ones() {
        let tags = [("name", "cpu")];
        let encode = |mut e: Encoder, n: usize| {
            for i in 0..n {
                e.push(&tags, i as i64, 1.0);
            }
            e.finish()
        };
        for n in [0, 1, 127, 128, 300] {
            let counted = encode(Encoder::with_capacity(n), n);
            assert_eq!(encode(Encoder::for_points(n), n), counted, "{n}");
            assert_eq!(encode(Encoder::for_points(n + 200), n), counted, "{n}");
        }
    }

    fn sample() -> Vec<u8> {
        let mut e = Encoder::with_capacity(2);
        e.push(&[("atlas.dstype", "gauge"), ("name", "cpu")], 1_000, 1.5);
        e.push(&[("name", "é-ünïcode")], 2_000, f64::NAN);
        e.push::<&str, &str>(&[], -5, -0.0);
        e.finish()
    }

    #[test]
    fn round_trip_keeps_every_bit() -> Result<(), ReadError> {
        let rec = sample();
        let (payload, used) = read_record(&rec)?;
        assert_eq!(used, rec.len());
        let points = decode_points(payload)?;
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].tags, [("atlas.dstype", "gauge"), ("name", "cpu")]);
        assert_eq!(points[0].timestamp, 1_000);
        assert_eq!(points[0].value, 1.5);
        assert_eq!(points[1].tags, [("name", "é-ünïcode")]);
        assert!(points[1].value.is_nan());
        assert_eq!(points[2].timestamp, -5);
        assert_eq!(points[2].value.to_bits(), (-0.0f64).to_bits());
        Ok(())
    }

    #[test]
    fn many_points_need_multi_byte_varints() -> Result<(), ReadError> {
        let mut e = Encoder::with_capacity(300);
        let long = "v".repeat(200);
        for i in 0..300 {
            e.push(&[("name", long.as_str())], i, i as f64);
        }
        assert_eq!(e.max_ts(), 299);
        let rec = e.finish();
        let points = decode_points(read_record(&rec)?.0)?;
        assert_eq!(points.len(), 300);
        assert_eq!(points[299].value, 299.0);
        assert_eq!(points[299].tags[0].1.len(), 200);
        Ok(())
    }

    #[test]
    fn every_cut_is_torn() {
        let rec = sample();
        for cut in 0..rec.len() {
            assert_eq!(
                read_record(&rec[..cut]),
                Err(ReadError::Torn),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let rec = sample();
        for i in 0..rec.len() {
            let mut bad = rec.clone();
            bad[i] ^= 0x20;
            match read_record(&bad) {
                Err(ReadError::Corrupt(_)) | Err(ReadError::Torn) => {}
                Ok(_) => panic!("flip at {i} went unnoticed"),
            }
        }
    }

    #[test]
    fn damaged_structure_is_an_error_not_a_panic() {
        // Payloads whose checksum would match but whose content is nonsense.
        for payload in [
            &[9u8][..],
            &[
                1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ][..],
            &[1, 1, 0, 0][..],
            &[1, 0, 7][..],
        ] {
            assert!(matches!(decode_points(payload), Err(ReadError::Corrupt(_))));
        }
        let mut invalid_utf8 = vec![1, 1];
        invalid_utf8.extend_from_slice(&[0; 16]);
        invalid_utf8.extend_from_slice(&[1, 1, 0xff, 1, b'x']);
        assert!(matches!(
            decode_points(&invalid_utf8),
            Err(ReadError::Corrupt(_))
        ));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary bytes (damaged or foreign files) give an error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok((payload, used)) = read_record(&bytes) {
                prop_assert!(used <= bytes.len());
                let _ = decode_points(payload);
            }
            let _ = decode_points(&bytes);
        }

        /// Whatever is encoded decodes to the same tags, timestamps and value bits.
        #[test]
        fn any_points_round_trip(
            points in proptest::collection::vec(
                (
                    proptest::collection::vec(("[a-z.]{0,12}", "\\PC{0,20}"), 0..6),
                    any::<i64>(),
                    any::<u64>(),
                ),
                0..20,
            )
        ) {
            let mut e = Encoder::with_capacity(points.len());
            for (tags, ts, bits) in &points {
                e.push(tags, *ts, f64::from_bits(*bits));
            }
            let rec = e.finish();
            let (payload, used) = read_record(&rec).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(used, rec.len());
            let back = decode_points(payload).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(back.len(), points.len());
            for (b, (tags, ts, bits)) in back.iter().zip(&points) {
                prop_assert_eq!(b.timestamp, *ts);
                prop_assert_eq!(b.value.to_bits(), *bits);
                let want: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                prop_assert_eq!(&b.tags, &want);
            }
        }
    }
}
