//! `label_replace` on the evaluated answer, as Prometheus does it (`promql/functions.go`,
//! `funcLabelReplace`): the fully anchored regex on the source label's value, the
//! replacement expanded with its groups into the destination label, an empty result
//! removing it. Labels only change the answer's names, so it runs after evaluation.

use regex::Regex;

use super::response::{PromError, SeriesResult};

/// The arguments of one `label_replace`.
#[derive(Debug, Clone)]
pub struct LabelReplace {
    /// Destination label.
    pub dst: String,
    /// Replacement, with `$1`/`${name}` references.
    pub replacement: String,
    /// Source label.
    pub src: String,
    /// The regex, anchored at both ends.
    pub regex: Regex,
}

impl LabelReplace {
    /// Checks the arguments as Prometheus does.
    pub fn new(dst: &str, replacement: &str, src: &str, regex: &str) -> Result<Self, PromError> {
        let regex = regex::RegexBuilder::new(&format!("^(?s:{regex})$"))
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                PromError::bad_data(format!(
                    "invalid regular expression in label_replace(): {e}"
                ))
            })?;
        let valid = |n: &str| {
            n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !valid(dst) {
            return Err(PromError::bad_data(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        Ok(LabelReplace {
            dst: dst.to_string(),
            replacement: replacement.to_string(),
            src: src.to_string(),
            regex,
        })
    }

    /// Applies to every series of an answer.
    pub fn apply(&self, series: &mut [SeriesResult]) {
        for s in series {
            let value = s.metric.get(&self.src).cloned().unwrap_or_default();
            let Some(caps) = self.regex.captures(&value) else {
                continue;
            };
            let mut out = String::new();
            caps.expand(&self.replacement, &mut out);
            if out.is_empty() {
                s.metric.remove(&self.dst);
            } else {
                s.metric.insert(self.dst.clone(), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_with_groups_and_removes_on_empty() -> Result<(), PromError> {
        let mut s = vec![SeriesResult {
            metric: [("instance".to_string(), "host:9100".to_string())].into(),
            values: vec![(1, 1.0)],
        }];
        LabelReplace::new("host", "$1", "instance", "(.*):.*")?.apply(&mut s);
        assert_eq!(s[0].metric.get("host").map(String::as_str), Some("host"));
        LabelReplace::new("host", "", "instance", ".*")?.apply(&mut s);
        assert!(!s[0].metric.contains_key("host"));
        LabelReplace::new("x", "y", "instance", "nomatch")?.apply(&mut s);
        assert!(!s[0].metric.contains_key("x"));
        assert!(LabelReplace::new("1bad", "", "instance", ".*").is_err());
        Ok(())
    }
}
