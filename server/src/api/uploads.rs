//! Blob uploads: POST (session, monolithic `?digest=`, cross-repository `?mount=`), PATCH
//! (chunked with `Content-Range`, or streamed), PUT (complete, optionally with a last chunk),
//! GET (status), DELETE (cancel).

use berth_engine::oci::upload_protocol::check_chunk;
use berth_engine::oci::{Digest, RepoName};
use berth_engine::{Appender, UploadId};
use http::{header, Request, Response, StatusCode};
use http_body_util::BodyExt;

use super::{
    empty_response, header_str, header_value, parse_digest, query, query_value, repo, ApiResult,
    ShardState,
};
use crate::http::body::RequestBody;
use crate::http::error::{upload_range, ApiError, ErrorCode};
use crate::http::range::parse_content_range;
use crate::http::router;

pub fn upload_id(text: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(text).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::BlobUploadUnknown,
            format!("{text:?} is not an upload id"),
        )
    })
}

/// `may_mount` is false when the caller may not pull the mount's source repository: the
/// request then gets a plain upload session, as for a blob the source lacks.
pub async fn start(
    ctx: &ShardState,
    req: Request<RequestBody>,
    name: &RepoName,
    may_mount: bool,
) -> ApiResult {
    let pairs = query(&req);
    if let (Some(mount), Some(from), true) = (
        query_value(&pairs, "mount"),
        query_value(&pairs, "from"),
        may_mount,
    ) {
        let digest = parse_digest(mount)?;
        let from = repo(from)?;
        if ctx.registry.mount_blob(name, &digest, &from).await? {
            return blob_created(name, &digest);
        }
        // Not mountable: the spec says fall back to a normal upload session.
    }
    if let Some(digest) = query_value(&pairs, "digest") {
        let digest = parse_digest(digest)?;
        let declared = declared_length(&req)?;
        let mut appender = ctx.uploads.oneshot(name).await?;
        let received = stream_body(&mut appender, req.into_body()).await;
        let received = match received {
            Ok(n) => n,
            Err(e) => {
                appender.abandon().await;
                return Err(e);
            }
        };
        if let Some(declared) = declared {
            if declared != received {
                appender.abandon().await;
                return Err(size_mismatch(declared, received));
            }
        }
        appender.finish(&digest).await?;
        return blob_created(name, &digest);
    }
    let status = ctx.uploads.start(name).await?;
    upload_accepted(StatusCode::ACCEPTED, name, &status.id, status.offset)
}

pub async fn patch(
    ctx: &ShardState,
    req: Request<RequestBody>,
    name: &RepoName,
    id: &UploadId,
) -> ApiResult {
    let chunk = chunk_range(&req)?;
    let mut appender = ctx
        .uploads
        .append(name, id, chunk.map(|(start, _)| start))
        .await?;
    match stream_body(&mut appender, req.into_body()).await {
        Ok(received) => {
            if let Some((start, end)) = chunk {
                // The start was checked against the session's offset when the lease was taken.
                if check_chunk(start, chunk, received).is_err() {
                    appender.abandon().await;
                    return Err(range_mismatch(start, end, received));
                }
            }
            let offset = appender.save().await?;
            upload_accepted(StatusCode::ACCEPTED, name, id, offset)
        }
        Err(e) if appender.storage_full() => {
            // The disk filled: keeping the partial bytes would only hold the space; the
            // session is discarded and the client must start over.
            appender.abandon().await;
            Err(e)
        }
        Err(e) => {
            // Keep what arrived: the client can ask for the offset and continue from there.
            let offset = appender.offset();
            match appender.save().await {
                Ok(_) => tracing::info!(upload = %id, offset, "upload interrupted; progress kept"),
                Err(save) => tracing::warn!(upload = %id, error = %save, "could not keep progress"),
            }
            Err(e)
        }
    }
}

pub async fn put(
    ctx: &ShardState,
    req: Request<RequestBody>,
    name: &RepoName,
    id: &UploadId,
) -> ApiResult {
    let pairs = query(&req);
    let Some(digest) = query_value(&pairs, "digest") else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::DigestInvalid,
            "completing an upload needs ?digest=",
        ));
    };
    let digest = parse_digest(digest)?;
    let chunk = chunk_range(&req)?;
    let declared = declared_length(&req)?;
    let mut appender = ctx
        .uploads
        .append(name, id, chunk.map(|(start, _)| start))
        .await?;
    let received = match stream_body(&mut appender, req.into_body()).await {
        Ok(n) => n,
        Err(e) => {
            appender.abandon().await;
            return Err(e);
        }
    };
    let mismatch = match (chunk, declared) {
        (Some((start, end)), _) => check_chunk(start, chunk, received)
            .err()
            .map(|_| range_mismatch(start, end, received)),
        (None, Some(declared)) => (declared != received).then(|| size_mismatch(declared, received)),
        (None, None) => None,
    };
    if let Some(error) = mismatch {
        appender.abandon().await;
        return Err(error);
    }
    appender.finish(&digest).await?;
    blob_created(name, &digest)
}

pub fn status(ctx: &ShardState, name: &RepoName, id: &UploadId) -> ApiResult {
    let status = ctx.uploads.status(name, id)?;
    upload_accepted(StatusCode::NO_CONTENT, name, id, status.offset)
}

pub async fn cancel(ctx: &ShardState, name: &RepoName, id: &UploadId) -> ApiResult {
    ctx.uploads.cancel(name, id).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// Appends the request body to the upload; returns the number of bytes received.
async fn stream_body(appender: &mut Appender, mut body: RequestBody) -> Result<u64, ApiError> {
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::BlobUploadInvalid,
                format!("reading request body: {e}"),
            )
        })?;
        if let Some(data) = frame.data_ref() {
            appender.write(data).await.map_err(ApiError::from)?;
            received += data.len() as u64;
        }
    }
    Ok(received)
}

fn chunk_range(req: &Request<RequestBody>) -> Result<Option<(u64, u64)>, ApiError> {
    match header_str(req, header::CONTENT_RANGE) {
        None => Ok(None),
        Some(text) => parse_content_range(text).map(Some).ok_or_else(|| {
            ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                ErrorCode::BlobUploadInvalid,
                format!("Content-Range {text:?} is not <start>-<end>"),
            )
        }),
    }
}

fn declared_length(req: &Request<RequestBody>) -> Result<Option<u64>, ApiError> {
    match header_str(req, header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(text) => text.trim().parse().map(Some).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::SizeInvalid,
                "Content-Length is not a number",
            )
        }),
    }
}

fn range_mismatch(start: u64, end: u64, received: u64) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::SizeInvalid,
        format!("Content-Range {start}-{end} announced, {received} bytes received"),
    )
}

fn size_mismatch(expected: u64, received: u64) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::SizeInvalid,
        format!("expected {expected} bytes, received {received}"),
    )
}

fn blob_created(name: &RepoName, digest: &Digest) -> ApiResult {
    let mut response = empty_response(StatusCode::CREATED);
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        header_value(&router::blob_path(name.as_str(), digest.as_str()))?,
    );
    headers.insert("docker-content-digest", header_value(digest.as_str())?);
    Ok(response)
}

fn upload_accepted(
    status: StatusCode,
    name: &RepoName,
    id: &UploadId,
    offset: u64,
) -> Result<Response<crate::http::body::ResponseBody>, ApiError> {
    let mut response = empty_response(status);
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        header_value(&router::upload_path(name.as_str(), id.as_str()))?,
    );
    headers.insert(header::RANGE, upload_range(offset));
    headers.insert("docker-upload-uuid", header_value(id.as_str())?);
    Ok(response)
}
