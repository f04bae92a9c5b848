//! Persistence of alert state: rule instances and what each receiver last heard, as one
//! JSON file under the data directory, and silences in a log of their own (one JSON line
//! per change, appended; rewritten whole only to drop forgotten silences), so creating a
//! silence writes that silence, not every silence. A restart therefore neither
//! re-fires a firing alert (its group remembers it was sent) nor forgets a pending one
//! (its `activeAt` survives, so `for` keeps counting).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::eval::RuleState;
use super::notify::Groups;
use super::silence::Silence;

/// Version of the file format; a file of another version is ignored, not misread.
const VERSION: u32 = 1;

/// Everything that is saved.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version.
    pub version: u32,
    /// Rule states by rule name.
    pub rules: BTreeMap<String, RuleState>,
    /// Notification groups.
    pub groups: Groups,
    /// Silences.
    pub silences: Vec<Silence>,
}

/// Where the state file lives under `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("alerting").join("state.json")
}

/// Reads the snapshot at `path`; a missing file is an empty start.
pub fn load(path: &Path) -> Result<Option<Snapshot>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let snapshot: Snapshot =
        serde_json::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
    if snapshot.version != VERSION {
        return Err(format!(
            "{} has format version {}, expected {VERSION}",
            path.display(),
            snapshot.version
        ));
    }
    Ok(Some(snapshot))
}

/// Writes `snapshot` to `path` atomically: a temporary file beside it, synced, then renamed
/// over the old one, so a crash leaves either the old or the new state, never half.
pub fn save(path: &Path, snapshot: &mut Snapshot) -> std::io::Result<()> {
    snapshot.version = VERSION;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(snapshot).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Where the silence log lives under `data_dir`.
pub fn silences_path(data_dir: &Path) -> PathBuf {
    data_dir.join("alerting").join("silences.jsonl")
}

/// The silences of the log at `path`, the last line of an id winning, with the number of
/// lines read. A torn last line (a crash mid-append) is skipped; a missing file is empty.
pub fn load_silences(path: &Path) -> Result<(Vec<Silence>, usize), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut order: Vec<String> = Vec::new();
    let mut by_id: BTreeMap<String, Silence> = BTreeMap::new();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        lines += 1;
        let Ok(s) = serde_json::from_str::<Silence>(line) else {
            tracing::warn!(path = %path.display(), line = lines, "unreadable silence line skipped");
            continue;
        };
        if !by_id.contains_key(&s.id) {
            order.push(s.id.clone());
        }
        by_id.insert(s.id.clone(), s);
    }
    let all = order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect();
    Ok((all, lines))
}

/// Appends one silence (new or changed) to the log at `path`, synced.
pub fn append_silence(path: &Path, silence: &Silence) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_vec(silence).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(&line)?;
    f.sync_data()
}

/// Replaces the log at `path` with one line per silence of `all`, atomically.
pub fn rewrite_silences(path: &Path, all: &[Silence]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("jsonl.tmp");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        for s in all {
            serde_json::to_writer(&mut f, s).map_err(std::io::Error::other)?;
            f.write_all(b"\n")?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(id: &str, ends_at: i64) -> Silence {
        Silence {
            id: id.into(),
            matchers: Vec::new(),
            starts_at: 0,
            ends_at,
            comment: String::new(),
            created_by: String::new(),
            updated_at: 0,
        }
    }

    /// Each change is one appended line; the last line of an id wins; a torn line is
    /// skipped; a rewrite keeps one line per silence.
    #[test]
    fn the_silence_log_appends_and_replays() {
        let dir = std::env::temp_dir().join(format!("sextant-silence-log-{}", std::process::id()));
        let p = silences_path(&dir);
        assert_eq!(load_silences(&p).unwrap(), (Vec::new(), 0));
        append_silence(&p, &silence("a", 10)).unwrap();
        append_silence(&p, &silence("b", 20)).unwrap();
        append_silence(&p, &silence("a", 5)).unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"id":"c","matc"#).unwrap();
        let (all, lines) = load_silences(&p).unwrap();
        assert_eq!(lines, 4);
        assert_eq!(all, vec![silence("a", 5), silence("b", 20)]);
        rewrite_silences(&p, &all).unwrap();
        assert_eq!(load_silences(&p).unwrap(), (all, 2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn round_trips_and_refuses_other_versions() {
        let dir = std::env::temp_dir().join(format!("sextant-alert-state-{}", std::process::id()));
        let p = path(&dir);
        assert!(load(&p).unwrap().is_none());
        let mut s = Snapshot::default();
        s.rules.insert("r".into(), RuleState::default());
        save(&p, &mut s).unwrap();
        let back = load(&p).unwrap().unwrap();
        assert_eq!(back.rules.len(), 1);
        assert!(!p.with_extension("json.tmp").exists());
        std::fs::write(
            &p,
            r#"{"version":99,"rules":{},"groups":{"groups":{}},"silences":[]}"#,
        )
        .unwrap();
        assert!(load(&p).unwrap_err().contains("version 99"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
