//! image-pull: many clients pulling the same multi-layer image at once, as a fleet of machines
//! does when a deployment rolls out.
//!
//! Setup pushes one image (docker schema 2 by default, as `docker push` makes it). One operation
//! is one client's pull: the manifest by tag with docker's `Accept` header, then the config, then
//! every layer in order, each verified against its digest.

use serde_json::json;

use crate::client::Failure;
use crate::fixtures::{Image, ManifestFormat};
use crate::registry;
use crate::runner::{Setup, Worker};
use crate::units::SizeList;

use super::manifests::push_images;
use super::Params;

#[derive(clap::Args, Clone, Debug)]
pub struct ImagePullArgs {
    /// Sizes of the image's layers.
    #[arg(long, default_value = "16MiB,8MiB,4MiB,1MiB,256KiB")]
    pub layer_sizes: SizeList,
    /// Manifest schema of the image.
    #[arg(long, value_enum, default_value = "docker")]
    pub format: ManifestFormat,
}

impl ImagePullArgs {
    pub fn params(&self) -> Params {
        Params::new(
            format!("layers={} {}", self.layer_sizes, self.format.name()),
            json!({
                "layer_sizes": self.layer_sizes.0.iter().map(|s| s.bytes()).collect::<Vec<_>>(),
                "format": self.format.name(),
            }),
        )
    }
}

pub struct ImagePull {
    image: Image,
}

pub async fn setup(args: &ImagePullArgs, setup: &Setup) -> anyhow::Result<ImagePull> {
    let sizes: Vec<u64> = args.layer_sizes.0.iter().map(|s| s.bytes()).collect();
    let mut images = push_images(setup, "image-pull", 1, args.format, &sizes).await?;
    let image = images.pop().expect("one image was pushed");
    Ok(ImagePull { image })
}

/// One client's pull of `image`: manifest by tag, config, layers.
pub async fn pull_image(worker: &mut Worker, image: &Image) -> Result<(), Failure> {
    let conn = &mut worker.conn;
    registry::get_manifest(conn, &image.repo, &image.tag, &image.manifest).await?;
    registry::get_blob(conn, &image.repo, &image.config).await?;
    for layer in &image.layers {
        registry::get_blob(conn, &image.repo, layer).await?;
    }
    Ok(())
}

impl ImagePull {
    pub async fn op(&self, worker: &mut Worker) -> Result<(), Failure> {
        pull_image(worker, &self.image).await
    }
}
