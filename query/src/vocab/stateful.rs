//! The `stateful` vocabulary: operators whose output depends on earlier points.
//!
//! Atlas reference: `StatefulVocabulary.scala`, `StatefulExpr.scala`, `algorithm/Online*.scala`.

use super::args::{passthrough, sig};
use super::{Interp, Step};
use crate::error::Result;
use crate::model::{Expr, StatefulOp};

/// Atlas's `RollingBuffer.MaxWindowSize`: windows are buffers allocated per line.
pub const MAX_WINDOW: i64 = 86_400;

const TS_N: &str = "a time series and a window size";

/// Atlas's `desEpicSignal` macro (`StatefulVocabulary.scala`), word for word: bounds around a
/// DES prediction from an absolute noise and from percentages, and a 0/1 signal that is 1 when
/// the line is below both lower bounds or above both upper bounds. It leaves the variables
/// `line`, `pred`, `minPredNoiseBound`, `minPredPercentBound`, `maxPredNoiseBound` and
/// `maxPredPercentBound` set, which `:des-epic-viz` reads.
pub(crate) const DES_EPIC_SIGNAL: &str = "noise,:sset,minPercent,:sset,maxPercent,:sset,\
    beta,:sset,alpha,:sset,trainingSize,:sset,line,:sset,\
    pred,line,:get,trainingSize,:get,alpha,:get,beta,:get,:des,:set,\
    minPredNoiseBound,pred,:get,noise,:get,:sub,:set,\
    minPredPercentBound,pred,:get,1.0,:const,minPercent,:get,:const,:fsub,:fmul,:set,\
    maxPredNoiseBound,pred,:get,noise,:get,:add,:set,\
    maxPredPercentBound,pred,:get,2.0,:const,1.0,:const,maxPercent,:get,:const,:fsub,:fsub,\
    :fmul,:set,\
    line,:get,minPredNoiseBound,:get,:lt,line,:get,minPredPercentBound,:get,:lt,:and,\
    line,:get,maxPredNoiseBound,:get,:gt,line,:get,maxPredPercentBound,:get,:gt,:and,\
    :or";

pub(crate) fn run(it: &mut Interp) -> Result<Step> {
    let word = it.word.clone();
    let w = word.as_str();
    let (e, style, op) = match w {
        "delay" | "rolling-count" | "rolling-min" | "rolling-max" | "rolling-sum" => {
            let [ts, n] = sig!(it, [Styled, Int], TS_N);
            let (e, s) = it.ts(ts)?;
            let n = it.int_in(n, "window size", 1, MAX_WINDOW)?;
            let op = match w {
                "delay" => StatefulOp::Delay(n),
                "rolling-count" => StatefulOp::RollingCount(n),
                "rolling-min" => StatefulOp::RollingMin(n),
                "rolling-max" => StatefulOp::RollingMax(n),
                _ => StatefulOp::RollingSum(n),
            };
            (e, s, op)
        }
        "rolling-mean" => {
            let [ts, n, min] = sig!(
                it,
                [Styled, Int, Int],
                "a time series, a window size and a minimum count"
            );
            let (e, s) = it.ts(ts)?;
            let window = it.int_in(n, "window size", 1, MAX_WINDOW)?;
            let min = it.int_in(min, "minimum count", 1, window as i64)?;
            (e, s, StatefulOp::RollingMean { window, min })
        }
        "des" | "sdes" => {
            let [ts, t, a, b] = sig!(
                it,
                [Styled, Int, Double, Double],
                "a time series, training size, alpha and beta"
            );
            let (e, s) = it.ts(ts)?;
            let training = it.int_in(t, "training size", 1, MAX_WINDOW)?;
            let (alpha, beta) = (it.double(a)?, it.double(b)?);
            let op = if w == "des" {
                StatefulOp::Des {
                    training,
                    alpha,
                    beta,
                }
            } else {
                StatefulOp::Sdes {
                    training,
                    alpha,
                    beta,
                }
            };
            (e, s, op)
        }
        "trend" => {
            let [ts, d] = sig!(it, [Styled, Duration], "a time series and a duration");
            let (e, s) = it.ts(ts)?;
            let d = it.duration(d)?;
            (e, s, StatefulOp::Trend(d))
        }
        "integral" | "cumulative-max" | "derivative" => {
            let [ts] = sig!(it, [Styled], "a time series");
            let (e, s) = it.ts(ts)?;
            let op = match w {
                "integral" => StatefulOp::Integral,
                "cumulative-max" => StatefulOp::CumulativeMax,
                _ => StatefulOp::Derivative,
            };
            (e, s, op)
        }
        "des-simple" | "des-fast" | "des-slower" | "des-slow" | "sdes-simple" | "sdes-fast"
        | "sdes-slower" | "sdes-slow" => {
            if !it.fits(&[super::Kind::Styled]) {
                return Ok(Step::NoMatch("a time series", 1));
            }
            let (base, speed) = w.split_once('-').unwrap_or((w, "simple"));
            let params = match speed {
                "simple" => "10,0.1,0.5",
                "fast" => "10,0.1,0.02",
                "slower" => "10,0.05,0.03",
                _ => "10,0.03,0.04",
            };
            it.run_macro(&format!("{params},:{base}"))?;
            return Ok(Step::Done);
        }
        "approx-distinct-cumulative" => {
            // Atlas: `:dup,:cumulative-max,:approx-distinct` as a named rewrite; the running
            // max is taken per register line, before the estimate.
            let [ts] = sig!(it, [Styled], "a time series");
            let (e, s) = it.ts(ts)?;
            let e = Expr::ApproxDistinct {
                expr: Box::new(e),
                cumulative: true,
            };
            it.push(passthrough(e, vec![s]))?;
            return Ok(Step::Done);
        }
        "des-epic-signal" => {
            use super::Kind::{Double, Int, Styled};
            // Checked up front so a bad stack names this word's signature rather than
            // failing inside the macro at `:sset`.
            if !it.fits(&[Styled, Int, Double, Double, Double, Double, Double]) {
                return Ok(Step::NoMatch(
                    "a time series, training size, alpha, beta, max percent, min percent \
                     and noise",
                    7,
                ));
            }
            it.run_macro(DES_EPIC_SIGNAL)?;
            return Ok(Step::Done);
        }
        _ => return Ok(Step::Unknown),
    };
    it.push(passthrough(Expr::Stateful(op, Box::new(e)), vec![style]))?;
    Ok(Step::Done)
}
