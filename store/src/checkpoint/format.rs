//! The bytes of a checkpoint file.
//!
//! ```text
//! file   = MAGIC (8 bytes "SXTCKP01") | header frame | chunk frame* | end frame
//! frame  = len: u32 LE | crc: u32 LE | payload      (the write-ahead log's record framing)
//! header = 1 | step: i64 | block_len: varint | created_ms: i64 | start_seq: u64
//! chunk  = 4 | lsn.seq: u64 | lsn.offset: u64 | series*   (until the payload ends)
//! series = id: varint | ntags: varint | (key | value)* | norm
//!          | nopen: varint | (number: i64 | n: varint | value bits: u64 * n)*
//!          | nsealed: varint | (number: i64 | len: varint | block bytes)*
//! end    = 3 | series: varint | chunks: varint
//! norm   = nsamples: u8 (0..=4) | complete: u8 (0|1) | (time: i64 | value bits: u64) * nsamples
//! ```
//!
//! A cluster node (docs/cluster.md) has no log of its own: its files carry stream
//! positions instead of log positions, in two kinds of their own, and no kind 2 or 4:
//!
//! ```text
//! file      = MAGIC | header frame | positions frame | partchunk frame* | end frame
//! positions = 5 | stream: u64 | partitions: varint | n: varint | (partition: varint | start: u64)*
//! partchunk = 6 | partition: varint | seq: u64 | series*
//! ```
//!
//! `stream` names the stream the sequences belong to (its creation time, ns), `start` is
//! the partition's last applied sequence when the checkpoint began (partitions absent:
//! 0), and `seq` the partition's sequence while its chunk's series were copied.
//!
//! `norm` is the normaliser's kept raw samples (oldest first), so a late sample placed
//! among them before a crash is placed the same way when the log is replayed. Files
//! written before it have chunks of kind 2, whose `norm` is `last_time: i64 | last_value:
//! u64` (the newest sample alone); they are still read.
//!
//! Integers are little-endian, varints LEB128, strings a varint length and UTF-8. An open
//! block is saved up to its last slot that is not the empty marker (NaN), so a block
//! opened a minute ago costs a few values, not a whole block. Everything read back is
//! checked; damage is an error with the reason, never a panic.

use std::borrow::Cow;

use sextant_codec::SealedBlock;

use crate::normalize::REORDER_SAMPLES;
use crate::series::SeriesData;
use crate::wal::record::{put_str, put_varint, ReadError, Reader};
use crate::wal::Lsn;

/// First bytes of a checkpoint file: format name and version.
pub const MAGIC: &[u8; 8] = b"SXTCKP01";

const KIND_HEADER: u8 = 1;
/// A chunk whose series keep one normaliser sample (files written before reordering).
const KIND_CHUNK_V1: u8 = 2;
const KIND_END: u8 = 3;
const KIND_CHUNK: u8 = 4;
const KIND_POSITIONS: u8 = 5;
const KIND_PARTITION_CHUNK: u8 = 6;

/// What a checkpoint says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The store's step, ms.
    pub step: i64,
    /// Steps per block.
    pub block_len: u64,
    /// When it was started, epoch ms.
    pub created_ms: i64,
    /// The first log segment replay needs on top of it.
    pub start_seq: u64,
}

/// One series as read back.
#[derive(Debug)]
pub struct SavedSeries<'a> {
    /// Its id in the store.
    pub id: u32,
    /// Its tags, sorted by key.
    pub tags: Vec<(&'a str, &'a str)>,
    /// The normaliser's kept raw samples, oldest first (times strictly increasing).
    pub samples: Vec<(i64, f64)>,
    /// True when the oldest kept sample is the series' first (its span is known).
    pub complete: bool,
    /// Open blocks up to their last saved value (at most the block length); the slots
    /// after it are empty (NaN).
    pub open: Vec<(i64, Vec<f64>)>,
    /// Sealed blocks, validated.
    pub sealed: Vec<(i64, SealedBlock)>,
}

/// A frame's payload, parsed.
#[derive(Debug)]
pub enum Frame<'a> {
    /// The first frame.
    Header(Header),
    /// Series captured together at one log position.
    Chunk {
        /// The log position the series were captured at.
        lsn: Lsn,
        /// The series.
        series: Vec<SavedSeries<'a>>,
    },
    /// A cluster node's stream positions when the checkpoint began.
    Positions(Positions),
    /// Series of one partition captured together at one stream sequence (a cluster node).
    PartitionChunk {
        /// Their partition.
        partition: u32,
        /// The partition's last applied sequence while they were copied.
        seq: u64,
        /// The series.
        series: Vec<SavedSeries<'a>>,
    },
    /// The last frame: what the file must have held.
    End {
        /// Series in all chunks.
        series: u64,
        /// Number of chunks.
        chunks: u64,
    },
}

/// Where a cluster node's partitions stood when its checkpoint began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Positions {
    /// The stream the sequences belong to (its creation time, ns).
    pub stream: u64,
    /// The cluster's partition count.
    pub partitions: u32,
    /// `(partition, last applied sequence)` of every partition with one.
    pub starts: Vec<(u32, u64)>,
}

/// The payload of the positions frame.
pub fn positions_payload(p: &Positions) -> Vec<u8> {
    let mut buf = vec![KIND_POSITIONS];
    buf.extend_from_slice(&p.stream.to_le_bytes());
    put_varint(&mut buf, u64::from(p.partitions));
    put_varint(&mut buf, p.starts.len() as u64);
    for (partition, start) in &p.starts {
        put_varint(&mut buf, u64::from(*partition));
        buf.extend_from_slice(&start.to_le_bytes());
    }
    buf
}

/// Starts a partition chunk payload in `buf` (cleared) for series of `partition` copied
/// while its sequence was `seq`.
pub fn start_partition_chunk(buf: &mut Vec<u8>, partition: u32, seq: u64) {
    buf.clear();
    buf.push(KIND_PARTITION_CHUNK);
    put_varint(buf, u64::from(partition));
    buf.extend_from_slice(&seq.to_le_bytes());
}

/// The payload of the header frame.
pub fn header_payload(h: &Header) -> Vec<u8> {
    let mut buf = vec![KIND_HEADER];
    buf.extend_from_slice(&h.step.to_le_bytes());
    put_varint(&mut buf, h.block_len);
    buf.extend_from_slice(&h.created_ms.to_le_bytes());
    buf.extend_from_slice(&h.start_seq.to_le_bytes());
    buf
}

/// Starts a chunk payload in `buf` (cleared) for series captured at `lsn`.
pub fn start_chunk(buf: &mut Vec<u8>, lsn: Lsn) {
    buf.clear();
    buf.push(KIND_CHUNK);
    buf.extend_from_slice(&lsn.seq.to_le_bytes());
    buf.extend_from_slice(&lsn.offset.to_le_bytes());
}

/// Appends one series to a chunk payload.
pub fn put_series<K: AsRef<str>, V: AsRef<str>>(
    buf: &mut Vec<u8>,
    id: u32,
    tags: &[(K, V)],
    data: &SeriesData,
) {
    put_varint(buf, u64::from(id));
    put_varint(buf, tags.len() as u64);
    for (k, v) in tags {
        put_str(buf, k.as_ref());
        put_str(buf, v.as_ref());
    }
    let (samples, complete) = data.normalizer().samples();
    let at = buf.len();
    buf.extend_from_slice(&[0, u8::from(complete)]);
    for (t, v) in samples {
        buf[at] += 1;
        buf.extend_from_slice(&t.to_le_bytes());
        buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    let open: Vec<(i64, Cow<'_, [f64]>)> = data.open_blocks().collect();
    put_varint(buf, open.len() as u64);
    let empty = f64::NAN.to_bits();
    for (number, values) in open {
        let used = values
            .iter()
            .rposition(|v| v.to_bits() != empty)
            .map_or(0, |i| i + 1);
        buf.extend_from_slice(&number.to_le_bytes());
        put_varint(buf, used as u64);
        for v in &values[..used] {
            buf.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    }
    let sealed: Vec<(i64, &[u8])> = data.sealed_blocks().collect();
    put_varint(buf, sealed.len() as u64);
    for (number, bytes) in sealed {
        buf.extend_from_slice(&number.to_le_bytes());
        put_varint(buf, bytes.len() as u64);
        buf.extend_from_slice(bytes);
    }
}

/// The payload of the end frame.
pub fn end_payload(series: u64, chunks: u64) -> Vec<u8> {
    let mut buf = vec![KIND_END];
    put_varint(&mut buf, series);
    put_varint(&mut buf, chunks);
    buf
}

/// Parses a frame payload whose checksum matched. `block_len` bounds open blocks (it is
/// the header's, checked against the store before any chunk is read).
pub fn parse_frame(payload: &[u8], block_len: usize) -> Result<Frame<'_>, String> {
    let mut r = Reader { bytes: payload };
    let kind = r.u8().map_err(why)?;
    match kind {
        KIND_HEADER => {
            let step = i64::from_le_bytes(r.array().map_err(why)?);
            let block_len = r.varint().map_err(why)?;
            let created_ms = i64::from_le_bytes(r.array().map_err(why)?);
            let start_seq = u64::from_le_bytes(r.array().map_err(why)?);
            rest_empty(&r)?;
            Ok(Frame::Header(Header {
                step,
                block_len,
                created_ms,
                start_seq,
            }))
        }
        KIND_CHUNK | KIND_CHUNK_V1 => {
            let seq = u64::from_le_bytes(r.array().map_err(why)?);
            let offset = u64::from_le_bytes(r.array().map_err(why)?);
            let mut series = Vec::new();
            while !r.bytes.is_empty() {
                series.push(read_series(&mut r, block_len, kind == KIND_CHUNK_V1).map_err(why)?);
            }
            Ok(Frame::Chunk {
                lsn: Lsn { seq, offset },
                series,
            })
        }
        KIND_POSITIONS => {
            let stream = u64::from_le_bytes(r.array().map_err(why)?);
            let partitions = partition_number(&mut r)?;
            let n = count(&mut r, 9, "position").map_err(why)?;
            let mut starts = Vec::with_capacity(n);
            for _ in 0..n {
                let partition = partition_number(&mut r)?;
                if partition >= partitions {
                    return Err(format!("partition {partition} of {partitions} partitions"));
                }
                starts.push((partition, u64::from_le_bytes(r.array().map_err(why)?)));
            }
            rest_empty(&r)?;
            Ok(Frame::Positions(Positions {
                stream,
                partitions,
                starts,
            }))
        }
        KIND_PARTITION_CHUNK => {
            let partition = partition_number(&mut r)?;
            let seq = u64::from_le_bytes(r.array().map_err(why)?);
            let mut series = Vec::new();
            while !r.bytes.is_empty() {
                series.push(read_series(&mut r, block_len, false).map_err(why)?);
            }
            Ok(Frame::PartitionChunk {
                partition,
                seq,
                series,
            })
        }
        KIND_END => {
            let series = r.varint().map_err(why)?;
            let chunks = r.varint().map_err(why)?;
            rest_empty(&r)?;
            Ok(Frame::End { series, chunks })
        }
        other => Err(format!("unknown frame kind {other}")),
    }
}

fn why(e: ReadError) -> String {
    match e {
        ReadError::Torn => "frame ends early".to_string(),
        ReadError::Corrupt(s) => s,
    }
}

fn partition_number(r: &mut Reader<'_>) -> Result<u32, String> {
    let n = r.varint().map_err(why)?;
    u32::try_from(n).map_err(|_| format!("partition {n} out of range"))
}

fn rest_empty(r: &Reader<'_>) -> Result<(), String> {
    if r.bytes.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} stray bytes at the end of a frame",
            r.bytes.len()
        ))
    }
}

fn corrupt(msg: String) -> ReadError {
    ReadError::Corrupt(msg)
}

/// A count read from the file, bounded by the bytes left (each item takes at least
/// `min_bytes`), so damage cannot size an allocation.
fn count(r: &mut Reader<'_>, min_bytes: usize, what: &str) -> Result<usize, ReadError> {
    let n = r.varint()?;
    if n > (r.bytes.len() / min_bytes.max(1)) as u64 {
        return Err(corrupt(format!("{what} count {n} exceeds the frame")));
    }
    Ok(n as usize)
}

/// The normaliser's samples: one (or none) in a chunk of the first kind, else the kept ones.
fn read_samples(r: &mut Reader<'_>, v1: bool) -> Result<(Vec<(i64, f64)>, bool), ReadError> {
    let sample = |r: &mut Reader<'_>| -> Result<(i64, f64), ReadError> {
        let t = i64::from_le_bytes(r.array()?);
        Ok((t, f64::from_bits(u64::from_le_bytes(r.array()?))))
    };
    if v1 {
        let (t, v) = sample(r)?;
        return Ok(if t == i64::MIN {
            (Vec::new(), true)
        } else {
            (vec![(t, v)], false)
        });
    }
    let n = usize::from(r.u8()?);
    let complete = match r.u8()? {
        0 => false,
        1 => true,
        other => return Err(corrupt(format!("normaliser flag {other} is not 0 or 1"))),
    };
    if n > REORDER_SAMPLES {
        return Err(corrupt(format!(
            "{n} normaliser samples, at most {REORDER_SAMPLES} are kept"
        )));
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        samples.push(sample(r)?);
    }
    if samples.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(corrupt(
            "normaliser samples are not in time order".to_string(),
        ));
    }
    Ok((samples, complete))
}

fn read_series<'a>(
    r: &mut Reader<'a>,
    block_len: usize,
    v1: bool,
) -> Result<SavedSeries<'a>, ReadError> {
    let id = r.varint()?;
    let id = u32::try_from(id).map_err(|_| corrupt(format!("series id {id} out of range")))?;
    let ntags = count(r, 2, "tag")?;
    let mut tags = Vec::with_capacity(ntags);
    for _ in 0..ntags {
        let k = r.str()?;
        let v = r.str()?;
        tags.push((k, v));
    }
    let (samples, complete) = read_samples(r, v1)?;
    let nopen = count(r, 9, "open block")?;
    let mut open = Vec::with_capacity(nopen);
    for _ in 0..nopen {
        let number = i64::from_le_bytes(r.array()?);
        let used = count(r, 8, "open value")?;
        if used > block_len {
            return Err(corrupt(format!(
                "open block {number} holds {used} values, the block length is {block_len}"
            )));
        }
        let mut values = Vec::with_capacity(used);
        for _ in 0..used {
            values.push(f64::from_bits(u64::from_le_bytes(r.array()?)));
        }
        open.push((number, values));
    }
    let nsealed = count(r, 9, "sealed block")?;
    let mut sealed = Vec::with_capacity(nsealed);
    for _ in 0..nsealed {
        let number = i64::from_le_bytes(r.array()?);
        let len = count(r, 1, "block byte")?;
        let block = SealedBlock::from_bytes(r.take(len)?)
            .map_err(|e| corrupt(format!("sealed block {number}: {e}")))?;
        if block.len() > block_len {
            return Err(corrupt(format!(
                "sealed block {number} holds {} values, the block length is {block_len}",
                block.len()
            )));
        }
        sealed.push((number, block));
    }
    Ok(SavedSeries {
        id,
        tags,
        samples,
        complete,
        open,
        sealed,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::normalize::{DsType, Normalizer};
    use crate::series::Layout;

    fn layout() -> Layout {
        Layout {
            step: 1000,
            block_len: 4,
        }
    }

    #[test]
    fn a_series_round_trips_bit_for_bit() -> Result<(), String> {
        let l = layout();
        let mut data = SeriesData::new(Normalizer::new(DsType::Counter));
        for (i, v) in [1.0, 5.0, 9.0, 20.0, 21.0, 30.0, 31.0].iter().enumerate() {
            data.write(&l, (i as i64 + 1) * 1000, *v);
        }
        data.seal_before(1);
        let tags: Vec<(Arc<str>, Arc<str>)> = vec![
            ("atlas.dstype".into(), "counter".into()),
            ("name".into(), "requests".into()),
        ];
        let mut buf = Vec::new();
        start_chunk(&mut buf, Lsn { seq: 3, offset: 77 });
        put_series(&mut buf, 42, &tags, &data);
        let Frame::Chunk { lsn, series } = parse_frame(&buf, 4)? else {
            return Err("not a chunk".into());
        };
        assert_eq!(lsn, Lsn { seq: 3, offset: 77 });
        assert_eq!(series.len(), 1);
        let s = &series[0];
        assert_eq!(s.id, 42);
        assert_eq!(s.tags, [("atlas.dstype", "counter"), ("name", "requests")]);
        let kept: Vec<(i64, u64)> = s.samples.iter().map(|(t, v)| (*t, v.to_bits())).collect();
        let want: Vec<(i64, u64)> = [(4000, 20.0), (5000, 21.0), (6000, 30.0), (7000, 31.0)]
            .iter()
            .map(|(t, v)| (*t, f64::to_bits(*v)))
            .collect();
        assert_eq!(kept, want);
        assert!(!s.complete);
        assert_eq!(s.sealed.len(), 1);
        assert_eq!(s.open.len(), 1);
        let restored = SeriesData::restore(
            &l,
            Normalizer::with_samples(DsType::Counter, &s.samples, s.complete)?,
            s.open.clone(),
            s.sealed.clone(),
        )?;
        let mut a = vec![0.0; 9];
        let mut b = vec![0.0; 9];
        let mut scratch = vec![0.0; 4];
        data.read_into(&l, 1000, &mut a, &mut scratch);
        restored.read_into(&l, 1000, &mut b, &mut scratch);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b));
        Ok(())
    }

    /// A chunk of a file written before the normaliser kept several samples.
    #[test]
    fn a_chunk_of_the_first_kind_is_still_read() -> Result<(), String> {
        let mut buf = vec![KIND_CHUNK_V1];
        buf.extend_from_slice(&1u64.to_le_bytes());
        buf.extend_from_slice(&0u64.to_le_bytes());
        put_varint(&mut buf, 7);
        put_varint(&mut buf, 1);
        put_str(&mut buf, "name");
        put_str(&mut buf, "cpu");
        buf.extend_from_slice(&5000i64.to_le_bytes());
        buf.extend_from_slice(&2.5f64.to_bits().to_le_bytes());
        put_varint(&mut buf, 0);
        put_varint(&mut buf, 0);
        let Frame::Chunk { series, .. } = parse_frame(&buf, 4)? else {
            return Err("not a chunk".into());
        };
        assert_eq!(series[0].samples, [(5000, 2.5)]);
        assert!(!series[0].complete);
        Ok(())
    }

    #[test]
    fn a_packed_open_block_is_saved_as_its_values() -> Result<(), String> {
        let l = layout();
        let mut data = SeriesData::new(Normalizer::new(DsType::Gauge));
        for (t, v) in [(1000, -0.0), (3000, 2.5), (6000, 6.0)] {
            data.write(&l, t, v);
        }
        let tags: Vec<(Arc<str>, Arc<str>)> = vec![("name".into(), "x".into())];
        let mut buf = Vec::new();
        start_chunk(&mut buf, Lsn::default());
        put_series(&mut buf, 1, &tags, &data);
        let Frame::Chunk { series, .. } = parse_frame(&buf, 4)? else {
            return Err("not a chunk".into());
        };
        let open = &series[0].open;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(open.len(), 2);
        assert_eq!(
            (open[0].0, bits(&open[0].1)),
            (0, bits(&[-0.0, f64::NAN, 2.5]))
        );
        assert_eq!((open[1].0, bits(&open[1].1)), (1, bits(&[f64::NAN, 6.0])));
        let mut restored =
            SeriesData::restore(&l, Normalizer::new(DsType::Gauge), open.clone(), Vec::new())?;
        // Late samples still reach the older block after the restart.
        restored.write(&l, 4000, 4.0);
        let mut got = vec![0.0; 8];
        restored.read_into(&l, 1000, &mut got, &mut [0.0; 4]);
        let want = [-0.0, f64::NAN, 2.5, 4.0, f64::NAN, 6.0, f64::NAN, f64::NAN];
        assert_eq!(bits(&got), bits(&want));
        Ok(())
    }

    /// Found by the `checkpoint_frame` fuzz target: a sealed block longer than the block
    /// length parsed, leaving only `SeriesData::restore` to refuse it.
    #[test]
    fn a_sealed_block_longer_than_a_block_is_refused() {
        let input = [
            2, 3, 0, 0, 2, 3, 2, 0, 0, 0, 0, 1, 0, 42, 25, 68, 29, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0,
            0, 0, 0, 1, 1, 99, 164, 0, 0, 1, 0, 42, 25, 68, 29, 99, 164, 1, 4, 1, 41, 127, 1,
        ];
        match parse_frame(&input, 8) {
            Err(e) => assert!(e.contains("the block length is 8"), "{e}"),
            Ok(Frame::Chunk { series, .. }) => {
                assert!(series
                    .iter()
                    .all(|s| s.sealed.iter().all(|(_, b)| b.len() <= 8)));
            }
            Ok(other) => panic!("not a chunk: {other:?}"),
        }
    }

    #[test]
    fn positions_and_partition_chunks_round_trip() -> Result<(), String> {
        let positions = Positions {
            stream: 1_700_000_000_123_456_789,
            partitions: 64,
            starts: vec![(0, 7), (63, 1 << 40)],
        };
        let buf = positions_payload(&positions);
        let Frame::Positions(read) = parse_frame(&buf, 4)? else {
            return Err("not positions".into());
        };
        assert_eq!(read, positions);
        let mut bad = positions.clone();
        bad.starts.push((64, 1));
        assert!(parse_frame(&positions_payload(&bad), 4).is_err());

        let tags: Vec<(Arc<str>, Arc<str>)> = vec![("name".into(), "x".into())];
        let mut data = SeriesData::new(Normalizer::new(DsType::Gauge));
        data.write(&layout(), 1000, 1.0);
        let mut buf = Vec::new();
        start_partition_chunk(&mut buf, 17, 99);
        put_series(&mut buf, 3, &tags, &data);
        let Frame::PartitionChunk {
            partition,
            seq,
            series,
        } = parse_frame(&buf, 4)?
        else {
            return Err("not a partition chunk".into());
        };
        assert_eq!((partition, seq, series.len()), (17, 99, 1));
        assert_eq!(series[0].tags, [("name", "x")]);
        for cut in 0..buf.len() {
            let _ = parse_frame(&buf[..cut], 4);
        }
        Ok(())
    }

    #[test]
    fn damaged_frames_are_errors_not_panics() {
        let tags: Vec<(Arc<str>, Arc<str>)> = vec![("name".into(), "x".into())];
        let mut data = SeriesData::new(Normalizer::new(DsType::Gauge));
        data.write(&layout(), 1000, 1.0);
        let mut buf = Vec::new();
        start_chunk(&mut buf, Lsn::default());
        put_series(&mut buf, 1, &tags, &data);
        for cut in 0..buf.len() {
            let _ = parse_frame(&buf[..cut], 4);
        }
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0xA5;
            let _ = parse_frame(&bad, 4);
        }
        assert!(parse_frame(&buf, 4).is_ok());
        assert!(parse_frame(&[9], 4).is_err());
        let header = header_payload(&Header {
            step: 1000,
            block_len: 4,
            created_ms: 5,
            start_seq: 2,
        });
        assert!(matches!(
            parse_frame(&header, 4),
            Ok(Frame::Header(Header { start_seq: 2, .. }))
        ));
    }
}
