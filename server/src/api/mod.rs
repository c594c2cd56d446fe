//! Thin handlers of the distribution API and the management API, one file per endpoint
//! family, and the shard's [`Service`]: route, identify, authorise, handle, audit. They parse
//! what the request says, call the engine, and shape the answer; nothing here touches disk.

mod admin;
mod blobs;
mod listings;
mod manage;
mod manifests;
mod uploads;
pub mod wire;

use std::net::SocketAddr;

use berth_engine::access::Operation;
use berth_engine::oci::{Digest, RepoName};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use crate::auth::Identity;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::router::{self, Endpoint, RouteError};
pub(crate) use crate::http::{
    empty_response, header_str, header_value, json_response, query, query_value, RequestBody,
};
use crate::http::{ResponseBody, Service};
use crate::state::ShardState;

pub type ApiResult = Result<Response<ResponseBody>, ApiError>;

impl Service for ShardState {
    async fn serve(&self, req: Request<RequestBody>, peer: Option<SocketAddr>) -> ApiResult {
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
                    format!("{method} is not supported on {path}"),
                )
                .with_header(header::ALLOW, HeaderValue::from_static(allowed)))
            }
        };
        let who = std::cell::RefCell::new(None);
        let result = dispatch(self, req, endpoint, &who).await;
        if let Some(audit) = &self.audit {
            let status = match &result {
                Ok(response) => response.status(),
                Err(error) => error.status,
            };
            audit.record(&method, &endpoint, &path, who.into_inner(), peer, status);
        }
        result
    }
}

/// Runs one routed request. `who` receives the caller's account name once known (for the
/// audit trail).
async fn dispatch(
    ctx: &ShardState,
    req: Request<RequestBody>,
    endpoint: Endpoint<'_>,
    who: &std::cell::RefCell<Option<String>>,
) -> ApiResult {
    if endpoint == Endpoint::Token {
        return crate::auth::token_endpoint(ctx.auth.as_deref(), &req, who).await;
    }
    let identity = match &ctx.auth {
        None => Identity::Open,
        Some(auth) => auth.identify(&req).await?,
    };
    *who.borrow_mut() = identity.account().map(str::to_owned);
    if let Endpoint::Manage(route) = endpoint {
        return manage::handle(ctx, req, &identity, route).await;
    }
    authorize(ctx, &req, &identity, &endpoint)?;
    let method = req.method().clone();
    let deleting = method == Method::DELETE && !matches!(endpoint, Endpoint::Upload { .. });
    if deleting && !ctx.config.registry.delete_enabled {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unsupported,
            "deletes are disabled on this registry",
        ));
    }
    match endpoint {
        Endpoint::Token | Endpoint::Manage(_) => unreachable!("answered above"),
        Endpoint::AdminStats => admin::stats(ctx).await,
        Endpoint::AdminGc => match method {
            Method::POST => admin::run_gc(ctx, &req).await,
            _ => admin::last_gc(ctx),
        },
        Endpoint::AdminScrub => match method {
            Method::POST => admin::run_scrub(ctx).await,
            _ => admin::last_scrub(ctx),
        },
        Endpoint::AdminExpire => admin::run_expiry(ctx).await,
        Endpoint::Base => Ok(json_response(StatusCode::OK, b"{}".to_vec())),
        Endpoint::Catalog => {
            listings::catalog(ctx, &req, |name| match (&ctx.auth, RepoName::parse(name)) {
                (None, _) => true,
                (Some(auth), Ok(repo)) => {
                    auth.allows(&identity, Operation::Pull, Some(&repo), repo.namespace())
                }
                (Some(_), Err(_)) => false,
            })
        }
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
            let may_mount = may_mount(ctx, &req, &identity);
            uploads::start(ctx, req, &repo, may_mount).await
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

/// Whether the caller may pull the source of a mount (`?from=`); a mount needs it besides
/// push on the target. Without it the request is served as a plain upload start.
fn may_mount(ctx: &ShardState, req: &Request<RequestBody>, identity: &Identity) -> bool {
    let Some(auth) = &ctx.auth else {
        return true;
    };
    let pairs = query(req);
    let Some(from) = query_value(&pairs, "from").and_then(|f| RepoName::parse(f).ok()) else {
        return true;
    };
    auth.allows(identity, Operation::Pull, Some(&from), from.namespace())
}

/// Checks the request's identity against the operation its endpoint performs
/// (docs/access.md has the table).
fn authorize(
    ctx: &ShardState,
    req: &Request<RequestBody>,
    identity: &Identity,
    endpoint: &Endpoint<'_>,
) -> Result<(), ApiError> {
    let Some(auth) = &ctx.auth else {
        return Ok(());
    };
    let method = req.method();
    let (operation, name) = match endpoint {
        Endpoint::Base => {
            return match identity {
                Identity::Anonymous => Err(auth.unauthorized(req, None, "authentication required")),
                _ => Ok(()),
            };
        }
        // Filtered per repository by the handler.
        Endpoint::Catalog => return Ok(()),
        // Answered before authorisation.
        Endpoint::Token | Endpoint::Manage(_) => return Ok(()),
        Endpoint::AdminStats | Endpoint::AdminGc | Endpoint::AdminScrub | Endpoint::AdminExpire => {
            return match identity {
                Identity::Anonymous => Err(auth.unauthorized(req, None, "authentication required")),
                Identity::Account { policies, .. } if policies.allows(ADMIN_ACTION, "*") => Ok(()),
                _ => Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    ErrorCode::Denied,
                    "operator endpoints need AdministratorAccess",
                )),
            };
        }
        Endpoint::Blob { name, .. } if method == Method::DELETE => (Operation::Push, *name),
        Endpoint::Blob { name, .. } => (Operation::Pull, *name),
        Endpoint::Manifest { name, .. } if method == Method::PUT => (Operation::Push, *name),
        Endpoint::Manifest { name, .. } if method == Method::DELETE => {
            (Operation::DeleteTag, *name)
        }
        Endpoint::Manifest { name, .. } => (Operation::Pull, *name),
        Endpoint::UploadStart { name } | Endpoint::Upload { name, .. } => (Operation::Push, *name),
        Endpoint::Tags { name } | Endpoint::Referrers { name, .. } => (Operation::Pull, *name),
    };
    let repo = repo(name)?;
    auth.require(req, identity, operation, Some(&repo), repo.namespace())?;
    if operation == Operation::Push {
        // Refuse before the client uploads gigabytes into a repository that cannot exist;
        // the writer job checks again when the push commits.
        ctx.registry.admit_push(&repo)?;
    }
    Ok(())
}

/// Refuses unless `identity` may perform `operation` (always allowed with access control off).
/// For the management API's handlers.
pub(crate) fn permit(
    ctx: &ShardState,
    req: &Request<RequestBody>,
    identity: &Identity,
    operation: Operation,
    repo: Option<&RepoName>,
    namespace: &str,
) -> Result<(), ApiError> {
    match &ctx.auth {
        None => Ok(()),
        Some(auth) => auth.require(req, identity, operation, repo, namespace),
    }
}

/// What operator endpoints require: only a policy allowing every action (AdministratorAccess)
/// or the `ram:` service matches it.
const ADMIN_ACTION: &str = "ram:AdministerStorage";

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
