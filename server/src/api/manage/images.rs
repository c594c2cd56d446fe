//! What a repository holds, as people look at it: tags with their image's size, a manifest as
//! JSON, and an image's layers next to the build history that made them. The engine computes
//! the details (`Registry::tag_details`, `Registry::image_details`); this file shapes them.

use berth_engine::access::Operation;
use berth_engine::oci::{Reference, Tag};
use berth_engine::RegistryError;
use http::{header, StatusCode};
use serde_json::{json, Value};

use super::{bad_request, json, Call};
use crate::api::wire;
use crate::api::{empty_response, header_value, query_value, repo, ApiResult};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::router;

/// Tags per page when the request does not say; each tag costs a few metadata reads.
const TAG_PAGE_ENTRIES_DEFAULT: usize = 100;
/// The most tags one page holds, whatever `n` asks for.
const TAG_PAGE_ENTRIES_MAX: usize = 1000;

/// `{"repository","tags":[wire::Tag],"next"}`; `next` is the `last` of the next page, and a
/// `Link` header leads there as on `/v2/<name>/tags/list`.
pub(super) fn list_tags(call: Call<'_>, name: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::ListTags,
        Some(&repository),
        repository.namespace(),
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
        match registry.tag_details(&repository, &parsed) {
            Ok(details) => tags.push(wire::Tag::from(details)),
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
        let path = router::manage_tags_path(repository.as_str());
        let link = format!("<{path}?{query}>; rel=\"next\"");
        response
            .headers_mut()
            .insert(header::LINK, header_value(&link)?);
    }
    Ok(response)
}

/// Answers 204. Removes the tag only; the manifest stays reachable by digest.
pub(super) async fn delete_tag(call: Call<'_>, name: &str, tag: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::DeleteTag,
        Some(&repository),
        repository.namespace(),
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
        repository.namespace(),
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

/// `{"digest","layers":[wire::Layer]}` for an image manifest: its layers in order, the i-th
/// paired with the i-th entry of the config's `history` that is not an `empty_layer`.
pub(super) async fn layers(call: Call<'_>, name: &str, reference: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::GetLayers,
        Some(&repository),
        repository.namespace(),
    )?;
    let reference = parse_reference(reference)?;
    let details = call
        .ctx
        .registry
        .image_details(&repository, &reference)
        .await?;
    if details.is_index() {
        let platforms: Vec<String> = details
            .children
            .iter()
            .map(|c| c.platform.clone().unwrap_or_else(|| c.digest.to_string()))
            .collect();
        return Err(bad_request(format!(
            "{} is an index ({}) of [{}]; ask for the layers of one of its manifests",
            details.digest,
            details.media_type,
            platforms.join(", ")
        )));
    }
    let layers: Vec<wire::Layer> = details.layers.into_iter().map(wire::Layer::from).collect();
    json(
        StatusCode::OK,
        &json!({ "digest": details.digest.as_str(), "layers": layers }),
    )
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
