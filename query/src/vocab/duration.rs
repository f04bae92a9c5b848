//! Duration literals of `:offset`, `:trend` and `:consolidate`: `5m`, `1h`, `PT30S`.
//!
//! Atlas `Strings.parseDuration`. Kept here until the time module offers one for both.

/// Parses `<n><unit>` (`ms`, `s`, `m`, `min`, `h`, `d`, `w`, `y` and the long names) or an
/// ISO-8601 duration (`PT30S`, `P1DT2H`, `P2W`). Returns milliseconds, `None` if malformed
/// or out of range.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(iso) = s.strip_prefix('P').or_else(|| s.strip_prefix('p')) {
        return parse_iso(iso);
    }
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = s.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let size = unit_ms(unit)?;
    n.checked_mul(size)
}

fn unit_ms(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "ms" | "millis" | "milliseconds" => 1,
        "s" | "sec" | "second" | "seconds" => 1000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "wk" | "week" | "weeks" => 7 * 86_400_000,
        "y" | "year" | "years" => 365 * 86_400_000,
        _ => return None,
    })
}

fn parse_iso(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for c in s.chars() {
        match c.to_ascii_uppercase() {
            'T' if num.is_empty() && !in_time => in_time = true,
            d if d.is_ascii_digit() || d == '.' => num.push(d),
            u => {
                let n: f64 = num.parse().ok()?;
                num.clear();
                let size = match (u, in_time) {
                    ('W', false) => 7 * 86_400_000,
                    ('D', false) => 86_400_000,
                    ('H', true) => 3_600_000,
                    ('M', true) => 60_000,
                    ('S', true) => 1000,
                    _ => return None,
                } as f64;
                let ms = n * size;
                if !ms.is_finite() || ms > i64::MAX as f64 / 2.0 {
                    return None;
                }
                total = total.checked_add(ms.round() as i64)?;
                any = true;
            }
        }
    }
    (any && num.is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn simple_and_iso_forms() {
        assert_eq!(parse_duration("5m"), Some(300_000));
        assert_eq!(parse_duration("1h"), Some(3_600_000));
        assert_eq!(parse_duration("1w"), Some(604_800_000));
        assert_eq!(parse_duration("100ms"), Some(100));
        assert_eq!(parse_duration("PT30S"), Some(30_000));
        assert_eq!(parse_duration("P1DT1H"), Some(90_000_000));
        assert_eq!(parse_duration("PT1.5S"), Some(1500));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }
}
