//! The distribution API over HTTP, against the real daemon: every endpoint of the OCI
//! Distribution Spec v1.1 as Berth implements it, with its status codes, headers, error codes
//! and the bytes read back.
//!
//! Every request goes through [`call`], which checks what the spec asks of *every* response
//! (the `Docker-Distribution-API-Version` header, a `Content-Length` that matches the body, and
//! the OCI error JSON shape on errors), so each test only states what is particular to it.
//!
//! Each test starts its own daemon; tests that share setup are grouped so the suite stays
//! around thirty daemon starts. Most tests end with `daemon.stop()`, which fails on a non-zero
//! exit or an unexpected WARN/ERROR log line.
//!
//! This file holds the request helper, its checks and the builders the tests share; the tests
//! live in one module per endpoint family (`blobs`, `uploads`, `manifests`, ...), all in this
//! one test binary.

#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

/// Why these tests run with access control off (`Daemon::start_open`).
const NOT_ABOUT_ACCESS: &str =
    "distribution-API behaviour of /v2; access control is tests/access.rs's subject";

mod base;
mod blobs;
mod catalog;
mod limits;
mod manifests;
mod referrers;
mod restarts;
mod tags;
mod uploads;

use berth_fixtures::media_type::*;
use berth_fixtures::{BlobRef, Format};

/// The spec's error codes (code-1 … code-15).
const SPEC_ERROR_CODES: [&str; 14] = [
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

// ----- the one request helper and its checks --------------------------------------------------

/// Sends one request to `d` and checks what every response must have.
fn call(d: &Daemon, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let r = send(method, &d.url(path), headers, body);
    check_every_response(method, path, &r);
    r
}

/// Like [`call`], but the body goes out with `Transfer-Encoding: chunked` and no
/// `Content-Length`, in pieces of `piece_bytes`, the way Docker streams layers.
fn call_chunked(
    d: &Daemon,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    piece_bytes: usize,
) -> Resp {
    /// Hands out at most `piece` bytes per read, so ureq writes several HTTP chunks.
    struct Pieces<'b> {
        rest: &'b [u8],
        piece: usize,
    }
    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.rest.len().min(self.piece).min(buf.len());
            buf[..n].copy_from_slice(&self.rest[..n]);
            self.rest = &self.rest[n..];
            Ok(n)
        }
    }
    let mut req = agent(Duration::from_secs(120)).request(method, &d.url(path));
    for (name, value) in headers {
        req = req.set(name, value);
    }
    let pieces = Pieces {
        rest: body,
        piece: piece_bytes,
    };
    let r =
        into_resp(req.send(pieces)).unwrap_or_else(|e| panic!("{method} {path} (chunked): {e}"));
    check_every_response(method, path, &r);
    r
}

/// An HTTP client that never follows redirects: Locations are checked, not followed.
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(timeout)
        .build()
}

/// Any HTTP answer as a [`Resp`]; only a transport failure is an error.
fn into_resp(result: Result<ureq::Response, ureq::Error>) -> Result<Resp, String> {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|name| response.header(&name).map(|v| (name.clone(), v.to_owned())))
        .collect();
    let mut body = Vec::new();
    response
        .into_reader()
        .read_to_end(&mut body)
        .map_err(|e| format!("reading the body: {e}"))?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// Like `support::send`, but a transport failure (refused, reset) is a value, so a pusher
/// thread can report it instead of panicking.
fn try_send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Resp, String> {
    // Each push takes milliseconds on loopback; a connection nobody serves (its shard died)
    // should not hold the test for minutes.
    let mut req = agent(Duration::from_secs(20)).request(method, url);
    for (name, value) in headers {
        req = req.set(name, value);
    }
    into_resp(req.send_bytes(body)).map_err(|e| format!("{method} {url}: {e}"))
}

/// Starts a request declaring `declared_bytes` of body, sends only `sent`, and hangs up: a
/// client that died mid-upload.
fn send_partial_and_hang_up(
    d: &Daemon,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    declared_bytes: usize,
    sent: &[u8],
) {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(d.addr).expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {declared_bytes}\r\n",
        d.host()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(sent).expect("write part of the body");
    stream.flush().expect("flush");
    // Stop sending and wait for the server to close its side: it has then taken in the bytes
    // and seen the body cut short (it may or may not manage to answer first).
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{method} {path}: the server did not close the connection within 10 s of the \
             client's hang-up"
        );
    }
    drop(stream);
}

/// One request over a raw connection whose body is written by another thread while this one
/// reads the answer, the way Go's client (and so containerd, docker, podman) behaves: a server
/// that answers before reading the whole body (413 on an oversized manifest) is heard even if
/// the rest of the body can no longer be written. Returns an error only if no complete answer
/// arrived.
fn call_raw_early_answer(
    d: &Daemon,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Resp, String> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(d.addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
        d.host(),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let sender = std::thread::spawn(move || {
        // Errors (EPIPE, reset) are expected once the server has answered and closed.
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&body);
    });
    let mut received = Vec::new();
    let mut buf = [0u8; 64 << 10];
    let parsed = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status: u16 = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad status line in {head:?}"))?;
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                let body = received[end + 4..end + 4 + length].to_vec();
                break Ok(Resp {
                    status,
                    headers,
                    body,
                });
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                break Err(format!(
                    "connection closed after {} bytes of answer: {:?}",
                    received.len(),
                    String::from_utf8_lossy(&received)
                ))
            }
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) => {
                break Err(format!(
                    "{e} after {} bytes of answer: {:?}",
                    received.len(),
                    String::from_utf8_lossy(&received)
                ))
            }
        }
    };
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    let r = parsed?;
    check_every_response(method, path, &r);
    Ok(r)
}

fn check_every_response(method: &str, path: &str, r: &Resp) {
    assert_eq!(
        r.header("Docker-Distribution-API-Version"),
        Some("registry/2.0"),
        "{method} {path} -> {}: every response carries the API version header",
        r.status
    );
    if method != "HEAD" {
        if let Some(length) = r.header("Content-Length") {
            assert_eq!(
                length.parse::<usize>().ok(),
                Some(r.body.len()),
                "{method} {path} -> {}: Content-Length vs body",
                r.status
            );
        }
    }
    if r.status >= 400 && method != "HEAD" {
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json"),
            "{method} {path} -> {}: error bodies are JSON",
            r.status
        );
        let json = r.json();
        let errors = json["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path}: no errors array in {json}"));
        assert!(
            !errors.is_empty(),
            "{method} {path}: empty errors in {json}"
        );
        for error in errors {
            let code = error["code"].as_str().unwrap_or("");
            assert!(
                SPEC_ERROR_CODES.contains(&code),
                "{method} {path}: {code:?} is not a spec error code: {json}"
            );
            assert!(
                error["message"].is_string(),
                "{method} {path}: message is not a string: {json}"
            );
            assert!(
                error.get("detail").is_some(),
                "{method} {path}: no detail field: {json}"
            );
        }
    }
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Asserts an error answer: its status and, when there is a body (not HEAD), its code.
fn expect_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "expected {status} {code}: {}", text(r));
    if !r.body.is_empty() {
        assert_eq!(r.error_code(), code, "{}", text(r));
    }
}

/// Like [`expect_error`] where the spec allows several codes (an unknown repository may be
/// reported as NAME_UNKNOWN or as the unknown thing in it).
fn expect_error_one_of(r: &Resp, status: u16, codes: &[&str]) {
    assert_eq!(r.status, status, "expected {status} {codes:?}: {}", text(r));
    assert!(codes.contains(&r.error_code().as_str()), "{}", text(r));
}

fn expect_status(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", text(r));
}

/// The path of a `Location` header (absolute or relative, both allowed by the spec).
fn location(r: &Resp) -> String {
    let value = r
        .header("Location")
        .unwrap_or_else(|| panic!("no Location header: {:?}", r.headers));
    let path = match value.split_once("://") {
        Some((_scheme, rest)) => &rest[rest.find('/').unwrap_or(rest.len())..],
        None => value,
    };
    assert!(path.starts_with("/v2/"), "Location {value:?}");
    path.to_owned()
}

/// `url` with one more query parameter.
fn with_query(url: &str, pair: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{pair}")
}

fn sha512_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(bytes)))
}

fn hex_of(digest: &str) -> &str {
    digest.split_once(':').expect("digest").1
}

// ----- blob and upload helpers ----------------------------------------------------------------

/// Asserts the 201 of a completed blob push (monolithic, closing PUT or mount).
fn expect_blob_created(r: &Resp, repo: &str, digest: &str) {
    expect_status(r, 201);
    assert_eq!(location(r), format!("/v2/{repo}/blobs/{digest}"));
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest));
}

fn get_blob(d: &Daemon, repo: &str, digest: &str) -> Vec<u8> {
    let r = call(d, "GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest));
    r.body
}

/// Opens an upload session; checks the 202 and returns its `Location` path.
fn start_upload(d: &Daemon, repo: &str) -> String {
    let r = call(d, "POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
    expect_upload_accepted(&r, 202, repo, 0)
}

/// Checks a 202/204 about an upload session holding `offset` bytes; returns its Location.
fn expect_upload_accepted(r: &Resp, status: u16, repo: &str, offset: u64) -> String {
    expect_status(r, status);
    let loc = location(r);
    let prefix = format!("/v2/{repo}/blobs/uploads/");
    let id = loc
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("upload Location {loc:?} is not under {prefix:?}"));
    let id = id.split('?').next().unwrap_or(id);
    assert_eq!(
        r.header("Docker-Upload-UUID"),
        Some(id),
        "Docker-Upload-UUID names the session of Location {loc}"
    );
    assert_eq!(r.header("Range"), Some(range_of(offset).as_str()));
    if status != 204 {
        assert_eq!(r.header("Content-Length"), Some("0"));
    }
    loc
}

/// The `Range` header of an upload holding `offset` bytes (`0-0` when empty).
fn range_of(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

/// PATCHes `chunk` as the bytes starting at `start`, with `Content-Range`.
fn patch_chunk(d: &Daemon, loc: &str, start: usize, chunk: &[u8]) -> Resp {
    let range = format!("{}-{}", start, start + chunk.len() - 1);
    call(
        d,
        "PATCH",
        loc,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &range),
        ],
        chunk,
    )
}

/// The offset an upload session reports (GET status, 204).
fn upload_offset(d: &Daemon, repo: &str, loc: &str) -> u64 {
    let r = call(d, "GET", loc, &[], b"");
    expect_status(&r, 204);
    assert_eq!(location(&r), loc);
    let range = r.header("Range").expect("Range on upload status");
    let end: u64 = range
        .strip_prefix("0-")
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("Range {range:?}"));
    // "0-0" is both "empty" and "one byte"; Berth (like Distribution) means empty.
    let offset = if end == 0 { 0 } else { end + 1 };
    expect_upload_accepted(&r, 204, repo, offset);
    offset
}

/// Every file under `blobs/`, relative to the data directory.
fn blob_files(d: &Daemon) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&d.data_path("blobs"), &mut out);
    let mut rel: Vec<PathBuf> = out
        .into_iter()
        .map(|p| {
            p.strip_prefix(&d.data_dir)
                .expect("under data")
                .to_path_buf()
        })
        .collect();
    rel.sort();
    rel
}

fn blob_file_of(digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').expect("digest");
    PathBuf::from("blobs")
        .join(algorithm)
        .join(&hex[..2])
        .join(hex)
}

// ----- manifest helpers -----------------------------------------------------------------------

fn descriptor(media_type: &str, digest: &str, size: usize) -> Value {
    berth_fixtures::descriptor(media_type, digest, size as u64)
}

/// Pretty-printed with a trailing newline: a server that re-serialized the document would
/// change its bytes, so "GET returns the exact bytes" is a real check.
fn manifest_bytes(document: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(document).expect("json");
    bytes.push(b'\n');
    bytes
}

/// Pushes a config and `layer_count` layers to `repo` and returns an image manifest naming
/// them (not pushed).
fn image(d: &Daemon, repo: &str, seed: u64, layer_count: usize, format: Format) -> Vec<u8> {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":{seed}}}");
    let config_digest = push_blob(d, repo, config.as_bytes());
    let layers: Vec<(String, u64)> = (0..layer_count)
        .map(|i| {
            let bytes = random_bytes(seed * 1000 + i as u64, 1000 + i * 17);
            (push_blob(d, repo, &bytes), bytes.len() as u64)
        })
        .collect();
    let layers: Vec<BlobRef<'_>> = layers
        .iter()
        .map(|(digest, size)| BlobRef {
            digest,
            size: *size,
        })
        .collect();
    let config = BlobRef {
        digest: &config_digest,
        size: config.len() as u64,
    };
    manifest_bytes(&berth_fixtures::image_manifest_document(
        format, config, &layers,
    ))
}

fn put_manifest(d: &Daemon, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Resp {
    call(
        d,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", media_type)],
        body,
    )
}

/// Pushes a manifest and checks the 201; returns its digest.
fn push(d: &Daemon, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
    let r = put_manifest(d, repo, reference, media_type, body);
    expect_manifest_created(&r, repo, body)
}

/// Checks the 201 of a manifest push: Location by digest, Docker-Content-Digest of the exact
/// bytes. Returns the digest.
fn expect_manifest_created(r: &Resp, repo: &str, body: &[u8]) -> String {
    expect_status(r, 201);
    let digest = sha256_digest(body);
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
    assert_eq!(location(r), format!("/v2/{repo}/manifests/{digest}"));
    digest
}

/// GET and HEAD of `reference` return exactly `body` as `media_type`.
fn expect_manifest(d: &Daemon, repo: &str, reference: &str, media_type: &str, body: &[u8]) {
    let path = format!("/v2/{repo}/manifests/{reference}");
    let accept = [(
        "Accept",
        "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
         application/vnd.docker.distribution.manifest.v2+json, \
         application/vnd.docker.distribution.manifest.list.v2+json",
    )];
    // A manifest addressed by a sha512 digest is served under that digest.
    let digest = if reference.starts_with("sha512:") {
        reference.to_owned()
    } else {
        sha256_digest(body)
    };
    let r = call(d, "GET", &path, &accept, b"");
    expect_status(&r, 200);
    assert!(r.body == body, "GET {path}: bytes differ from those pushed");
    assert_eq!(r.header("Content-Type"), Some(media_type), "GET {path}");
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
    let r = call(d, "HEAD", &path, &accept, b"");
    expect_status(&r, 200);
    assert!(r.body.is_empty(), "HEAD {path} has a body");
    assert_eq!(r.header("Content-Type"), Some(media_type), "HEAD {path}");
    assert_eq!(
        r.header("Content-Length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
}

fn tags(d: &Daemon, repo: &str) -> Vec<String> {
    let r = call(d, "GET", &format!("/v2/{repo}/tags/list"), &[], b"");
    expect_status(&r, 200);
    let json = r.json();
    assert_eq!(json["name"], repo, "{json}");
    strings(&json["tags"])
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect()
}

/// The `<target>` of a `Link: <target>; rel="next"` header, if any.
fn next_link(r: &Resp) -> Option<String> {
    let link = r.header("Link")?;
    let (target, params) = link
        .strip_prefix('<')
        .and_then(|l| l.split_once('>'))
        .unwrap_or_else(|| panic!("Link {link:?} is not <target>; params"));
    assert_eq!(params.trim(), "; rel=\"next\"", "Link {link:?}");
    Some(target.to_owned())
}

/// Follows `Link` headers from `first`; returns the pages' items (under `key`).
fn pages(d: &Daemon, first: &str, key: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next {
        assert!(out.len() < 1000, "Link headers never end");
        let r = call(d, "GET", &path, &[], b"");
        expect_status(&r, 200);
        out.push(strings(&r.json()[key]));
        next = next_link(&r);
    }
    out
}

fn referrers(d: &Daemon, repo: &str, subject: &str, query: &str) -> (Resp, Vec<Value>) {
    let r = call(
        d,
        "GET",
        &format!("/v2/{repo}/referrers/{subject}{query}"),
        &[],
        b"",
    );
    expect_status(&r, 200);
    assert_eq!(r.header("Content-Type"), Some(OCI_INDEX));
    let json = r.json();
    assert_eq!(json["schemaVersion"], 2, "{json}");
    assert_eq!(json["mediaType"], OCI_INDEX, "{json}");
    let manifests = json["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("manifests is not an array: {json}"))
        .clone();
    (r, manifests)
}

/// Referrer descriptors keyed by digest, for order-independent comparison.
fn by_digest(descriptors: &[Value]) -> BTreeMap<String, Value> {
    descriptors
        .iter()
        .map(|d| (d["digest"].as_str().expect("digest").to_owned(), d.clone()))
        .collect()
}
