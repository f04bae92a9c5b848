//! An in-memory [`Database`] for tests, examples and benchmarks (like Atlas's
//! `StaticDatabase` over a `DataSet`): series are either stored values or functions of time.

use std::sync::Arc;

use crate::{Database, DatabaseError, Query, ScanRequest, SeriesVisitor, TagMap};

type ValueFn = Arc<dyn Fn(i64) -> f64 + Send + Sync>;

enum Data {
    /// Values on the primary step starting at `start`; NaN outside.
    Stored { start: i64, values: Vec<f64> },
    /// A value for every timestamp.
    Function(ValueFn),
}

struct Series {
    tags: TagMap,
    data: Data,
}

/// A fixed set of series held in memory, scanned linearly.
pub struct StaticDatabase {
    step: i64,
    series: Vec<Series>,
}

impl std::fmt::Debug for StaticDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticDatabase")
            .field("step", &self.step)
            .field("series", &self.series.len())
            .finish()
    }
}

fn tag_map<K: AsRef<str>, V: AsRef<str>>(tags: impl IntoIterator<Item = (K, V)>) -> TagMap {
    tags.into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect()
}

impl StaticDatabase {
    /// An empty database with primary step `step` ms.
    pub fn new(step: i64) -> StaticDatabase {
        StaticDatabase {
            step: step.max(1),
            series: Vec::new(),
        }
    }

    /// Adds a series with `values[i]` at `start + i * step`.
    pub fn push<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        tags: impl IntoIterator<Item = (K, V)>,
        start: i64,
        values: Vec<f64>,
    ) -> &mut Self {
        self.series.push(Series {
            tags: tag_map(tags),
            data: Data::Stored { start, values },
        });
        self
    }

    /// Adds a series whose value at each timestamp is `f(t)`.
    pub fn push_fn<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        tags: impl IntoIterator<Item = (K, V)>,
        f: impl Fn(i64) -> f64 + Send + Sync + 'static,
    ) -> &mut Self {
        self.series.push(Series {
            tags: tag_map(tags),
            data: Data::Function(Arc::new(f)),
        });
        self
    }

    /// Atlas's `TimeSeriesExprSuite` fixture: series `name=0..=10`, `type=constant`, each
    /// constant at its index, on a one-minute step.
    pub fn constants() -> StaticDatabase {
        let mut db = StaticDatabase::new(60_000);
        for i in 0..=10 {
            let name = i.to_string();
            db.push_fn([("name", name.as_str()), ("type", "constant")], move |_| {
                i as f64
            });
        }
        db
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when there is no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

impl Database for StaticDatabase {
    fn step(&self) -> i64 {
        self.step
    }

    fn scan(
        &self,
        request: &ScanRequest<'_>,
        visit: &mut SeriesVisitor<'_>,
    ) -> Result<(), DatabaseError> {
        let n = request.len(self.step);
        let query: &Query = request.query;
        let mut values = vec![f64::NAN; n];
        let mut tags: Vec<(&str, &str)> = Vec::new();
        for s in &self.series {
            if !query.matches_with(&|k| s.tags.get(k).map(String::as_str)) {
                continue;
            }
            tags.clear();
            tags.extend(s.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            for (i, slot) in values.iter_mut().enumerate() {
                let t = request.start + i as i64 * self.step;
                *slot = match &s.data {
                    Data::Function(f) => f(t),
                    Data::Stored { start, values } => {
                        let offset = t - start;
                        if offset < 0 || offset % self.step != 0 {
                            f64::NAN
                        } else {
                            values
                                .get((offset / self.step) as usize)
                                .copied()
                                .unwrap_or(f64::NAN)
                        }
                    }
                };
            }
            visit(&tags, &values)?;
        }
        Ok(())
    }
}
