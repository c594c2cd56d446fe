//! Thin handlers of the distribution API, one file per endpoint family. They parse what the
//! request says, call the engine, and shape the answer; nothing here touches disk.

mod admin;
mod blobs;
mod listings;
mod manifests;
mod uploads;

use std::rc::Rc;

use berth_engine::oci::{Digest, RepoName};
use berth_engine::registry::Registry;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use crate::config::Config;
use crate::http::body::ResponseBody;
pub(crate) use crate::http::body::{json_response, RequestBody};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::router::{self, Endpoint, RouteError};
use crate::maintenance::MaintenanceHandle;

pub type ApiResult = Result<Response<ResponseBody>, ApiError>;

/// What every handler on one shard shares. Shard-local: never crosses threads.
pub struct ShardContext {
    pub registry: Registry,
    pub config: Rc<Config>,
    pub shard: usize,
    pub maintenance: MaintenanceHandle,
}

/// Routes and runs one request.
pub async fn dispatch(ctx: &ShardContext, req: Request<RequestBody>) -> ApiResult {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let endpoint = match router::route(&method, &path) {
        Ok(endpoint) => endpoint,
        Err(RouteError::NotFound) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::Unsupported,
                format!("no endpoint at {path}"),
            ))
        }
        Err(RouteError::MethodNotAllowed { allowed }) => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::Unsupported,
                format!("{method} is not supported here"),
            )
            .with_header(header::ALLOW, HeaderValue::from_static(allowed)))
        }
    };
    let deleting = method == Method::DELETE && !matches!(endpoint, Endpoint::Upload { .. });
    if deleting && !ctx.config.registry.delete_enabled {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unsupported,
            "deletes are disabled on this registry",
        ));
    }
    match endpoint {
        Endpoint::AdminStats => admin::stats(ctx).await,
        Endpoint::AdminGc => match method {
            Method::POST => admin::run_gc(ctx, &req).await,
            _ => admin::last_report(ctx, berth_engine::maintenance::GC_REPORT),
        },
        Endpoint::AdminScrub => match method {
            Method::POST => admin::run_scrub(ctx).await,
            _ => admin::last_report(ctx, berth_engine::maintenance::SCRUB_REPORT),
        },
        Endpoint::Base => Ok(json_response(StatusCode::OK, b"{}".to_vec())),
        Endpoint::Catalog => listings::catalog(ctx, &req),
        Endpoint::Tags { name } => listings::tags(ctx, &req, &repo(name)?),
        Endpoint::Referrers { name, digest } => {
            listings::referrers(ctx, &req, &repo(name)?, &parse_digest(digest)?)
        }
        Endpoint::Blob { name, digest } => {
            let (repo, digest) = (repo(name)?, parse_digest(digest)?);
            match method {
                Method::DELETE => blobs::delete(ctx, &repo, &digest).await,
                _ => blobs::get(ctx, &req, &repo, &digest).await,
            }
        }
        Endpoint::Manifest { name, reference } => {
            let repo = repo(name)?;
            match method {
                Method::PUT => manifests::put(ctx, req, &repo, reference).await,
                Method::DELETE => manifests::delete(ctx, &repo, reference).await,
                _ => manifests::get(ctx, &req, &repo, reference),
            }
        }
        Endpoint::UploadStart { name } => {
            let repo = repo(name)?;
            uploads::start(ctx, req, &repo).await
        }
        Endpoint::Upload { name, id } => {
            let repo = repo(name)?;
            let id = uploads::upload_id(id)?;
            match method {
                Method::PATCH => uploads::patch(ctx, req, &repo, &id).await,
                Method::PUT => uploads::put(ctx, req, &repo, &id).await,
                Method::DELETE => uploads::cancel(ctx, &repo, &id).await,
                _ => uploads::status(ctx, &repo, &id),
            }
        }
    }
}

pub(crate) fn repo(name: &str) -> Result<RepoName, ApiError> {
    RepoName::parse(name).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::NameInvalid,
            e.to_string(),
        )
    })
}

pub(crate) fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    Digest::parse(text).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::DigestInvalid,
            e.to_string(),
        )
    })
}

/// The request's query pairs, percent-decoded.
pub(crate) fn query(req: &Request<RequestBody>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn query_value<'q>(pairs: &'q [(String, String)], key: &str) -> Option<&'q str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub(crate) fn header_str(req: &Request<RequestBody>, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn empty_response(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

pub(crate) fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(|e| ApiError::internal("building a header", &e))
}
