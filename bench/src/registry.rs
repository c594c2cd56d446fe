//! The OCI Distribution API as a client speaks it: one function per request, each checking the
//! status code, the headers that matter and, for content, every byte.
//!
//! Only what the distribution specification requires of every registry is relied on, so the
//! same calls work against Berth and CNCF Distribution alike: upload URLs are taken from
//! `Location` (relative or absolute, with or without a query of their own, like Distribution's
//! `_state`), each PATCH continues at the `Location` the previous one returned, and tag pages are
//! followed through `Link`.
//!
//! Each function records its request's latency on success; on failure it returns a [`Failure`]
//! naming the request, the status and an excerpt of the body.

use std::time::Instant;

use berth_engine::oci::Digest;
use bytes::Bytes;
use http::{header, HeaderName, Method, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::client::{Conn, Failure};
use crate::fixtures::{Blob, BlobRef, Manifest};

/// The `Accept` header docker (through containerd's resolver) sends for a manifest.
pub const DOCKER_MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, */*";

/// Largest JSON body (manifest, tags page, error) read whole.
const JSON_BODY_BYTES_MAX: usize = 4 << 20;

const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

fn header_str<'a>(response: &'a Response<Incoming>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Turns a `Location` or `Link` target into an origin-form path (`/v2/…?…`).
pub fn origin_form(location: &str) -> Option<String> {
    if location.starts_with('/') {
        return Some(location.to_owned());
    }
    let rest = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("https://"))?;
    Some(rest[rest.find('/')?..].to_owned())
}

/// `path` with `key=value` added to its query.
pub fn with_query(path: &str, key: &str, value: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}{key}={value}")
}

/// The path of a `Link: <…>; rel="next"` header value.
pub fn next_link(value: &str) -> Option<String> {
    let start = value.find('<')? + 1;
    let end = start + value[start..].find('>')?;
    let params = &value[end + 1..];
    if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
        return None;
    }
    origin_form(&value[start..end])
}

/// Fails unless `response` has status `expected`; the failure quotes the body.
async fn expect_status(
    conn: &mut Conn,
    response: Response<Incoming>,
    expected: StatusCode,
    method: &Method,
    path: &str,
) -> Result<Response<Incoming>, Failure> {
    if response.status() == expected {
        return Ok(response);
    }
    let status = response.status();
    let body = conn.read_excerpt(response.into_body()).await;
    Err(Failure::new(
        method,
        path,
        format!("status {status}, expected {expected}; {body}"),
    ))
}

/// Reads the rest of a response that should have a small or empty body.
async fn finish_small(
    conn: &mut Conn,
    response: Response<Incoming>,
    method: &Method,
    path: &str,
) -> Result<Vec<u8>, Failure> {
    conn.collect(response.into_body(), JSON_BODY_BYTES_MAX)
        .await
        .map_err(|e| Failure::new(method, path, e))
}

fn location_of(
    response: &Response<Incoming>,
    method: &Method,
    path: &str,
) -> Result<String, Failure> {
    let location = header_str(response, "location")
        .ok_or_else(|| Failure::new(method, path, "no Location header"))?;
    origin_form(location).ok_or_else(|| {
        Failure::new(
            method,
            path,
            format!("Location {location:?} is not a URL or path"),
        )
    })
}

fn check_digest_header(
    response: &Response<Incoming>,
    expected: &Digest,
    method: &Method,
    path: &str,
) -> Result<(), Failure> {
    match header_str(response, DOCKER_CONTENT_DIGEST) {
        Some(value) if value == expected.as_str() => Ok(()),
        other => Err(Failure::new(
            method,
            path,
            format!("Docker-Content-Digest {other:?}, expected {expected}"),
        )),
    }
}

fn check_content_length(
    response: &Response<Incoming>,
    expected: u64,
    method: &Method,
    path: &str,
) -> Result<(), Failure> {
    match header_str(response, "content-length").map(str::parse::<u64>) {
        Some(Ok(length)) if length == expected => Ok(()),
        other => Err(Failure::new(
            method,
            path,
            format!("Content-Length {other:?}, expected {expected}"),
        )),
    }
}

/// `POST /v2/<repo>/blobs/uploads/` → 202; returns the session's `Location`.
pub async fn start_upload(conn: &mut Conn, repo: &str) -> Result<String, Failure> {
    let method = Method::POST;
    let path = format!("/v2/{repo}/blobs/uploads/");
    let started = Instant::now();
    let response = conn.send(method.clone(), &path, &[], Bytes::new()).await?;
    let response = expect_status(conn, response, StatusCode::ACCEPTED, &method, &path).await?;
    let location = location_of(&response, &method, &path)?;
    finish_small(conn, response, &method, &path).await?;
    conn.record_request(started);
    Ok(location)
}

/// `PATCH <location>` with the chunk at `offset` → 202 with `Range: 0-<last byte>`; returns the
/// `Location` to continue at.
pub async fn patch_upload(
    conn: &mut Conn,
    location: &str,
    offset: u64,
    chunk: Bytes,
) -> Result<String, Failure> {
    let method = Method::PATCH;
    let last = offset + chunk.len() as u64 - 1;
    let content_range = format!("{offset}-{last}");
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream"),
        (header::CONTENT_RANGE, content_range.as_str()),
    ];
    let started = Instant::now();
    let response = conn.send(method.clone(), location, &headers, chunk).await?;
    let response = expect_status(conn, response, StatusCode::ACCEPTED, &method, location).await?;
    let range = header_str(&response, "range").map(|r| r.trim_start_matches("bytes="));
    if range != Some(format!("0-{last}").as_str()) {
        return Err(Failure::new(
            &method,
            location,
            format!("Range {range:?} after the chunk {content_range}, expected \"0-{last}\""),
        ));
    }
    let next = location_of(&response, &method, location)?;
    finish_small(conn, response, &method, location).await?;
    conn.record_request(started);
    Ok(next)
}

/// `PUT <location>?digest=<digest>` with the rest of the blob (maybe nothing) → 201 with
/// `Docker-Content-Digest`.
pub async fn finish_upload(
    conn: &mut Conn,
    location: &str,
    digest: &Digest,
    rest: Bytes,
) -> Result<(), Failure> {
    let method = Method::PUT;
    let path = with_query(location, "digest", digest.as_str());
    let headers = [(header::CONTENT_TYPE, "application/octet-stream")];
    let started = Instant::now();
    let response = conn.send(method.clone(), &path, &headers, rest).await?;
    let response = expect_status(conn, response, StatusCode::CREATED, &method, &path).await?;
    check_digest_header(&response, digest, &method, &path)?;
    finish_small(conn, response, &method, &path).await?;
    conn.record_request(started);
    Ok(())
}

/// Pushes a blob: POST, then either one PUT with the whole body ("monolithic") or PATCHes of
/// `chunk_bytes` followed by an empty PUT.
pub async fn push_blob(
    conn: &mut Conn,
    repo: &str,
    blob: &Blob,
    chunk_bytes: Option<u64>,
) -> Result<(), Failure> {
    let mut location = start_upload(conn, repo).await?;
    match chunk_bytes {
        None => finish_upload(conn, &location, &blob.digest, blob.bytes.clone()).await,
        Some(chunk_bytes) => {
            let chunk_bytes = usize::try_from(chunk_bytes.max(1)).unwrap_or(usize::MAX);
            let mut offset = 0usize;
            while offset < blob.bytes.len() {
                let end = blob.bytes.len().min(offset + chunk_bytes);
                let chunk = blob.bytes.slice(offset..end);
                location = patch_upload(conn, &location, offset as u64, chunk).await?;
                offset = end;
            }
            finish_upload(conn, &location, &blob.digest, Bytes::new()).await
        }
    }
}

/// `HEAD /v2/<repo>/blobs/<digest>` → 200 with the blob's `Content-Length`, or 404. This is how
/// docker decides whether to upload a layer.
pub async fn blob_exists(conn: &mut Conn, repo: &str, blob: &BlobRef) -> Result<bool, Failure> {
    let method = Method::HEAD;
    let path = format!("/v2/{repo}/blobs/{}", blob.digest);
    let started = Instant::now();
    let response = conn.send(method.clone(), &path, &[], Bytes::new()).await?;
    let exists = match response.status() {
        StatusCode::OK => {
            check_content_length(&response, blob.size, &method, &path)?;
            true
        }
        StatusCode::NOT_FOUND => false,
        _ => {
            expect_status(conn, response, StatusCode::OK, &method, &path).await?;
            unreachable!("expect_status fails on any other status");
        }
    };
    finish_small(conn, response, &method, &path).await?;
    conn.record_request(started);
    Ok(exists)
}

/// `GET /v2/<repo>/blobs/<digest>` → 200; the body is `size` bytes and hashes to the digest.
pub async fn get_blob(conn: &mut Conn, repo: &str, blob: &BlobRef) -> Result<(), Failure> {
    let method = Method::GET;
    let path = format!("/v2/{repo}/blobs/{}", blob.digest);
    let started = Instant::now();
    let response = conn.send(method.clone(), &path, &[], Bytes::new()).await?;
    let response = expect_status(conn, response, StatusCode::OK, &method, &path).await?;
    if response.headers().contains_key(header::CONTENT_LENGTH) {
        check_content_length(&response, blob.size, &method, &path)?;
    }
    let (digest, length) = conn
        .read_hashing(response.into_body(), blob.digest.algorithm())
        .await
        .map_err(|e| Failure::new(&method, &path, e))?;
    if digest != blob.digest || length != blob.size {
        return Err(Failure::new(
            &method,
            &path,
            format!(
                "the body ({length} bytes) hashes to {digest}, expected {} bytes hashing to {}",
                blob.size, blob.digest
            ),
        ));
    }
    conn.record_request(started);
    Ok(())
}

/// `GET /v2/<repo>/blobs/<digest>` with `Range: bytes=<start>-<start + len - 1>` → 206 with the
/// matching `Content-Range`; the body equals `expected`, the blob's bytes at `start`.
pub async fn get_blob_range(
    conn: &mut Conn,
    repo: &str,
    blob: &BlobRef,
    start: u64,
    expected: &[u8],
) -> Result<(), Failure> {
    let method = Method::GET;
    let path = format!("/v2/{repo}/blobs/{}", blob.digest);
    let last = start + expected.len() as u64 - 1;
    let range = format!("bytes={start}-{last}");
    let headers = [(header::RANGE, range.as_str())];
    let started = Instant::now();
    let response = conn
        .send(method.clone(), &path, &headers, Bytes::new())
        .await?;
    let response =
        expect_status(conn, response, StatusCode::PARTIAL_CONTENT, &method, &path).await?;
    let content_range = header_str(&response, "content-range");
    let expected_range = format!("bytes {start}-{last}/{}", blob.size);
    if content_range != Some(expected_range.as_str()) {
        return Err(Failure::new(
            &method,
            &path,
            format!("{range}: Content-Range {content_range:?}, expected {expected_range:?}"),
        ));
    }
    conn.read_matching(response.into_body(), expected)
        .await
        .map_err(|e| Failure::new(&method, &path, format!("{range}: {e}")))?;
    conn.record_request(started);
    Ok(())
}

/// `PUT /v2/<repo>/manifests/<reference>` with the manifest's media type → 201 with its digest.
pub async fn put_manifest(
    conn: &mut Conn,
    repo: &str,
    reference: &str,
    manifest: &Manifest,
) -> Result<(), Failure> {
    let method = Method::PUT;
    let path = format!("/v2/{repo}/manifests/{reference}");
    let headers = [(header::CONTENT_TYPE, manifest.media_type)];
    let started = Instant::now();
    let response = conn
        .send(method.clone(), &path, &headers, manifest.bytes.clone())
        .await?;
    let response = expect_status(conn, response, StatusCode::CREATED, &method, &path).await?;
    check_digest_header(&response, &manifest.digest, &method, &path)?;
    finish_small(conn, response, &method, &path).await?;
    conn.record_request(started);
    Ok(())
}

fn check_manifest_headers(
    response: &Response<Incoming>,
    expected: &Manifest,
    method: &Method,
    path: &str,
) -> Result<(), Failure> {
    let content_type =
        header_str(response, "content-type").map(|v| v.split(';').next().unwrap_or(v).trim());
    if content_type != Some(expected.media_type) {
        return Err(Failure::new(
            method,
            path,
            format!(
                "Content-Type {content_type:?}, expected {:?}",
                expected.media_type
            ),
        ));
    }
    check_digest_header(response, &expected.digest, method, path)
}

/// `GET /v2/<repo>/manifests/<reference>` with docker's `Accept` → 200 with the pushed bytes,
/// media type and digest.
pub async fn get_manifest(
    conn: &mut Conn,
    repo: &str,
    reference: &str,
    expected: &Manifest,
) -> Result<(), Failure> {
    let method = Method::GET;
    let path = format!("/v2/{repo}/manifests/{reference}");
    let headers: [(HeaderName, &str); 1] = [(header::ACCEPT, DOCKER_MANIFEST_ACCEPT)];
    let started = Instant::now();
    let response = conn
        .send(method.clone(), &path, &headers, Bytes::new())
        .await?;
    let response = expect_status(conn, response, StatusCode::OK, &method, &path).await?;
    check_manifest_headers(&response, expected, &method, &path)?;
    conn.read_matching(response.into_body(), &expected.bytes)
        .await
        .map_err(|e| Failure::new(&method, &path, e))?;
    conn.record_request(started);
    Ok(())
}

/// `HEAD /v2/<repo>/manifests/<reference>` with docker's `Accept` → 200 with the manifest's
/// digest, media type and length.
pub async fn head_manifest(
    conn: &mut Conn,
    repo: &str,
    reference: &str,
    expected: &Manifest,
) -> Result<(), Failure> {
    let method = Method::HEAD;
    let path = format!("/v2/{repo}/manifests/{reference}");
    let headers: [(HeaderName, &str); 1] = [(header::ACCEPT, DOCKER_MANIFEST_ACCEPT)];
    let started = Instant::now();
    let response = conn
        .send(method.clone(), &path, &headers, Bytes::new())
        .await?;
    let response = expect_status(conn, response, StatusCode::OK, &method, &path).await?;
    check_manifest_headers(&response, expected, &method, &path)?;
    check_content_length(&response, expected.bytes.len() as u64, &method, &path)?;
    finish_small(conn, response, &method, &path).await?;
    conn.record_request(started);
    Ok(())
}

#[derive(Deserialize)]
struct TagList {
    name: String,
    tags: Option<Vec<String>>,
}

/// One page of a tags list: `GET <path>` (`/v2/<repo>/tags/list[?n=…&last=…]`) → 200 with
/// `{"name","tags"}`. Returns the tags and the next page's path from `Link`, if any.
pub async fn list_tags(
    conn: &mut Conn,
    repo: &str,
    path: &str,
) -> Result<(Vec<String>, Option<String>), Failure> {
    let method = Method::GET;
    let started = Instant::now();
    let response = conn.send(method.clone(), path, &[], Bytes::new()).await?;
    let response = expect_status(conn, response, StatusCode::OK, &method, path).await?;
    let next = match header_str(&response, "link") {
        None => None,
        Some(link) => Some(next_link(link).ok_or_else(|| {
            Failure::new(
                &method,
                path,
                format!("Link {link:?} has no rel=\"next\" URL"),
            )
        })?),
    };
    let body = finish_small(conn, response, &method, path).await?;
    let list: TagList = serde_json::from_slice(&body)
        .map_err(|e| Failure::new(&method, path, format!("the body is not a tags list: {e}")))?;
    if list.name != repo {
        return Err(Failure::new(
            &method,
            path,
            format!("name {:?}, expected {repo:?}", list.name),
        ));
    }
    conn.record_request(started);
    Ok((list.tags.unwrap_or_default(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_become_origin_form_paths() {
        assert_eq!(
            origin_form("/v2/a/blobs/uploads/1").as_deref(),
            Some("/v2/a/blobs/uploads/1")
        );
        assert_eq!(
            origin_form("http://127.0.0.1:5000/v2/a/blobs/uploads/u?_state=x").as_deref(),
            Some("/v2/a/blobs/uploads/u?_state=x")
        );
        assert_eq!(origin_form("relative/path"), None);
        assert_eq!(origin_form("http://host-without-path"), None);
    }

    #[test]
    fn query_parameters_are_appended() {
        assert_eq!(
            with_query("/u", "digest", "sha256:ab"),
            "/u?digest=sha256:ab"
        );
        assert_eq!(
            with_query("/u?_state=x", "digest", "d"),
            "/u?_state=x&digest=d"
        );
    }

    #[test]
    fn next_links_are_parsed() {
        assert_eq!(
            next_link("</v2/a/tags/list?n=100&last=t099>; rel=\"next\"").as_deref(),
            Some("/v2/a/tags/list?n=100&last=t099")
        );
        assert_eq!(
            next_link("<http://h:1/v2/a/tags/list?last=x&n=2>; rel=\"next\"").as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(next_link("</v2/a/tags/list>; rel=\"prev\""), None);
        assert_eq!(next_link("garbage"), None);
    }
}
