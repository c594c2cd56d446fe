//! The metadata writer's cache of each repository's triggers, so that a tag write to a
//! repository with triggers does not scan and decode them in its job every time.
//!
//! Invariant: a cached list is what `cf triggers` holds for the repository. Every writer job
//! that writes `cf triggers` calls [`triggers_changed`] inside the job, which empties every
//! cache before the next job runs (jobs run one at a time on the writer thread, and a job's
//! batch is applied before the next job starts), so no job reads a list older than the store.
//! Emptying is process-wide: an engine changing its triggers also empties the caches of other
//! engines of the process (tests open several), which costs them a scan and nothing else.
//!
//! Must not: be read outside writer jobs (a reader on a shard could cache a list that a job in
//! flight is about to change).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::outbox::TRIGGERS_PER_REPO_SCAN_MAX;
use super::TriggerRecord;
use crate::meta::schema;
use crate::meta::{decode_json, MetaError, Reader};
use crate::oci::RepoName;

/// Repositories whose lists are kept; the cache is emptied when it reaches this.
const CACHE_REPOS_MAX: usize = 4096;

/// Bumped by every change to `cf triggers`; a cache filled under another value is stale.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Call inside every writer job that writes `cf triggers`.
pub(crate) fn triggers_changed() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

#[derive(Clone, Default)]
pub(crate) struct TriggerCache {
    state: Arc<Mutex<CacheState>>,
}

#[derive(Default)]
struct CacheState {
    generation: u64,
    repos: HashMap<RepoName, Arc<[TriggerRecord]>>,
}

impl TriggerCache {
    /// The triggers of `repo`, in id order. Call only from a writer job.
    pub(crate) fn of(
        &self,
        reader: &Reader,
        repo: &RepoName,
    ) -> Result<Arc<[TriggerRecord]>, MetaError> {
        let generation = GENERATION.load(Ordering::Acquire);
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.generation != generation {
                state.repos.clear();
                state.generation = generation;
            }
            if let Some(triggers) = state.repos.get(repo) {
                return Ok(triggers.clone());
            }
        }
        let rows = reader.scan_prefix(
            schema::CF_TRIGGERS,
            &schema::repo_prefix(repo),
            None,
            TRIGGERS_PER_REPO_SCAN_MAX,
        )?;
        let mut triggers = Vec::with_capacity(rows.len());
        for (suffix, value) in &rows {
            triggers.push(decode_json::<TriggerRecord>(suffix, value)?);
        }
        let triggers: Arc<[TriggerRecord]> = triggers.into();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.generation == generation {
            if state.repos.len() >= CACHE_REPOS_MAX {
                state.repos.clear();
            }
            state.repos.insert(repo.clone(), triggers.clone());
        }
        Ok(triggers)
    }
}
