//! Dashboards: named lists of graphs saved as JSON files under `<data-dir>/dashboards/`.
//!
//! A dashboard is a JSON object `{"title": "...", "variables": [{"name", "key", "q"}],
//! "graphs": [{"title", "q", "w", "h"}, ...]}`; unknown fields are kept so the web UI can
//! grow without a server change. Each graph's expression must parse when saved, with every
//! `$name` of a variable replaced by a sample value, so a typo is refused with the panel
//! and position named instead of showing up later as an error image. Names are `[A-Za-z0-9._-]{1,64}` and not `.`/`..`, so a name can never leave
//! the directory. Writes go to a temporary file that is renamed over the old one, so a
//! crash never leaves half a dashboard.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde_json::Value;

/// Largest dashboard document accepted, bytes: hundreds of graphs, far below anything
/// that could hurt memory.
pub const MAX_DASHBOARD_BYTES: usize = 256 << 10;
/// Most graphs on one dashboard.
pub const MAX_GRAPHS: usize = 200;
/// Most variables on one dashboard.
pub const MAX_VARIABLES: usize = 20;

/// Checks a variable name: `[A-Za-z0-9_]{1,32}`, as `$name` finds it in an expression.
fn valid_variable_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `q` with `$name` of each variable replaced by `value`, as the page substitutes the
/// chosen values; `$name.x` and `$names` (legend templates) are left alone.
pub fn substitute(q: &str, names: &[String], value: &str) -> String {
    let mut out = String::with_capacity(q.len());
    let mut rest = q;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let next = after.as_bytes().get(len).copied();
        let word = &after[..len];
        if len > 0 && next != Some(b'.') && names.iter().any(|n| n == word) {
            out.push_str(value);
        } else {
            out.push('$');
            out.push_str(word);
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// Checks `variables`, returning their names.
fn validate_variables(obj: &serde_json::Map<String, Value>) -> Result<Vec<String>, DashboardError> {
    let vars = match obj.get("variables") {
        None => return Ok(Vec::new()),
        Some(Value::Array(v)) => v,
        Some(_) => {
            return Err(DashboardError::Invalid(
                "'variables' must be an array".into(),
            ))
        }
    };
    if vars.len() > MAX_VARIABLES {
        return Err(DashboardError::Invalid(format!(
            "{} variables, at most {MAX_VARIABLES}",
            vars.len()
        )));
    }
    let mut names: Vec<String> = Vec::new();
    for (i, v) in vars.iter().enumerate() {
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        let name = field("name").unwrap_or_default();
        if !valid_variable_name(name) {
            return Err(DashboardError::Invalid(format!(
                "variables[{i}]: 'name' must be 1 to 32 of A-Z a-z 0-9 _, got '{}'",
                name.chars().take(40).collect::<String>()
            )));
        }
        if names.iter().any(|n| n == name) {
            return Err(DashboardError::Invalid(format!(
                "variables[{i}]: '{name}' is defined twice"
            )));
        }
        if field("key").is_none_or(str::is_empty) {
            return Err(DashboardError::Invalid(format!(
                "variables[{i}] ('{name}') needs a string 'key': the tag key whose values it takes"
            )));
        }
        if let Some(q) = field("q").filter(|q| !q.trim().is_empty()) {
            sextant_query::interpret(q).map_err(|e| {
                DashboardError::Invalid(format!("variables[{i}] ('{name}') query: {e}"))
            })?;
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// Why a dashboard operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The name has characters outside `[A-Za-z0-9._-]`, is empty, too long or a dot name.
    #[error("invalid dashboard name '{0}': use 1 to 64 of A-Z a-z 0-9 . _ - (not '.' or '..')")]
    InvalidName(String),
    /// No dashboard has this name.
    #[error("no dashboard named '{0}'")]
    NotFound(String),
    /// The document is not a dashboard.
    #[error("invalid dashboard: {0}")]
    Invalid(String),
    /// The document is larger than [`MAX_DASHBOARD_BYTES`].
    #[error("dashboard too large: {0} bytes, at most {MAX_DASHBOARD_BYTES}")]
    TooLarge(usize),
    /// Reading or writing the file failed.
    #[error("dashboard storage failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks a dashboard name.
pub fn validate_name(name: &str) -> Result<(), DashboardError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(DashboardError::InvalidName(name.chars().take(80).collect()))
    }
}

/// Checks the shape of a dashboard document.
fn validate(doc: &Value) -> Result<(), DashboardError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| DashboardError::Invalid("expected a JSON object".into()))?;
    if let Some(title) = obj.get("title") {
        if !title.is_string() {
            return Err(DashboardError::Invalid("'title' must be a string".into()));
        }
    }
    let names = validate_variables(obj)?;
    let graphs = match obj.get("graphs") {
        None => return Ok(()),
        Some(Value::Array(g)) => g,
        Some(_) => return Err(DashboardError::Invalid("'graphs' must be an array".into())),
    };
    if graphs.len() > MAX_GRAPHS {
        return Err(DashboardError::Invalid(format!(
            "{} graphs, at most {MAX_GRAPHS}",
            graphs.len()
        )));
    }
    for (i, g) in graphs.iter().enumerate() {
        let Some(q) = g.get("q").and_then(Value::as_str) else {
            return Err(DashboardError::Invalid(format!(
                "graphs[{i}] needs a string 'q'"
            )));
        };
        let title = g.get("title").and_then(Value::as_str).unwrap_or_default();
        let named = if title.is_empty() {
            format!("graphs[{i}]")
        } else {
            format!(
                "graphs[{i}] ('{}')",
                title.chars().take(60).collect::<String>()
            )
        };
        if q.trim().is_empty() {
            return Err(DashboardError::Invalid(format!(
                "{named} has an empty expression"
            )));
        }
        // A sample value without commas keeps the positions of errors meaningful.
        sextant_query::parse(&substitute(q, &names, "x"))
            .map_err(|e| DashboardError::Invalid(format!("{named}: {e}")))?;
    }
    Ok(())
}

/// Where a cluster keeps dashboards, so every node serves the same ones: raw documents by
/// name (validated by [`DashboardStore`] before they get here).
pub trait SharedDashboards: Send + Sync {
    /// Names of all dashboards.
    fn names(&self) -> std::io::Result<Vec<String>>;
    /// The document `name`, if saved.
    fn load(&self, name: &str) -> std::io::Result<Option<Vec<u8>>>;
    /// Saves the document `name`.
    fn save(&self, name: &str, doc: Vec<u8>) -> std::io::Result<()>;
    /// Deletes `name`; false when there was none.
    fn remove(&self, name: &str) -> std::io::Result<bool>;
}

/// The saved dashboards. With a directory they live in files; without one (tests, or no
/// `--data-dir`) only in memory; in a cluster, in the cluster's shared store.
pub struct DashboardStore {
    /// Immutable after construction.
    dir: Option<PathBuf>,
    /// A cluster's store; when set, neither `dir` nor `memory` is used.
    shared: Option<Box<dyn SharedDashboards>>,
    /// Guards the in-memory map, and serialises file writes so two PUTs of one name
    /// cannot interleave their rename.
    memory: Mutex<BTreeMap<String, Value>>,
    /// Makes temporary file names unique within the process.
    seq: AtomicU64,
}

impl std::fmt::Debug for DashboardStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardStore")
            .field("dir", &self.dir)
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl DashboardStore {
    /// Dashboards kept as files in `dir` (created on first write).
    pub fn in_dir(dir: impl Into<PathBuf>) -> DashboardStore {
        DashboardStore {
            dir: Some(dir.into()),
            shared: None,
            memory: Mutex::default(),
            seq: AtomicU64::new(0),
        }
    }

    /// Dashboards kept in memory only.
    pub fn in_memory() -> DashboardStore {
        DashboardStore {
            dir: None,
            shared: None,
            memory: Mutex::default(),
            seq: AtomicU64::new(0),
        }
    }

    /// Dashboards kept in a cluster's shared store: the same on every node.
    pub fn shared(shared: Box<dyn SharedDashboards>) -> DashboardStore {
        DashboardStore {
            shared: Some(shared),
            ..DashboardStore::in_memory()
        }
    }

    fn path(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.json"))
    }

    /// Names of all dashboards, sorted.
    pub fn list(&self) -> Result<Vec<String>, DashboardError> {
        if let Some(shared) = &self.shared {
            let mut names = shared.names()?;
            names.retain(|n| validate_name(n).is_ok());
            names.sort();
            return Ok(names);
        }
        let Some(dir) = &self.dir else {
            return Ok(self.memory.lock().keys().cloned().collect());
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut names = Vec::new();
        for entry in entries {
            let file = entry?.file_name();
            let Some(name) = file.to_str().and_then(|f| f.strip_suffix(".json")) else {
                continue;
            };
            // Skips temporary files and anything put there by hand under another name.
            if validate_name(name).is_ok() && !name.starts_with('.') {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The dashboard `name`.
    pub fn get(&self, name: &str) -> Result<Value, DashboardError> {
        validate_name(name)?;
        if let Some(shared) = &self.shared {
            let bytes = shared
                .load(name)?
                .ok_or_else(|| DashboardError::NotFound(name.to_string()))?;
            return serde_json::from_slice(&bytes)
                .map_err(|e| DashboardError::Invalid(format!("stored document is not JSON: {e}")));
        }
        let Some(dir) = &self.dir else {
            return self
                .memory
                .lock()
                .get(name)
                .cloned()
                .ok_or_else(|| DashboardError::NotFound(name.to_string()));
        };
        let bytes = match std::fs::read(Self::path(dir, name)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DashboardError::NotFound(name.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| DashboardError::Invalid(format!("stored file is not JSON: {e}")))
    }

    /// Saves `body` (a JSON document) as dashboard `name`, replacing any old one.
    pub fn put(&self, name: &str, body: &[u8]) -> Result<Value, DashboardError> {
        validate_name(name)?;
        if body.len() > MAX_DASHBOARD_BYTES {
            return Err(DashboardError::TooLarge(body.len()));
        }
        let doc: Value = serde_json::from_slice(body)
            .map_err(|e| DashboardError::Invalid(format!("not JSON: {e}")))?;
        validate(&doc)?;
        if let Some(shared) = &self.shared {
            let bytes =
                serde_json::to_vec(&doc).map_err(|e| DashboardError::Invalid(e.to_string()))?;
            shared.save(name, bytes)?;
            return Ok(doc);
        }
        let mut memory = self.memory.lock();
        let Some(dir) = &self.dir else {
            memory.insert(name.to_string(), doc.clone());
            return Ok(doc);
        };
        std::fs::create_dir_all(dir)?;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
        let pretty =
            serde_json::to_vec_pretty(&doc).map_err(|e| DashboardError::Invalid(e.to_string()))?;
        let written = (|| {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&pretty)?;
            f.sync_all()?;
            std::fs::rename(&tmp, Self::path(dir, name))
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        Ok(doc)
    }

    /// Deletes dashboard `name`.
    pub fn delete(&self, name: &str) -> Result<(), DashboardError> {
        validate_name(name)?;
        if let Some(shared) = &self.shared {
            return match shared.remove(name)? {
                true => Ok(()),
                false => Err(DashboardError::NotFound(name.to_string())),
            };
        }
        let mut memory = self.memory.lock();
        let Some(dir) = &self.dir else {
            return memory
                .remove(name)
                .map(|_| ())
                .ok_or_else(|| DashboardError::NotFound(name.to_string()));
        };
        match std::fs::remove_file(Self::path(dir, name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(DashboardError::NotFound(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_directory() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "web.prod", "A-b_c.1", &"x".repeat(64)] {
            assert!(validate_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn file_round_trip_and_atomic_replace() {
        let dir = std::env::temp_dir().join(format!("sextant-dash-{}", std::process::id()));
        let store = DashboardStore::in_dir(&dir);
        assert!(store.list().expect("list").is_empty());
        store
            .put("ops", br#"{"title":"Ops","graphs":[{"q":"1"}]}"#)
            .expect("put");
        store
            .put("ops", br#"{"graphs":[{"q":"2"}]}"#)
            .expect("replace");
        assert_eq!(store.get("ops").expect("get")["graphs"][0]["q"], "2");
        assert_eq!(store.list().expect("list"), ["ops"]);
        assert!(matches!(
            store.put("bad", br#"{"graphs":[{}]}"#),
            Err(DashboardError::Invalid(_))
        ));
        store.delete("ops").expect("delete");
        assert!(matches!(store.get("ops"), Err(DashboardError::NotFound(_))));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn panels_and_variables_are_checked_when_saved() {
        let store = DashboardStore::in_memory();
        let ok = br#"{"variables":[{"name":"app","key":"nf.app","q":"name,cpu,:eq"}],
            "graphs":[{"title":"cpu","q":"name,cpu,:eq,nf.app,$app,:eq,:and,$nf.node,:legend"}]}"#;
        store.put("ok", ok).expect("a valid dashboard");
        let refused = |body: &[u8]| match store.put("bad", body) {
            Err(DashboardError::Invalid(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let m = refused(br#"{"graphs":[{"title":"cpu","q":"name,cpu,:eq,:bogus"}]}"#);
        assert!(
            m.contains("graphs[0] ('cpu')") && m.contains(":bogus"),
            "{m}"
        );
        let m = refused(br#"{"graphs":[{"q":" "}]}"#);
        assert!(m.contains("empty expression"), "{m}");
        let m = refused(br#"{"variables":[{"name":"a b","key":"k"}]}"#);
        assert!(m.contains("variables[0]"), "{m}");
        let m = refused(br#"{"variables":[{"name":"a"}]}"#);
        assert!(m.contains("needs a string 'key'"), "{m}");
        let m = refused(br#"{"variables":[{"name":"a","key":"k"},{"name":"a","key":"k"}]}"#);
        assert!(m.contains("defined twice"), "{m}");
        let m = refused(br#"{"variables":[{"name":"a","key":"k","q":"x,:bogus"}]}"#);
        assert!(m.contains("query") && m.contains(":bogus"), "{m}");
    }

    #[test]
    fn substitution_leaves_legend_templates_alone() {
        let names = vec!["app".to_string()];
        assert_eq!(
            substitute("nf.app,$app,:eq,$app.x,$apps,$nf.app,$(app)", &names, "www"),
            "nf.app,www,:eq,$app.x,$apps,$nf.app,$(app)"
        );
        assert_eq!(substitute("$app", &names, "www"), "www");
        assert_eq!(substitute("a$", &names, "www"), "a$");
    }
}
