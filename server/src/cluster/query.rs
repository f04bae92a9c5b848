//! Queries across partitions: the node that receives a query folds each data expression
//! on one live owner of every partition (itself first) and merges the partial results;
//! everything above the data expressions then runs on the merged lines exactly as on a
//! single node (docs/cluster.md, "Queries").
//!
//! A partition no live owner answered for is recorded in the query's
//! [`Coverage`](sextant_query::Coverage), so the answer says it is partial.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sextant_query::{
    fold_scan, merge_folded, Database, DatabaseError, FoldRequest, Folded, Partial, ScanRequest,
    SeriesVisitor,
};
use sextant_store::Store;

use super::status::ClusterStatus;
use super::{partition_of, Settings};
use crate::clock::Clock;
use crate::grapher::Budgeted;

/// The internal route a node folds partitions on.
pub const FOLD_PATH: &str = "/internal/v1/fold";
/// The internal route listing tags of some partitions.
pub const TAGS_PATH: &str = "/internal/v1/tags";

/// One data expression to fold over some partitions, as sent between nodes (bincode).
#[derive(Debug, Serialize, Deserialize)]
pub struct FoldCall {
    /// The data expression, printed in the stack language (it reads back equal).
    pub expr: String,
    /// [`FoldRequest::start`].
    pub start: i64,
    /// [`FoldRequest::end`].
    pub end: i64,
    /// [`FoldRequest::multiple`].
    pub multiple: u64,
    /// [`FoldRequest::points`].
    pub points: u64,
    /// [`FoldRequest::held`] as a pair.
    pub held: (u64, u64),
    /// [`FoldRequest::max_lines`].
    pub max_lines: u64,
    /// The partitions to fold; the node folds those it has live.
    pub partitions: Vec<u32>,
    /// Time the callee may take.
    pub budget_ms: u64,
}

/// A node's answer to a [`FoldCall`]: the partitions it folded (those it had live) and
/// their result, or why the query failed (a limit: the same for every partition).
#[derive(Debug, Serialize, Deserialize)]
pub struct FoldReply {
    /// Partitions folded.
    pub served: Vec<u32>,
    /// Their result, or the query's error.
    pub folded: Result<Folded, DatabaseError>,
}

/// A tag listing over some partitions (`/api/v1/tags` fan-out).
#[derive(Debug, Serialize, Deserialize)]
pub struct TagsCall {
    /// The tag query, in the stack language (empty: every series).
    pub q: String,
    /// `None` lists keys; `Some(key)` lists that key's values.
    pub key: Option<String>,
    /// Only names after this one.
    pub after: Option<String>,
    /// Most names.
    pub limit: u64,
    /// The partitions to list.
    pub partitions: Vec<u32>,
}

/// Tag names with their series counts, sorted by name.
pub type Names = Vec<(String, u64)>;

/// Names and series counts of some partitions.
#[derive(Debug, Serialize, Deserialize)]
pub struct TagsReply {
    /// Partitions listed.
    pub served: Vec<u32>,
    /// `(name, series)`, sorted by name, or why the listing failed (a regular expression
    /// that gave up: the query's error, not a missing partition).
    pub names: Result<Names, DatabaseError>,
}

/// Encodes a message between nodes.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| e.to_string())
}

/// Decodes a message between nodes, refusing trailing bytes.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map_err(|e| format!("undecodable message: {e}"))?;
    if read != bytes.len() {
        return Err(format!("{} bytes after the message", bytes.len() - read));
    }
    Ok(value)
}

/// The series of some partitions of a store.
pub struct PartitionView<'a> {
    store: &'a Store,
    wanted: Vec<bool>,
}

impl<'a> PartitionView<'a> {
    /// `partitions` (of `count`) of `store`.
    pub fn new(store: &'a Store, partitions: &[u32], count: u32) -> PartitionView<'a> {
        let mut wanted = vec![false; count as usize];
        for &p in partitions {
            if let Some(w) = wanted.get_mut(p as usize) {
                *w = true;
            }
        }
        PartitionView { store, wanted }
    }

    /// True when the series with these tags is in one of the partitions.
    pub fn holds(&self, tags: &[(&str, &str)]) -> bool {
        let p = partition_of(sextant_store::identity(tags), self.wanted.len() as u32);
        self.wanted.get(p as usize).copied().unwrap_or(false)
    }
}

impl Database for PartitionView<'_> {
    fn step(&self) -> i64 {
        self.store.step()
    }

    fn extent(&self) -> Option<(i64, i64)> {
        self.store.extent()
    }

    fn scan(
        &self,
        request: &ScanRequest<'_>,
        visit: &mut SeriesVisitor<'_>,
    ) -> Result<(), DatabaseError> {
        // Filtered before decoding: a peer asked for some of its partitions would
        // otherwise decode every series it holds and drop the others.
        self.store
            .scan_where(request, |tags| self.holds(tags), visit)
    }
}

/// Those of `partitions` this node has live now: a caller routed by an older heartbeat
/// may ask for one it has since released or not yet caught up on.
fn live_of(status: &ClusterStatus, partitions: &[u32]) -> Vec<u32> {
    let live: BTreeSet<u32> = status.live().into_iter().collect();
    partitions
        .iter()
        .copied()
        .filter(|p| live.contains(p))
        .collect()
}

/// Folds `call` over the partitions of it this node has live.
pub fn fold_here(store: &Store, status: &ClusterStatus, call: &FoldCall) -> FoldReply {
    let served = live_of(status, &call.partitions);
    let folded = parse_data(&call.expr).and_then(|expr| {
        let view = PartitionView::new(store, &served, status.settings.partitions);
        let request = FoldRequest {
            expr: &expr,
            start: call.start,
            end: call.end,
            multiple: usize::try_from(call.multiple).unwrap_or(usize::MAX),
            points: usize::try_from(call.points).unwrap_or(usize::MAX),
            held: usize::try_from(call.held.0).unwrap_or(0)
                ..usize::try_from(call.held.1).unwrap_or(0),
            max_lines: usize::try_from(call.max_lines).unwrap_or(usize::MAX),
            deadline: None,
            coverage: None,
        };
        check_shape(&request, store.step())?;
        let budgeted = Budgeted::new(&view, Duration::from_millis(call.budget_ms));
        let folded = fold_scan(&budgeted, &request)?;
        // A pattern that gave up on a value made the result incomplete: the query fails,
        // here as on a single node.
        expr.query()
            .check_patterns()
            .map_err(|e| DatabaseError::Limit(e.to_string()))?;
        Ok(folded)
    });
    FoldReply { served, folded }
}

/// Most points of one line a peer may ask for: the query limits allow far fewer.
const MAX_POINTS: usize = 10_000_000;

/// A request whose held points do not fit its line, or whose scan window is not the held
/// points' primary points, is refused before anything is allocated.
fn check_shape(r: &FoldRequest<'_>, step: i64) -> Result<(), DatabaseError> {
    let scanned = r.held.len().checked_mul(r.multiple);
    let window = r
        .end
        .checked_sub(r.start)
        .filter(|w| *w >= 0 && step > 0)
        .map(|w| (w / step) as u128);
    if r.held.start > r.held.end
        || r.held.end > r.points
        || r.points > MAX_POINTS
        || r.multiple == 0
        || scanned.is_none_or(|s| s > MAX_POINTS)
        || window != scanned.map(|s| s as u128)
    {
        return Err(DatabaseError::Limit(format!(
            "malformed fold request: held {:?} of {} points, multiple {}",
            r.held, r.points, r.multiple
        )));
    }
    Ok(())
}

/// The one data expression printed in `text`.
fn parse_data(text: &str) -> Result<sextant_query::DataExpr, DatabaseError> {
    let exprs =
        sextant_query::parse(text).map_err(|e| DatabaseError::Storage(format!("{text}: {e}")))?;
    match exprs.as_slice() {
        [se] => match &se.expr {
            sextant_query::Expr::Data(d) => Ok(d.clone()),
            _ => Err(DatabaseError::Storage(format!(
                "{text}: not a data expression"
            ))),
        },
        _ => Err(DatabaseError::Storage(format!(
            "{text}: not one data expression"
        ))),
    }
}

/// Lists tag names of the partitions of `call` this node has live.
pub fn tags_here(store: &Store, status: &ClusterStatus, call: &TagsCall) -> TagsReply {
    let served = live_of(status, &call.partitions);
    let names = list_tags(store, status, call, &served);
    TagsReply { served, names }
}

fn list_tags(
    store: &Store,
    status: &ClusterStatus,
    call: &TagsCall,
    served: &[u32],
) -> Result<Names, DatabaseError> {
    let query = if call.q.trim().is_empty() {
        sextant_query::Query::True
    } else {
        sextant_query::parse_query(&call.q)
            .map_err(|e| DatabaseError::Storage(format!("{}: {e}", call.q)))?
    };
    let view = PartitionView::new(store, served, status.settings.partitions);
    let limit = usize::try_from(call.limit)
        .unwrap_or(usize::MAX)
        .min(10_000);
    let names = store.tag_names_where(
        &query,
        call.key.as_deref(),
        call.after.as_deref(),
        limit,
        |tags| view.holds(tags),
    );
    // A pattern that gave up on a value made the listing incomplete.
    query
        .check_patterns()
        .map_err(|e| DatabaseError::Limit(e.to_string()))?;
    Ok(names.into_iter().map(|t| (t.name, t.count)).collect())
}

/// The cluster as one query's data: folds go to the owners of every partition.
pub struct ClusterDatabase {
    store: Arc<Store>,
    status: Arc<ClusterStatus>,
    clock: Arc<dyn Clock>,
    agent: ureq::Agent,
    token: Option<String>,
    /// Longest wait for one node's answer.
    timeout: Duration,
}

impl ClusterDatabase {
    /// True when `token` is the cluster's internal token (always, when it has none).
    pub fn accepts(&self, token: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        match (&self.token, token) {
            (None, _) => true,
            (Some(ours), Some(given)) => bool::from(ours.as_bytes().ct_eq(given.as_bytes())),
            (Some(_), None) => false,
        }
    }

    /// Folds the partitions of `call` this node has live (the internal route).
    pub fn fold_here(&self, call: &FoldCall) -> FoldReply {
        fold_here(&self.store, &self.status, call)
    }

    /// Lists tags of the partitions of `call` this node has live (the internal route).
    pub fn tags_here(&self, call: &TagsCall) -> TagsReply {
        tags_here(&self.store, &self.status, call)
    }

    /// Queries over `store` (this node's partitions) and its peers'; `token` authorises
    /// calls to their internal routes; `timeout` bounds each call.
    pub fn new(
        store: Arc<Store>,
        status: Arc<ClusterStatus>,
        clock: Arc<dyn Clock>,
        token: Option<String>,
        timeout: Duration,
    ) -> ClusterDatabase {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        ClusterDatabase {
            store,
            status,
            clock,
            agent,
            token,
            timeout,
        }
    }

    fn settings(&self) -> &Settings {
        &self.status.settings
    }

    /// Which node answers for which partitions: this node for those it has live, then
    /// each other partition on a live peer, preferring peers already asked for others
    /// (fewer calls). Partitions in neither are missing.
    fn plan(
        &self,
        wanted: &BTreeSet<u32>,
        excluded: &BTreeSet<String>,
    ) -> (Vec<u32>, BTreeMap<String, Vec<u32>>, Vec<u32>) {
        let live_here: BTreeSet<u32> = if excluded.contains(&self.status.node_id) {
            BTreeSet::new()
        } else {
            self.status.live().into_iter().collect()
        };
        let peers = self.status.peers();
        let mut local = Vec::new();
        let mut remote: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut missing = Vec::new();
        for &p in wanted {
            if live_here.contains(&p) {
                local.push(p);
                continue;
            }
            let best = peers
                .iter()
                .filter(|(id, peer)| {
                    **id != self.status.node_id && !excluded.contains(*id) && peer.live.contains(&p)
                })
                .max_by_key(|(id, _)| {
                    (remote.get(*id).map_or(0, Vec::len), std::cmp::Reverse(*id))
                });
            match best {
                Some((id, _)) => remote.entry(id.clone()).or_default().push(p),
                None => missing.push(p),
            }
        }
        (local, remote, missing)
    }

    fn call(
        &self,
        url: &str,
        path: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, String> {
        let mut request = self
            .agent
            .post(format!("{url}{path}"))
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("content-type", "application/octet-stream");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut response = request.send(body).map_err(|e| e.to_string())?;
        if response.status() != 200 {
            return Err(format!("answered {}", response.status()));
        }
        response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| e.to_string())
    }

    /// Time one call may take: the per-node timeout, within what is left of the budget.
    fn call_timeout(&self, deadline: Option<(Instant, Duration)>) -> Duration {
        match deadline {
            Some((at, _)) => self
                .timeout
                .min(at.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1)),
            None => self.timeout,
        }
    }

    /// Runs `local` here and `remote` on each peer at once, twice at most: partitions a
    /// peer did not serve (gone, not live any more, too slow) are planned again on the
    /// others. Returns the partitions nobody served.
    fn fan_out<R: Send>(
        &self,
        deadline: Option<(Instant, Duration)>,
        local: impl Fn(&[u32]) -> Result<(Vec<u32>, R), DatabaseError> + Sync,
        remote: impl Fn(&str, &[u32], Duration) -> Result<(Vec<u32>, R), String> + Sync,
        mut merge: impl FnMut(R) -> Result<(), DatabaseError>,
    ) -> Result<Vec<u32>, DatabaseError> {
        let mut wanted: BTreeSet<u32> = (0..self.settings().partitions).collect();
        let mut excluded: BTreeSet<String> = BTreeSet::new();
        let mut missing = Vec::new();
        for round in 0..2 {
            let (here, there, unowned) = self.plan(&wanted, &excluded);
            missing.extend(unowned);
            if here.is_empty() && there.is_empty() {
                break;
            }
            let peers = self.status.peers();
            let timeout = self.call_timeout(deadline);
            let (local_result, remote_results) = std::thread::scope(|scope| {
                let handles: Vec<_> = there
                    .iter()
                    .map(|(id, parts)| {
                        let url = peers.get(id).map(|p| p.url.clone()).unwrap_or_default();
                        let remote = &remote;
                        (
                            id.clone(),
                            parts.clone(),
                            scope.spawn(move || remote(&url, parts, timeout)),
                        )
                    })
                    .collect();
                let local_result = (!here.is_empty()).then(|| local(&here));
                let remote_results: Vec<_> = handles
                    .into_iter()
                    .map(|(id, parts, h)| {
                        let r = h
                            .join()
                            .unwrap_or_else(|_| Err("the call's thread panicked".to_string()));
                        (id, parts, r)
                    })
                    .collect();
                (local_result, remote_results)
            });
            let mut retry = BTreeSet::new();
            if let Some(r) = local_result {
                let (served, value) = r?;
                merge(value)?;
                retry.extend(here.iter().filter(|p| !served.contains(p)));
                if served.len() < here.len() {
                    excluded.insert(self.status.node_id.clone());
                }
            }
            for (id, parts, r) in remote_results {
                match r {
                    Ok((served, value)) => {
                        merge(value)?;
                        retry.extend(parts.iter().filter(|p| !served.contains(p)));
                        if served.len() < parts.len() {
                            excluded.insert(id);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(node = %id, error = %e, round, "a node did not answer a query");
                        retry.extend(parts);
                        excluded.insert(id);
                    }
                }
            }
            wanted = retry;
            if wanted.is_empty() {
                break;
            }
            if round == 1 {
                missing.extend(wanted.iter().copied());
            }
        }
        missing.sort_unstable();
        missing.dedup();
        Ok(missing)
    }

    /// Tag keys (`key` = None) or values of `key` among the series `q` selects, across
    /// every partition, with the number of partitions missing.
    pub fn tag_names(
        &self,
        query: &sextant_query::Query,
        key: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Names, Option<Partial>), DatabaseError> {
        let q = query.to_string();
        let call = |partitions: &[u32]| TagsCall {
            q: q.clone(),
            key: key.map(str::to_string),
            after: after.map(str::to_string),
            limit: limit as u64,
            partitions: partitions.to_vec(),
        };
        let mut merged: BTreeMap<String, u64> = BTreeMap::new();
        let missing = self.fan_out(
            None,
            |parts| {
                let reply = tags_here(&self.store, &self.status, &call(parts));
                Ok((reply.served, reply.names))
            },
            |url, parts, timeout| {
                let body = encode(&call(parts))?;
                let reply: TagsReply = decode(&self.call(url, TAGS_PATH, &body, timeout)?)?;
                Ok((reply.served, reply.names))
            },
            |names| {
                for (name, count) in names? {
                    *merged.entry(name).or_default() += count;
                }
                Ok(())
            },
        )?;
        // Each part gave its first `limit` names: the first `limit` of them all are here.
        let partial = (!missing.is_empty()).then(|| Partial {
            missing_partitions: missing.len(),
            partitions: self.settings().partitions,
        });
        Ok((merged.into_iter().take(limit).collect(), partial))
    }
}

impl Database for ClusterDatabase {
    fn step(&self) -> i64 {
        self.store.step()
    }

    /// What any owner may hold: anything accepted (within max age of now) and kept
    /// (retention), with this node's own data for good measure.
    fn extent(&self) -> Option<(i64, i64)> {
        let c = self.store.config();
        let block = c.step_ms.saturating_mul(c.block_len as i64);
        let now = self.clock.now_ms();
        let from = now
            .saturating_sub(c.retention_ms)
            .saturating_sub(c.max_age_ms)
            .saturating_sub(2 * block);
        let to = now.saturating_add(c.max_age_ms).saturating_add(2 * block);
        match self.store.extent() {
            Some((a, b)) if a < b => Some((from.min(a), to.max(b))),
            _ => Some((from, to)),
        }
    }

    /// A raw scan (the Prometheus API's series listing and label discovery) is an `:all`
    /// fold: every partition's owner sends its matching series, at most
    /// `--max-series-per-query` in all.
    fn scan(
        &self,
        request: &ScanRequest<'_>,
        visit: &mut SeriesVisitor<'_>,
    ) -> Result<(), DatabaseError> {
        let expr = sextant_query::DataExpr::All {
            query: request.query.clone(),
            offset: 0,
        };
        let points = request.len(self.store.step());
        let limit = self.store.config().max_series_per_query;
        let fold = FoldRequest {
            expr: &expr,
            start: request.start,
            end: request.end,
            multiple: 1,
            points,
            held: 0..points,
            max_lines: limit,
            deadline: None,
            coverage: None,
        };
        match self.fold(&fold) {
            Some(Ok(Folded::Lines { lines, over })) => {
                if over > 0 {
                    return Err(DatabaseError::TooManySeries {
                        limit,
                        matched: lines.len() + over,
                    });
                }
                for (tags, values) in &lines {
                    let pairs: Vec<(&str, &str)> =
                        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    visit(&pairs, values)?;
                }
                Ok(())
            }
            Some(Err(e)) => Err(e),
            _ => Err(DatabaseError::Storage(
                "a scan across partitions did not answer with lines".into(),
            )),
        }
    }

    fn fold(&self, request: &FoldRequest<'_>) -> Option<Result<Folded, DatabaseError>> {
        let partitions = self.settings().partitions;
        let expr = request.expr.to_string();
        let budget = |deadline: Option<(Instant, Duration)>| {
            deadline.map_or(self.timeout, |(at, _)| {
                at.saturating_duration_since(Instant::now())
            })
        };
        let call = |parts: &[u32], timeout: Duration| FoldCall {
            expr: expr.clone(),
            start: request.start,
            end: request.end,
            multiple: request.multiple as u64,
            points: request.points as u64,
            held: (request.held.start as u64, request.held.end as u64),
            max_lines: request.max_lines as u64,
            partitions: parts.to_vec(),
            budget_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let mut merged = Folded::empty(request.expr);
        let missing = self.fan_out(
            request.deadline,
            |parts| {
                let call = call(parts, budget(request.deadline));
                let reply = fold_here(&self.store, &self.status, &call);
                Ok((reply.served, reply.folded))
            },
            |url, parts, timeout| {
                let body = encode(&call(parts, timeout))?;
                let reply: FoldReply = decode(&self.call(url, FOLD_PATH, &body, timeout)?)?;
                // A limit the callee hit is the query's error, not a missing partition.
                Ok((reply.served, reply.folded))
            },
            |value| match value {
                Ok(f) => merge_folded(request, &mut merged, f),
                Err(e) => Err(e),
            },
        );
        Some(missing.map(|missing| {
            if let Some(c) = request.coverage {
                c.record(partitions, missing);
            }
            merged
        }))
    }
}
