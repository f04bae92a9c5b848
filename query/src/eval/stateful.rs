//! Stateful operators, computed point by point from the start of the window.
//!
//! Atlas reference: `algorithm/Online*.scala` (delay, rolling-*, des, sliding des, trend,
//! integral, derivative, cumulative max). Windows count datapoints, not time.

use std::collections::VecDeque;

use super::{eval, Env};
use crate::error::Result;
use crate::model::{add_nan, truthy, Expr, StatefulOp};
use crate::TimeSeries;

/// Atlas's `OnlineDes`: output the level before updating it; NaN inputs are skipped.
#[derive(Debug, Clone)]
pub(crate) struct Des {
    training: usize,
    alpha: f64,
    beta: f64,
    samples: usize,
    sp: f64,
    bp: f64,
}

impl Des {
    pub fn new(training: usize, alpha: f64, beta: f64) -> Des {
        Des {
            training,
            alpha,
            beta,
            samples: 0,
            sp: f64::NAN,
            bp: f64::NAN,
        }
    }

    pub fn next(&mut self, y: f64) -> f64 {
        let out = if self.samples >= self.training {
            self.sp
        } else {
            f64::NAN
        };
        if !y.is_nan() {
            if self.samples == 0 {
                self.sp = y;
                self.bp = 0.0;
            } else {
                let sn = self.alpha * y + (1.0 - self.alpha) * (self.sp + self.bp);
                let bn = self.beta * (sn - self.sp) + (1.0 - self.beta) * self.bp;
                self.sp = sn;
                self.bp = bn;
            }
            self.samples += 1;
        }
        out
    }

    fn reset(&mut self) {
        *self = Des::new(self.training, self.alpha, self.beta);
    }
}

/// The window contents as an iterator over the last `n` values ending at `i`.
fn window(values: &[f64], i: usize, n: usize) -> &[f64] {
    let from = (i + 1).saturating_sub(n);
    values.get(from..=i).unwrap_or(&[])
}

/// Applies a stateful operator to one line's values. `start`/`step` align `:sdes`.
pub(crate) fn apply(op: &StatefulOp, values: &[f64], start: i64, step: i64) -> Vec<f64> {
    let len = values.len();
    let mut out = Vec::with_capacity(len);
    match op {
        StatefulOp::Delay(n) => {
            for i in 0..len {
                out.push(
                    i.checked_sub(*n)
                        .and_then(|j| values.get(j))
                        .copied()
                        .unwrap_or(f64::NAN),
                );
            }
        }
        StatefulOp::RollingCount(n) => {
            // Running count over a sliding window: O(len), not O(len * n).
            let mut count = 0usize;
            for i in 0..len {
                if values.get(i).is_some_and(|v| truthy(*v)) {
                    count += 1;
                }
                if i >= *n && values.get(i - n).is_some_and(|v| truthy(*v)) {
                    count -= 1;
                }
                out.push(count as f64);
            }
        }
        StatefulOp::RollingMin(n) | StatefulOp::RollingMax(n) => {
            let is_min = matches!(op, StatefulOp::RollingMin(_));
            // Monotonic deque of indices of non-NaN values.
            let mut dq: VecDeque<usize> = VecDeque::new();
            for (i, &v) in values.iter().enumerate() {
                while dq.front().is_some_and(|&j| j + n <= i) {
                    dq.pop_front();
                }
                if !v.is_nan() {
                    while dq.back().is_some_and(|&j| {
                        let w = values.get(j).copied().unwrap_or(f64::NAN);
                        if is_min {
                            w >= v
                        } else {
                            w <= v
                        }
                    }) {
                        dq.pop_back();
                    }
                    dq.push_back(i);
                }
                out.push(
                    dq.front()
                        .and_then(|&j| values.get(j))
                        .copied()
                        .unwrap_or(f64::NAN),
                );
            }
        }
        StatefulOp::RollingMean { window: n, min } => {
            for i in 0..len {
                let (sum, count) = window(values, i, *n)
                    .iter()
                    .filter(|v| !v.is_nan())
                    .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
                out.push(if count >= *min && count > 0 {
                    sum / count as f64
                } else {
                    f64::NAN
                });
            }
        }
        StatefulOp::RollingSum(n) => {
            for i in 0..len {
                let s = window(values, i, *n)
                    .iter()
                    .fold(f64::NAN, |a, v| add_nan(a, *v));
                out.push(s);
            }
        }
        StatefulOp::Des {
            training,
            alpha,
            beta,
        } => {
            let mut des = Des::new(*training, *alpha, *beta);
            out.extend(values.iter().map(|v| des.next(*v)));
        }
        StatefulOp::Sdes {
            training,
            alpha,
            beta,
        } => {
            // Skip points until the window start aligns to a multiple of step * training,
            // so the prediction for a time does not depend on where the window started.
            let period = step.saturating_mul(*training as i64).max(1);
            let aligned = start.div_euclid(period) * period
                + if start.rem_euclid(period) == 0 {
                    0
                } else {
                    period
                };
            let skip = ((aligned - start) / step.max(1)) as usize;
            let mut d1 = Des::new(*training, *alpha, *beta);
            let mut d2 = Des::new(*training, *alpha, *beta);
            let mut use_one = true;
            let mut current = 0usize;
            for (i, &v) in values.iter().enumerate() {
                if i < skip {
                    out.push(f64::NAN);
                    continue;
                }
                current += 1;
                let (v1, v2) = (d1.next(v), d2.next(v));
                out.push(if use_one { v1 } else { v2 });
                if current % training == 0 {
                    if use_one {
                        d1.reset();
                    } else {
                        d2.reset();
                    }
                    use_one = !use_one;
                }
            }
        }
        StatefulOp::Trend(ms) => {
            let n = (ms / step.max(1)).max(0) as usize;
            if n <= 1 {
                return values.to_vec();
            }
            for i in 0..len {
                if i + 1 < n {
                    out.push(f64::NAN);
                    continue;
                }
                let w = window(values, i, n);
                let all_nan = w.iter().all(|v| v.is_nan());
                let sum: f64 = w.iter().filter(|v| !v.is_nan()).sum();
                out.push(if all_nan { f64::NAN } else { sum / n as f64 });
            }
        }
        StatefulOp::Integral => {
            let mut acc = f64::NAN;
            for &v in values {
                acc = add_nan(acc, v);
                out.push(acc);
            }
        }
        StatefulOp::CumulativeMax => {
            let mut acc = f64::NAN;
            for &v in values {
                if !v.is_nan() && (acc.is_nan() || v > acc) {
                    acc = v;
                }
                out.push(acc);
            }
        }
        StatefulOp::Derivative => {
            let mut prev = f64::NAN;
            for &v in values {
                out.push(v - prev);
                prev = v;
            }
        }
    }
    out
}

pub(crate) fn eval_stateful(op: &StatefulOp, e: &Expr, env: &Env<'_>) -> Result<Vec<TimeSeries>> {
    let mut lines = eval(e, env)?;
    for t in &mut lines {
        t.values = apply(op, &t.values, t.start, t.step);
        t.label = format!("{}({})", op.name(), t.label);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: f64 = f64::NAN;

    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() < 1e-9)
    }

    /// A naive oracle for the rolling operators: recompute every window from scratch.
    fn naive(op: &StatefulOp, values: &[f64]) -> Vec<f64> {
        (0..values.len())
            .map(|i| {
                let n = match op {
                    StatefulOp::RollingMin(n) | StatefulOp::RollingMax(n) => *n,
                    _ => 1,
                };
                let w: Vec<f64> = window(values, i, n)
                    .iter()
                    .copied()
                    .filter(|v| !v.is_nan())
                    .collect();
                match op {
                    StatefulOp::RollingMin(_) => {
                        w.iter()
                            .copied()
                            .fold(N, |a, v| if a.is_nan() || v < a { v } else { a })
                    }
                    _ => w
                        .iter()
                        .copied()
                        .fold(N, |a, v| if a.is_nan() || v > a { v } else { a }),
                }
            })
            .collect()
    }

    #[test]
    fn rolling_min_max_match_the_naive_oracle() {
        let values = [
            1.0,
            N,
            3.0,
            -1.0,
            f64::INFINITY,
            N,
            N,
            N,
            2.0,
            f64::NEG_INFINITY,
            0.0,
        ];
        for n in 1..6 {
            for op in [StatefulOp::RollingMin(n), StatefulOp::RollingMax(n)] {
                assert!(
                    same(&apply(&op, &values, 0, 60_000), &naive(&op, &values)),
                    "{op:?}"
                );
            }
        }
    }

    #[test]
    fn empty_input_gives_empty_output() {
        for op in [
            StatefulOp::Delay(1),
            StatefulOp::RollingCount(3),
            StatefulOp::RollingSum(3),
            StatefulOp::Integral,
            StatefulOp::Derivative,
        ] {
            assert!(apply(&op, &[], 0, 60_000).is_empty());
        }
    }
}
