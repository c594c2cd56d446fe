//! What the benchmarks push: random blobs, image configs and manifests, made deterministically
//! from a seed so that a run can be repeated, and the setup helpers that push them.
//!
//! Content is random (incompressible) bytes from a splitmix64 generator: cheap to make, so the
//! load generator spends its CPU on requests, and unique per seed, so that a run never
//! collides with content an earlier run left on the same server. The generator and the
//! documents come from `berth-fixtures`, which the integration tests share; this module adds
//! the engine's `Digest` type and the pushes.

use berth_engine::oci::Digest;
use berth_fixtures::{BlobRef as FixtureRef, Format};
use bytes::Bytes;

use crate::client::{Conn, Failure};
use crate::registry;

/// splitmix64, from the fixtures shared with the integration tests (`tests/fixtures`).
pub use berth_fixtures::Rng;

/// A blob held in memory, with its digest.
#[derive(Clone)]
pub struct Blob {
    pub bytes: Bytes,
    pub digest: Digest,
}

impl Blob {
    pub fn random(rng: &mut Rng, size: u64) -> Blob {
        let size = usize::try_from(size).expect("a blob held in memory fits in usize");
        let mut bytes = vec![0u8; size];
        rng.fill(&mut bytes);
        Blob::new(Bytes::from(bytes))
    }

    pub fn new(bytes: Bytes) -> Blob {
        let digest = Digest::sha256_of(&bytes);
        Blob { bytes, digest }
    }

    pub fn describe(&self) -> BlobRef {
        BlobRef {
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
        }
    }
}

/// What is known about a blob that was pushed and whose bytes were dropped.
#[derive(Clone, Debug)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
}

impl BlobRef {
    fn fixture(&self) -> FixtureRef<'_> {
        FixtureRef {
            digest: self.digest.as_str(),
            size: self.size,
        }
    }
}

/// The manifest schema images are pushed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ManifestFormat {
    /// OCI image manifest v1.
    Oci,
    /// Docker image manifest v2, schema 2 (what `docker push` produces).
    Docker,
}

impl ManifestFormat {
    fn fixture_format(self) -> Format {
        match self {
            ManifestFormat::Oci => Format::Oci,
            ManifestFormat::Docker => Format::Docker,
        }
    }

    pub fn manifest_media_type(self) -> &'static str {
        self.fixture_format().manifest_media_type()
    }

    pub fn name(self) -> &'static str {
        match self {
            ManifestFormat::Oci => "oci",
            ManifestFormat::Docker => "docker",
        }
    }
}

/// A manifest's exact bytes, digest and media type.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub bytes: Bytes,
    pub digest: Digest,
    pub media_type: &'static str,
}

/// An image that was pushed: where, and what a pull must get back.
#[derive(Clone, Debug)]
pub struct Image {
    pub repo: String,
    pub tag: String,
    pub manifest: Manifest,
    pub config: BlobRef,
    pub layers: Vec<BlobRef>,
}

/// A plausible image configuration naming `layers`; `nonce` makes it unique.
pub fn image_config(layers: &[BlobRef], nonce: u64) -> Blob {
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    Blob::new(Bytes::from(berth_fixtures::image_config(&diff_ids, nonce)))
}

/// An image manifest of `format` for `config` and `layers`.
pub fn image_manifest(format: ManifestFormat, config: &BlobRef, layers: &[BlobRef]) -> Manifest {
    let layers: Vec<FixtureRef<'_>> = layers.iter().map(BlobRef::fixture).collect();
    let bytes = Bytes::from(berth_fixtures::image_manifest(
        format.fixture_format(),
        config.fixture(),
        &layers,
    ));
    Manifest {
        digest: Digest::sha256_of(&bytes),
        bytes,
        media_type: format.manifest_media_type(),
    }
}

/// Pushes a new image into `repo` under `tag`: random layers of `layer_sizes` (made and
/// dropped one at a time), a config, then the manifest.
pub async fn push_image(
    conn: &mut Conn,
    repo: &str,
    tag: &str,
    format: ManifestFormat,
    layer_sizes: &[u64],
    rng: &mut Rng,
) -> Result<Image, Failure> {
    let mut layers = Vec::with_capacity(layer_sizes.len());
    for &size in layer_sizes {
        let layer = Blob::random(rng, size);
        registry::push_blob(conn, repo, &layer, None).await?;
        layers.push(layer.describe());
    }
    let config = image_config(&layers, rng.next_u64());
    registry::push_blob(conn, repo, &config, None).await?;
    let config = config.describe();
    let manifest = image_manifest(format, &config, &layers);
    registry::put_manifest(conn, repo, tag, &manifest).await?;
    Ok(Image {
        repo: repo.to_owned(),
        tag: tag.to_owned(),
        manifest,
        config,
        layers,
    })
}

/// Pushes a config and a manifest tagged `tag` into `repo` that reference `layers`, blobs
/// already pushed there, so that a garbage collection keeps them.
pub async fn reference_blobs(
    conn: &mut Conn,
    repo: &str,
    tag: &str,
    layers: &[BlobRef],
    nonce: u64,
) -> Result<(), Failure> {
    let config = image_config(layers, nonce);
    registry::push_blob(conn, repo, &config, None).await?;
    let manifest = image_manifest(ManifestFormat::Oci, &config.describe(), layers);
    registry::put_manifest(conn, repo, tag, &manifest).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::oci::{parse_manifest, ManifestKind};

    #[test]
    fn random_content_is_deterministic_per_seed_and_stream() {
        let a = Blob::random(&mut Rng::derive(7, 1), 1001);
        let b = Blob::random(&mut Rng::derive(7, 1), 1001);
        let c = Blob::random(&mut Rng::derive(7, 2), 1001);
        assert_eq!(a.bytes.len(), 1001);
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn manifests_are_valid_for_the_engine_parser() {
        let layer = Blob::random(&mut Rng::new(3), 4096).describe();
        let config = image_config(std::slice::from_ref(&layer), 42).describe();
        for format in [ManifestFormat::Oci, ManifestFormat::Docker] {
            let manifest = image_manifest(format, &config, std::slice::from_ref(&layer));
            let parsed = parse_manifest(Some(manifest.media_type), &manifest.bytes)
                .unwrap_or_else(|e| panic!("{format:?}: {e}"));
            let expected_kind = match format {
                ManifestFormat::Oci => ManifestKind::OciManifest,
                ManifestFormat::Docker => ManifestKind::DockerManifest,
            };
            assert_eq!(parsed.kind, expected_kind);
            assert_eq!(parsed.blob_references().count(), 2);
        }
    }
}
