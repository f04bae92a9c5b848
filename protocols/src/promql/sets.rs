//! The set operators `and`, `or` and `unless`, per step on the evaluated answers of both
//! sides, as Prometheus matches them (`promql/engine.go`, `VectorAnd`/`VectorOr`/
//! `VectorUnless`): by every label but `__name__`, or by `on(...)`/`ignoring(...)`.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::response::SeriesResult;

/// Which set operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// Left elements with a match on the right.
    And,
    /// Left elements, and right elements with no match on the left.
    Or,
    /// Left elements with no match on the right.
    Unless,
}

/// The labels two elements are matched on (Prometheus names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matching {
    /// Every label but `__name__`.
    All,
    /// `on(...)`: only these.
    On(Vec<String>),
    /// `ignoring(...)`: all but these and `__name__`.
    Ignoring(Vec<String>),
}

fn signature(labels: &BTreeMap<String, String>, m: &Matching) -> Vec<(String, String)> {
    labels
        .iter()
        .filter(|(k, _)| match m {
            Matching::All => *k != "__name__",
            Matching::On(keep) => keep.contains(k),
            Matching::Ignoring(drop) => *k != "__name__" && !drop.contains(k),
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Signatures present at each time.
fn present(series: &[SeriesResult], m: &Matching) -> HashMap<i64, HashSet<Vec<(String, String)>>> {
    let mut out: HashMap<i64, HashSet<Vec<(String, String)>>> = HashMap::new();
    for s in series {
        let sig = signature(&s.metric, m);
        for (t, _) in &s.values {
            out.entry(*t).or_default().insert(sig.clone());
        }
    }
    out
}

fn keep_where(
    series: Vec<SeriesResult>,
    m: &Matching,
    other: &HashMap<i64, HashSet<Vec<(String, String)>>>,
    matched: bool,
) -> Vec<SeriesResult> {
    series
        .into_iter()
        .map(|mut s| {
            let sig = signature(&s.metric, m);
            s.values
                .retain(|(t, _)| other.get(t).is_some_and(|set| set.contains(&sig)) == matched);
            s
        })
        .filter(|s| !s.values.is_empty())
        .collect()
}

/// `lhs op rhs`, step by step.
pub fn combine(
    op: SetOp,
    lhs: Vec<SeriesResult>,
    rhs: Vec<SeriesResult>,
    m: &Matching,
) -> Vec<SeriesResult> {
    match op {
        SetOp::And => keep_where(lhs, m, &present(&rhs, m), true),
        SetOp::Unless => keep_where(lhs, m, &present(&rhs, m), false),
        SetOp::Or => {
            let left = present(&lhs, m);
            let mut out = lhs;
            out.extend(keep_where(rhs, m, &left, false));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(labels: &[(&str, &str)], values: &[(i64, f64)]) -> SeriesResult {
        SeriesResult {
            metric: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            values: values.to_vec(),
        }
    }

    #[test]
    fn per_step_matching_by_labels_but_the_name() {
        let a = vec![s(&[("__name__", "a"), ("job", "x")], &[(1, 1.0), (2, 2.0)])];
        let b = vec![s(&[("__name__", "b"), ("job", "x")], &[(2, 9.0), (3, 9.0)])];
        let and = combine(SetOp::And, a.clone(), b.clone(), &Matching::All);
        assert_eq!(and[0].values, [(2, 2.0)]);
        let unless = combine(SetOp::Unless, a.clone(), b.clone(), &Matching::All);
        assert_eq!(unless[0].values, [(1, 1.0)]);
        let or = combine(SetOp::Or, a, b, &Matching::All);
        assert_eq!(or.len(), 2);
        assert_eq!(or[1].values, [(3, 9.0)]);
        let c = vec![s(&[("job", "y")], &[(1, 0.0)])];
        let d = vec![s(&[("job", "x")], &[(1, 5.0)])];
        assert_eq!(
            combine(SetOp::And, d, c, &Matching::On(vec![])).len(),
            1,
            "on() matches everything"
        );
    }
}
