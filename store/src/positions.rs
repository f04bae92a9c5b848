//! Per-partition stream positions of a cluster node: the last stream sequence applied to
//! each partition, held so that a checkpoint captures a partition's series together with
//! its position, and so that a node resumed from a checkpoint applies no message twice
//! (docs/cluster.md, "Checkpoints and resume").
//!
//! Each partition has one slot behind its own mutex. The partition's consumer holds it
//! while it applies one message and advances the sequence; a checkpoint holds it while it
//! copies a group of the partition's series; dropping the partition holds it while it
//! removes them. Consumers of other partitions never wait for each other.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use parking_lot::Mutex;
use rustc_hash::FxHasher;

use crate::store::Store;

type SkipMap = HashMap<u128, u64, BuildHasherDefault<FxHasher>>;

/// The position of every partition of a cluster node.
pub struct StreamPositions {
    /// Partition count P, fixed at construction.
    partitions: u32,
    /// One slot per partition.
    slots: Box<[Mutex<Slot>]>,
    /// Held by a whole checkpoint and by a drop: a drop landing between a checkpoint's
    /// start positions and its capture of that partition would leave the file with the
    /// partition's old position and only part of its series.
    exclusive: Mutex<()>,
}

#[derive(Default)]
struct Slot {
    /// Stream sequence of the last message applied; 0: none.
    applied: u64,
    /// True while this node consumes the partition; an apply on an inactive slot is
    /// refused, so a consumer still running after its partition was released changes
    /// nothing.
    active: bool,
    /// Series restored from a checkpoint whose group was captured after the partition's
    /// start position, with the sequence the group held: messages up to it are already
    /// in them.
    skip: SkipMap,
    /// The highest sequence in `skip`; past it the map is dropped.
    skip_until: u64,
    /// The sequence the partition resumed after when loaded from a checkpoint.
    resumed_from: Option<u64>,
}

/// What [`StreamPositions::apply`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The message was applied and the position advanced to it.
    Applied,
    /// The message is at or below the position: already applied, skipped.
    Already,
    /// The partition is not consumed by this node (released, or out of range): nothing
    /// was applied.
    Inactive,
}

impl StreamPositions {
    /// Positions of `partitions` partitions, none applied, none active.
    pub fn new(partitions: u32) -> StreamPositions {
        StreamPositions {
            partitions: partitions.max(1),
            slots: (0..partitions.max(1))
                .map(|_| Mutex::new(Slot::default()))
                .collect(),
            exclusive: Mutex::new(()),
        }
    }

    /// The partition count P.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// The partition of a series with this [`identity`](crate::identity): `identity mod P`.
    pub fn partition_of(&self, identity: u128) -> u32 {
        (identity % u128::from(self.partitions)) as u32
    }

    /// The last sequence applied to partition `p` (0: none).
    pub fn applied(&self, p: u32) -> u64 {
        self.slot(p).map_or(0, |s| s.lock().applied)
    }

    /// The sequence partition `p` resumed after, when it came from a checkpoint.
    pub fn resumed_from(&self, p: u32) -> Option<u64> {
        self.slot(p).and_then(|s| s.lock().resumed_from)
    }

    /// Marks `p` consumed by this node; returns the sequence to resume after.
    pub fn activate(&self, p: u32) -> u64 {
        self.slot(p).map_or(0, |s| {
            let mut s = s.lock();
            s.active = true;
            s.applied
        })
    }

    /// Marks `p` no longer consumed: from now on no message is applied to it. Waits for
    /// a message being applied to finish.
    pub fn release(&self, p: u32) {
        if let Some(s) = self.slot(p) {
            s.lock().active = false;
        }
    }

    /// Partitions not consumed by this node whose series the store may still hold: the
    /// ones to drop once their owners are live.
    pub fn held(&self) -> Vec<u32> {
        (0..self.partitions)
            .filter(|&p| {
                self.slot(p).is_some_and(|s| {
                    let s = s.lock();
                    !s.active && (s.applied > 0 || s.skip_until > 0)
                })
            })
            .collect()
    }

    /// Applies the message of stream sequence `seq` of partition `p` by calling `apply`
    /// with a filter: `apply` must store exactly the datapoints of series whose identity
    /// the filter accepts (a series restored from a checkpoint already holds the messages
    /// up to the sequence it was captured at). Runs while holding the partition's slot,
    /// so a checkpoint sees the message's points and its sequence together or neither.
    pub fn apply(&self, p: u32, seq: u64, apply: impl FnOnce(&dyn Fn(u128) -> bool)) -> Applied {
        let Some(slot) = self.slot(p) else {
            return Applied::Inactive;
        };
        let mut s = slot.lock();
        if !s.active {
            return Applied::Inactive;
        }
        if seq <= s.applied {
            return Applied::Already;
        }
        if seq <= s.skip_until {
            let skip = &s.skip;
            apply(&|identity| skip.get(&identity).is_none_or(|&held| seq > held));
        } else {
            apply(&|_| true);
        }
        s.applied = seq;
        if seq >= s.skip_until && s.skip_until > 0 {
            s.skip = SkipMap::default();
            s.skip_until = 0;
        }
        Applied::Applied
    }

    /// Removes every series of partition `p` from `store` and forgets its position, so
    /// gaining it again rebuilds it from the stream. Does nothing (returns `None`) when
    /// the partition is consumed again meanwhile. Waits for a running checkpoint.
    pub fn drop_partition(&self, store: &Store, p: u32) -> Option<usize> {
        let slot = self.slot(p)?;
        let _exclusive = self.exclusive.lock();
        let mut s = slot.lock();
        if s.active {
            return None;
        }
        let removed = store.remove_where(|identity| self.partition_of(identity) == p);
        *s = Slot::default();
        Some(removed)
    }

    /// Runs `f` while no drop runs: a checkpoint.
    pub(crate) fn exclusive<T>(&self, f: impl FnOnce() -> T) -> T {
        let _exclusive = self.exclusive.lock();
        f()
    }

    /// Runs `f` with partition `p`'s position while nothing is applied to `p`.
    pub(crate) fn quiesce<T>(&self, p: u32, f: impl FnOnce(u64) -> T) -> Option<T> {
        self.slot(p).map(|s| f(s.lock().applied))
    }

    /// Sets what a checkpoint says of partition `p`: the sequence to resume after, and
    /// the series restored from groups captured later (with their group's sequence).
    pub(crate) fn restore(&self, p: u32, start: u64, later: impl IntoIterator<Item = (u128, u64)>) {
        let Some(slot) = self.slot(p) else { return };
        let mut s = slot.lock();
        s.applied = start;
        s.resumed_from = Some(start);
        for (identity, seq) in later {
            if seq > start {
                s.skip.insert(identity, seq);
                s.skip_until = s.skip_until.max(seq);
            }
        }
    }

    fn slot(&self, p: u32) -> Option<&Mutex<Slot>> {
        self.slots.get(p as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::identity;
    use crate::store::StoreConfig;

    #[test]
    fn a_restored_series_skips_what_its_group_already_held() {
        let positions = StreamPositions::new(4);
        let a = identity(&[("name", "a")]);
        let b = identity(&[("name", "b")]);
        let p = positions.partition_of(a);
        // Partition p started at 10; series a was captured at 12, b not at all.
        positions.restore(p, 10, [(a, 12)]);
        assert_eq!(positions.activate(p), 10);
        let mut seen = Vec::new();
        for seq in [9, 10, 11, 12, 13] {
            let outcome = positions.apply(p, seq, |keep| seen.push((seq, keep(a), keep(b))));
            let want = if seq <= 10 {
                Applied::Already
            } else {
                Applied::Applied
            };
            assert_eq!(outcome, want, "seq {seq}");
        }
        assert_eq!(
            seen,
            [(11, false, true), (12, false, true), (13, true, true)]
        );
        assert_eq!(positions.applied(p), 13);
        assert_eq!(positions.resumed_from(p), Some(10));
    }

    #[test]
    fn a_released_partition_applies_nothing_and_drops_its_series() {
        let store = Store::new(StoreConfig {
            step_ms: 1000,
            ..StoreConfig::default()
        });
        let positions = StreamPositions::new(2);
        let names: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
        let tags = |n: &str| {
            [
                ("atlas.dstype", "gauge".to_string()),
                ("name", n.to_string()),
            ]
        };
        for p in 0..2 {
            positions.activate(p);
        }
        for (seq, n) in names.iter().enumerate() {
            let p = positions.partition_of(identity(&tags(n)));
            let outcome = positions.apply(p, seq as u64 + 1, |_| {
                let _ = store.write(&tags(n), 1_000_000, 1.0);
            });
            assert_eq!(outcome, Applied::Applied);
        }
        let in_0 = names
            .iter()
            .filter(|n| positions.partition_of(identity(&tags(n))) == 0)
            .count();
        assert!(in_0 > 0 && in_0 < 20, "{in_0} of 20 in partition 0");
        positions.release(0);
        assert_eq!(positions.held(), [0]);
        assert_eq!(positions.apply(0, 100, |_| {}), Applied::Inactive);
        // Consumed again before the drop: kept.
        positions.activate(0);
        assert_eq!(positions.drop_partition(&store, 0), None);
        positions.release(0);
        assert_eq!(positions.drop_partition(&store, 0), Some(in_0));
        assert_eq!(store.len(), 20 - in_0);
        assert_eq!(positions.applied(0), 0);
        assert!(positions.held().is_empty());
    }
}
