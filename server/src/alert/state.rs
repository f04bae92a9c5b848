//! Persistence of alert state: rule instances, what each receiver last heard, and
//! silences, as one JSON file under the data directory. A restart therefore neither
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

#[cfg(test)]
mod tests {
    use super::*;

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
