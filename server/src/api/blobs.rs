//! Blobs: GET/HEAD (whole or `Range`), DELETE (unlink from the repository).

use berth_engine::oci::{Digest, RepoName};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use super::{empty_response, header_str, header_value, ApiResult, ShardState};
use crate::http::body::{BlobStream, RequestBody, ResponseBody};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::range::{parse_range, RangeRequest};

pub async fn get(
    ctx: &ShardState,
    req: &Request<RequestBody>,
    repo: &RepoName,
    digest: &Digest,
) -> ApiResult {
    let size = ctx.registry.stat_blob(repo, digest)?;
    let range = parse_range(header_str(req, header::RANGE), size);
    let (status, start, end) = match range {
        RangeRequest::Whole => (StatusCode::OK, 0, size),
        RangeRequest::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end + 1),
        RangeRequest::Unsatisfiable => {
            return Err(ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                ErrorCode::BlobUnknown,
                format!("range outside the blob's {size} bytes"),
            )
            .with_header(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{size}"))?,
            ));
        }
    };
    // HEAD answers from metadata alone; the file is not opened.
    let body = if req.method() == Method::HEAD {
        ResponseBody::empty()
    } else {
        let file = ctx.registry.open_blob(repo, digest).await?;
        ResponseBody::Blob(BlobStream::new(
            file,
            start,
            end,
            ctx.config.storage.blob_read_chunk_bytes,
        ))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert("docker-content-digest", header_value(digest.as_str())?);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, header_value(&format!("\"{digest}\""))?);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=31536000"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        headers.insert(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {start}-{}/{size}", end - 1))?,
        );
    }
    Ok(response)
}

pub async fn delete(ctx: &ShardState, repo: &RepoName, digest: &Digest) -> ApiResult {
    ctx.registry.delete_blob(repo, digest).await?;
    let mut response = empty_response(StatusCode::ACCEPTED);
    response
        .headers_mut()
        .insert("docker-content-digest", header_value(digest.as_str())?);
    Ok(response)
}
