//! push-mono and push-chunked: blob uploads as `docker push` and friends make them.
//!
//! push-mono is the two-step "monolithic" upload that every registry supports (CNCF
//! Distribution 2.8 included): `POST /blobs/uploads/`, then one `PUT ?digest=` carrying the whole
//! blob. push-chunked sends the blob in several `PATCH` chunks, each at the `Location` the previous
//! one returned, then an empty `PUT ?digest=`.
//!
//! The blobs are made in setup (random content, hashed once) and pushed in rotation, so the
//! timed phase measures uploads, not the load generator hashing. Each worker pushes into its own
//! repository.

use serde_json::json;

use crate::client::Failure;
use crate::fixtures::{Blob, Rng};
use crate::registry;
use crate::runner::{Setup, Worker};
use crate::units::Size;

use super::{Params, STREAM_PUSH};

/// Memory the pool of blobs held for pushing may take.
const POOL_BYTES_MAX: u64 = 4 << 30;

#[derive(clap::Args, Clone, Debug)]
pub struct PushMonoArgs {
    /// Size of each blob pushed.
    #[arg(long, default_value = "64MiB")]
    pub size: Size,
    /// Distinct blobs made in setup and pushed in rotation [default: one per worker].
    #[arg(long)]
    pub pool: Option<usize>,
}

#[derive(clap::Args, Clone, Debug)]
pub struct PushChunkedArgs {
    /// Size of each blob pushed.
    #[arg(long, default_value = "64MiB")]
    pub size: Size,
    /// Size of each PATCH chunk.
    #[arg(long, default_value = "8MiB")]
    pub chunk: Size,
    /// Distinct blobs made in setup and pushed in rotation [default: one per worker].
    #[arg(long)]
    pub pool: Option<usize>,
}

impl PushMonoArgs {
    pub fn params(&self) -> Params {
        Params::new(
            format!("size={}", self.size),
            json!({ "size": self.size.bytes() }),
        )
    }
}

impl PushChunkedArgs {
    pub fn params(&self) -> Params {
        Params::new(
            format!("size={} chunk={}", self.size, self.chunk),
            json!({ "size": self.size.bytes(), "chunk": self.chunk.bytes() }),
        )
    }
}

pub struct Push {
    blobs: Vec<Blob>,
    chunk_bytes: Option<u64>,
    prefix: String,
}

pub fn setup(
    size: Size,
    chunk: Option<Size>,
    pool: Option<usize>,
    setup: &Setup,
) -> anyhow::Result<Push> {
    anyhow::ensure!(size.bytes() > 0, "--size must be at least 1 byte");
    anyhow::ensure!(
        chunk.is_none_or(|chunk| chunk.bytes() > 0),
        "--chunk must be at least 1 byte"
    );
    let pool = pool.unwrap_or(setup.workers).max(1);
    let pool_bytes = size.bytes().saturating_mul(pool as u64);
    if pool_bytes > POOL_BYTES_MAX {
        anyhow::bail!(
            "{pool} blobs of {size} would hold {pool_bytes} bytes in memory, more than \
             {POOL_BYTES_MAX}; lower --pool"
        );
    }
    let mut rng = Rng::derive(setup.seed, STREAM_PUSH);
    let blobs = (0..pool)
        .map(|_| Blob::random(&mut rng, size.bytes()))
        .collect();
    Ok(Push {
        blobs,
        chunk_bytes: chunk.map(Size::bytes),
        prefix: setup.prefix.clone(),
    })
}

impl Push {
    pub async fn op(&self, worker: &mut Worker) -> Result<(), Failure> {
        let blob = &self.blobs[(worker.id + worker.ops_started as usize) % self.blobs.len()];
        let repo = format!("{}/push/w{}", self.prefix, worker.id);
        registry::push_blob(&mut worker.conn, &repo, blob, self.chunk_bytes).await
    }
}
