//! Label and annotation templates: text with `{{ variable }}` holes.
//!
//! Deliberately tiny (no logic, no functions): the variables are checked when the rules
//! file loads, so a typo is a load error with a line number rather than a broken page at
//! 3 a.m.

use sextant_query::TagMap;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    source: String,
}

impl serde::Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var(Var),
}

#[derive(Debug, Clone, PartialEq)]
enum Var {
    Rule,
    Value,
    Severity,
    Expr,
    GraphUrl,
    Tag(String),
}

/// What a template can refer to.
#[derive(Debug, Clone, Copy)]
pub struct TemplateContext<'a> {
    /// The rule's name.
    pub rule: &'a str,
    /// The rule's severity.
    pub severity: &'a str,
    /// The rule's expression.
    pub expr: &'a str,
    /// Link to the chart of the expression.
    pub graph_url: &'a str,
    /// The instance's last value, if any.
    pub value: Option<f64>,
    /// The instance's series tags.
    pub tags: &'a TagMap,
}

impl Template {
    /// Parses `src`; an unknown variable or an unclosed `{{` is an error naming it.
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = src;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| {
                format!("unclosed '{{{{' at byte {}", src.len() - rest.len() + open)
            })?;
            let name = after[..close].trim();
            let var = match name {
                "rule" => Var::Rule,
                "value" => Var::Value,
                "severity" => Var::Severity,
                "expr" => Var::Expr,
                "graph_url" => Var::GraphUrl,
                other => match other.strip_prefix("tags.") {
                    Some(key) if !key.is_empty() => Var::Tag(key.to_string()),
                    _ => {
                        return Err(format!(
                            "unknown template variable '{other}': use rule, value, severity, \
                             expr, graph_url or tags.KEY"
                        ))
                    }
                },
            };
            parts.push(Part::Var(var));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template {
            parts,
            source: src.to_string(),
        })
    }

    /// Fills the holes. A tag the series lacks renders as an empty string.
    pub fn render(&self, ctx: &TemplateContext<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(Var::Rule) => out.push_str(ctx.rule),
                Part::Var(Var::Severity) => out.push_str(ctx.severity),
                Part::Var(Var::Expr) => out.push_str(ctx.expr),
                Part::Var(Var::GraphUrl) => out.push_str(ctx.graph_url),
                Part::Var(Var::Value) => out.push_str(&format_value(ctx.value)),
                Part::Var(Var::Tag(k)) => {
                    if let Some(v) = ctx.tags.get(k) {
                        out.push_str(v);
                    }
                }
            }
        }
        out
    }
}

/// A value for people: integers without a fraction, others with at most 4 decimals.
pub fn format_value(value: Option<f64>) -> String {
    match value {
        None => "NaN".to_string(),
        Some(v) if v.is_nan() => "NaN".to_string(),
        Some(v) if v.is_infinite() => if v > 0.0 { "+Inf" } else { "-Inf" }.to_string(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) => {
            let s = format!("{v:.4}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(tags: &'a TagMap, value: Option<f64>) -> TemplateContext<'a> {
        TemplateContext {
            rule: "HighCpu",
            severity: "page",
            expr: "name,cpu,:eq",
            graph_url: "http://x/api/v1/graph?q=name%2Ccpu%2C%3Aeq",
            value,
            tags,
        }
    }

    #[test]
    fn renders_every_variable() {
        let mut tags = TagMap::new();
        tags.insert("nf.app".into(), "www".into());
        let t = Template::parse(
            "{{rule}}/{{ severity }} on {{ tags.nf.app }}{{tags.missing}}: {{ value }} ({{expr}}) {{graph_url}}",
        )
        .unwrap();
        assert_eq!(
            t.render(&ctx(&tags, Some(93.25))),
            "HighCpu/page on www: 93.25 (name,cpu,:eq) http://x/api/v1/graph?q=name%2Ccpu%2C%3Aeq"
        );
    }

    #[test]
    fn values_are_formatted_for_people() {
        assert_eq!(format_value(Some(80.0)), "80");
        assert_eq!(format_value(Some(0.123456)), "0.1235");
        assert_eq!(format_value(Some(f64::NAN)), "NaN");
        assert_eq!(format_value(None), "NaN");
        assert_eq!(format_value(Some(f64::NEG_INFINITY)), "-Inf");
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(Template::parse("{{ valu }}").unwrap_err().contains("valu"));
        assert!(Template::parse("a {{ value")
            .unwrap_err()
            .contains("unclosed"));
        assert!(Template::parse("{{ tags. }}").is_err());
        assert_eq!(
            Template::parse("plain")
                .unwrap()
                .render(&ctx(&TagMap::new(), None)),
            "plain"
        );
    }
}
