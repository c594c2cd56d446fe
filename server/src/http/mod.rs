//! HTTP on a shard, the bottom layer of the server: serving one connection with hyper, the
//! per-request wrapper (common headers, error bodies, access log, in-flight accounting), the
//! route table, and the pieces they are built from.
//!
//! ```text
//!  shard.rs ──▶ api (Service) ──▶ auth ──▶ http      each layer uses only those below it;
//!                                                    http calls up only through `Service`
//! ```
//!
//! **Architecture Invariant:** only [`error`] knows the OCI error JSON; handlers return
//! `ApiError` values and never build error bodies themselves. Only [`router`] names routes.

pub mod body;
pub mod error;
pub mod io;
pub mod range;
pub mod router;

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::{Duration, Instant};

use std::future::Future;
use std::net::SocketAddr;

use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;

pub use body::{json_response, RequestBody, ResponseBody};
use error::ApiError;

/// What answers requests: the layer above HTTP. One per shard; never crosses threads.
pub trait Service: 'static {
    /// Serves one request. An error becomes an OCI error body here, after any unread request
    /// body is drained.
    fn serve(
        &self,
        req: Request<RequestBody>,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = Result<Response<ResponseBody>, ApiError>>;
}

/// How connections are served; from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    pub header_read_timeout_ms: u64,
    pub header_bytes_max: usize,
    /// One log line per request.
    pub access_log: bool,
    pub shard: usize,
}

/// Requests being served on this shard, so shutdown can wait for them.
#[derive(Clone, Default)]
pub struct InFlight(Rc<Cell<usize>>);

impl InFlight {
    pub fn count(&self) -> usize {
        self.0.get()
    }

    fn enter(&self) -> InFlightGuard {
        self.0.set(self.0.get() + 1);
        InFlightGuard(self.0.clone())
    }
}

pub struct InFlightGuard(Rc<Cell<usize>>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Serves one accepted connection until the client closes it or it fails.
pub async fn serve_connection<S: Service>(
    service: Rc<S>,
    settings: ConnectionSettings,
    in_flight: InFlight,
    stream: glommio::net::TcpStream,
) {
    let peer = stream.peer_addr().ok();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(io::HyperTimer)
        .header_read_timeout(Duration::from_millis(settings.header_read_timeout_ms))
        .max_buf_size(settings.header_bytes_max.max(8192))
        .keep_alive(true);
    let hyper_service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let service = service.clone();
        let guard = in_flight.enter();
        async move {
            let response = handle(&*service, settings, req, peer).await;
            // The request counts as in flight until its body is fully sent (or dropped), so
            // shutdown also drains blob downloads.
            Ok::<_, Infallible>(response.map(|body| body::Tracked::new(body, guard)))
        }
    });
    if let Err(e) = builder
        .serve_connection(io::HyperIo::new(stream), hyper_service)
        .await
    {
        tracing::debug!(?peer, error = %e, "connection ended with an error");
    }
}

/// One request: serve, turn errors into OCI error bodies, add the common headers, log.
async fn handle<S: Service>(
    service: &S,
    settings: ConnectionSettings,
    req: Request<Incoming>,
    peer: Option<SocketAddr>,
) -> Response<ResponseBody> {
    let started = Instant::now();
    let access_log = settings
        .access_log
        .then(|| (req.method().clone(), req.uri().path().to_owned()));
    let (parts, body) = req.into_parts();
    let (body, unread) = body::RequestBody::new(body);
    let mut response = match service.serve(Request::from_parts(parts, body), peer).await {
        Ok(response) => response,
        Err(error) => {
            unread.drain().await;
            error_response(error)
        }
    };
    response.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    if let Some((method, path)) = access_log {
        let bytes = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        tracing::info!(
            target: "berth::access",
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            bytes,
            duration_us = started.elapsed().as_micros() as u64,
            shard = settings.shard,
        );
    }
    response
}

fn error_response(error: ApiError) -> Response<ResponseBody> {
    let mut response = body::json_response(error.status, error.body());
    let headers = response.headers_mut();
    for (name, value) in error.headers {
        headers.insert(name, value);
    }
    response
}

/// The request's query pairs, percent-decoded.
pub fn query(req: &Request<RequestBody>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn query_value<'q>(pairs: &'q [(String, String)], key: &str) -> Option<&'q str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub fn header_str(req: &Request<RequestBody>, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

pub fn empty_response(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

pub fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(|e| ApiError::internal("building a header", &e))
}
