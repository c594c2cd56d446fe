//! What a repository holds, as people look at it: tags with their image's size, a manifest as
//! JSON, and an image's layers next to the build history that made them.
//!
//! Sizes are what a pull transfers: a manifest's bytes plus its config and layers as their
//! descriptors state them (checked against the repository's links when the manifest was
//! pushed). For an index, its bytes plus each child manifest's size, computed the same way
//! one level down.

use berth_engine::access::Operation;
use berth_engine::blob::BlobFile;
use berth_engine::oci::{
    parse_manifest, Descriptor, Digest, ParsedManifest, Reference, RepoName, Tag,
};
use berth_engine::registry::{namespace_of, RegistryError};
use http::{header, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use super::{bad_request, json, Call};
use crate::api::{empty_response, header_value, query_value, repo, ApiResult, ShardContext};
use crate::http::error::{ApiError, ErrorCode};

/// Tags per page when the request does not say; each tag costs a few metadata reads.
const TAG_PAGE_ENTRIES_DEFAULT: usize = 100;
/// The most tags one page holds, whatever `n` asks for.
const TAG_PAGE_ENTRIES_MAX: usize = 1000;
/// The largest image config read to pair layers with their history. Configs are a few KiB;
/// a larger one is answered without history rather than read into memory.
const CONFIG_BYTES_MAX: u64 = 1 << 20;
/// Bytes read from a config blob per read call.
const CONFIG_READ_CHUNK_BYTES: usize = 256 << 10;

#[derive(Serialize)]
struct TagView {
    tag: String,
    digest: String,
    /// The config digest of an image; None for an index.
    image_id: Option<String>,
    size: u64,
    media_type: String,
    pushed_at_ms: u64,
}

#[derive(Serialize)]
struct LayerView {
    digest: String,
    media_type: String,
    size: u64,
    created_by: Option<String>,
    created: Option<String>,
}

/// `{"repository","tags":[TagView],"next"}`; `next` is the `last` of the next page, and a
/// `Link` header leads there as on `/v2/<name>/tags/list`.
pub(super) fn list_tags(call: Call<'_>, name: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::ListTags,
        Some(&repository),
        namespace_of(&repository),
    )?;
    let pairs = call.query();
    let n = match query_value(&pairs, "n") {
        None | Some("") => TAG_PAGE_ENTRIES_DEFAULT,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| bad_request(format!("n={text:?} is not a non-negative integer")))?,
    }
    .min(TAG_PAGE_ENTRIES_MAX);
    let last = query_value(&pairs, "last").filter(|s| !s.is_empty());
    let registry = &call.ctx.registry;
    let page = registry.list_tags(&repository, Some(n), last)?;
    let mut tags = Vec::with_capacity(page.items.len());
    for tag in &page.items {
        let Ok(parsed) = Tag::parse(tag) else {
            continue;
        };
        match tag_view(call.ctx, &repository, parsed) {
            Ok(view) => tags.push(view),
            // Deleted between the listing and the read.
            Err(RegistryError::ManifestUnknown { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let next = if page.more { page.items.last() } else { None };
    let mut response = json(
        StatusCode::OK,
        &json!({ "repository": repository.as_str(), "tags": tags, "next": next }),
    )?;
    if let Some(next) = next {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("n", &n.to_string())
            .append_pair("last", next)
            .finish();
        let link = format!("</api/v1/repositories/{repository}/tags?{query}>; rel=\"next\"");
        response
            .headers_mut()
            .insert(header::LINK, header_value(&link)?);
    }
    Ok(response)
}

fn tag_view(ctx: &ShardContext, repository: &RepoName, tag: Tag) -> Result<TagView, RegistryError> {
    let (digest, link) = ctx
        .registry
        .stat_manifest(repository, &Reference::Tag(tag.clone()))?;
    let content = ctx
        .registry
        .get_manifest(repository, &Reference::Digest(digest))?;
    let parsed = parse_stored(&content.media_type, &content.bytes, &content.digest)?;
    let size = content.bytes.len() as u64 + referenced_bytes(ctx, repository, &parsed)?;
    Ok(TagView {
        tag: tag.as_str().to_owned(),
        digest: content.digest.to_string(),
        image_id: parsed.config.as_ref().map(|c| c.digest.to_string()),
        size,
        media_type: content.media_type,
        pushed_at_ms: link.pushed_at_ms,
    })
}

/// The bytes a manifest references: config and layers of an image; for an index, each child's
/// bytes and what the child references (children of children count by their descriptors).
fn referenced_bytes(
    ctx: &ShardContext,
    repository: &RepoName,
    parsed: &ParsedManifest,
) -> Result<u64, RegistryError> {
    let mut total = descriptor_bytes(parsed.blob_references());
    for child in parsed.child_manifests() {
        total = total.saturating_add(child.size);
        let reference = Reference::Digest(child.digest.clone());
        match ctx.registry.get_manifest(repository, &reference) {
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

/// Answers 204. Removes the tag only; the manifest stays reachable by digest.
pub(super) async fn delete_tag(call: Call<'_>, name: &str, tag: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::DeleteTag,
        Some(&repository),
        namespace_of(&repository),
    )?;
    if !call.ctx.config.registry.delete_enabled {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unsupported,
            "deletes are disabled on this registry",
        ));
    }
    let tag = Tag::parse(tag).map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::ManifestUnknown,
            e.to_string(),
        )
    })?;
    call.ctx
        .registry
        .delete_manifest(&repository, &Reference::Tag(tag))
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// `{"digest","media_type","size","manifest": <the stored JSON>}`.
pub(super) fn manifest(call: Call<'_>, name: &str, reference: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::GetManifest,
        Some(&repository),
        namespace_of(&repository),
    )?;
    let reference = parse_reference(reference)?;
    let content = call.ctx.registry.get_manifest(&repository, &reference)?;
    let document: Value =
        serde_json::from_slice(&content.bytes).map_err(|e| RegistryError::Corrupted {
            what: format!("stored manifest {} is not JSON: {e}", content.digest),
        })?;
    json(
        StatusCode::OK,
        &json!({
            "digest": content.digest.as_str(),
            "media_type": content.media_type,
            "size": content.bytes.len(),
            "manifest": document,
        }),
    )
}

/// `{"digest","layers":[LayerView]}` for an image manifest: its layers in order, the i-th
/// paired with the i-th entry of the config's `history` that is not an `empty_layer`.
pub(super) async fn layers(call: Call<'_>, name: &str, reference: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::GetLayers,
        Some(&repository),
        namespace_of(&repository),
    )?;
    let reference = parse_reference(reference)?;
    let content = call.ctx.registry.get_manifest(&repository, &reference)?;
    let parsed = parse_stored(&content.media_type, &content.bytes, &content.digest)?;
    let Some(config) = &parsed.config else {
        return Err(bad_request(format!(
            "{} is an index ({}); ask for the layers of one of its manifests",
            content.digest, content.media_type
        )));
    };
    let history = layer_history(&config_json(call.ctx, &repository, config).await?);
    let layers: Vec<LayerView> = parsed
        .layers
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let (created_by, created) = history.get(i).cloned().unwrap_or_default();
            LayerView {
                digest: layer.digest.to_string(),
                media_type: layer.media_type.clone(),
                size: layer.size,
                created_by,
                created,
            }
        })
        .collect();
    json(
        StatusCode::OK,
        &json!({ "digest": content.digest.as_str(), "layers": layers }),
    )
}

/// The image config as JSON, or Null when it cannot tell anything: unlinked from the
/// repository since the push, larger than [`CONFIG_BYTES_MAX`], or not JSON (artifacts).
async fn config_json(
    ctx: &ShardContext,
    repository: &RepoName,
    config: &Descriptor,
) -> Result<Value, ApiError> {
    if config.size > CONFIG_BYTES_MAX {
        return Ok(Value::Null);
    }
    let file = match ctx.registry.open_blob(repository, &config.digest).await {
        Ok(file) => file,
        Err(RegistryError::BlobUnknown { .. }) => return Ok(Value::Null),
        Err(e) => return Err(e.into()),
    };
    let result = read_all(&file, file.size().min(CONFIG_BYTES_MAX)).await;
    let _ = file.close().await;
    let bytes = result.map_err(RegistryError::Io)?;
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn read_all(file: &BlobFile, size: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(size as usize);
    while (bytes.len() as u64) < size {
        let want = (size - bytes.len() as u64).min(CONFIG_READ_CHUNK_BYTES as u64) as usize;
        let chunk = file.read(bytes.len() as u64, want).await?;
        if chunk.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "config blob ended early",
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
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

fn parse_reference(text: &str) -> Result<Reference, ApiError> {
    Reference::parse(text).map_err(|e| {
        if text.contains(':') {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::DigestInvalid,
                e.to_string(),
            )
        } else {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::ManifestUnknown,
                e.to_string(),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
