//! HTTP on a shard: serving one connection with hyper, the per-request wrapper (common
//! headers, error bodies, access log, in-flight accounting), and the pieces it is built from.
//!
//! **Architecture Invariant:** only [`error`] knows the OCI error JSON; handlers return
//! `ApiError` values and never build error bodies themselves.

pub mod body;
pub mod error;
pub mod io;
pub mod range;
pub mod router;

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::{header, HeaderValue, Request, Response};
use hyper::body::Incoming;

use crate::api::{self, ShardContext};
use body::ResponseBody;
use error::ApiError;

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
pub async fn serve_connection(
    ctx: Rc<ShardContext>,
    in_flight: InFlight,
    stream: glommio::net::TcpStream,
) {
    let peer = stream.peer_addr().ok();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(io::HyperTimer)
        .header_read_timeout(Duration::from_millis(
            ctx.config.server.header_read_timeout_ms,
        ))
        .max_buf_size(ctx.config.server.header_bytes_max.max(8192))
        .keep_alive(true);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let ctx = ctx.clone();
        let guard = in_flight.enter();
        async move {
            let response = handle(&ctx, req, peer).await;
            // The request counts as in flight until its body is fully sent (or dropped), so
            // shutdown also drains blob downloads.
            Ok::<_, Infallible>(response.map(|body| body::Tracked::new(body, guard)))
        }
    });
    if let Err(e) = builder
        .serve_connection(io::HyperIo::new(stream), service)
        .await
    {
        tracing::debug!(?peer, error = %e, "connection ended with an error");
    }
}

/// One request: dispatch, turn errors into OCI error bodies, add the common headers, log.
async fn handle(
    ctx: &ShardContext,
    req: Request<Incoming>,
    peer: Option<std::net::SocketAddr>,
) -> Response<ResponseBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (parts, body) = req.into_parts();
    let (body, unread) = body::RequestBody::new(body);
    let who = std::cell::RefCell::new(None);
    let mut response = match api::dispatch(ctx, Request::from_parts(parts, body), &who).await {
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
    if let Some(audit) = &ctx.audit {
        audit.record(&method, &path, who.into_inner(), peer, response.status());
    }
    if ctx.config.log.access_log {
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
            shard = ctx.shard,
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
