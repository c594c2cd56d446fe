//! What a repository holds, as people look at it: a tag with its image's size, and an image's
//! details — config fields, layers paired with the build history that made them, an index's
//! children with their platforms.
//!
//! Sizes are what a pull transfers: a manifest's bytes plus its config and layers as their
//! descriptors state them (checked against the repository's links when the manifest was
//! pushed). For an index, its bytes plus each child manifest's size and what the child
//! references, one level down.
//!
//! Must not: read a config blob larger than [`CONFIG_BYTES_MAX`] into memory, or fail an
//! image view because its config is missing, large or not JSON (artifacts): those views simply
//! have no history.

use serde_json::Value;

use super::{Registry, RegistryError};
use crate::oci::{parse_manifest, Descriptor, Digest, ParsedManifest, Reference, RepoName, Tag};

/// The largest image config read to pair layers with their history. Configs are a few KiB;
/// a larger one is shown without history rather than read into memory.
const CONFIG_BYTES_MAX: u64 = 1 << 20;
/// Bytes read from a config blob per read call.
const CONFIG_READ_CHUNK_BYTES: usize = 256 << 10;

/// A tag and the image it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDetails {
    pub tag: Tag,
    pub digest: Digest,
    /// The config digest of an image; None for an index.
    pub image_id: Option<Digest>,
    /// Bytes a pull of the tag transfers (see the module header).
    pub size: u64,
    pub media_type: String,
    pub pushed_at_ms: u64,
}

/// One layer of an image, with the history entry that made it (when the config says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDetails {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub created_by: Option<String>,
    pub created: Option<String>,
}

/// One manifest an index lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexChild {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// `os/architecture[/variant]` when the index states a platform.
    pub platform: Option<String>,
}

/// An image manifest or an index, as the management API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDetails {
    pub digest: Digest,
    pub media_type: String,
    /// The manifest's own bytes.
    pub size: u64,
    /// The config blob of an image; None for an index.
    pub config: Option<Digest>,
    /// From the image config, when it is readable JSON.
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub created: Option<String>,
    /// An image's layers in order, the i-th paired with the i-th history entry that is not an
    /// `empty_layer`. Empty for an index.
    pub layers: Vec<LayerDetails>,
    /// An index's manifests. Empty for an image.
    pub children: Vec<IndexChild>,
}

impl ImageDetails {
    pub fn is_index(&self) -> bool {
        self.config.is_none()
    }
}

impl Registry {
    /// The tag and what a pull of it transfers.
    pub fn tag_details(&self, repo: &RepoName, tag: &Tag) -> Result<TagDetails, RegistryError> {
        let info = self.stat_manifest(repo, &Reference::Tag(tag.clone()))?;
        let content = self.get_manifest(repo, &Reference::Digest(info.digest))?;
        let parsed = parse_stored(&content.media_type, &content.bytes, &content.digest)?;
        let size =
            (content.bytes.len() as u64).saturating_add(self.referenced_bytes(repo, &parsed)?);
        Ok(TagDetails {
            tag: tag.clone(),
            image_id: parsed.config.as_ref().map(|c| c.digest.clone()),
            digest: content.digest,
            size,
            media_type: content.media_type,
            pushed_at_ms: info.pushed_at_ms,
        })
    }

    /// The details of manifest `reference` of `repo`; reads the image config blob (bounded).
    pub async fn image_details(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<ImageDetails, RegistryError> {
        let content = self.get_manifest(repo, reference)?;
        let parsed = parse_stored(&content.media_type, &content.bytes, &content.digest)?;
        let mut details = ImageDetails {
            digest: content.digest.clone(),
            media_type: content.media_type.clone(),
            size: content.bytes.len() as u64,
            config: parsed.config.as_ref().map(|c| c.digest.clone()),
            os: None,
            architecture: None,
            created: None,
            layers: Vec::new(),
            children: Vec::new(),
        };
        let Some(config) = &parsed.config else {
            details.children = index_children(&parsed, &content.bytes);
            return Ok(details);
        };
        let config = self.config_json(repo, config).await?;
        let text = |key: &str| config.get(key).and_then(Value::as_str).map(str::to_owned);
        details.os = text("os");
        details.architecture = text("architecture");
        details.created = text("created");
        let history = layer_history(&config);
        details.layers = parsed
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let (created_by, created) = history.get(i).cloned().unwrap_or_default();
                LayerDetails {
                    digest: layer.digest.clone(),
                    media_type: layer.media_type.clone(),
                    size: layer.size,
                    created_by,
                    created,
                }
            })
            .collect();
        Ok(details)
    }

    /// The bytes a manifest references: config and layers of an image; for an index, each
    /// child's bytes and what the child references (children of children count by their
    /// descriptors).
    fn referenced_bytes(
        &self,
        repo: &RepoName,
        parsed: &ParsedManifest,
    ) -> Result<u64, RegistryError> {
        let mut total = descriptor_bytes(parsed.blob_references());
        for child in parsed.child_manifests() {
            total = total.saturating_add(child.size);
            match self.get_manifest(repo, &Reference::Digest(child.digest.clone())) {
                Ok(content) => {
                    let child = parse_stored(&content.media_type, &content.bytes, &content.digest)?;
                    total = total.saturating_add(descriptor_bytes(child.blob_references()));
                    total = total.saturating_add(descriptor_bytes(child.child_manifests()));
                }
                // A child deleted by digest after the index was pushed: count what is left.
                Err(RegistryError::ManifestUnknown { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// The image config as JSON, or Null when it cannot tell anything: unlinked from the
    /// repository since the push, larger than [`CONFIG_BYTES_MAX`], or not JSON (artifacts).
    async fn config_json(
        &self,
        repo: &RepoName,
        config: &Descriptor,
    ) -> Result<Value, RegistryError> {
        if config.size > CONFIG_BYTES_MAX {
            return Ok(Value::Null);
        }
        let file = match self.open_blob(repo, &config.digest).await {
            Ok(file) => file,
            Err(RegistryError::BlobUnknown { .. }) => return Ok(Value::Null),
            Err(e) => return Err(e),
        };
        let size = file.size().min(CONFIG_BYTES_MAX);
        let mut bytes = Vec::with_capacity(size as usize);
        let mut result = Ok(());
        while (bytes.len() as u64) < size {
            let want = (size - bytes.len() as u64).min(CONFIG_READ_CHUNK_BYTES as u64) as usize;
            match file.read(bytes.len() as u64, want).await {
                Ok(chunk) if chunk.is_empty() => {
                    // The size was checked against the row when the file was opened: a file
                    // that ends early changed under us.
                    result = Err(RegistryError::Corrupted {
                        what: format!("config blob {} ended early", config.digest),
                    });
                    break;
                }
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(e) => {
                    result = Err(RegistryError::Io(e));
                    break;
                }
            }
        }
        if let Err(e) = file.close().await {
            tracing::debug!(error = %e, "closing a config blob");
        }
        result?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

fn descriptor_bytes<'d>(descriptors: impl Iterator<Item = &'d Descriptor>) -> u64 {
    descriptors.fold(0u64, |sum, d| sum.saturating_add(d.size))
}

/// A stored manifest, parsed again. It parsed when it was pushed, so a failure now is
/// corruption.
fn parse_stored(
    media_type: &str,
    bytes: &[u8],
    digest: &Digest,
) -> Result<ParsedManifest, RegistryError> {
    parse_manifest(Some(media_type), bytes).map_err(|e| RegistryError::Corrupted {
        what: format!("stored manifest {digest} no longer parses: {e}"),
    })
}

/// The children of an index with the platform each states (`manifests[i].platform`).
fn index_children(parsed: &ParsedManifest, bytes: &[u8]) -> Vec<IndexChild> {
    let document: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let platforms = document.get("manifests").and_then(Value::as_array);
    parsed
        .child_manifests()
        .enumerate()
        .map(|(i, child)| IndexChild {
            digest: child.digest.clone(),
            media_type: child.media_type.clone(),
            size: child.size,
            platform: platforms
                .and_then(|p| p.get(i))
                .and_then(|entry| entry.get("platform"))
                .and_then(platform_text),
        })
        .collect()
}

/// `os/architecture[/variant]` of a platform object.
fn platform_text(platform: &Value) -> Option<String> {
    let field = |key: &str| platform.get(key).and_then(Value::as_str);
    let (os, architecture) = (field("os")?, field("architecture")?);
    Some(match field("variant") {
        Some(variant) => format!("{os}/{architecture}/{variant}"),
        None => format!("{os}/{architecture}"),
    })
}

/// `(created_by, created)` of each history entry that made a layer, in order.
fn layer_history(config: &Value) -> Vec<(Option<String>, Option<String>)> {
    let Some(history) = config.get("history").and_then(Value::as_array) else {
        return Vec::new();
    };
    history
        .iter()
        .filter(|entry| entry.get("empty_layer").and_then(Value::as_bool) != Some(true))
        .map(|entry| {
            let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
            (text("created_by"), text("created"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn history_skips_empty_layers_and_tolerates_missing_fields() {
        let config = json!({"history": [
            {"created": "t0", "created_by": "ADD rootfs"},
            {"created": "t1", "created_by": "ENV A=1", "empty_layer": true},
            {"created_by": "RUN make"},
            {"empty_layer": false, "created": "t3"},
        ]});
        assert_eq!(
            layer_history(&config),
            vec![
                (Some("ADD rootfs".into()), Some("t0".into())),
                (Some("RUN make".into()), None),
                (None, Some("t3".into())),
            ]
        );
        assert!(layer_history(&json!({"os": "linux"})).is_empty());
        assert!(layer_history(&Value::Null).is_empty());
    }

    #[test]
    fn platforms_read_with_and_without_variant() {
        assert_eq!(
            platform_text(&json!({"os": "linux", "architecture": "arm64", "variant": "v8"})),
            Some("linux/arm64/v8".to_owned())
        );
        assert_eq!(
            platform_text(&json!({"os": "linux", "architecture": "amd64"})),
            Some("linux/amd64".to_owned())
        );
        assert_eq!(platform_text(&json!({"os": "linux"})), None);
    }
}
