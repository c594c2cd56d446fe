//! Storage accounting: what the blob store holds once, and what each repository would hold if
//! nothing were shared.
//!
//! - physical bytes: the sum of the sizes of stored blobs (each stored once);
//! - logical bytes: the sum, over repositories, of the sizes of the blobs each one links;
//! - dedup ratio: logical / physical (1.0 when nothing is shared or nothing is stored).
//!
//! Computed from one metadata snapshot, so the figures agree with each other even while
//! pushes go on. A full scan: for the admin endpoint and the `berth stats` command, not for
//! request paths.

use std::collections::BTreeMap;

use super::{each, MaintenanceError};
use crate::meta::schema::{self, BlobRecord, RepoBlobLink, UploadRecord};
use crate::meta::{decode_json, Reader};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StorageStats {
    pub blobs: u64,
    pub physical_bytes: u64,
    pub logical_bytes: u64,
    pub dedup_ratio: f64,
    pub manifests: u64,
    pub repositories_count: u64,
    pub upload_sessions: u64,
    pub upload_bytes: u64,
    /// Every repository in name order.
    pub repositories: Vec<RepoStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoStats {
    pub name: String,
    /// Blobs linked to the repository and the sum of their sizes.
    pub blobs: u64,
    pub bytes: u64,
    pub manifests: u64,
    pub tags: u64,
}

pub fn collect(reader: &Reader) -> Result<StorageStats, MaintenanceError> {
    let snapshot = reader.snapshot();
    let mut stats = StorageStats::default();
    let mut repos: BTreeMap<String, RepoStats> = BTreeMap::new();
    fn repo_of<'m>(repos: &'m mut BTreeMap<String, RepoStats>, key: &[u8]) -> &'m mut RepoStats {
        let name = schema::split_once(key).map_or(key, |(repo, _)| repo);
        let name = String::from_utf8_lossy(name).into_owned();
        repos.entry(name.clone()).or_insert_with(|| RepoStats {
            name,
            ..RepoStats::default()
        })
    }
    each(&snapshot, schema::CF_REPOS, |key, _| {
        repo_of(&mut repos, key);
        Ok(())
    })?;
    each(&snapshot, schema::CF_BLOBS, |key, value| {
        let record: BlobRecord = decode_json(key, value)?;
        stats.blobs += 1;
        stats.physical_bytes += record.size;
        Ok(())
    })?;
    each(&snapshot, schema::CF_REPO_BLOBS, |key, value| {
        let link: RepoBlobLink = decode_json(key, value)?;
        let repo = repo_of(&mut repos, key);
        repo.blobs += 1;
        repo.bytes += link.size;
        stats.logical_bytes += link.size;
        Ok(())
    })?;
    each(&snapshot, schema::CF_MANIFESTS, |key, _| {
        repo_of(&mut repos, key).manifests += 1;
        stats.manifests += 1;
        Ok(())
    })?;
    each(&snapshot, schema::CF_TAGS, |key, _| {
        repo_of(&mut repos, key).tags += 1;
        Ok(())
    })?;
    each(&snapshot, schema::CF_UPLOADS, |key, value| {
        let record: UploadRecord = decode_json(key, value)?;
        stats.upload_sessions += 1;
        stats.upload_bytes += record.offset;
        Ok(())
    })?;
    stats.dedup_ratio = if stats.physical_bytes == 0 {
        1.0
    } else {
        stats.logical_bytes as f64 / stats.physical_bytes as f64
    };
    stats.repositories_count = repos.len() as u64;
    stats.repositories = repos.into_values().collect();
    Ok(stats)
}
