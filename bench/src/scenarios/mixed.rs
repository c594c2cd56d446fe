//! mixed: pull-heavy traffic over many repositories, like a registry serving a cluster while CI
//! pushes into it.
//!
//! Setup pushes one image into each of `--repos` repositories. Each operation is, at random,
//! either a pull (probability `1 - push-percent/100`) of a random repository's image (manifest
//! by tag, config, layers) or a push of a new image derived from one: HEAD each base layer
//! (present), HEAD, POST and PUT a new unique layer of `--push-size` and a new config (absent
//! first), then PUT the manifest under a new tag. That is the request sequence of `docker push`
//! for an image built on a base that the registry already has.

use serde_json::json;

use crate::client::Failure;
use crate::fixtures::{image_config, image_manifest, Blob, Image, ManifestFormat};
use crate::registry;
use crate::runner::{Setup, Worker};
use crate::units::{Size, SizeList};

use super::image::pull_image;
use super::manifests::push_images;
use super::Params;

#[derive(clap::Args, Clone, Debug)]
pub struct MixedArgs {
    /// Repositories, one base image each.
    #[arg(long, default_value_t = 100)]
    pub repos: usize,
    /// Sizes of each base image's layers.
    #[arg(long, default_value = "4MiB,1MiB,64KiB")]
    pub layer_sizes: SizeList,
    /// Percentage of operations that are pushes; the rest are pulls.
    #[arg(long, default_value_t = 5.0)]
    pub push_percent: f64,
    /// Size of the new layer each push uploads.
    #[arg(long, default_value = "1MiB")]
    pub push_size: Size,
    /// Manifest schema of the images.
    #[arg(long, value_enum, default_value = "docker")]
    pub format: ManifestFormat,
}

impl MixedArgs {
    pub fn params(&self) -> Params {
        Params::new(
            format!(
                "repos={} push={}% layers={} push-size={}",
                self.repos, self.push_percent, self.layer_sizes, self.push_size
            ),
            json!({
                "repos": self.repos,
                "push_percent": self.push_percent,
                "layer_sizes": self.layer_sizes.0.iter().map(|s| s.bytes()).collect::<Vec<_>>(),
                "push_size": self.push_size.bytes(),
                "format": self.format.name(),
            }),
        )
    }
}

pub struct Mixed {
    images: Vec<Image>,
    push_fraction: f64,
    push_bytes: u64,
    format: ManifestFormat,
}

pub async fn setup(args: &MixedArgs, setup: &Setup) -> anyhow::Result<Mixed> {
    anyhow::ensure!(args.repos > 0, "--repos must be at least 1");
    anyhow::ensure!(
        (0.0..=100.0).contains(&args.push_percent),
        "--push-percent must be between 0 and 100"
    );
    let sizes: Vec<u64> = args.layer_sizes.0.iter().map(|s| s.bytes()).collect();
    let images = push_images(setup, "mixed", args.repos, args.format, &sizes).await?;
    Ok(Mixed {
        images,
        push_fraction: args.push_percent / 100.0,
        push_bytes: args.push_size.bytes(),
        format: args.format,
    })
}

impl Mixed {
    pub async fn op(&self, worker: &mut Worker) -> Result<(), Failure> {
        let image = &self.images[worker.rng.below(self.images.len() as u64) as usize];
        let roll = (worker.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        if roll < self.push_fraction {
            self.push_derived(worker, image).await
        } else {
            pull_image(worker, image).await
        }
    }

    async fn push_derived(&self, worker: &mut Worker, base: &Image) -> Result<(), Failure> {
        let repo = &base.repo;
        for layer in &base.layers {
            if !registry::blob_exists(&mut worker.conn, repo, layer).await? {
                return Err(absent(repo, layer));
            }
        }
        let new_layer = Blob::random(&mut worker.rng, self.push_bytes);
        let mut layers = base.layers.clone();
        layers.push(new_layer.describe());
        let config = image_config(&layers, worker.rng.next_u64());
        for blob in [&new_layer, &config] {
            if registry::blob_exists(&mut worker.conn, repo, &blob.describe()).await? {
                return Err(Failure::new(
                    &http::Method::HEAD,
                    &format!("/v2/{repo}/blobs/{}", blob.digest),
                    "status 200 for a blob that was never pushed",
                ));
            }
            registry::push_blob(&mut worker.conn, repo, blob, None).await?;
        }
        let manifest = image_manifest(self.format, &config.describe(), &layers);
        let tag = format!("w{}-{}", worker.id, worker.ops_started);
        registry::put_manifest(&mut worker.conn, repo, &tag, &manifest).await
    }
}

fn absent(repo: &str, layer: &crate::fixtures::BlobRef) -> Failure {
    Failure::new(
        &http::Method::HEAD,
        &format!("/v2/{repo}/blobs/{}", layer.digest),
        "status 404 for a layer pushed in setup",
    )
}
