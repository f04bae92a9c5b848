//! Step selection and time alignment for graphs, after Atlas's `util/Step.scala` and
//! `eval/graph/GraphConfig.scala`.

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Every step Atlas may use below a day; larger steps are whole days.
const ALLOWED_STEPS: [i64; 35] = [
    1,
    5,
    10,
    50,
    100,
    500,
    SECOND,
    2 * SECOND,
    3 * SECOND,
    4 * SECOND,
    5 * SECOND,
    6 * SECOND,
    10 * SECOND,
    12 * SECOND,
    15 * SECOND,
    20 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    3 * MINUTE,
    4 * MINUTE,
    5 * MINUTE,
    6 * MINUTE,
    10 * MINUTE,
    12 * MINUTE,
    15 * MINUTE,
    20 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    4 * HOUR,
    6 * HOUR,
    8 * HOUR,
    12 * HOUR,
];

/// The step sizes a graph may use for a given storage block duration.
///
/// Only steps that divide the block, or are whole multiples of it, are kept, so a consolidated
/// interval never straddles a block boundary. Above 12 hours steps are whole days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSizes {
    allowed: Vec<i64>,
}

impl StepSizes {
    /// Step sizes for blocks of `block_step` milliseconds (Atlas: 60 × the 1-minute step).
    pub fn for_block_step(block_step: i64) -> Self {
        let allowed = ALLOWED_STEPS
            .iter()
            .copied()
            .filter(|&s| {
                if block_step <= 0 {
                    true
                } else if s <= block_step {
                    block_step % s == 0
                } else {
                    s % block_step == 0
                }
            })
            .collect();
        Self { allowed }
    }

    /// Rounds a requested step up to the next allowed size, never below `primary`.
    pub fn round(&self, primary: i64, step: i64) -> i64 {
        let max = primary.max(step);
        self.allowed
            .iter()
            .copied()
            .find(|&s| s >= max)
            // Atlas rounds `step` here, which can fall below a primary step of over a day;
            // rounding `max` keeps the result at least `primary`.
            .unwrap_or_else(|| round_to_day(max))
    }

    /// Picks the step for a graph: at least `primary`, and coarse enough that the window
    /// `start..end` has at most one datapoint per pixel of `width`.
    pub fn compute(&self, primary: i64, width: u32, start: i64, end: i64) -> i64 {
        let primary = primary.max(1);
        let width = i64::from(width.max(1));
        let datapoints = end.saturating_sub(start).max(0) / primary;
        // At least one, so a window shorter than the primary step still gets a usable step.
        let per_pixel = (datapoints / width + i64::from(datapoints % width != 0)).max(1);
        let min_step = per_pixel.saturating_mul(primary);
        self.round(primary, min_step)
    }
}

impl Default for StepSizes {
    /// Step sizes for Atlas's default one-hour blocks (all of them).
    fn default() -> Self {
        Self::for_block_step(HOUR)
    }
}

/// Rounds up to a whole number of days; saturates to the largest whole-day step that fits.
fn round_to_day(step: i64) -> i64 {
    if step % DAY == 0 {
        step
    } else {
        (step / DAY)
            .saturating_add(1)
            .saturating_mul(DAY)
            .min(i64::MAX / DAY * DAY)
    }
}

/// Maps a timestamp to the end of the step interval that contains it: intervals are
/// `(T - step, T]`, so a timestamp on a boundary maps to itself.
pub fn round_to_step_boundary(timestamp: i64, step: i64) -> i64 {
    if step <= 0 || timestamp.rem_euclid(step) == 0 {
        timestamp
    } else {
        timestamp
            .div_euclid(step)
            .saturating_mul(step)
            .saturating_add(step)
    }
}

/// The datapoints a graph shows: timestamps `start, start + step, ..., end - step`.
///
/// Each timestamp labels the interval that ends there, so the window covers
/// `(start - step, end - step]`. This is the `start`/`step` layout of [`crate::TimeSeries`]:
/// the evaluator fills `len()` values starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// First datapoint, epoch ms.
    pub start: i64,
    /// One step past the last datapoint, epoch ms (exclusive).
    pub end: i64,
    /// Step between datapoints, ms.
    pub step: i64,
}

impl TimeWindow {
    /// Aligns a resolved time range to `step` the way Atlas's graph does: both ends are
    /// floored to a step boundary, a range that collapses to one boundary is widened by one
    /// step, and the datapoints are the boundaries after the floored start up to the floored
    /// end, inclusive. `None` if `step <= 0` or the arithmetic would overflow.
    ///
    /// ```
    /// use sextant_query::TimeWindow;
    /// // e=2012-01-01T09:00, s=e-5m, step 1m → datapoints 08:56 .. 09:00.
    /// let e = 1_325_408_400_000;
    /// let w = TimeWindow::align(e - 300_000, e, 60_000).ok_or("overflow")?;
    /// assert_eq!((w.start, w.len()), (e - 240_000, 5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn align(start: i64, end: i64, step: i64) -> Option<Self> {
        if step <= 0 {
            return None;
        }
        let floor = |t: i64| t.div_euclid(step).checked_mul(step);
        let mut fstart = floor(start)?;
        let fend = floor(end)?;
        if fstart == fend {
            fstart = fstart.checked_sub(step)?;
        }
        Some(Self {
            start: fstart.checked_add(step)?,
            end: fend.checked_add(step)?,
            step,
        })
    }

    /// Number of datapoints.
    pub fn len(&self) -> usize {
        if self.step <= 0 || self.end <= self.start {
            return 0;
        }
        usize::try_from((self.end - self.start) / self.step).unwrap_or(usize::MAX)
    }

    /// True when the window has no datapoints.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The datapoint timestamps, in order.
    pub fn timestamps(&self) -> impl Iterator<Item = i64> {
        let (start, step) = (self.start, self.step.max(1));
        (0..self.len()).map(move |i| start + step * i as i64)
    }
}
