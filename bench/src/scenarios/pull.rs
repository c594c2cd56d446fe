//! pull-blob and pull-range: blob downloads, whole or by byte range.
//!
//! pull-blob fetches whole blobs of one size (4 KiB models small config blobs, 1 MiB small
//! layers, 64 MiB large layers) and hashes every body against its digest. pull-range fetches
//! random ranges of one blob (what lazy-pulling snapshotters do) and compares every byte with
//! the blob, which it keeps in memory. With `--background-gc` both tag a manifest that
//! references their blobs, so that the collector running beside them keeps them.

use std::cell::RefCell;

use serde_json::json;

use crate::client::Failure;
use crate::fixtures::{self, Blob, BlobRef, Rng};
use crate::registry;
use crate::runner::{Setup, Worker};
use crate::units::Size;

use super::{Params, STREAM_PULL};

/// Blobs at least this large are "large": fewer of them and fewer workers by default.
pub const LARGE_BLOB_BYTES: u64 = 16 << 20;

#[derive(clap::Args, Clone, Debug)]
pub struct PullBlobArgs {
    /// Size of each blob.
    #[arg(long, default_value = "4KiB")]
    pub size: Size,
    /// Distinct blobs, fetched in rotation [default: 16, or 4 from 16 MiB up].
    #[arg(long)]
    pub blobs: Option<usize>,
}

impl PullBlobArgs {
    pub fn blob_count(&self) -> usize {
        self.blobs
            .unwrap_or(if self.size.bytes() >= LARGE_BLOB_BYTES {
                4
            } else {
                16
            })
            .max(1)
    }

    pub fn default_concurrency(&self) -> usize {
        if self.size.bytes() >= LARGE_BLOB_BYTES {
            16
        } else {
            64
        }
    }

    pub fn params(&self) -> Params {
        Params::new(
            format!("size={}", self.size),
            json!({ "size": self.size.bytes(), "blobs": self.blob_count() }),
        )
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct PullRangeArgs {
    /// Size of the blob ranges are taken from.
    #[arg(long, default_value = "64MiB")]
    pub size: Size,
    /// Length of each range.
    #[arg(long, default_value = "1MiB")]
    pub range: Size,
}

impl PullRangeArgs {
    pub fn params(&self) -> Params {
        Params::new(
            format!("size={} range={}", self.size, self.range),
            json!({ "size": self.size.bytes(), "range": self.range.bytes() }),
        )
    }
}

pub struct PullBlob {
    repo: String,
    blobs: Vec<BlobRef>,
}

pub async fn setup_pull_blob(args: &PullBlobArgs, setup: &Setup) -> anyhow::Result<PullBlob> {
    anyhow::ensure!(args.size.bytes() > 0, "--size must be at least 1 byte");
    let repo = format!("{}/pull-blob", setup.prefix);
    let count = args.blob_count();
    let pushed = RefCell::new(vec![None; count]);
    setup
        .run_jobs(count, |mut conn, i| {
            let (repo, pushed) = (&repo, &pushed);
            async move {
                let mut rng = Rng::derive(setup.seed, STREAM_PULL + i as u64);
                let blob = Blob::random(&mut rng, args.size.bytes());
                let result = registry::push_blob(&mut conn, repo, &blob, None).await;
                pushed.borrow_mut()[i] = Some(blob.describe());
                (conn, result)
            }
        })
        .await?;
    let blobs: Vec<BlobRef> = pushed.into_inner().into_iter().flatten().collect();
    if setup.reference_blobs {
        keep(setup, &repo, &blobs).await?;
    }
    Ok(PullBlob { repo, blobs })
}

/// Tags a manifest referencing `blobs`, so that a background collection keeps them.
async fn keep(setup: &Setup, repo: &str, blobs: &[BlobRef]) -> anyhow::Result<()> {
    let mut conn = setup.conn();
    fixtures::reference_blobs(&mut conn, repo, "kept", blobs, setup.seed)
        .await
        .map_err(|failure| anyhow::anyhow!("setup failed: {failure}"))
}

impl PullBlob {
    pub async fn op(&self, worker: &mut Worker) -> Result<(), Failure> {
        let blob = &self.blobs[(worker.id + worker.ops_started as usize) % self.blobs.len()];
        registry::get_blob(&mut worker.conn, &self.repo, blob).await
    }
}

pub struct PullRange {
    repo: String,
    blob: Blob,
    described: BlobRef,
    range_bytes: usize,
}

pub async fn setup_pull_range(args: &PullRangeArgs, setup: &Setup) -> anyhow::Result<PullRange> {
    anyhow::ensure!(
        args.range.bytes() > 0 && args.range <= args.size,
        "--range must be between 1 byte and --size"
    );
    let repo = format!("{}/pull-range", setup.prefix);
    let blob = Blob::random(&mut Rng::derive(setup.seed, STREAM_PULL), args.size.bytes());
    let mut conn = setup.conn();
    registry::push_blob(&mut conn, &repo, &blob, None)
        .await
        .map_err(|failure| anyhow::anyhow!("setup failed: {failure}"))?;
    if setup.reference_blobs {
        keep(setup, &repo, &[blob.describe()]).await?;
    }
    Ok(PullRange {
        repo,
        described: blob.describe(),
        blob,
        range_bytes: usize::try_from(args.range.bytes())?,
    })
}

impl PullRange {
    pub async fn op(&self, worker: &mut Worker) -> Result<(), Failure> {
        let starts = (self.blob.bytes.len() - self.range_bytes + 1) as u64;
        let start = worker.rng.below(starts) as usize;
        let expected = &self.blob.bytes[start..start + self.range_bytes];
        let blob = &self.described;
        registry::get_blob_range(&mut worker.conn, &self.repo, blob, start as u64, expected).await
    }
}
