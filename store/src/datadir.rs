//! One server per data directory: an advisory exclusive lock on `<data-dir>/LOCK`, held for
//! the server's lifetime.
//!
//! Two servers on one directory would both append to and truncate the same write-ahead log
//! and overwrite each other's alert state. `flock(2)` locks belong to the open file, so the
//! kernel releases them when the process ends however it ends (SIGKILL included): a stale
//! `LOCK` file never blocks a restart. The holder's pid is written into the file only to
//! name it in the error.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    // Never read: holding the open file is what holds the lock.
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Creates `dir` if needed and locks it, failing at once (never waiting) when another
    /// process holds the lock, with the directory and that process's pid in the message.
    pub fn acquire(dir: &Path) -> std::io::Result<DataDirLock> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            std::io::Error::other(format!("data directory {}: {what}: {e}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| fail("cannot create it", &e))?;
        let path = dir.join(LOCK_FILE);
        // Not truncated on open: the holder's pid must stay readable for the error.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| fail("cannot open its LOCK file", &e))?;
        if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
            if e != rustix::io::Errno::WOULDBLOCK {
                return Err(fail("cannot lock its LOCK file", &e));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim().parse::<u32>() {
                Ok(pid) => format!("pid {pid}"),
                Err(_) => "pid unknown".to_string(),
            };
            return Err(std::io::Error::other(format!(
                "data directory {} is in use by another sextant server ({holder}, holding {}); stop it or choose another --data-dir",
                dir.display(),
                path.display()
            )));
        }
        let pid = std::process::id();
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{pid}"));
        if let Err(e) = written {
            // The lock holds without the pid; only the error text of a second server loses.
            tracing::warn!(path = %path.display(), error = %e, "cannot write the pid into the lock file");
        }
        Ok(DataDirLock { _file: file, path })
    }

    /// Path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_fails_naming_it_and_the_holder() {
        let dir = std::env::temp_dir().join(format!("sextant-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = DataDirLock::acquire(&dir);
        assert!(first.is_ok(), "{first:?}");
        // flock locks belong to the open file, so a second open in this process conflicts.
        let second = DataDirLock::acquire(&dir);
        let message = second.map(|_| ()).map_err(|e| e.to_string());
        let want = format!(
            "data directory {} is in use by another sextant server (pid {}",
            dir.display(),
            std::process::id()
        );
        assert!(
            message.as_ref().is_err_and(|m| m.starts_with(&want)),
            "{message:?}"
        );
        drop(first);
        assert!(DataDirLock::acquire(&dir).is_ok(), "released on drop");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
