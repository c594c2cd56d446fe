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

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const OCI_EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

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
    // Give the server time to take the bytes in before the connection goes away.
    std::thread::sleep(Duration::from_millis(200));
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

/// Files in `uploads/` (session files of unfinished uploads and nothing else).
fn upload_files(d: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d.data_path("uploads"))
        .expect("uploads dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
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

#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    Oci,
    Docker,
}

fn descriptor(media_type: &str, digest: &str, size: usize) -> Value {
    json!({ "mediaType": media_type, "digest": digest, "size": size })
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
fn image(d: &Daemon, repo: &str, seed: u64, layer_count: usize, flavor: Flavor) -> Vec<u8> {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":{seed}}}");
    let config_digest = push_blob(d, repo, config.as_bytes());
    let layer_type = if flavor == Flavor::Oci {
        OCI_LAYER
    } else {
        DOCKER_LAYER
    };
    let layers: Vec<Value> = (0..layer_count)
        .map(|i| {
            let bytes = random_bytes(seed * 1000 + i as u64, 1000 + i * 17);
            descriptor(layer_type, &push_blob(d, repo, &bytes), bytes.len())
        })
        .collect();
    let document = match flavor {
        Flavor::Oci => json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &config_digest, config.len()),
            "layers": layers,
        }),
        Flavor::Docker => json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": descriptor(DOCKER_CONFIG, &config_digest, config.len()),
            "layers": layers,
        }),
    };
    manifest_bytes(&document)
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

// ===== base, routing =========================================================================

#[test]
fn base_endpoint_unknown_paths_and_wrong_methods() {
    let mut d = Daemon::start();
    for path in ["/v2/", "/v2"] {
        let r = call(&d, "GET", path, &[], b"");
        expect_status(&r, 200);
    }
    let r = call(&d, "HEAD", "/v2/", &[], b"");
    expect_status(&r, 200);

    // Paths that are no endpoint: 404, with the API version header and an error body.
    for path in [
        "/",
        "/v1/",
        "/v2x",
        "/v2/app",
        "/v2/app/blobs/",
        "/v2/app/other/x",
        "/v2//manifests/latest",
    ] {
        // The spec names no code for this; `call` checks the body is a spec error.
        let r = call(&d, "GET", path, &[], b"");
        expect_status(&r, 404);
    }

    // Existing endpoints with a method they do not have: 405 UNSUPPORTED and an Allow header.
    let digest = sha256_digest(b"x");
    let cases = [
        ("POST", "/v2/app/manifests/latest".to_owned(), "PUT"),
        ("PATCH", "/v2/".to_owned(), "GET"),
        ("DELETE", "/v2/_catalog".to_owned(), "GET"),
        ("GET", "/v2/app/blobs/uploads/".to_owned(), "POST"),
        ("PUT", format!("/v2/app/blobs/{digest}"), "DELETE"),
        ("POST", "/v2/app/tags/list".to_owned(), "GET"),
        ("PUT", format!("/v2/app/referrers/{digest}"), "GET"),
        (
            "POST",
            "/v2/app/blobs/uploads/0b0c5a3e-57d3-4c39-9a61-9a4b1c2d3e4f".to_owned(),
            "PATCH",
        ),
    ];
    for (method, path, allowed_example) in cases {
        let r = call(&d, method, &path, &[], b"");
        expect_error(&r, 405, "UNSUPPORTED");
        let allow = r
            .header("Allow")
            .unwrap_or_else(|| panic!("405 without Allow for {method} {path}"));
        assert!(
            allow.split(", ").any(|m| m == allowed_example),
            "{method} {path}: Allow {allow:?}"
        );
        assert!(!allow.split(", ").any(|m| m == method), "Allow {allow:?}");
    }

    // HEAD of every read endpoint family: 200, headers, no body.
    let manifest = push_image(&d, "h/app", "v1", 170, 2);
    let config = push_blob(
        &d,
        "h/app",
        b"{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":170}",
    );
    for path in [
        "/v2/h/app/manifests/v1".to_owned(),
        format!("/v2/h/app/manifests/{manifest}"),
        format!("/v2/h/app/blobs/{config}"),
        "/v2/h/app/tags/list".to_owned(),
        "/v2/_catalog".to_owned(),
        format!("/v2/h/app/referrers/{manifest}"),
    ] {
        let r = call(&d, "HEAD", &path, &[], b"");
        expect_status(&r, 200);
        assert!(r.body.is_empty(), "HEAD {path}");
    }
    d.stop();
}

// ===== blobs =================================================================================

#[test]
fn monolithic_blob_push_whole_head_and_range_reads() {
    let mut d = Daemon::start();
    // Larger than the server's read chunk (256 KiB) so whole reads and ranges cross chunks.
    let blob = random_bytes(1, 600_003);
    let size = blob.len();
    let digest = sha256_digest(&blob);
    let r = call(
        &d,
        "POST",
        &format!("/v2/lib/app/blobs/uploads/?digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_blob_created(&r, "lib/app", &digest);

    // Whole GET, and the Location is a pullable URL.
    for path in [format!("/v2/lib/app/blobs/{digest}"), location(&r)] {
        let r = call(&d, "GET", &path, &[], b"");
        expect_status(&r, 200);
        assert!(r.body == blob, "GET {path}: bytes differ");
        assert_eq!(r.header("Content-Length"), Some(size.to_string().as_str()));
        assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
        assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
        assert!(r.header("Content-Range").is_none());
    }

    let r = call(&d, "HEAD", &format!("/v2/lib/app/blobs/{digest}"), &[], b"");
    expect_status(&r, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Length"), Some(size.to_string().as_str()));
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));

    // Satisfiable ranges: (request, first byte, last byte).
    let ranges = [
        ("bytes=0-9".to_owned(), 0, 9),
        ("bytes=100-199".to_owned(), 100, 199),
        // Across the server's 256 KiB read chunks.
        ("bytes=262000-263000".to_owned(), 262_000, 263_000),
        // Suffix: the last N bytes.
        ("bytes=-100".to_owned(), size - 100, size - 1),
        // Suffix longer than the blob: all of it.
        (format!("bytes=-{}", size * 2), 0, size - 1),
        // Open: from S to the end.
        (format!("bytes={}-", size - 5), size - 5, size - 1),
        ("bytes=0-".to_owned(), 0, size - 1),
        // An end past the blob is clamped (RFC 9110).
        (
            format!("bytes={}-{}", size - 3, size + 100),
            size - 3,
            size - 1,
        ),
        ("bytes=5-5".to_owned(), 5, 5),
    ];
    for (range, first, last) in ranges {
        let r = call(
            &d,
            "GET",
            &format!("/v2/lib/app/blobs/{digest}"),
            &[("Range", &range)],
            b"",
        );
        expect_status(&r, 206);
        assert_eq!(
            r.header("Content-Range"),
            Some(format!("bytes {first}-{last}/{size}").as_str()),
            "{range}"
        );
        assert_eq!(
            r.header("Content-Length"),
            Some((last - first + 1).to_string().as_str()),
            "{range}"
        );
        assert!(r.body == blob[first..=last], "{range}: bytes differ");
    }

    // Unsatisfiable: 416 with the blob's size.
    for range in [
        format!("bytes={size}-"),
        format!("bytes={size}-{}", size + 10),
        "bytes=-0".to_owned(),
    ] {
        let r = call(
            &d,
            "GET",
            &format!("/v2/lib/app/blobs/{digest}"),
            &[("Range", &range)],
            b"",
        );
        assert_eq!(r.status, 416, "{range}: {}", text(&r));
        assert_eq!(
            r.header("Content-Range"),
            Some(format!("bytes */{size}").as_str()),
            "{range}"
        );
    }

    // Pushing the same content again is fine and changes nothing.
    let again = call(
        &d,
        "POST",
        &format!("/v2/lib/app/blobs/uploads/?digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_blob_created(&again, "lib/app", &digest);
    assert!(get_blob(&d, "lib/app", &digest) == blob);

    // The empty blob: zero bytes in, zero bytes out; any range of it is unsatisfiable.
    let empty = sha256_digest(b"");
    let r = call(
        &d,
        "POST",
        &format!("/v2/lib/app/blobs/uploads/?digest={empty}"),
        &[("Content-Type", "application/octet-stream")],
        b"",
    );
    expect_blob_created(&r, "lib/app", &empty);
    assert!(get_blob(&d, "lib/app", &empty).is_empty());
    let r = call(&d, "HEAD", &format!("/v2/lib/app/blobs/{empty}"), &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.header("Content-Length"), Some("0"));
    let r = call(
        &d,
        "GET",
        &format!("/v2/lib/app/blobs/{empty}"),
        &[("Range", "bytes=0-")],
        b"",
    );
    assert_eq!(r.status, 416, "{}", text(&r));
    assert_eq!(r.header("Content-Range"), Some("bytes */0"));

    // One file per blob, nothing left in uploads/.
    assert_eq!(
        blob_files(&d),
        {
            let mut v = vec![blob_file_of(&digest), blob_file_of(&empty)];
            v.sort();
            v
        },
        "blob files"
    );
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}

#[test]
fn blob_errors_unknown_invalid_digest_and_mismatch() {
    let mut d = Daemon::start();
    let known = push_blob(&d, "app", b"known blob");
    let unknown = sha256_digest(b"never pushed");

    let r = call(&d, "GET", &format!("/v2/app/blobs/{unknown}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    let r = call(&d, "HEAD", &format!("/v2/app/blobs/{unknown}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    assert!(r.body.is_empty(), "HEAD has no body");
    // Unknown repository: also 404.
    let r = call(&d, "GET", &format!("/v2/nowhere/blobs/{known}"), &[], b"");
    expect_error_one_of(&r, 404, &["BLOB_UNKNOWN", "NAME_UNKNOWN"]);

    let invalid = [
        "sha256:xyz".to_owned(),
        "nodigest".to_owned(),
        format!("sha256:{}", &hex_of(&known)[..63]),
        format!("sha256:{}", hex_of(&known).to_uppercase()),
        format!("md5:{}", &hex_of(&known)[..32]),
        format!(
            "sha256:{}",
            hex_of(&known).replace(|c: char| c.is_ascii_digit(), "g")
        ),
    ];
    for digest in &invalid {
        for method in ["GET", "HEAD", "DELETE"] {
            let r = call(&d, method, &format!("/v2/app/blobs/{digest}"), &[], b"");
            expect_error(&r, 400, "DIGEST_INVALID");
        }
        let r = call(
            &d,
            "POST",
            &format!("/v2/app/blobs/uploads/?digest={digest}"),
            &[],
            b"data",
        );
        expect_error(&r, 400, "DIGEST_INVALID");
    }

    // A monolithic push whose bytes are not the digest's: 400, nothing stored, no leftovers.
    let claimed = sha256_digest(b"what the client claims");
    let r = call(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={claimed}"),
        &[("Content-Type", "application/octet-stream")],
        b"what the client sends",
    );
    expect_error(&r, 400, "DIGEST_INVALID");
    for digest in [claimed, sha256_digest(b"what the client sends")] {
        let r = call(&d, "GET", &format!("/v2/app/blobs/{digest}"), &[], b"");
        expect_error(&r, 404, "BLOB_UNKNOWN");
    }
    assert_eq!(blob_files(&d), vec![blob_file_of(&known)]);
    assert_eq!(upload_files(&d), Vec::<String>::new());

    // Invalid repository names.
    for name in ["UPPER", "a//b", "-lead", "trail-", "a b", &"x".repeat(256)] {
        let name = name.replace(' ', "%20");
        let r = call(&d, "GET", &format!("/v2/{name}/blobs/{known}"), &[], b"");
        expect_error(&r, 400, "NAME_INVALID");
        let r = call(&d, "POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"");
        expect_error(&r, 400, "NAME_INVALID");
    }
    assert!(get_blob(&d, "app", &known) == b"known blob");
    d.stop();
}

#[test]
fn blob_delete_then_unknown_then_pushable_again() {
    let mut d = Daemon::start();
    let blob = random_bytes(3, 5000);
    let digest = push_blob(&d, "app", &blob);
    let other = push_blob(&d, "app", b"another blob");

    let r = call(&d, "DELETE", &format!("/v2/app/blobs/{digest}"), &[], b"");
    expect_status(&r, 202);
    for method in ["GET", "HEAD"] {
        let r = call(&d, method, &format!("/v2/app/blobs/{digest}"), &[], b"");
        expect_error(&r, 404, "BLOB_UNKNOWN");
    }
    // Deleting again, or a blob never pushed: 404.
    let r = call(&d, "DELETE", &format!("/v2/app/blobs/{digest}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    let never = sha256_digest(b"never");
    let r = call(&d, "DELETE", &format!("/v2/app/blobs/{never}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    // The other blob is untouched.
    assert!(get_blob(&d, "app", &other) == b"another blob");
    // The content can be pushed again.
    assert_eq!(push_blob(&d, "app", &blob), digest);
    assert!(get_blob(&d, "app", &digest) == blob);
    d.stop();
}

#[test]
fn blobs_are_scoped_to_repositories_until_mounted() {
    let mut d = Daemon::start();
    let blob = random_bytes(4, 3000);
    let digest = push_blob(&d, "team/a", &blob);
    push_blob(&d, "team/b", b"b exists as a repository");

    for repo in ["team/b", "team/a/sub", "team"] {
        let r = call(&d, "GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"");
        expect_error(&r, 404, "BLOB_UNKNOWN");
    }

    // Mount from a repository that has it: 201, no upload needed.
    let r = call(
        &d,
        "POST",
        &format!("/v2/team/b/blobs/uploads/?mount={digest}&from=team/a"),
        &[],
        b"",
    );
    expect_blob_created(&r, "team/b", &digest);
    assert!(get_blob(&d, "team/b", &digest) == blob);
    let r = call(&d, "HEAD", &format!("/v2/team/b/blobs/{digest}"), &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.header("Content-Length"), Some("3000"));
    // Into a repository that does not exist yet.
    let r = call(
        &d,
        "POST",
        &format!("/v2/new/repo/blobs/uploads/?mount={digest}&from=team/b"),
        &[],
        b"",
    );
    expect_blob_created(&r, "new/repo", &digest);
    assert!(get_blob(&d, "new/repo", &digest) == blob);

    // The links are independent: deleting from the source keeps the mounted copies.
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/team/a/blobs/{digest}"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    let r = call(&d, "GET", &format!("/v2/team/a/blobs/{digest}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    assert!(get_blob(&d, "team/b", &digest) == blob);
    assert!(get_blob(&d, "new/repo", &digest) == blob);

    // Mount from a repository that lacks the blob (now team/a), or that does not exist: a
    // normal upload session (202), which works.
    let missing = sha256_digest(b"mount me");
    for from in ["team/a", "no/such/repo"] {
        let r = call(
            &d,
            "POST",
            &format!("/v2/team/c/blobs/uploads/?mount={missing}&from={from}"),
            &[],
            b"",
        );
        let loc = expect_upload_accepted(&r, 202, "team/c", 0);
        let r = call(
            &d,
            "PUT",
            &with_query(&loc, &format!("digest={missing}")),
            &[("Content-Type", "application/octet-stream")],
            b"mount me",
        );
        expect_blob_created(&r, "team/c", &missing);
    }
    assert!(get_blob(&d, "team/c", &missing) == b"mount me");
    // The same mount of a blob not linked to the source, even though its bytes exist in the
    // registry: still only a session (a mount must not leak blobs across repositories).
    let r = call(
        &d,
        "POST",
        &format!("/v2/team/d/blobs/uploads/?mount={digest}&from=team/a"),
        &[],
        b"",
    );
    expect_upload_accepted(&r, 202, "team/d", 0);
    let r = call(&d, "GET", &format!("/v2/team/d/blobs/{digest}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    // `from` is optional in v1.1: either a mount (201) or a session (202).
    let r = call(
        &d,
        "POST",
        &format!("/v2/team/e/blobs/uploads/?mount={digest}"),
        &[],
        b"",
    );
    match r.status {
        201 => expect_blob_created(&r, "team/e", &digest),
        _ => {
            expect_upload_accepted(&r, 202, "team/e", 0);
        }
    }
    d.stop();
}

// ===== uploads ===============================================================================

#[test]
fn chunked_upload_with_content_range_status_and_out_of_order_chunks() {
    let mut d = Daemon::start();
    let repo = "ns/app";
    // Odd sizes, so no chunk boundary falls on the server's 4 KiB direct-I/O alignment.
    let blob = random_bytes(5, 1000 + 4097 + 70_001 + 3333 + 12_345);
    let digest = sha256_digest(&blob);
    let cuts = [0, 1000, 5097, 75_098, 78_431, blob.len()];

    let loc = start_upload(&d, repo);
    assert_eq!(upload_offset(&d, repo, &loc), 0);

    // Chunk 1.
    let r = patch_chunk(&d, &loc, 0, &blob[..cuts[1]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[1] as u64);
    assert_eq!(upload_offset(&d, repo, &loc), cuts[1] as u64);

    // Chunk 2, then an out-of-order chunk (a gap) and an overlapping one: 416 with the
    // current Range, and the session is unharmed.
    let r = patch_chunk(&d, &loc, cuts[1], &blob[cuts[1]..cuts[2]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[2] as u64);
    for start in [cuts[2] + 10, 0, cuts[2] - 1] {
        let r = patch_chunk(&d, &loc, start, &blob[cuts[2]..cuts[3]]);
        expect_error(&r, 416, "BLOB_UPLOAD_INVALID");
        assert_eq!(
            r.header("Range"),
            Some(range_of(cuts[2] as u64).as_str()),
            "416 tells where to resume"
        );
    }
    // A Content-Range that is not <start>-<end>: 416 too (spec: invalid format).
    for bad in ["abc", "5-", "9-3"] {
        let r = call(
            &d,
            "PATCH",
            &loc,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", bad),
            ],
            b"xyz",
        );
        expect_error(&r, 416, "BLOB_UPLOAD_INVALID");
    }
    assert_eq!(upload_offset(&d, repo, &loc), cuts[2] as u64);

    // Chunk 3 with Content-Range; chunk 4 streamed without one (appends at the offset).
    let r = patch_chunk(&d, &loc, cuts[2], &blob[cuts[2]..cuts[3]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[3] as u64);
    let r = call(
        &d,
        "PATCH",
        &loc,
        &[("Content-Type", "application/octet-stream")],
        &blob[cuts[3]..cuts[4]],
    );
    let loc = expect_upload_accepted(&r, 202, repo, cuts[4] as u64);
    assert_eq!(upload_offset(&d, repo, &loc), cuts[4] as u64);

    // The last chunk travels with the closing PUT, with its Content-Range.
    let range = format!("{}-{}", cuts[4], cuts[5] - 1);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &range),
        ],
        &blob[cuts[4]..],
    );
    expect_blob_created(&r, repo, &digest);
    assert!(get_blob(&d, repo, &digest) == blob);

    // The session is over.
    let r = call(&d, "GET", &loc, &[], b"");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = patch_chunk(&d, &loc, cuts[5], b"more");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(upload_files(&d), Vec::<String>::new());
    assert_eq!(blob_files(&d), vec![blob_file_of(&digest)]);
    d.stop();
}

#[test]
fn post_then_put_with_and_without_a_final_chunk() {
    let mut d = Daemon::start();
    // POST then a single PUT with the whole blob (no Content-Range).
    let blob = random_bytes(6, 40_000);
    let digest = sha256_digest(&blob);
    let loc = start_upload(&d, "app");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_blob_created(&r, "app", &digest);
    assert!(get_blob(&d, "app", &digest) == blob);

    // All chunks by PATCH, then a PUT with an empty body.
    let blob2 = random_bytes(7, 9_999);
    let digest2 = sha256_digest(&blob2);
    let loc = start_upload(&d, "app");
    let r = patch_chunk(&d, &loc, 0, &blob2[..5000]);
    let loc = expect_upload_accepted(&r, 202, "app", 5000);
    let r = patch_chunk(&d, &loc, 5000, &blob2[5000..]);
    let loc = expect_upload_accepted(&r, 202, "app", blob2.len() as u64);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest2}")),
        &[],
        b"",
    );
    expect_blob_created(&r, "app", &digest2);
    assert!(get_blob(&d, "app", &digest2) == blob2);

    // An empty session completed as the empty blob.
    let empty = sha256_digest(b"");
    let loc = start_upload(&d, "app");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={empty}")),
        &[],
        b"",
    );
    expect_blob_created(&r, "app", &empty);
    assert!(get_blob(&d, "app", &empty).is_empty());

    // A session completing a blob that is already stored: 201, and still one file.
    let loc = start_upload(&d, "app");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_blob_created(&r, "app", &digest);
    assert!(get_blob(&d, "app", &digest) == blob);
    let mut expected = vec![
        blob_file_of(&digest),
        blob_file_of(&digest2),
        blob_file_of(&empty),
    ];
    expected.sort();
    assert_eq!(blob_files(&d), expected);
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}

#[test]
fn closing_put_digest_errors() {
    let mut d = Daemon::start();
    let blob = random_bytes(8, 20_000);
    let digest = sha256_digest(&blob);

    // No ?digest=: 400 DIGEST_INVALID, and the session is still there, unchanged.
    let loc = start_upload(&d, "app");
    let r = patch_chunk(&d, &loc, 0, &blob);
    let loc = expect_upload_accepted(&r, 202, "app", blob.len() as u64);
    let r = call(&d, "PUT", &loc, &[], b"");
    expect_error(&r, 400, "DIGEST_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), blob.len() as u64);

    // A malformed digest: 400 DIGEST_INVALID, session unchanged.
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, "digest=sha256:nothex"),
        &[],
        b"",
    );
    expect_error(&r, 400, "DIGEST_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), blob.len() as u64);

    // The wrong digest: 400 DIGEST_INVALID, and neither digest is a blob afterwards.
    let wrong = sha256_digest(b"something else");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={wrong}")),
        &[],
        b"",
    );
    expect_error(&r, 400, "DIGEST_INVALID");
    for dg in [&wrong, &digest] {
        let r = call(&d, "GET", &format!("/v2/app/blobs/{dg}"), &[], b"");
        expect_error(&r, 404, "BLOB_UNKNOWN");
    }
    // The same with the wrong digest on a PUT that carries the data.
    let loc = start_upload(&d, "app");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={wrong}")),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_error(&r, 400, "DIGEST_INVALID");
    let r = call(&d, "GET", &format!("/v2/app/blobs/{digest}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");

    // A client starting over succeeds.
    let loc = start_upload(&d, "app");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_blob_created(&r, "app", &digest);
    assert!(get_blob(&d, "app", &digest) == blob);
    assert!(blob_files(&d) == vec![blob_file_of(&digest)]);
    d.stop();
}

#[test]
fn upload_cancel_unknown_ids_and_sessions_of_other_repositories() {
    let mut d = Daemon::start();
    // Cancel: 204, then the session is unknown to every method, and its file is gone.
    let loc = start_upload(&d, "a");
    let r = patch_chunk(&d, &loc, 0, b"some bytes");
    let loc = expect_upload_accepted(&r, 202, "a", 10);
    let r = call(&d, "DELETE", &loc, &[], b"");
    expect_status(&r, 204);
    let r = call(&d, "GET", &loc, &[], b"");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = patch_chunk(&d, &loc, 10, b"more");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha256_digest(b"some bytes"))),
        &[],
        b"",
    );
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = call(&d, "DELETE", &loc, &[], b"");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(upload_files(&d), Vec::<String>::new());

    // Ids that are not (canonical) UUIDs, and a UUID never issued: 404 BLOB_UPLOAD_UNKNOWN.
    let digest = sha256_digest(b"x");
    for id in [
        "not-a-uuid",
        "1234",
        "0B0C5A3E-57D3-4C39-9A61-9A4B1C2D3E4F",
        "0b0c5a3e57d34c399a619a4b1c2d3e4f",
        "0b0c5a3e-57d3-4c39-9a61-9a4b1c2d3e4f",
    ] {
        let path = format!("/v2/a/blobs/uploads/{id}");
        for (method, body) in [
            ("GET", &b""[..]),
            ("PATCH", &b"data"[..]),
            ("DELETE", &b""[..]),
        ] {
            let r = call(&d, method, &path, &[], body);
            expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
        }
        let r = call(&d, "PUT", &format!("{path}?digest={digest}"), &[], b"x");
        expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    }

    // A session of repository a, addressed through repository b: unknown there, for every
    // method; and b's DELETE must not have cancelled a's session.
    let loc = start_upload(&d, "a");
    let r = patch_chunk(&d, &loc, 0, b"0123456789");
    let loc = expect_upload_accepted(&r, 202, "a", 10);
    let id = loc.rsplit('/').next().expect("id").to_owned();
    push_blob(&d, "b", b"b exists");
    let via_b = format!("/v2/b/blobs/uploads/{id}");
    let r = call(&d, "GET", &via_b, &[], b"");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = patch_chunk(&d, &via_b, 10, b"abc");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = call(
        &d,
        "PUT",
        &format!("{via_b}?digest={}", sha256_digest(b"0123456789")),
        &[],
        b"",
    );
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = call(&d, "DELETE", &via_b, &[], b"");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(upload_offset(&d, "a", &loc), 10);
    let full = b"0123456789abc";
    let r = patch_chunk(&d, &loc, 10, b"abc");
    let loc = expect_upload_accepted(&r, 202, "a", 13);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha256_digest(full))),
        &[],
        b"",
    );
    expect_blob_created(&r, "a", &sha256_digest(full));
    let r = call(
        &d,
        "GET",
        &format!("/v2/b/blobs/{}", sha256_digest(full)),
        &[],
        b"",
    );
    expect_error(&r, 404, "BLOB_UNKNOWN");
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}

#[test]
fn chunk_whose_content_range_length_differs_from_its_body_is_size_invalid() {
    let mut d = Daemon::start();
    let blob = random_bytes(9, 3000);
    let digest = sha256_digest(&blob);
    let loc = start_upload(&d, "app");

    // Content-Range says 100 bytes, the body has 50: 400 SIZE_INVALID, nothing recorded.
    let r = call(
        &d,
        "PATCH",
        &loc,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "0-99"),
        ],
        &blob[..50],
    );
    expect_error(&r, 400, "SIZE_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), 0);

    let r = patch_chunk(&d, &loc, 0, &blob[..1000]);
    let loc = expect_upload_accepted(&r, 202, "app", 1000);
    // Says 1000 bytes, sends 1500.
    let r = call(
        &d,
        "PATCH",
        &loc,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "1000-1999"),
        ],
        &blob[1000..2500],
    );
    expect_error(&r, 400, "SIZE_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), 1000);
    // The same on the closing PUT.
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "1000-2999"),
        ],
        &blob[1000..2000],
    );
    expect_error(&r, 400, "SIZE_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), 1000);

    // The session goes on from where it was and completes with the right bytes.
    let r = patch_chunk(&d, &loc, 1000, &blob[1000..2000]);
    let loc = expect_upload_accepted(&r, 202, "app", 2000);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "2000-2999"),
        ],
        &blob[2000..],
    );
    expect_blob_created(&r, "app", &digest);
    assert!(get_blob(&d, "app", &digest) == blob);
    d.stop();
}

#[test]
fn streamed_uploads_with_chunked_transfer_encoding() {
    let mut d = Daemon::start();
    // Docker style: PATCH bodies without Content-Length or Content-Range.
    let blob = random_bytes(10, 300_007);
    let digest = sha256_digest(&blob);
    let loc = start_upload(&d, "docker/style");
    let r = call_chunked(
        &d,
        "PATCH",
        &loc,
        &[("Content-Type", "application/octet-stream")],
        &blob[..200_000],
        7_777,
    );
    let loc = expect_upload_accepted(&r, 202, "docker/style", 200_000);
    let r = call_chunked(
        &d,
        "PATCH",
        &loc,
        &[("Content-Type", "application/octet-stream")],
        &blob[200_000..],
        4_096,
    );
    let loc = expect_upload_accepted(&r, 202, "docker/style", blob.len() as u64);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[],
        b"",
    );
    expect_blob_created(&r, "docker/style", &digest);
    assert!(get_blob(&d, "docker/style", &digest) == blob);

    // The final chunk streamed in the closing PUT.
    let blob2 = random_bytes(11, 50_001);
    let digest2 = sha256_digest(&blob2);
    let loc = start_upload(&d, "docker/style");
    let r = call_chunked(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest2}")),
        &[("Content-Type", "application/octet-stream")],
        &blob2,
        10_000,
    );
    expect_blob_created(&r, "docker/style", &digest2);
    assert!(get_blob(&d, "docker/style", &digest2) == blob2);

    // A monolithic POST streamed without Content-Length.
    let blob3 = random_bytes(12, 123_456);
    let digest3 = sha256_digest(&blob3);
    let r = call_chunked(
        &d,
        "POST",
        &format!("/v2/docker/style/blobs/uploads/?digest={digest3}"),
        &[("Content-Type", "application/octet-stream")],
        &blob3,
        32_768,
    );
    expect_blob_created(&r, "docker/style", &digest3);
    assert!(get_blob(&d, "docker/style", &digest3) == blob3);
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}

#[test]
fn upload_resumes_after_graceful_restart_and_after_crash() {
    let mut d = Daemon::start();
    let repo = "resume/me";
    // Sizes that leave every acknowledged offset off the 4 KiB direct-I/O alignment, and one
    // chunk larger than the 1 MiB write buffer.
    let blob = random_bytes(13, 100_003 + (1 << 20) + 7 + 5_000 + 777);
    let digest = sha256_digest(&blob);
    let cuts = [
        0,
        100_003,
        100_003 + (1 << 20) + 7,
        blob.len() - 777,
        blob.len(),
    ];

    let loc = start_upload(&d, repo);
    let r = patch_chunk(&d, &loc, 0, &blob[..cuts[1]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[1] as u64);

    // Graceful restart: the session and its offset survive; continue from what GET says.
    d.restart();
    let offset = upload_offset(&d, repo, &loc) as usize;
    assert_eq!(offset, cuts[1], "an acknowledged chunk survives a restart");
    let r = patch_chunk(&d, &loc, offset, &blob[offset..cuts[2]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[2] as u64);

    // SIGKILL right after the 202: the acknowledged chunk must be durable.
    d.crash_restart();
    let offset = upload_offset(&d, repo, &loc) as usize;
    assert_eq!(offset, cuts[2], "an acknowledged chunk survives SIGKILL");
    let r = patch_chunk(&d, &loc, offset, &blob[offset..cuts[3]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[3] as u64);
    // A chunk from before the crash, replayed, is out of order.
    let r = patch_chunk(&d, &loc, cuts[1], &blob[cuts[1]..cuts[2]]);
    expect_error(&r, 416, "BLOB_UPLOAD_INVALID");
    assert_eq!(r.header("Range"), Some(range_of(cuts[3] as u64).as_str()));

    let range = format!("{}-{}", cuts[3], cuts[4] - 1);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &range),
        ],
        &blob[cuts[3]..],
    );
    expect_blob_created(&r, repo, &digest);
    assert!(get_blob(&d, repo, &digest) == blob);
    assert_eq!(upload_files(&d), Vec::<String>::new());

    // And the blob itself survives both kinds of restart.
    d.crash_restart();
    assert!(get_blob(&d, repo, &digest) == blob);
    d.restart();
    assert!(get_blob(&d, repo, &digest) == blob);
    d.stop();
}

/// A client that dies mid-chunk: what arrived may be kept, the session is not left locked, and
/// the client resumes from the offset GET reports. A client that dies mid-monolithic-push
/// leaves nothing behind.
#[test]
fn interrupted_requests_leave_resumable_sessions_and_no_garbage() {
    let mut d = Daemon::start();
    let blob = random_bytes(17, 300_000);
    let digest = sha256_digest(&blob);
    let loc = start_upload(&d, "app");
    let r = patch_chunk(&d, &loc, 0, &blob[..10_000]);
    let loc = expect_upload_accepted(&r, 202, "app", 10_000);
    send_partial_and_hang_up(
        &d,
        "PATCH",
        &loc,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "10000-209999"),
        ],
        200_000,
        &blob[10_000..110_000],
    );
    // Resume from whatever the session reports; the server may still be noticing the hang-up
    // (409 while the dead request holds the session, 416 if the offset moved meanwhile).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let offset = loop {
        let offset = upload_offset(&d, "app", &loc) as usize;
        assert!(
            (10_000..=110_000).contains(&offset),
            "offset {offset} is neither the last acknowledged one nor within what was sent"
        );
        let r = patch_chunk(&d, &loc, offset, &blob[offset..200_000]);
        if r.status == 202 {
            expect_upload_accepted(&r, 202, "app", 200_000);
            break offset;
        }
        assert!(
            matches!(r.status, 409 | 416),
            "resuming at {offset}: {} {}",
            r.status,
            text(&r)
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the session stayed locked after its client hung up: {}",
            text(&r)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[("Content-Type", "application/octet-stream")],
        &blob[200_000..],
    );
    expect_blob_created(&r, "app", &digest);
    assert!(
        get_blob(&d, "app", &digest) == blob,
        "resumed at {offset}: bytes differ"
    );

    // A monolithic push cut short: no blob, and its file in uploads/ goes away.
    let other = random_bytes(18, 400_000);
    send_partial_and_hang_up(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={}", sha256_digest(&other)),
        &[("Content-Type", "application/octet-stream")],
        other.len(),
        &other[..150_000],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !upload_files(&d).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "files left in uploads/: {:?}",
            upload_files(&d)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = call(
        &d,
        "GET",
        &format!("/v2/app/blobs/{}", sha256_digest(&other)),
        &[],
        b"",
    );
    expect_error(&r, 404, "BLOB_UNKNOWN");
    assert_eq!(blob_files(&d), vec![blob_file_of(&digest)]);
    d.stop();
}

#[test]
fn sha512_digests_are_verified_by_rehashing() {
    let mut d = Daemon::start();
    let blob = random_bytes(14, 70_000);
    let digest = sha512_digest(&blob);

    // Session hashed as sha256 while uploading; the PUT names sha512.
    let loc = start_upload(&d, "app");
    let r = patch_chunk(&d, &loc, 0, &blob[..30_000]);
    let loc = expect_upload_accepted(&r, 202, "app", 30_000);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[("Content-Type", "application/octet-stream")],
        &blob[30_000..],
    );
    expect_blob_created(&r, "app", &digest);
    assert!(get_blob(&d, "app", &digest) == blob);
    let r = call(&d, "HEAD", &format!("/v2/app/blobs/{digest}"), &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.header("Content-Length"), Some("70000"));
    let r = call(
        &d,
        "GET",
        &format!("/v2/app/blobs/{digest}"),
        &[("Range", "bytes=-10")],
        b"",
    );
    expect_status(&r, 206);
    assert!(r.body == blob[blob.len() - 10..]);
    assert_eq!(blob_files(&d), vec![blob_file_of(&digest)]);

    // Monolithic, and a wrong sha512.
    let small = b"sha512 monolithic";
    let small_digest = sha512_digest(small);
    let r = call(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={small_digest}"),
        &[("Content-Type", "application/octet-stream")],
        small,
    );
    expect_blob_created(&r, "app", &small_digest);
    assert!(get_blob(&d, "app", &small_digest) == small);
    let wrong = sha512_digest(b"not these bytes");
    let r = call(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={wrong}"),
        &[("Content-Type", "application/octet-stream")],
        small,
    );
    expect_error(&r, 400, "DIGEST_INVALID");
    let r = call(&d, "GET", &format!("/v2/app/blobs/{wrong}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");

    // A manifest naming a sha512 layer, pushed by its sha512 digest.
    let config = push_blob(&d, "app", b"{}");
    let manifest = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_EMPTY, &config, 2),
        "layers": [descriptor(OCI_LAYER, &digest, blob.len())],
    }));
    let manifest_digest = sha512_digest(&manifest);
    let r = put_manifest(&d, "app", &manifest_digest, OCI_MANIFEST, &manifest);
    expect_status(&r, 201);
    assert_eq!(
        r.header("Docker-Content-Digest"),
        Some(manifest_digest.as_str())
    );
    assert_eq!(location(&r), format!("/v2/app/manifests/{manifest_digest}"));
    expect_manifest(&d, "app", &manifest_digest, OCI_MANIFEST, &manifest);
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}

/// What one concurrent pusher saw: the final status (0: no HTTP answer) and a description.
#[derive(Debug)]
struct PushOutcome {
    status: u16,
    detail: String,
}

/// One client pushing `blob`: monolithically, or in three chunks (POST, PATCH, PATCH, PUT
/// with the last chunk) at cut points that depend on `i`.
fn push_once(base: &str, repo: &str, blob: &[u8], i: usize, chunked: bool) -> PushOutcome {
    let digest = sha256_digest(blob);
    let outcome = |status, detail: String| PushOutcome { status, detail };
    if !chunked {
        return match try_send(
            "POST",
            &format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            blob,
        ) {
            Ok(r) => outcome(r.status, format!("monolithic POST: {}", text(&r))),
            Err(e) => outcome(0, e),
        };
    }
    let r = match try_send(
        "POST",
        &format!("{base}/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    ) {
        Ok(r) if r.status == 202 => r,
        Ok(r) => return outcome(r.status, format!("session POST: {}", text(&r))),
        Err(e) => return outcome(0, e),
    };
    let mut loc = location(&r);
    let cuts = [0, 1000 + i * 1001, 150_000 + i * 7, blob.len()];
    for w in cuts.windows(2).take(2) {
        let range = format!("{}-{}", w[0], w[1] - 1);
        match try_send(
            "PATCH",
            &format!("{base}{loc}"),
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", &range),
            ],
            &blob[w[0]..w[1]],
        ) {
            Ok(r) if r.status == 202 => loc = location(&r),
            Ok(r) => return outcome(r.status, format!("PATCH {range}: {}", text(&r))),
            Err(e) => return outcome(0, e),
        }
    }
    let range = format!("{}-{}", cuts[2], cuts[3] - 1);
    match try_send(
        "PUT",
        &format!("{base}{}", with_query(&loc, &format!("digest={digest}"))),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &range),
        ],
        &blob[cuts[2]..],
    ) {
        Ok(r) => outcome(r.status, format!("closing PUT: {}", text(&r))),
        Err(e) => outcome(0, e),
    }
}

/// `threads` clients push `blob` to `repo` at the same moment, even ones monolithically, odd
/// ones in chunks.
fn push_concurrently(
    d: &Daemon,
    repo: &str,
    blob: &Arc<Vec<u8>>,
    threads: usize,
) -> Vec<PushOutcome> {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (blob, barrier) = (blob.clone(), barrier.clone());
            let (base, repo) = (d.url(""), repo.to_owned());
            std::thread::spawn(move || {
                barrier.wait();
                push_once(&base, &repo, &blob, i, i % 2 == 1)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("pusher thread"))
        .collect()
}

/// Asserts every push of a round got 201; otherwise shows what each saw and the daemon log.
fn expect_all_created(d: &Daemon, round: &str, outcomes: &[PushOutcome]) {
    let failed: Vec<String> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.status != 201)
        .map(|(i, o)| format!("  pusher {i}: {} {}", o.status, o.detail))
        .collect();
    let log: Vec<String> = d
        .log()
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("panicked"))
        .map(str::to_owned)
        .collect();
    assert!(
        failed.is_empty(),
        "{round}: {} of {} concurrent pushes failed:\n{}\ndaemon log:\n{}",
        failed.len(),
        outcomes.len(),
        failed.join("\n"),
        log.join("\n")
    );
}

/// 16 clients push the same blob at once to a freshly started daemon, then again once it is
/// stored: every push succeeds, the blob is stored as one file, and no upload file is left.
///
/// Bug story: the first DMA open on each shard writes a probe file (engine/src/blob/probe.rs).
/// It was named per thread, so two requests racing on a fresh shard removed each other's probe:
/// one got a 500, and glommio's `statfs(..).unwrap()` on the vanished file panicked and killed
/// the shard. Probe files are now unique per call, and a panic exits the whole process.
#[test]
fn concurrent_pushes_of_the_same_blob_store_one_file() {
    let mut d = Daemon::start();
    let blob = Arc::new(random_bytes(15, 333_333));
    let digest = sha256_digest(&blob);
    for round in [
        "first round (fresh daemon)",
        "second round (blob already stored)",
    ] {
        let outcomes = push_concurrently(&d, "shared", &blob, 16);
        expect_all_created(&d, round, &outcomes);
        assert!(get_blob(&d, "shared", &digest) == *blob, "{round}");
        assert_eq!(blob_files(&d), vec![blob_file_of(&digest)], "{round}");
        let stored = std::fs::read(d.data_dir.join(blob_file_of(&digest))).expect("blob file");
        assert!(
            stored == *blob,
            "{round}: the blob file holds the blob's bytes"
        );
        assert_eq!(
            upload_files(&d),
            Vec::<String>::new(),
            "{round}: no upload is unfinished"
        );
    }
    d.stop();
}

// ===== manifests =============================================================================

#[test]
fn oci_image_manifest_push_pull_head_by_tag_and_digest() {
    let mut d = Daemon::start();
    let repo = "lib/app";
    let manifest = image(&d, repo, 20, 3, Flavor::Oci);
    let r = put_manifest(&d, repo, "v1", OCI_MANIFEST, &manifest);
    let digest = expect_manifest_created(&r, repo, &manifest);
    // The Location is a pullable manifest URL.
    let r = call(&d, "GET", &location(&r), &[], b"");
    expect_status(&r, 200);
    assert!(r.body == manifest);

    expect_manifest(&d, repo, "v1", OCI_MANIFEST, &manifest);
    expect_manifest(&d, repo, &digest, OCI_MANIFEST, &manifest);

    // Pushing by digest: same answer; a second tag for the same bytes: same digest.
    assert_eq!(push(&d, repo, &digest, OCI_MANIFEST, &manifest), digest);
    assert_eq!(push(&d, repo, "stable", OCI_MANIFEST, &manifest), digest);
    expect_manifest(&d, repo, "stable", OCI_MANIFEST, &manifest);

    // Re-pointing a tag: the tag follows, the old manifest stays pullable by digest.
    let manifest2 = image(&d, repo, 21, 1, Flavor::Oci);
    let digest2 = push(&d, repo, "v1", OCI_MANIFEST, &manifest2);
    assert_ne!(digest, digest2);
    expect_manifest(&d, repo, "v1", OCI_MANIFEST, &manifest2);
    expect_manifest(&d, repo, &digest, OCI_MANIFEST, &manifest);
    expect_manifest(&d, repo, "stable", OCI_MANIFEST, &manifest);

    // No Content-Type: the body's mediaType decides, and is what GET says.
    let manifest3 = image(&d, repo, 22, 2, Flavor::Oci);
    let r = call(
        &d,
        "PUT",
        &format!("/v2/{repo}/manifests/untyped"),
        &[],
        &manifest3,
    );
    expect_manifest_created(&r, repo, &manifest3);
    expect_manifest(&d, repo, "untyped", OCI_MANIFEST, &manifest3);
    // Content-Type with parameters and other case is the same media type.
    let manifest4 = image(&d, repo, 23, 2, Flavor::Oci);
    let r = put_manifest(
        &d,
        repo,
        "params",
        "Application/VND.oci.image.manifest.v1+json; charset=utf-8",
        &manifest4,
    );
    expect_manifest_created(&r, repo, &manifest4);
    expect_manifest(&d, repo, "params", OCI_MANIFEST, &manifest4);
    // A manifest with no layers at all is valid (the list of blobs MAY be empty).
    let config = push_blob(&d, repo, b"{\"config\":\"only\"}");
    let bare = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config, 17),
        "layers": [],
    }));
    push(&d, repo, "bare", OCI_MANIFEST, &bare);
    expect_manifest(&d, repo, "bare", OCI_MANIFEST, &bare);

    let mut expected = vec!["bare", "params", "stable", "untyped", "v1"];
    expected.sort();
    assert_eq!(tags(&d, repo), expected);

    // Manifests are scoped to their repository.
    push_blob(&d, "other", b"other repo");
    let r = call(
        &d,
        "GET",
        &format!("/v2/other/manifests/{digest}"),
        &[],
        b"",
    );
    expect_error(&r, 404, "MANIFEST_UNKNOWN");
    let r = call(&d, "GET", "/v2/other/manifests/v1", &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");
    d.stop();
}

#[test]
fn docker_schema2_manifest_and_manifest_list() {
    let mut d = Daemon::start();
    let repo = "docker/img";
    let amd64 = image(&d, repo, 30, 2, Flavor::Docker);
    let arm64 = image(&d, repo, 31, 1, Flavor::Docker);
    let amd64_digest = push(&d, repo, &sha256_digest(&amd64), DOCKER_MANIFEST, &amd64);
    let arm64_digest = push(&d, repo, "arm64", DOCKER_MANIFEST, &arm64);
    expect_manifest(&d, repo, &amd64_digest, DOCKER_MANIFEST, &amd64);
    expect_manifest(&d, repo, "arm64", DOCKER_MANIFEST, &arm64);

    let list = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": amd64_digest,
                "size": amd64.len(),
                "platform": { "architecture": "amd64", "os": "linux" },
            },
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": arm64_digest,
                "size": arm64.len(),
                "platform": { "architecture": "arm64", "os": "linux", "variant": "v8" },
            },
        ],
    }));
    let r = put_manifest(&d, repo, "latest", DOCKER_LIST, &list);
    let list_digest = expect_manifest_created(&r, repo, &list);
    assert!(
        r.header("OCI-Subject").is_none(),
        "no subject, no OCI-Subject"
    );
    expect_manifest(&d, repo, "latest", DOCKER_LIST, &list);
    expect_manifest(&d, repo, &list_digest, DOCKER_LIST, &list);

    // Docker schema 2 has no subject: a `subject` field in a Docker manifest is ignored, so no
    // OCI-Subject header and no referrer entry.
    let mut with_subject: Value =
        serde_json::from_slice(&image(&d, repo, 32, 1, Flavor::Docker)).expect("json");
    with_subject["subject"] = descriptor(DOCKER_MANIFEST, &amd64_digest, amd64.len());
    let with_subject = manifest_bytes(&with_subject);
    let r = put_manifest(&d, repo, "subj", DOCKER_MANIFEST, &with_subject);
    expect_manifest_created(&r, repo, &with_subject);
    assert!(r.header("OCI-Subject").is_none());
    let (_, listed) = referrers(&d, repo, &amd64_digest, "");
    assert!(listed.is_empty(), "{listed:?}");

    // A Docker manifest without its mandatory mediaType is invalid.
    let mut untyped: Value = serde_json::from_slice(&arm64).expect("json");
    untyped.as_object_mut().expect("object").remove("mediaType");
    let r = put_manifest(
        &d,
        repo,
        "untyped",
        DOCKER_MANIFEST,
        &manifest_bytes(&untyped),
    );
    expect_error(&r, 400, "MANIFEST_INVALID");
    d.stop();
}

#[test]
fn oci_index_and_artifact_with_the_empty_config() {
    let mut d = Daemon::start();
    let repo = "oci/multi";
    let a = image(&d, repo, 40, 1, Flavor::Oci);
    let b = image(&d, repo, 41, 2, Flavor::Oci);
    let a_digest = push(&d, repo, &sha256_digest(&a), OCI_MANIFEST, &a);
    let b_digest = push(&d, repo, &sha256_digest(&b), OCI_MANIFEST, &b);
    let index = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST, "digest": a_digest, "size": a.len(),
                "platform": { "architecture": "amd64", "os": "linux" },
            },
            {
                "mediaType": OCI_MANIFEST, "digest": b_digest, "size": b.len(),
                "platform": { "architecture": "arm64", "os": "linux" },
            },
        ],
        "annotations": { "org.opencontainers.image.ref.name": "multi" },
    }));
    let index_digest = push(&d, repo, "multi", OCI_INDEX, &index);
    expect_manifest(&d, repo, "multi", OCI_INDEX, &index);
    expect_manifest(&d, repo, &index_digest, OCI_INDEX, &index);
    // An index of indexes.
    let nested = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{ "mediaType": OCI_INDEX, "digest": index_digest, "size": index.len() }],
    }));
    push(&d, repo, "nested", OCI_INDEX, &nested);
    expect_manifest(&d, repo, "nested", OCI_INDEX, &nested);

    // The empty blob `{}` has the well-known digest.
    let empty = push_blob(&d, repo, b"{}");
    assert_eq!(empty, OCI_EMPTY_DIGEST);
    let r = call(&d, "HEAD", &format!("/v2/{repo}/blobs/{empty}"), &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.header("Content-Length"), Some("2"));

    // An artifact: artifactType, empty config, the empty descriptor as its only layer.
    let artifact = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.thing.v1",
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2),
        "layers": [descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2)],
        "annotations": { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
    }));
    let r = put_manifest(&d, repo, "artifact", OCI_MANIFEST, &artifact);
    expect_manifest_created(&r, repo, &artifact);
    assert!(r.header("OCI-Subject").is_none());
    expect_manifest(&d, repo, "artifact", OCI_MANIFEST, &artifact);

    // An artifact with a real payload.
    let payload = b"artifact payload bytes";
    let payload_digest = push_blob(&d, repo, payload);
    let artifact2 = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.other.v1",
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2),
        "layers": [descriptor("application/vnd.example.payload", &payload_digest, payload.len())],
    }));
    push(&d, repo, "artifact2", OCI_MANIFEST, &artifact2);
    expect_manifest(&d, repo, "artifact2", OCI_MANIFEST, &artifact2);
    assert_eq!(
        tags(&d, repo),
        vec!["artifact", "artifact2", "multi", "nested"]
    );
    d.stop();
}

#[test]
fn manifest_push_errors() {
    let mut d = Daemon::start();
    let repo = "bad/pushes";
    let good = image(&d, repo, 50, 2, Flavor::Oci);
    let good_json: Value = serde_json::from_slice(&good).expect("json");

    // PUT by a digest the bytes do not have: 400 DIGEST_INVALID, nothing stored.
    let wrong = sha256_digest(b"other bytes");
    let r = put_manifest(&d, repo, &wrong, OCI_MANIFEST, &good);
    expect_error(&r, 400, "DIGEST_INVALID");
    for reference in [wrong.as_str(), &sha256_digest(&good)] {
        let r = call(
            &d,
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[],
            b"",
        );
        expect_error(&r, 404, "MANIFEST_UNKNOWN");
    }
    // A malformed digest as the reference.
    let r = put_manifest(&d, repo, "sha256:abc", OCI_MANIFEST, &good);
    expect_error(&r, 400, "DIGEST_INVALID");

    // Referenced blobs that the repository lacks: layer, config, or a blob that only another
    // repository has. Nothing is tagged.
    let elsewhere = push_blob(&d, "elsewhere", b"only in another repo");
    let missing = sha256_digest(b"never pushed layer");
    let mut missing_layer = good_json.clone();
    missing_layer["layers"][1] = descriptor(OCI_LAYER, &missing, 18);
    let mut missing_config = good_json.clone();
    missing_config["config"] = descriptor(OCI_CONFIG, &missing, 18);
    let mut other_repo_layer = good_json.clone();
    other_repo_layer["layers"][0] = descriptor(OCI_LAYER, &elsewhere, 20);
    for (case, doc) in [
        ("missing layer", missing_layer),
        ("missing config", missing_config),
        ("blob of another repository", other_repo_layer),
    ] {
        let r = put_manifest(&d, repo, "broken", OCI_MANIFEST, &manifest_bytes(&doc));
        assert_eq!(r.status, 400, "{case}: {}", text(&r));
        assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN", "{case}");
    }
    let r = call(&d, "GET", &format!("/v2/{repo}/manifests/broken"), &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");

    // A descriptor whose size is not the stored blob's.
    let mut bad_size = good_json.clone();
    let real = bad_size["layers"][0]["size"].as_u64().expect("size");
    bad_size["layers"][0]["size"] = json!(real + 1);
    let r = put_manifest(
        &d,
        repo,
        "badsize",
        OCI_MANIFEST,
        &manifest_bytes(&bad_size),
    );
    expect_error(&r, 400, "MANIFEST_INVALID");
    let mut bad_config_size = good_json.clone();
    bad_config_size["config"]["size"] = json!(1);
    let r = put_manifest(
        &d,
        repo,
        "badsize",
        OCI_MANIFEST,
        &manifest_bytes(&bad_config_size),
    );
    expect_error(&r, 400, "MANIFEST_INVALID");

    // An index whose child manifest the repository does not hold: 400 MANIFEST_UNKNOWN.
    let index = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &sha256_digest(&good), good.len())],
    }));
    let r = put_manifest(&d, repo, "index", OCI_INDEX, &index);
    expect_error(&r, 400, "MANIFEST_UNKNOWN");

    // A child that is a blob of the repository, not a manifest, is still an unknown manifest.
    let layer_digest = good_json["layers"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let blob_as_child = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &layer_digest, 1000)],
    }));
    let r = put_manifest(&d, repo, "index", OCI_INDEX, &blob_as_child);
    expect_error(&r, 400, "MANIFEST_UNKNOWN");

    // Documents that are not valid manifests: 400 MANIFEST_INVALID.
    let mut v1 = good_json.clone();
    v1["schemaVersion"] = json!(1);
    let mut no_version = good_json.clone();
    no_version
        .as_object_mut()
        .expect("object")
        .remove("schemaVersion");
    let mut no_config = good_json.clone();
    no_config.as_object_mut().expect("object").remove("config");
    let mut bad_descriptor_digest = good_json.clone();
    bad_descriptor_digest["layers"][0]["digest"] = json!("sha256:nothex");
    let mut negative_size = good_json.clone();
    negative_size["layers"][0]["size"] = json!(-1);
    let mut bad_subject = good_json.clone();
    bad_subject["subject"] = json!({ "mediaType": OCI_MANIFEST, "digest": "sha256:zz", "size": 1 });
    let mut bad_artifact_type = good_json.clone();
    bad_artifact_type["artifactType"] = json!("not a media type");
    let mut unknown_type = good_json.clone();
    unknown_type["mediaType"] = json!("application/vnd.example.not-a-manifest+json");
    let invalid: Vec<(&str, &str, Vec<u8>)> = vec![
        ("not JSON", OCI_MANIFEST, b"{ this is not json".to_vec()),
        ("empty body", OCI_MANIFEST, Vec::new()),
        ("a JSON array", OCI_MANIFEST, b"[2]".to_vec()),
        ("schemaVersion 1", OCI_MANIFEST, manifest_bytes(&v1)),
        (
            "no schemaVersion",
            OCI_MANIFEST,
            manifest_bytes(&no_version),
        ),
        ("no config", OCI_MANIFEST, manifest_bytes(&no_config)),
        (
            "bad layer digest",
            OCI_MANIFEST,
            manifest_bytes(&bad_descriptor_digest),
        ),
        (
            "negative size",
            OCI_MANIFEST,
            manifest_bytes(&negative_size),
        ),
        (
            "malformed subject digest",
            OCI_MANIFEST,
            manifest_bytes(&bad_subject),
        ),
        (
            "invalid artifactType",
            OCI_MANIFEST,
            manifest_bytes(&bad_artifact_type),
        ),
        (
            "unknown mediaType",
            OCI_MANIFEST,
            manifest_bytes(&unknown_type),
        ),
        // Content-Type says index, the body's mediaType says image manifest.
        ("Content-Type vs mediaType", OCI_INDEX, good.clone()),
        ("Docker type vs OCI body", DOCKER_MANIFEST, good.clone()),
    ];
    for (case, content_type, body) in invalid {
        let r = put_manifest(&d, repo, "invalid", content_type, &body);
        assert_eq!(r.status, 400, "{case}: {}", text(&r));
        assert_eq!(r.error_code(), "MANIFEST_INVALID", "{case}");
    }

    // Invalid tags: 400 (too long, bad first character).
    for tag in ["-lead".to_owned(), ".dot".to_owned(), "t".repeat(129)] {
        let r = put_manifest(&d, repo, &tag, OCI_MANIFEST, &good);
        expect_error(&r, 400, "MANIFEST_INVALID");
    }
    // The longest valid tag works.
    let longest = format!("_{}", "t".repeat(127));
    push(&d, repo, &longest, OCI_MANIFEST, &good);

    // After all that, only the good push is there.
    assert_eq!(tags(&d, repo), vec![longest]);
    d.stop();
}

#[test]
fn manifest_size_limit_is_4_mib() {
    let mut d = Daemon::start();
    let repo = "big";
    let base: Value = serde_json::from_slice(&image(&d, repo, 60, 1, Flavor::Oci)).expect("json");
    let limit = 4 << 20;
    // Pads the manifest with an annotation to exactly `size` bytes.
    let padded = |size: usize| -> Vec<u8> {
        let mut doc = base.clone();
        doc["annotations"] = json!({ "pad": "" });
        let overhead = serde_json::to_vec(&doc).expect("json").len();
        doc["annotations"]["pad"] = json!("p".repeat(size - overhead));
        let bytes = serde_json::to_vec(&doc).expect("json");
        assert_eq!(bytes.len(), size);
        bytes
    };

    // Exactly at the limit: accepted and read back whole.
    let at_limit = padded(limit);
    let digest = push(&d, repo, "at-limit", OCI_MANIFEST, &at_limit);
    expect_manifest(&d, repo, &digest, OCI_MANIFEST, &at_limit);

    // One byte over: 413 (with Content-Length known up front, and streamed without it).
    let over = padded(limit + 1);
    let r = call_raw_early_answer(
        &d,
        "PUT",
        &format!("/v2/{repo}/manifests/over"),
        &[("Content-Type", OCI_MANIFEST)],
        over,
    )
    .unwrap_or_else(|e| panic!("PUT of a manifest 1 byte over the limit: no 413 arrived: {e}"));
    expect_error(&r, 413, "SIZE_INVALID");
    let r = call_chunked(
        &d,
        "PUT",
        &format!("/v2/{repo}/manifests/over"),
        &[("Content-Type", OCI_MANIFEST)],
        &padded(limit + (1 << 20)),
        64 << 10,
    );
    expect_error(&r, 413, "SIZE_INVALID");
    let r = call(&d, "GET", &format!("/v2/{repo}/manifests/over"), &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");
    assert_eq!(tags(&d, repo), vec!["at-limit"]);
    d.stop();
}

#[test]
fn manifest_reads_unknown_references_invalid_names_and_nested_repositories() {
    let mut d = Daemon::start();
    let manifest = image(&d, "a/b/c", 70, 1, Flavor::Oci);
    let digest = push(&d, "a/b/c", "deep", OCI_MANIFEST, &manifest);
    expect_manifest(&d, "a/b/c", "deep", OCI_MANIFEST, &manifest);
    expect_manifest(&d, "a/b/c", &digest, OCI_MANIFEST, &manifest);
    // Parent and child repositories are distinct: a tag of a/b is not one of a/b/c.
    let parent = image(&d, "a/b", 71, 1, Flavor::Oci);
    push(&d, "a/b", "parent", OCI_MANIFEST, &parent);
    assert_eq!(tags(&d, "a/b"), vec!["parent"]);
    assert_eq!(tags(&d, "a/b/c"), vec!["deep"]);
    let r = call(&d, "GET", "/v2/a/b/manifests/deep", &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");

    // Repository names made of route words still route.
    for repo in [
        "blobs",
        "x/manifests",
        "tags/list/y",
        "q/blobs/uploads",
        "referrers/r",
    ] {
        let m = image(&d, repo, 72, 1, Flavor::Oci);
        let dg = push(&d, repo, "t", OCI_MANIFEST, &m);
        expect_manifest(&d, repo, "t", OCI_MANIFEST, &m);
        assert_eq!(tags(&d, repo), vec!["t"], "{repo}");
        let (_, listed) = referrers(&d, repo, &dg, "");
        assert!(listed.is_empty());
        // An upload session in it.
        let blob = random_bytes(73, 999);
        let loc = start_upload(&d, repo);
        let r = patch_chunk(&d, &loc, 0, &blob);
        let loc = expect_upload_accepted(&r, 202, repo, 999);
        assert_eq!(upload_offset(&d, repo, &loc), 999);
        let r = call(
            &d,
            "PUT",
            &with_query(&loc, &format!("digest={}", sha256_digest(&blob))),
            &[],
            b"",
        );
        expect_blob_created(&r, repo, &sha256_digest(&blob));
        assert!(get_blob(&d, repo, &sha256_digest(&blob)) == blob);
    }

    // Unknown references.
    let unknown = sha256_digest(b"no such manifest");
    for path in [
        "/v2/a/b/c/manifests/nope".to_owned(),
        format!("/v2/a/b/c/manifests/{unknown}"),
        "/v2/no/such/repo/manifests/latest".to_owned(),
        format!("/v2/no/such/repo/manifests/{digest}"),
    ] {
        let r = call(&d, "GET", &path, &[], b"");
        if path.starts_with("/v2/no/") {
            expect_error_one_of(&r, 404, &["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
        } else {
            expect_error(&r, 404, "MANIFEST_UNKNOWN");
        }
        let r = call(&d, "HEAD", &path, &[], b"");
        assert_eq!(r.status, 404, "HEAD {path}");
        assert!(r.body.is_empty());
    }
    // A malformed digest reference: 400 DIGEST_INVALID.
    let r = call(&d, "GET", "/v2/a/b/c/manifests/sha256:123", &[], b"");
    expect_error(&r, 400, "DIGEST_INVALID");

    // Invalid repository names, on every endpoint family.
    let long = "n".repeat(256);
    for name in ["UPPER", "a/UPPER", "a__-b", "_lead", "a/", long.as_str()] {
        for (method, path) in [
            ("GET", format!("/v2/{name}/manifests/x")),
            ("HEAD", format!("/v2/{name}/manifests/x")),
            ("PUT", format!("/v2/{name}/manifests/x")),
            ("DELETE", format!("/v2/{name}/manifests/x")),
            ("GET", format!("/v2/{name}/tags/list")),
            ("GET", format!("/v2/{name}/referrers/{digest}")),
            ("DELETE", format!("/v2/{name}/blobs/{digest}")),
        ] {
            let body: &[u8] = if method == "PUT" { &manifest } else { b"" };
            let r = call(&d, method, &path, &[("Content-Type", OCI_MANIFEST)], body);
            expect_error(&r, 400, "NAME_INVALID");
        }
    }
    // The longest valid name works.
    let longest = format!("{}/{}", "l".repeat(127), "m".repeat(127));
    assert_eq!(longest.len(), 255);
    let m = image(&d, &longest, 74, 1, Flavor::Oci);
    push(&d, &longest, "ok", OCI_MANIFEST, &m);
    expect_manifest(&d, &longest, "ok", OCI_MANIFEST, &m);
    d.stop();
}

#[test]
fn delete_manifest_by_digest_and_by_tag() {
    let mut d = Daemon::start();
    let repo = "del/me";
    let m1 = image(&d, repo, 80, 1, Flavor::Oci);
    let m2 = image(&d, repo, 81, 1, Flavor::Oci);
    let d1 = push(&d, repo, "one", OCI_MANIFEST, &m1);
    push(&d, repo, "two", OCI_MANIFEST, &m1);
    let d2 = push(&d, repo, "three", OCI_MANIFEST, &m2);
    assert_eq!(tags(&d, repo), vec!["one", "three", "two"]);

    // By tag: only the tag goes.
    let r = call(&d, "DELETE", &format!("/v2/{repo}/manifests/two"), &[], b"");
    expect_status(&r, 202);
    let r = call(&d, "GET", &format!("/v2/{repo}/manifests/two"), &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");
    expect_manifest(&d, repo, &d1, OCI_MANIFEST, &m1);
    expect_manifest(&d, repo, "one", OCI_MANIFEST, &m1);
    assert_eq!(tags(&d, repo), vec!["one", "three"]);
    let r = call(&d, "DELETE", &format!("/v2/{repo}/manifests/two"), &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");

    // By digest: the manifest and every tag pointing at it.
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/{d1}"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    for reference in ["one", d1.as_str()] {
        for method in ["GET", "HEAD"] {
            let r = call(
                &d,
                method,
                &format!("/v2/{repo}/manifests/{reference}"),
                &[],
                b"",
            );
            expect_error(&r, 404, "MANIFEST_UNKNOWN");
        }
    }
    assert_eq!(tags(&d, repo), vec!["three"]);
    expect_manifest(&d, repo, "three", OCI_MANIFEST, &m2);
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/{d1}"),
        &[],
        b"",
    );
    expect_error(&r, 404, "MANIFEST_UNKNOWN");

    // Unknown references and repositories; malformed digests.
    let unknown = sha256_digest(b"unknown");
    for path in [
        format!("/v2/{repo}/manifests/{unknown}"),
        format!("/v2/{repo}/manifests/nosuchtag"),
    ] {
        let r = call(&d, "DELETE", &path, &[], b"");
        expect_error(&r, 404, "MANIFEST_UNKNOWN");
    }
    for path in [
        "/v2/no/repo/manifests/latest".to_owned(),
        format!("/v2/no/repo/manifests/{d2}"),
    ] {
        let r = call(&d, "DELETE", &path, &[], b"");
        expect_error_one_of(&r, 404, &["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
    }
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/sha256:zz"),
        &[],
        b"",
    );
    expect_error(&r, 400, "DIGEST_INVALID");

    // The deleted manifest can be pushed again.
    push(&d, repo, "back", OCI_MANIFEST, &m1);
    expect_manifest(&d, repo, &d1, OCI_MANIFEST, &m1);
    assert_eq!(tags(&d, repo), vec!["back", "three"]);
    // Deleting the last tag leaves an existing repository with an empty list.
    for reference in [d1.as_str(), d2.as_str()] {
        let r = call(
            &d,
            "DELETE",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[],
            b"",
        );
        expect_status(&r, 202);
    }
    assert_eq!(tags(&d, repo), Vec::<String>::new());
    d.stop();
}

// ===== referrers =============================================================================

#[test]
fn referrers_list_filter_and_delete() {
    let mut d = Daemon::start();
    let repo = "ref/app";
    let subject = image(&d, repo, 90, 1, Flavor::Oci);
    let subject_digest = sha256_digest(&subject);
    let empty = push_blob(&d, repo, b"{}");
    assert_eq!(empty, OCI_EMPTY_DIGEST);

    // A referrer pushed before its subject exists: accepted, with OCI-Subject.
    let sbom_payload = b"{\"sbom\":true}";
    let sbom_layer = push_blob(&d, repo, sbom_payload);
    let sbom = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2),
        "layers": [descriptor("application/spdx+json", &sbom_layer, sbom_payload.len())],
        "subject": descriptor(OCI_MANIFEST, &subject_digest, subject.len()),
        "annotations": {
            "org.opencontainers.image.created": "2024-05-01T00:00:00Z",
            "org.example.sbom.format": "spdx",
        },
    }));
    let r = put_manifest(&d, repo, &sha256_digest(&sbom), OCI_MANIFEST, &sbom);
    let sbom_digest = expect_manifest_created(&r, repo, &sbom);
    assert_eq!(r.header("OCI-Subject"), Some(subject_digest.as_str()));
    // Now the subject.
    let r = put_manifest(&d, repo, "v1", OCI_MANIFEST, &subject);
    expect_manifest_created(&r, repo, &subject);
    assert!(r.header("OCI-Subject").is_none());

    // A signature without artifactType: its config's mediaType stands in.
    let sig_config = b"{\"sig\":1}";
    let sig_config_digest = push_blob(&d, repo, sig_config);
    let sig = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.example.sig.config.v1+json", &sig_config_digest, sig_config.len()),
        "layers": [descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2)],
        "subject": descriptor(OCI_MANIFEST, &subject_digest, subject.len()),
    }));
    let r = put_manifest(&d, repo, "sig-tag", OCI_MANIFEST, &sig);
    let sig_digest = expect_manifest_created(&r, repo, &sig);
    assert_eq!(r.header("OCI-Subject"), Some(subject_digest.as_str()));

    // An index can refer too.
    let idx = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": "application/vnd.example.bundle.v1",
        "manifests": [],
        "subject": descriptor(OCI_MANIFEST, &subject_digest, subject.len()),
        "annotations": { "org.example.kind": "bundle" },
    }));
    let r = put_manifest(&d, repo, &sha256_digest(&idx), OCI_INDEX, &idx);
    let idx_digest = expect_manifest_created(&r, repo, &idx);
    assert_eq!(r.header("OCI-Subject"), Some(subject_digest.as_str()));

    // A referrer of a referrer is not a referrer of the subject.
    let nested = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2),
        "layers": [descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2)],
        "subject": descriptor(OCI_MANIFEST, &sbom_digest, sbom.len()),
    }));
    let r = put_manifest(&d, repo, &sha256_digest(&nested), OCI_MANIFEST, &nested);
    let nested_digest = expect_manifest_created(&r, repo, &nested);
    assert_eq!(r.header("OCI-Subject"), Some(sbom_digest.as_str()));

    let expected_sbom = json!({
        "mediaType": OCI_MANIFEST,
        "digest": sbom_digest,
        "size": sbom.len(),
        "artifactType": "application/vnd.example.sbom.v1",
        "annotations": {
            "org.opencontainers.image.created": "2024-05-01T00:00:00Z",
            "org.example.sbom.format": "spdx",
        },
    });
    let expected_sig = json!({
        "mediaType": OCI_MANIFEST,
        "digest": sig_digest,
        "size": sig.len(),
        "artifactType": "application/vnd.example.sig.config.v1+json",
    });
    let expected_idx = json!({
        "mediaType": OCI_INDEX,
        "digest": idx_digest,
        "size": idx.len(),
        "artifactType": "application/vnd.example.bundle.v1",
        "annotations": { "org.example.kind": "bundle" },
    });
    let (r, listed) = referrers(&d, repo, &subject_digest, "");
    assert!(r.header("OCI-Filters-Applied").is_none());
    assert_eq!(
        by_digest(&listed),
        by_digest(&[
            expected_sbom.clone(),
            expected_sig.clone(),
            expected_idx.clone()
        ])
    );
    let (_, listed) = referrers(&d, repo, &sbom_digest, "");
    assert_eq!(
        listed
            .iter()
            .map(|d| d["digest"].clone())
            .collect::<Vec<_>>(),
        vec![json!(nested_digest)]
    );

    // Filtering by artifactType.
    let (r, listed) = referrers(
        &d,
        repo,
        &subject_digest,
        "?artifactType=application/vnd.example.sbom.v1",
    );
    assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
    assert_eq!(
        by_digest(&listed),
        by_digest(std::slice::from_ref(&expected_sbom))
    );
    let (r, listed) = referrers(
        &d,
        repo,
        &subject_digest,
        "?artifactType=application%2Fvnd.example.sig.config.v1%2Bjson",
    );
    assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
    assert_eq!(
        by_digest(&listed),
        by_digest(std::slice::from_ref(&expected_sig))
    );
    let (r, listed) = referrers(&d, repo, &subject_digest, "?artifactType=application/none");
    assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
    assert!(listed.is_empty());

    // No referrers: 200 with an empty index, never 404; also for unknown subjects and
    // repositories, and other repositories do not see these referrers.
    push_blob(&d, "ref/other", b"other");
    for (name, dg) in [
        (repo, sha256_digest(b"nothing refers to this")),
        (repo, sig_digest.clone()),
        ("ref/other", subject_digest.clone()),
        ("ref/nowhere", subject_digest.clone()),
    ] {
        let (_, listed) = referrers(&d, name, &dg, "");
        assert!(listed.is_empty(), "{name} {dg}: {listed:?}");
    }
    // Invalid digests: 400.
    for bad in ["sha256:abc", "latest", "sha256:"] {
        let r = call(&d, "GET", &format!("/v2/{repo}/referrers/{bad}"), &[], b"");
        expect_error(&r, 400, "DIGEST_INVALID");
    }

    // Untagging a referrer keeps it; deleting it by digest removes it.
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/sig-tag"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    let (_, listed) = referrers(&d, repo, &subject_digest, "");
    assert_eq!(listed.len(), 3, "{listed:?}");
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/{sig_digest}"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/{idx_digest}"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    let (_, listed) = referrers(&d, repo, &subject_digest, "");
    assert_eq!(by_digest(&listed), by_digest(&[expected_sbom]));
    // Pushed again: back in the list.
    push(&d, repo, &sig_digest, OCI_MANIFEST, &sig);
    let (_, listed) = referrers(&d, repo, &subject_digest, "");
    assert_eq!(by_digest(&listed).len(), 2);
    assert!(by_digest(&listed).contains_key(&sig_digest));
    d.stop();
}

// ===== tags and catalog ======================================================================

#[test]
fn tags_list_order_and_pagination() {
    let mut d = Daemon::start();
    let repo = "paged/app";
    let manifest = image(&d, repo, 100, 1, Flavor::Oci);
    // Lowercase only here, so byte order and case-insensitive order agree (see
    // `tags_list_is_in_case_insensitive_order` for mixed case).
    let mut all: Vec<String> = [
        "v2", "latest", "1.0", "v10", "_x", "a-b", "a.b", "a_b", "v1", "0", "zz", "v1.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A repository with blobs but no tags lists nothing (and is not unknown).
    assert_eq!(tags(&d, repo), Vec::<String>::new());
    for tag in &all {
        push(&d, repo, tag, OCI_MANIFEST, &manifest);
    }
    all.sort();
    assert_eq!(tags(&d, repo), all, "lexical order");

    // Every page size: the Link pages visit each tag once, in order, and only pages that
    // have a successor carry a Link.
    for n in 1..=all.len() + 1 {
        let first = format!("/v2/{repo}/tags/list?n={n}");
        let pages = pages(&d, &first, "tags");
        for (i, page) in pages.iter().enumerate() {
            let last_page = i + 1 == pages.len();
            if !last_page {
                assert_eq!(page.len(), n, "n={n}: a page before the last is full");
            } else {
                assert!(!page.is_empty() || all.is_empty(), "n={n}: empty last page");
            }
        }
        let flat: Vec<String> = pages.into_iter().flatten().collect();
        assert_eq!(flat, all, "n={n}");
    }
    // The Link header's exact shape.
    let r = call(&d, "GET", &format!("/v2/{repo}/tags/list?n=3"), &[], b"");
    assert_eq!(strings(&r.json()["tags"]), all[..3].to_vec());
    assert_eq!(
        r.header("Link"),
        Some(format!("</v2/{repo}/tags/list?n=3&last={}>; rel=\"next\"", all[2]).as_str())
    );
    // A page that ends exactly at the last tag has no Link.
    let r = call(
        &d,
        "GET",
        &format!("/v2/{repo}/tags/list?n=2&last={}", all[all.len() - 3]),
        &[],
        b"",
    );
    assert_eq!(strings(&r.json()["tags"]), all[all.len() - 2..].to_vec());
    assert!(r.header("Link").is_none(), "{:?}", r.header("Link"));

    // n=0: an empty list and no Link.
    let r = call(&d, "GET", &format!("/v2/{repo}/tags/list?n=0"), &[], b"");
    expect_status(&r, 200);
    assert_eq!(strings(&r.json()["tags"]), Vec::<String>::new());
    assert!(r.header("Link").is_none());
    // last alone: everything after it. last between tags, or before all, or past the end.
    let r = call(
        &d,
        "GET",
        &format!("/v2/{repo}/tags/list?last=v1"),
        &[],
        b"",
    );
    let after: Vec<String> = all.iter().filter(|t| t.as_str() > "v1").cloned().collect();
    assert_eq!(strings(&r.json()["tags"]), after);
    let r = call(
        &d,
        "GET",
        &format!("/v2/{repo}/tags/list?n=2&last=b"),
        &[],
        b"",
    );
    let after: Vec<String> = all
        .iter()
        .filter(|t| t.as_str() > "b")
        .take(2)
        .cloned()
        .collect();
    assert_eq!(strings(&r.json()["tags"]), after);
    let r = call(
        &d,
        "GET",
        &format!("/v2/{repo}/tags/list?n=100&last=."),
        &[],
        b"",
    );
    assert_eq!(strings(&r.json()["tags"]), all);
    assert!(r.header("Link").is_none());
    for last in ["zz", "zzz"] {
        let r = call(
            &d,
            "GET",
            &format!("/v2/{repo}/tags/list?last={last}"),
            &[],
            b"",
        );
        expect_status(&r, 200);
        assert_eq!(strings(&r.json()["tags"]), Vec::<String>::new());
        assert!(r.header("Link").is_none());
    }
    // n that is not a number: 400.
    for n in ["abc", "-1"] {
        let r = call(&d, "GET", &format!("/v2/{repo}/tags/list?n={n}"), &[], b"");
        assert_eq!(r.status, 400, "n={n}: {}", text(&r));
    }

    // Unknown repository.
    let r = call(&d, "GET", "/v2/no/such/repo/tags/list", &[], b"");
    expect_error(&r, 404, "NAME_UNKNOWN");
    let r = call(&d, "GET", "/v2/paged/tags/list", &[], b"");
    expect_error(&r, 404, "NAME_UNKNOWN");
    d.stop();
}

/// Distribution spec, listing tags: "the tags MUST be in lexical order (i.e. case-insensitive
/// alphanumeric order)".
#[test]
fn tags_list_is_in_case_insensitive_order() {
    let mut d = Daemon::start();
    let repo = "mixed/case";
    let manifest = image(&d, repo, 110, 1, Flavor::Oci);
    for tag in ["beta", "Alpha", "gamma", "Delta", "epsilon", "Zeta"] {
        push(&d, repo, tag, OCI_MANIFEST, &manifest);
    }
    let listed = tags(&d, repo);
    assert_eq!(listed.len(), 6);
    let lowered: Vec<String> = listed.iter().map(|t| t.to_lowercase()).collect();
    let mut sorted = lowered.clone();
    sorted.sort();
    assert_eq!(
        lowered, sorted,
        "tags are not in case-insensitive order: {listed:?}"
    );
    d.stop();
}

#[test]
fn catalog_order_and_pagination() {
    let mut d = Daemon::start();
    let r = call(&d, "GET", "/v2/_catalog", &[], b"");
    expect_status(&r, 200);
    assert_eq!(strings(&r.json()["repositories"]), Vec::<String>::new());

    let names = [
        "zeta",
        "alpha/beta",
        "alpha",
        "alpha-1",
        "alpha/beta/gamma",
        "b",
        "a0",
        "alpha.x",
        "alpha_y",
    ];
    for (i, name) in names.iter().enumerate() {
        // Half get a manifest, half only a blob.
        if i % 2 == 0 {
            push_image(&d, name, "latest", 120 + i as u64, 1);
        } else {
            push_blob(&d, name, format!("blob of {name}").as_bytes());
        }
    }
    let mut all: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    all.sort();
    let r = call(&d, "GET", "/v2/_catalog", &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(strings(&r.json()["repositories"]), all);
    assert!(r.header("Link").is_none());

    for n in 1..=all.len() + 1 {
        let pages = pages(&d, &format!("/v2/_catalog?n={n}"), "repositories");
        for page in &pages[..pages.len() - 1] {
            assert_eq!(page.len(), n);
        }
        assert_eq!(pages.concat(), all, "n={n}");
    }
    let r = call(&d, "GET", "/v2/_catalog?n=2", &[], b"");
    let link = next_link(&r).expect("Link");
    assert!(
        link.starts_with("/v2/_catalog?n=2&last="),
        "catalog Link {link:?}"
    );
    let r = call(&d, "GET", "/v2/_catalog?n=0", &[], b"");
    assert_eq!(strings(&r.json()["repositories"]), Vec::<String>::new());
    assert!(r.header("Link").is_none());
    let r = call(&d, "GET", "/v2/_catalog?last=alpha%2Fbeta", &[], b"");
    let after: Vec<String> = all
        .iter()
        .filter(|s| s.as_str() > "alpha/beta")
        .cloned()
        .collect();
    assert_eq!(strings(&r.json()["repositories"]), after);
    let r = call(&d, "GET", "/v2/_catalog?last=zzz", &[], b"");
    assert_eq!(strings(&r.json()["repositories"]), Vec::<String>::new());
    assert!(r.header("Link").is_none());
    d.stop();
}

// ===== persistence ===========================================================================

/// Everything a client can read of the registry, in a comparable form.
fn snapshot(d: &Daemon, manifests: &[(&str, String)], blobs: &[(&str, String)]) -> Vec<String> {
    let mut out = Vec::new();
    let r = call(d, "GET", "/v2/_catalog", &[], b"");
    out.push(format!("catalog {} {}", r.status, text(&r)));
    let repos = strings(&r.json()["repositories"]);
    for repo in &repos {
        let r = call(d, "GET", &format!("/v2/{repo}/tags/list"), &[], b"");
        out.push(format!("tags {repo} {} {}", r.status, text(&r)));
        for tag in strings(&r.json()["tags"]) {
            let r = call(d, "GET", &format!("/v2/{repo}/manifests/{tag}"), &[], b"");
            out.push(format!(
                "manifest {repo}:{tag} {} {:?} {:?} {}",
                r.status,
                r.header("Content-Type"),
                r.header("Docker-Content-Digest"),
                sha256_digest(&r.body)
            ));
        }
    }
    for (repo, reference) in manifests {
        let r = call(
            d,
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[],
            b"",
        );
        out.push(format!(
            "manifest {repo}@{reference} {} {:?} {}",
            r.status,
            r.header("Content-Type"),
            sha256_digest(&r.body)
        ));
        let r = call(
            d,
            "GET",
            &format!("/v2/{repo}/referrers/{reference}"),
            &[],
            b"",
        );
        let mut listed = r.json()["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        listed.sort_by_key(|v| v["digest"].as_str().unwrap_or("").to_owned());
        out.push(format!(
            "referrers {repo}@{reference} {} {}",
            r.status,
            Value::Array(listed)
        ));
    }
    for (repo, digest) in blobs {
        let r = call(d, "GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"");
        out.push(format!(
            "blob {repo}@{digest} {} {}",
            r.status,
            sha256_digest(&r.body)
        ));
    }
    out
}

#[test]
fn everything_reads_back_identically_after_restart_and_crash() {
    let mut d = Daemon::start();
    let mut manifests: Vec<(&str, String)> = Vec::new();
    let mut blobs: Vec<(&str, String)> = Vec::new();

    // Images with several tags, in nested repositories.
    let m1 = image(&d, "persist/app", 130, 3, Flavor::Oci);
    let d1 = push(&d, "persist/app", "1.0", OCI_MANIFEST, &m1);
    push(&d, "persist/app", "latest", OCI_MANIFEST, &m1);
    let m2 = image(&d, "persist/app", 131, 2, Flavor::Oci);
    let d2 = push(&d, "persist/app", "2.0", OCI_MANIFEST, &m2);
    let index = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &d1, m1.len()), descriptor(OCI_MANIFEST, &d2, m2.len())],
    }));
    let di = push(&d, "persist/app", "multi", OCI_INDEX, &index);
    let dm = image(&d, "persist/docker", 132, 1, Flavor::Docker);
    let dd = push(&d, "persist/docker", "v1", DOCKER_MANIFEST, &dm);
    // A referrer with annotations.
    push_blob(&d, "persist/app", b"{}");
    let sbom = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2),
        "layers": [descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2)],
        "subject": descriptor(OCI_MANIFEST, &d1, m1.len()),
        "annotations": { "k": "v" },
    }));
    let ds = push(
        &d,
        "persist/app",
        &sha256_digest(&sbom),
        OCI_MANIFEST,
        &sbom,
    );
    // A blob-only repository, a mounted blob, an untagged and a deleted manifest.
    let big = random_bytes(133, 700_001);
    let big_digest = push_blob(&d, "persist/blobs", &big);
    let r = call(
        &d,
        "POST",
        &format!("/v2/persist/docker/blobs/uploads/?mount={big_digest}&from=persist/blobs"),
        &[],
        b"",
    );
    expect_blob_created(&r, "persist/docker", &big_digest);
    let r = call(&d, "DELETE", "/v2/persist/app/manifests/latest", &[], b"");
    expect_status(&r, 202);
    let m3 = image(&d, "persist/app", 134, 1, Flavor::Oci);
    let d3 = push(&d, "persist/app", "gone", OCI_MANIFEST, &m3);
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/persist/app/manifests/{d3}"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    let deleted_blob = push_blob(&d, "persist/blobs", b"deleted blob");
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/persist/blobs/blobs/{deleted_blob}"),
        &[],
        b"",
    );
    expect_status(&r, 202);

    for dg in [&d1, &d2, &di, &ds, &d3] {
        manifests.push(("persist/app", dg.clone()));
    }
    manifests.push(("persist/docker", dd.clone()));
    blobs.push(("persist/blobs", big_digest.clone()));
    blobs.push(("persist/docker", big_digest.clone()));
    blobs.push(("persist/blobs", deleted_blob.clone()));

    let before = snapshot(&d, &manifests, &blobs);
    // Sanity: the snapshot sees what was pushed and what was deleted.
    let joined = before.join("\n");
    assert!(
        joined.contains(&format!("manifest persist/app@{d3} 404")),
        "{joined}"
    );
    assert!(joined.contains(&format!("blob persist/blobs@{deleted_blob} 404")));
    assert!(joined.contains(&format!("blob persist/docker@{big_digest} 200")));
    assert!(joined.contains(&ds), "the referrer is listed: {joined}");

    d.restart();
    assert_eq!(
        snapshot(&d, &manifests, &blobs),
        before,
        "after a graceful restart"
    );

    // More pushes, acknowledged just before SIGKILL.
    let m4 = image(&d, "persist/late", 135, 2, Flavor::Oci);
    let d4 = push(&d, "persist/late", "late", OCI_MANIFEST, &m4);
    manifests.push(("persist/late", d4.clone()));
    let before = snapshot(&d, &manifests, &blobs);
    d.crash_restart();
    assert_eq!(snapshot(&d, &manifests, &blobs), before, "after SIGKILL");
    expect_manifest(&d, "persist/late", "late", OCI_MANIFEST, &m4);
    expect_manifest(&d, "persist/app", "multi", OCI_INDEX, &index);
    assert!(get_blob(&d, "persist/docker", &big_digest) == big);
    d.stop();
}

// ===== configuration: limits and disabled deletes ============================================

#[test]
fn blob_size_limit_gives_413_size_invalid() {
    let mut d = Daemon::start_with_config("[limits]\nblob_bytes_max = 1000\n");
    let at_limit = random_bytes(140, 1000);
    let over = random_bytes(141, 1001);

    // Monolithic.
    assert_eq!(push_blob(&d, "app", &at_limit), sha256_digest(&at_limit));
    let r = call(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={}", sha256_digest(&over)),
        &[("Content-Type", "application/octet-stream")],
        &over,
    );
    expect_error(&r, 413, "SIZE_INVALID");
    let r = call_chunked(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={}", sha256_digest(&over)),
        &[("Content-Type", "application/octet-stream")],
        &over,
        300,
    );
    expect_error(&r, 413, "SIZE_INVALID");

    // Chunked: the chunk that would pass the limit is refused; the session keeps what it had.
    let loc = start_upload(&d, "app");
    let r = patch_chunk(&d, &loc, 0, &over[..600]);
    let loc = expect_upload_accepted(&r, 202, "app", 600);
    let r = patch_chunk(&d, &loc, 600, &over[600..]);
    expect_error(&r, 413, "SIZE_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), 600);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha256_digest(&over))),
        &[("Content-Type", "application/octet-stream")],
        &over[600..],
    );
    expect_error(&r, 413, "SIZE_INVALID");
    let r = call(
        &d,
        "GET",
        &format!("/v2/app/blobs/{}", sha256_digest(&over)),
        &[],
        b"",
    );
    expect_error(&r, 404, "BLOB_UNKNOWN");

    // Up to the limit exactly works.
    let loc = start_upload(&d, "app");
    let blob = random_bytes(142, 1000);
    let r = patch_chunk(&d, &loc, 0, &blob[..600]);
    let loc = expect_upload_accepted(&r, 202, "app", 600);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha256_digest(&blob))),
        &[("Content-Type", "application/octet-stream")],
        &blob[600..],
    );
    expect_blob_created(&r, "app", &sha256_digest(&blob));
    assert!(get_blob(&d, "app", &sha256_digest(&blob)) == blob);
    // Only session files of unfinished sessions remain (the one left at 600 bytes).
    let files = upload_files(&d);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(!files[0].starts_with("oneshot-"), "{files:?}");
    d.stop();
}

#[test]
fn idle_upload_sessions_expire_and_active_ones_do_not() {
    let mut d = Daemon::start_with_config(
        "[uploads]\nsession_idle_ttl_s = 2\nexpiry_sweep_interval_s = 1\n",
    );
    let blob = random_bytes(145, 50_000);
    let idle = start_upload(&d, "app");
    let r = patch_chunk(&d, &idle, 0, &blob[..1000]);
    let idle = expect_upload_accepted(&r, 202, "app", 1000);
    let idle_id = idle.rsplit('/').next().expect("id").to_owned();
    let active = start_upload(&d, "app");
    let mut offset = 0;
    // Keep one session busy (a chunk every 250 ms) until the idle one is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = patch_chunk(&d, &active, offset, &blob[offset..offset + 1000]);
        offset += 1000;
        expect_upload_accepted(&r, 202, "app", offset as u64);
        let r = call(&d, "GET", &idle, &[], b"");
        if r.status == 404 {
            expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
            break;
        }
        expect_status(&r, 204);
        assert!(
            std::time::Instant::now() < deadline,
            "an upload idle for 2 s was never expired"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let r = patch_chunk(&d, &idle, 1000, &blob[1000..2000]);
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    assert!(
        !upload_files(&d).contains(&idle_id),
        "the expired session's file is removed"
    );
    // The active session lived through it and completes.
    let r = call(
        &d,
        "PUT",
        &with_query(&active, &format!("digest={}", sha256_digest(&blob))),
        &[("Content-Type", "application/octet-stream")],
        &blob[offset..],
    );
    expect_blob_created(&r, "app", &sha256_digest(&blob));
    assert!(get_blob(&d, "app", &sha256_digest(&blob)) == blob);
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}

#[test]
fn disabled_deletes_are_405_unsupported() {
    let mut d = Daemon::start_with_config("[registry]\ndelete_enabled = false\n");
    let manifest = image(&d, "app", 150, 1, Flavor::Oci);
    let digest = push(&d, "app", "v1", OCI_MANIFEST, &manifest);
    let blob = push_blob(&d, "app", b"a blob");
    let unknown = sha256_digest(b"unknown");
    for path in [
        format!("/v2/app/manifests/{digest}"),
        "/v2/app/manifests/v1".to_owned(),
        format!("/v2/app/manifests/{unknown}"),
        format!("/v2/app/blobs/{blob}"),
        format!("/v2/app/blobs/{unknown}"),
    ] {
        let r = call(&d, "DELETE", &path, &[], b"");
        expect_error(&r, 405, "UNSUPPORTED");
    }
    expect_manifest(&d, "app", "v1", OCI_MANIFEST, &manifest);
    expect_manifest(&d, "app", &digest, OCI_MANIFEST, &manifest);
    assert!(get_blob(&d, "app", &blob) == b"a blob");
    assert_eq!(tags(&d, "app"), vec!["v1"]);
    // Cancelling an upload is not a delete of content: still allowed.
    let loc = start_upload(&d, "app");
    let r = call(&d, "DELETE", &loc, &[], b"");
    expect_status(&r, 204);
    d.stop();
}

/// `limits.list_page_max` is an operator limit on response size, and a deliberate difference
/// from the spec's "the response MUST include `<int>` results" (docs/api.md): an `n` above the
/// limit gets a page of the limit's size and a `Link` to the next page, so a client that
/// follows Links (as the spec requires for partial results) still sees every tag exactly once.
#[test]
fn tags_list_caps_n_at_the_page_limit_and_links_on() {
    let mut d = Daemon::start_with_config("[limits]\nlist_page_max = 3\n");
    let manifest = image(&d, "app", 160, 1, Flavor::Oci);
    let all: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    for tag in &all {
        push(&d, "app", tag, OCI_MANIFEST, &manifest);
    }
    // Without n the registry paginates at the limit; the Links visit every tag once.
    let pages = pages(&d, "/v2/app/tags/list", "tags");
    assert_eq!(pages.concat(), all);
    assert!(
        pages.iter().all(|p| p.len() <= 3),
        "a page exceeded the limit"
    );
    // With n above the limit: a full page of the limit's size and a Link onwards.
    let r = call(&d, "GET", "/v2/app/tags/list?n=5", &[], b"");
    expect_status(&r, 200);
    assert_eq!(strings(&r.json()["tags"]), all[..3].to_vec());
    let link = r.header("link").expect("a capped page links on");
    assert!(link.contains("last=t2"), "{link}");
    // n within the limit is honoured exactly.
    let r = call(&d, "GET", "/v2/app/tags/list?n=2", &[], b"");
    assert_eq!(strings(&r.json()["tags"]), all[..2].to_vec());
    d.stop();
}
