//! One HTTP/1.1 keep-alive connection to the registry under test, and the body readers that
//! verify what comes back.
//!
//! The client is deliberately thin: hyper's low-level `client::conn::http1` over a tokio
//! `TcpStream` with `TCP_NODELAY`, no pool, no redirects, no retries. Each worker owns one
//! [`Conn`]; a connection that broke (or that the server closed) is replaced on the next
//! request. Bodies are never buffered whole: blob bodies are hashed or compared frame by frame
//! as they arrive, and only small JSON bodies are collected, up to a limit.
//!
//! What it must not do: hide an error. A request that fails for any reason becomes a
//! [`Failure`] that names the request; nothing is retried.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use berth_engine::oci::{Algorithm, Digest, DigestHasher};
use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::stats::Recorder;

pub type RequestBody = Full<Bytes>;

/// How much of an unexpected response body a failure quotes.
const FAILURE_BODY_EXCERPT_BYTES_MAX: usize = 1024;
/// How much of a request path a failure quotes.
const FAILURE_PATH_CHARS_MAX: usize = 240;

/// Where the registry under test listens: `http://host:port`.
#[derive(Debug)]
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    /// The `Host` header every request carries.
    host: HeaderValue,
    /// The `Authorization` header every request carries, if any (`--authorization`).
    authorization: Option<HeaderValue>,
}

impl Target {
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("only plain http:// registry URLs are supported, got {url:?}");
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            bail!("a registry URL is http://host:port without a path, got {url:?}");
        }
        let authority_with_port = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = authority_with_port
            .to_socket_addrs()
            .with_context(|| format!("resolving {authority}"))?
            .next()
            .ok_or_else(|| anyhow!("{authority} resolves to no address"))?;
        Ok(Target {
            url: format!("http://{authority}"),
            addr,
            host: HeaderValue::from_str(authority).context("the host is not a header value")?,
            authorization: None,
        })
    }

    /// Sends `value` as the `Authorization` header of every request (a registry with access
    /// control: `Basic …` or `Bearer …`). Marked sensitive so it is never printed.
    pub fn with_authorization(mut self, value: &str) -> anyhow::Result<Target> {
        let mut value =
            HeaderValue::from_str(value).context("--authorization is not a header value")?;
        value.set_sensitive(true);
        self.authorization = Some(value);
        Ok(self)
    }
}

/// A request that did not go as expected: which request, and what went wrong.
#[derive(Debug, Clone)]
pub struct Failure {
    pub request: String,
    pub detail: String,
}

impl Failure {
    pub fn new(method: &Method, path: &str, detail: impl Into<String>) -> Failure {
        let path = match path.char_indices().nth(FAILURE_PATH_CHARS_MAX) {
            None => path.to_owned(),
            Some((cut, _)) => format!("{}…", &path[..cut]),
        };
        Failure {
            request: format!("{method} {path}"),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.request, self.detail)
    }
}

/// One keep-alive connection plus the counters of the worker that owns it.
pub struct Conn {
    target: Arc<Target>,
    sender: Option<SendRequest<RequestBody>>,
    pub stats: Recorder,
}

impl Conn {
    pub fn new(target: Arc<Target>) -> Conn {
        Conn {
            target,
            sender: None,
            stats: Recorder::default(),
        }
    }

    /// Opens the connection now, so that the first timed request does not pay for it.
    pub async fn connect(&mut self) -> Result<(), String> {
        self.ready_sender().await.map(|_| ())
    }

    async fn ready_sender(&mut self) -> Result<&mut SendRequest<RequestBody>, String> {
        // A connection the server closed (keep-alive timeout, `Connection: close`) is replaced
        // silently: that is ordinary HTTP, not an error of the registry.
        if let Some(sender) = &mut self.sender {
            if sender.is_closed() || sender.ready().await.is_err() {
                self.sender = None;
            }
        }
        if self.sender.is_none() {
            let stream = TcpStream::connect(self.target.addr)
                .await
                .map_err(|e| format!("connect to {}: {e}", self.target.addr))?;
            stream
                .set_nodelay(true)
                .map_err(|e| format!("TCP_NODELAY: {e}"))?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake: {e}"))?;
            tokio::spawn(async move {
                // Errors surface to the sender as failed requests.
                let _ = connection.await;
            });
            self.sender = Some(sender);
            self.stats.connections += 1;
        }
        Ok(self.sender.as_mut().expect("a connection was just made"))
    }

    /// Forgets the connection, e.g. after a response body that was not read to its end.
    pub fn discard(&mut self) {
        self.sender = None;
    }

    /// A request builder for `path` (origin form, e.g. `/v2/`) with the `Host` header set.
    fn request(&self, method: Method, path: &str) -> http::request::Builder {
        let builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.target.host.clone());
        match &self.target.authorization {
            Some(value) => builder.header(header::AUTHORIZATION, value.clone()),
            None => builder,
        }
    }

    /// Sends one request and waits for the response head. Counts the request and its body.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, &str)],
        body: Bytes,
    ) -> Result<Response<Incoming>, Failure> {
        self.stats.requests += 1;
        let body_bytes = body.len() as u64;
        let mut builder = self.request(method.clone(), path);
        for (name, value) in headers {
            builder = builder.header(name, *value);
        }
        if method == Method::POST || method == Method::PUT || method == Method::PATCH {
            builder = builder.header(header::CONTENT_LENGTH, body_bytes);
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| Failure::new(&method, path, format!("building the request: {e}")))?;
        let sender = match self.ready_sender().await {
            Ok(sender) => sender,
            Err(e) => return Err(Failure::new(&method, path, e)),
        };
        match sender.send_request(request).await {
            Ok(response) => {
                self.stats.bytes += body_bytes;
                Ok(response)
            }
            Err(e) => {
                self.discard();
                Err(Failure::new(&method, path, format!("no response: {e}")))
            }
        }
    }

    /// Records a successful request that was sent at `started`.
    pub fn record_request(&mut self, started: Instant) {
        self.stats.request_latency.record(started.elapsed());
    }

    /// Reads a whole (small) body of at most `limit_bytes`.
    pub async fn collect(&mut self, body: Incoming, limit_bytes: usize) -> Result<Vec<u8>, String> {
        let mut collected = Vec::new();
        let result = read_frames(body, |data| {
            if collected.len() + data.len() > limit_bytes {
                return Err(format!("the body is longer than {limit_bytes} bytes"));
            }
            collected.extend_from_slice(data);
            Ok(())
        })
        .await;
        self.stats.bytes += collected.len() as u64;
        match result {
            Ok(()) => Ok(collected),
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    /// Hashes a body as it streams; returns its digest and length.
    pub async fn read_hashing(
        &mut self,
        body: Incoming,
        algorithm: Algorithm,
    ) -> Result<(Digest, u64), String> {
        let mut hasher = DigestHasher::new(algorithm);
        let mut length = 0u64;
        let result = read_frames(body, |data| {
            hasher.update(data);
            length += data.len() as u64;
            Ok(())
        })
        .await;
        self.stats.bytes += length;
        match result {
            Ok(()) => Ok((hasher.finish(), length)),
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    /// Compares a body with `expected` as it streams.
    pub async fn read_matching(&mut self, body: Incoming, expected: &[u8]) -> Result<(), String> {
        let mut offset = 0usize;
        let result = read_frames(body, |data| {
            let end = offset + data.len();
            if end > expected.len() {
                return Err(format!(
                    "the body is longer than the {} bytes expected",
                    expected.len()
                ));
            }
            if data != &expected[offset..end] {
                let first = data
                    .iter()
                    .zip(&expected[offset..end])
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                return Err(format!(
                    "the body differs from the expected bytes at offset {}",
                    offset + first
                ));
            }
            offset = end;
            Ok(())
        })
        .await;
        self.stats.bytes += offset as u64;
        match result {
            Ok(()) if offset == expected.len() => Ok(()),
            Ok(()) => {
                self.discard();
                Err(format!(
                    "the body ended after {offset} of {} bytes",
                    expected.len()
                ))
            }
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    /// Reads an unexpected response's body for a failure message: a bounded excerpt. A longer
    /// body is left unread and the connection dropped.
    pub async fn read_excerpt(&mut self, mut body: Incoming) -> String {
        let mut excerpt = Vec::new();
        loop {
            match body.frame().await {
                None => break,
                Some(Err(e)) => {
                    self.discard();
                    return format!("(body unreadable: {e})");
                }
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let room = FAILURE_BODY_EXCERPT_BYTES_MAX - excerpt.len();
                    excerpt.extend_from_slice(&data[..data.len().min(room)]);
                    if data.len() > room {
                        self.discard();
                        excerpt.extend_from_slice("…".as_bytes());
                        break;
                    }
                }
            }
        }
        if excerpt.is_empty() {
            "(empty body)".to_owned()
        } else {
            format!("body {}", String::from_utf8_lossy(&excerpt))
        }
    }
}

/// Feeds every data frame of `body` to `each` until the body ends or `each` fails.
async fn read_frames(
    mut body: Incoming,
    mut each: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the body: {e}"))?;
        if let Ok(data) = frame.into_data() {
            each(&data)?;
        }
    }
    Ok(())
}
