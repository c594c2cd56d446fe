//! manifest-get and manifest-head: resolving a tag, the first request of every `docker pull`
//! (and, for HEAD, of every "is my image up to date?" check).
//!
//! Setup pushes one small image per repository (one 4 KiB layer) tagged `latest`. Each request
//! asks by tag with docker's `Accept` header; a GET must return the pushed bytes, media type
//! and digest, a HEAD the digest, media type and length.

use serde_json::json;

use crate::client::Failure;
use crate::fixtures::{push_image, Image, ManifestFormat, Rng};
use crate::registry;
use crate::runner::{Setup, Worker};

use super::{Params, STREAM_IMAGES};

/// The one layer of each image resolved by the manifest scenarios.
const LAYER_BYTES: u64 = 4096;

#[derive(clap::Args, Clone, Debug)]
pub struct ManifestArgs {
    /// Repositories, one image each; workers spread over them.
    #[arg(long, default_value_t = 1)]
    pub repos: usize,
    /// Manifest schema of the images.
    #[arg(long, value_enum, default_value = "oci")]
    pub format: ManifestFormat,
}

impl ManifestArgs {
    pub fn params(&self) -> Params {
        Params::new(
            format!("repos={} {}", self.repos, self.format.name()),
            json!({ "repos": self.repos, "format": self.format.name() }),
        )
    }
}

pub struct Manifests {
    images: Vec<Image>,
    head: bool,
}

/// Pushes `count` small images, one per repository `<prefix>/<kind>/r<i>`, tagged `latest`.
pub async fn push_images(
    setup: &Setup,
    kind: &str,
    count: usize,
    format: ManifestFormat,
    layer_sizes: &[u64],
) -> anyhow::Result<Vec<Image>> {
    let pushed = std::cell::RefCell::new(vec![None; count]);
    setup
        .run_jobs(count, |mut conn, i| {
            let pushed = &pushed;
            async move {
                let repo = format!("{}/{kind}/r{i}", setup.prefix);
                let mut rng = Rng::derive(setup.seed, STREAM_IMAGES + i as u64);
                let result = push_image(&mut conn, &repo, "latest", format, layer_sizes, &mut rng)
                    .await
                    .map(|image| pushed.borrow_mut()[i] = Some(image));
                (conn, result)
            }
        })
        .await?;
    Ok(pushed.into_inner().into_iter().flatten().collect())
}

pub async fn setup(args: &ManifestArgs, head: bool, setup: &Setup) -> anyhow::Result<Manifests> {
    anyhow::ensure!(args.repos > 0, "--repos must be at least 1");
    let images = push_images(setup, "manifests", args.repos, args.format, &[LAYER_BYTES]).await?;
    Ok(Manifests { images, head })
}

impl Manifests {
    pub async fn op(&self, worker: &mut Worker) -> Result<(), Failure> {
        let image = &self.images[(worker.id + worker.ops_started as usize) % self.images.len()];
        let conn = &mut worker.conn;
        if self.head {
            registry::head_manifest(conn, &image.repo, &image.tag, &image.manifest).await
        } else {
            registry::get_manifest(conn, &image.repo, &image.tag, &image.manifest).await
        }
    }
}
