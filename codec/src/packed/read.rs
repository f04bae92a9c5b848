//! Reading packed payloads: parsing and checking the layout, then decoding 64 residuals at a
//! time. Split from the encoder so each half stays readable.

use super::{
    Patch, Run, EXCEPTIONS_FLAG, GROUP, GROUP_BUF, MAX_ORDER, MAX_ULP_FIX, ORDER_MASK, SPARSE_FLAG,
    ULP_TAG,
};
use crate::bits::{load_u64, low_mask, unzigzag, ByteReader};
use crate::constant::get_trimmed;
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::scale::{unscale, Scale};

/// A parsed and checked packed payload.
pub(super) struct Layout<'a> {
    scale: Scale,
    order: usize,
    width: u32,
    base: i64,
    first_delta: i64,
    frame_min: i64,
    /// Exception runs, still encoded; already checked by `parse`.
    exceptions: &'a [u8],
    exception_count: usize,
    bitmap: Option<&'a [u8]>,
    data: &'a [u8],
}

fn corrupt(reason: &'static str) -> Error {
    Error::Corrupt {
        kind: Encoding::Packed,
        reason,
    }
}

fn truncated(field: &'static str, payload: &[u8]) -> Error {
    Error::Truncated {
        field,
        len: payload.len(),
    }
}

impl<'a> Layout<'a> {
    pub(super) fn parse(flags: u8, payload: &'a [u8], len: usize) -> Result<Layout<'a>> {
        let order = usize::from(flags & ORDER_MASK);
        if order > MAX_ORDER {
            return Err(corrupt("differencing order above 2"));
        }
        if len <= order {
            return Err(corrupt("fewer values than the differencing order needs"));
        }
        let mut r = ByteReader::new(payload);
        let scale = r
            .u8()
            .ok_or_else(|| truncated("scale", payload))
            .and_then(|c| Scale::from_code(c).ok_or_else(|| corrupt("unknown scale code")))?;
        let width = u32::from(r.u8().ok_or_else(|| truncated("width", payload))?);
        if width > 64 {
            return Err(corrupt("width above 64 bits"));
        }
        let mut varint = |field| {
            r.varint()
                .map(unzigzag)
                .ok_or_else(|| truncated(field, payload))
        };
        let base = if order >= 1 {
            varint("first value")?
        } else {
            0
        };
        let first_delta = if order == 2 {
            varint("first delta")?
        } else {
            0
        };
        let frame_min = varint("frame minimum")?;

        let mut exception_count = 0;
        let exceptions_at = payload.len() - r.rest().len();
        if flags & EXCEPTIONS_FLAG != 0 {
            exception_count =
                r.varint()
                    .ok_or_else(|| truncated("exception count", payload))? as usize;
            if exception_count == 0 || exception_count > len {
                return Err(corrupt("exception count out of range"));
            }
            let mut end = 0usize;
            for _ in 0..exception_count {
                let run =
                    read_run(&mut r, end).ok_or_else(|| truncated("exception run", payload))?;
                if run.start + run.len > len {
                    return Err(corrupt("exception run past the end of the block"));
                }
                end = run.start + run.len;
            }
        }
        let exceptions = &payload[exceptions_at..payload.len() - r.rest().len()];

        let count = len - order;
        let (bitmap, packed_count) = if flags & SPARSE_FLAG != 0 {
            let bitmap = r
                .bytes(count.div_ceil(8))
                .ok_or_else(|| truncated("bitmap", payload))?;
            let spare = (8 - count % 8) % 8;
            if let Some(&last) = bitmap.last() {
                if spare > 0 && last >> (8 - spare) != 0 {
                    return Err(corrupt("bitmap bits set past the last value"));
                }
            }
            let ones = bitmap.iter().map(|b| b.count_ones() as usize).sum();
            (Some(bitmap), ones)
        } else {
            (None, count)
        };
        let data_len = (width as usize * packed_count).div_ceil(8);
        let data = r
            .bytes(data_len)
            .ok_or_else(|| truncated("packed residuals", payload))?;
        if !r.rest().is_empty() {
            return Err(Error::TrailingBytes {
                kind: Encoding::Packed,
                extra: r.rest().len(),
            });
        }
        Ok(Layout {
            scale,
            order,
            width,
            base,
            first_delta,
            frame_min,
            exceptions,
            exception_count,
            bitmap,
            data,
        })
    }

    pub(super) fn decode(&self, out: &mut [f64]) {
        let m = self.scale.multiplier();
        let (head, tail) = out.split_at_mut(self.order);
        let mut acc = self.base;
        let mut delta = self.first_delta;
        if let Some(o) = head.first_mut() {
            *o = unscale(acc, m);
        }
        if let Some(o) = head.get_mut(1) {
            acc = acc.wrapping_add(delta);
            *o = unscale(acc, m);
        }
        let mut group = [0u64; GROUP];
        let mut buf = [0u8; GROUP_BUF];
        let mut cursor = 0usize;
        for (g, chunk) in tail.chunks_mut(GROUP).enumerate() {
            match self.bitmap {
                None => unpack_dense(self.data, g, self.width, &mut buf, &mut group),
                Some(bitmap) => unpack_sparse(
                    self.data,
                    bitmap,
                    Sparse {
                        group: g,
                        count: chunk.len(),
                        width: self.width,
                        frame_min: self.frame_min,
                    },
                    &mut cursor,
                    &mut buf,
                    &mut group,
                ),
            }
            // Integrate in place, then scale in a separate loop: the integration is a serial
            // chain of adds, while the divisions are independent and pipeline (or vectorise)
            // only when they are not interleaved with it.
            let min = if self.bitmap.is_some() {
                0
            } else {
                self.frame_min
            };
            let group = &mut group[..chunk.len()];
            match self.order {
                0 => {
                    for u in group.iter_mut() {
                        *u = min.wrapping_add(*u as i64) as u64;
                    }
                }
                1 => {
                    for u in group.iter_mut() {
                        acc = acc.wrapping_add(min.wrapping_add(*u as i64));
                        *u = acc as u64;
                    }
                }
                _ => {
                    for u in group.iter_mut() {
                        delta = delta.wrapping_add(min.wrapping_add(*u as i64));
                        acc = acc.wrapping_add(delta);
                        *u = acc as u64;
                    }
                }
            }
            if m == 1.0 {
                // Dividing by 1 changes nothing; skipping it is the same expression's result.
                for (o, &n) in chunk.iter_mut().zip(group.iter()) {
                    *o = n as i64 as f64;
                }
            } else {
                for (o, &n) in chunk.iter_mut().zip(group.iter()) {
                    *o = unscale(n as i64, m);
                }
            }
        }
        let mut r = ByteReader::new(self.exceptions);
        let _ = r.varint();
        let mut end = 0usize;
        for _ in 0..self.exception_count {
            // Checked by `parse`; a failure here would mean a bug, and just stops patching.
            let Some(run) = read_run(&mut r, end) else {
                break;
            };
            let Some(slots) = out.get_mut(run.start..run.start + run.len) else {
                break;
            };
            match run.patch {
                Patch::Bits(bits) => slots.fill(f64::from_bits(bits)),
                Patch::Ulps(d) => {
                    for o in slots {
                        *o = f64::from_bits((o.to_bits() as i64).wrapping_add(d) as u64);
                    }
                }
            }
            end = run.start + run.len;
        }
    }
}

fn read_run(r: &mut ByteReader<'_>, prev_end: usize) -> Option<Run> {
    let gap = usize::try_from(r.varint()?).ok()?;
    let len = usize::try_from(r.varint()?).ok()?.checked_add(1)?;
    let tag = r.u8()?;
    let patch = if tag >= ULP_TAG {
        let d = unzigzag(u64::from(tag - ULP_TAG));
        if d.abs() > MAX_ULP_FIX {
            return None;
        }
        Patch::Ulps(d)
    } else {
        Patch::Bits(get_trimmed(r.bytes(usize::from(tag))?)?)
    };
    let start = prev_end.checked_add(gap)?;
    start.checked_add(len)?;
    Some(Run { start, len, patch })
}

/// Unpacks dense group `g` (up to 64 residuals of `width` bits) into `group`.
#[inline]
fn unpack_dense(
    data: &[u8],
    g: usize,
    width: u32,
    buf: &mut [u8; GROUP_BUF],
    group: &mut [u64; GROUP],
) {
    if width == 0 {
        *group = [0; GROUP];
        return;
    }
    let w = width.min(64) as usize;
    let from = g * 8 * w;
    let src = data.get(from..).unwrap_or(&[]);
    let n = src.len().min(8 * w);
    buf[..n].copy_from_slice(&src[..n]);
    let mask = low_mask(width);
    if w <= 56 {
        for (j, slot) in group.iter_mut().enumerate() {
            let bit = j * w;
            let at = bit / 8;
            let mut word = [0u8; 8];
            word.copy_from_slice(&buf[at..at + 8]);
            *slot = (u64::from_le_bytes(word) >> (bit % 8)) & mask;
        }
    } else {
        for (j, slot) in group.iter_mut().enumerate() {
            let bit = j * w;
            let at = bit / 8;
            let mut word = [0u8; 16];
            word.copy_from_slice(&buf[at..at + 16]);
            *slot = ((u128::from_le_bytes(word) >> (bit % 8)) as u64) & mask;
        }
    }
}

/// Which sparse group to expand and how its residuals are packed.
struct Sparse {
    group: usize,
    count: usize,
    width: u32,
    frame_min: i64,
}

/// Expands a sparse group into residuals (as `u64` bit patterns of `i64`): zero where the
/// bitmap is clear, else the next packed value plus the frame minimum. `cursor` counts packed
/// values consumed so far.
#[inline]
fn unpack_sparse(
    data: &[u8],
    bitmap: &[u8],
    s: Sparse,
    cursor: &mut usize,
    buf: &mut [u8; GROUP_BUF],
    group: &mut [u64; GROUP],
) {
    let bits = load_u64(bitmap, s.group * GROUP / 8);
    let mask = low_mask(s.width);
    let w = s.width as usize;
    if bits == 0 {
        *group = [0; GROUP];
        return;
    }
    if w <= 56 {
        // This group's packed values, copied to a padded buffer so that every load below is
        // a plain 8-byte read.
        let first_bit = *cursor * w;
        let from = first_bit / 8;
        let ones = (bits & low_mask(s.count as u32)).count_ones() as usize;
        let to = ((*cursor + ones) * w).div_ceil(8).min(data.len());
        let src = data.get(from..to).unwrap_or(&[]);
        let n = src.len().min(GROUP_BUF - 8);
        buf[..n].copy_from_slice(&src[..n]);
        // Branch-free: every slot loads at the local cursor, and the bit decides whether the
        // value is kept and the cursor moves. Changes are too irregular to predict.
        let mut k = first_bit % 8;
        for (j, slot) in group.iter_mut().enumerate().take(s.count) {
            let keep = (bits >> j) & 1;
            let at = (k / 8).min(GROUP_BUF - 8);
            let mut word = [0u8; 8];
            word.copy_from_slice(&buf[at..at + 8]);
            let v = (u64::from_le_bytes(word) >> (k % 8)) & mask;
            *slot = (s.frame_min.wrapping_add(v as i64) as u64) & keep.wrapping_neg();
            k += w & (keep as usize).wrapping_neg();
        }
        *cursor += ones;
        return;
    }
    for (j, slot) in group.iter_mut().enumerate().take(s.count) {
        if bits >> j & 1 == 0 {
            *slot = 0;
            continue;
        }
        let at = *cursor * w;
        let lo = load_u64(data, at / 8) >> (at % 8);
        let hi = load_u64(data, at / 8 + 8);
        let hi = if at % 8 == 0 { 0 } else { hi << (64 - at % 8) };
        *slot = s.frame_min.wrapping_add(((lo | hi) & mask) as i64) as u64;
        *cursor += 1;
    }
}
