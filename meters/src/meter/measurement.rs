//! What meters report: [`Measurement`], and the `statistic` / `atlas.dstype` tags they add.

use crate::id::Id;

/// One reported value: the meter's id with its `statistic` and `atlas.dstype` tags, the step
/// boundary (ms) that ended the interval it describes, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Id including `statistic` and `atlas.dstype`.
    pub id: Id,
    /// Step boundary in milliseconds since the epoch.
    pub timestamp: i64,
    /// The value; rates are per second.
    pub value: f64,
}

impl Measurement {
    pub(crate) fn new(id: &Id, timestamp: i64, value: f64) -> Self {
        Self {
            id: id.clone(),
            timestamp,
            value,
        }
    }

    /// Appends a gauge value unless it is NaN or infinite: Spectator does not report
    /// non-finite gauges.
    pub(crate) fn push_finite(out: &mut Vec<Self>, id: &Id, timestamp: i64, value: f64) {
        if value.is_finite() {
            out.push(Self::new(id, timestamp, value));
        }
    }
}

/// How Atlas should consolidate a value; tagged as `atlas.dstype`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DsType {
    Rate,
    Gauge,
}

/// `id` plus `statistic` and `atlas.dstype`, each only if missing, as `AtlasMeter.addIfMissing`
/// does, so a user-set statistic survives.
pub(crate) fn stat_id(id: &Id, statistic: &str, ds: DsType) -> Id {
    let ds = match ds {
        DsType::Rate => "rate",
        DsType::Gauge => "gauge",
    };
    id.with_tag_if_missing("statistic", statistic)
        .with_tag_if_missing("atlas.dstype", ds)
}
