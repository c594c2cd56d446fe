//! Thin handlers of the distribution API, one file per endpoint family. They parse what the
//! request says, call the engine, and shape the answer; nothing here touches disk.

mod admin;
mod blobs;
mod listings;
mod manage;
mod manifests;
mod uploads;

use std::rc::Rc;

use berth_engine::oci::{Digest, RepoName};
use berth_engine::registry::Registry;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use crate::auth::{Auth, Identity};
use crate::config::Config;
use crate::http::body::ResponseBody;
pub(crate) use crate::http::body::{json_response, RequestBody};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::router::{self, Endpoint, RouteError};
use crate::maintenance::MaintenanceHandle;
use berth_engine::access::Operation;

pub type ApiResult = Result<Response<ResponseBody>, ApiError>;

/// What every handler on one shard shares. Shard-local: never crosses threads.
pub struct ShardContext {
    pub registry: Registry,
    pub config: Rc<Config>,
    pub shard: usize,
    pub maintenance: MaintenanceHandle,
    /// Access control; None when `auth.enabled` is false.
    pub auth: Option<Rc<Auth>>,
    /// The audit trail; None when access control is off.
    pub audit: Option<Rc<crate::auth::audit::Auditor>>,
}

/// Routes and runs one request. `who` receives the caller's account name once known (for the
/// audit log).
pub async fn dispatch(
    ctx: &ShardContext,
    req: Request<RequestBody>,
    who: &std::cell::RefCell<Option<String>>,
) -> ApiResult {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if path == "/token" && (method == Method::GET || method == Method::HEAD) {
        return crate::auth::token_endpoint(ctx, &req, who).await;
    }
    if let Some(rest) = path.strip_prefix("/api/v1/") {
        if !rest.starts_with("admin/") {
            let identity = match &ctx.auth {
                None => Identity::Open,
                Some(auth) => auth.identify(&req).await?,
            };
            *who.borrow_mut() = identity.account().map(str::to_owned);
            return manage::handle(ctx, req, &identity).await;
        }
    }
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
    let identity = match &ctx.auth {
        None => Identity::Open,
        Some(auth) => auth.identify(&req).await?,
    };
    *who.borrow_mut() = identity.account().map(str::to_owned);
    authorize(ctx, &req, &identity, &endpoint)?;
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
        Endpoint::Catalog => {
            listings::catalog(ctx, &req, |name| match (&ctx.auth, RepoName::parse(name)) {
                (None, _) => true,
                (Some(auth), Ok(repo)) => {
                    let ns = berth_engine::registry::namespace_of(&repo).to_owned();
                    auth.allows(&identity, Operation::Pull, Some(&repo), &ns)
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
fn may_mount(ctx: &ShardContext, req: &Request<RequestBody>, identity: &Identity) -> bool {
    let Some(auth) = &ctx.auth else {
        return true;
    };
    let pairs = query(req);
    let Some(from) = query_value(&pairs, "from").and_then(|f| RepoName::parse(f).ok()) else {
        return true;
    };
    let namespace = berth_engine::registry::namespace_of(&from).to_owned();
    auth.allows(identity, Operation::Pull, Some(&from), &namespace)
}

/// Checks the request's identity against the operation its endpoint performs
/// (docs/access.md has the table).
fn authorize(
    ctx: &ShardContext,
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
        Endpoint::AdminStats | Endpoint::AdminGc | Endpoint::AdminScrub => {
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
    let namespace = berth_engine::registry::namespace_of(&repo).to_owned();
    auth.require(req, identity, operation, Some(&repo), &namespace)?;
    if operation == Operation::Push && !ctx.registry.repo_exists(&repo)? {
        // Refuse before the client uploads gigabytes into a repository that cannot exist;
        // the writer job checks again when the push commits.
        let ns = ctx.registry.namespace(&namespace)?;
        if !ns.auto_create_repo {
            return Err(
                berth_engine::registry::RegistryError::RepositoryNotCreatable {
                    repo: repo.clone(),
                }
                .into(),
            );
        }
    }
    Ok(())
}

/// Refuses unless `identity` may perform `operation` (always allowed with access control off).
/// For the management API's handlers.
pub(crate) fn permit(
    ctx: &ShardContext,
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
