//! What the benchmarks push: random blobs, image configs and manifests, made deterministically
//! from a seed so that a run can be repeated, and the setup helpers that push them.
//!
//! Content is random (incompressible) bytes from a splitmix64 generator: cheap to make, so the
//! load generator spends its CPU on requests, and unique per seed, so that a run never
//! collides with content an earlier run left on the same server.

use berth_engine::oci::media_type::{
    DOCKER_CONFIG_V1, DOCKER_LAYER_TAR_GZIP, DOCKER_MANIFEST_V2, OCI_CONFIG_V1, OCI_LAYER_TAR_GZIP,
    OCI_MANIFEST_V1,
};
use berth_engine::oci::Digest;
use bytes::Bytes;
use serde_json::json;

use crate::client::{Conn, Failure};
use crate::registry;

/// splitmix64: a tiny, fast generator; good enough for content and choices, not for secrets.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// An independent stream for one purpose (`stream`) of a run with `seed`.
    pub fn derive(seed: u64, stream: u64) -> Rng {
        let mut mixer = Rng::new(seed ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        Rng::new(mixer.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; `n` must not be 0.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let tail = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        tail.copy_from_slice(&last[..tail.len()]);
    }
}

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

/// The manifest schema images are pushed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ManifestFormat {
    /// OCI image manifest v1.
    Oci,
    /// Docker image manifest v2, schema 2 (what `docker push` produces).
    Docker,
}

impl ManifestFormat {
    pub fn manifest_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => OCI_MANIFEST_V1,
            ManifestFormat::Docker => DOCKER_MANIFEST_V2,
        }
    }

    fn config_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => OCI_CONFIG_V1,
            ManifestFormat::Docker => DOCKER_CONFIG_V1,
        }
    }

    fn layer_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => OCI_LAYER_TAR_GZIP,
            ManifestFormat::Docker => DOCKER_LAYER_TAR_GZIP,
        }
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
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": [{ "created_by": format!("berth-bench {nonce:016x}") }],
    });
    Blob::new(Bytes::from(
        serde_json::to_vec(&config).expect("a JSON value serializes"),
    ))
}

/// An image manifest of `format` for `config` and `layers`.
pub fn image_manifest(format: ManifestFormat, config: &BlobRef, layers: &[BlobRef]) -> Manifest {
    let descriptor = |media_type: &str, blob: &BlobRef| json!({ "mediaType": media_type, "digest": blob.digest.as_str(), "size": blob.size });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": format.manifest_media_type(),
        "config": descriptor(format.config_media_type(), config),
        "layers": layers
            .iter()
            .map(|layer| descriptor(format.layer_media_type(), layer))
            .collect::<Vec<_>>(),
    });
    let bytes = Bytes::from(serde_json::to_vec(&manifest).expect("a JSON value serializes"));
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
    fn below_stays_in_range() {
        let mut rng = Rng::new(1);
        for n in [1u64, 2, 3, 100, u64::MAX] {
            for _ in 0..1000 {
                assert!(rng.below(n) < n);
            }
        }
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
