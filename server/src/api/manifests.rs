//! Manifests: GET/HEAD/PUT/DELETE by tag or digest.

use berth_engine::oci::{Reference, RepoName};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use super::{empty_response, header_str, header_value, ApiResult, ShardState};
use crate::http::body::{read_limited, too_large, RequestBody, ResponseBody};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::router;

/// GET and HEAD. The stored media type is the `Content-Type`, whatever `Accept` says: the
/// registry never converts manifests (clients pick a child of an index themselves).
pub fn get(
    ctx: &ShardState,
    req: &Request<RequestBody>,
    repo: &RepoName,
    reference: &str,
) -> ApiResult {
    let reference = parse_reference(reference, StatusCode::NOT_FOUND, ErrorCode::ManifestUnknown)?;
    let (digest, media_type, size, body) = if req.method() == Method::HEAD {
        let info = ctx.registry.stat_manifest(repo, &reference)?;
        (
            info.digest,
            info.media_type,
            info.size,
            ResponseBody::empty(),
        )
    } else {
        let content = ctx.registry.get_manifest(repo, &reference)?;
        let size = content.bytes.len() as u64;
        (
            content.digest,
            content.media_type,
            size,
            ResponseBody::full(content.bytes),
        )
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header_value(&media_type)?);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert("docker-content-digest", header_value(digest.as_str())?);
    headers.insert(header::ETAG, header_value(&format!("\"{digest}\""))?);
    Ok(response)
}

pub async fn put(
    ctx: &ShardState,
    req: Request<RequestBody>,
    repo: &RepoName,
    reference: &str,
) -> ApiResult {
    let reference = parse_reference(
        reference,
        StatusCode::BAD_REQUEST,
        ErrorCode::ManifestInvalid,
    )?;
    let max = ctx.config.limits.manifest_bytes_max;
    if let Some(length) = header_str(&req, header::CONTENT_LENGTH) {
        if length.trim().parse::<u64>().is_ok_and(|n| n > max) {
            return Err(too_large(max));
        }
    }
    let content_type = header_str(&req, header::CONTENT_TYPE).map(str::to_owned);
    let bytes = read_limited(req.into_body(), max).await?;
    let outcome = ctx
        .registry
        .put_manifest(repo, &reference, content_type.as_deref(), bytes)
        .await?;
    let mut response = empty_response(StatusCode::CREATED);
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        header_value(&router::manifest_path(
            repo.as_str(),
            outcome.digest.as_str(),
        ))?,
    );
    headers.insert(
        "docker-content-digest",
        header_value(outcome.digest.as_str())?,
    );
    if let Some(subject) = &outcome.subject {
        headers.insert("oci-subject", header_value(subject.as_str())?);
    }
    Ok(response)
}

pub async fn delete(ctx: &ShardState, repo: &RepoName, reference: &str) -> ApiResult {
    let reference = parse_reference(reference, StatusCode::NOT_FOUND, ErrorCode::ManifestUnknown)?;
    ctx.registry.delete_manifest(repo, &reference).await?;
    Ok(empty_response(StatusCode::ACCEPTED))
}

/// A reference that is neither a valid tag nor a valid digest. Digest-shaped text (it has a
/// `:`) that fails to parse is DIGEST_INVALID; anything else gets the caller's code.
fn parse_reference(text: &str, status: StatusCode, code: ErrorCode) -> Result<Reference, ApiError> {
    Reference::parse(text).map_err(|e| {
        if text.contains(':') {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::DigestInvalid,
                e.to_string(),
            )
        } else {
            ApiError::new(status, code, e.to_string())
        }
    })
}
