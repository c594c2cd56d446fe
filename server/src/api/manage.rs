//! The management API under `/api/v1/` (docs/api.md, "Management API"; the contract is
//! `docs/openapi.json`, served at `GET /api/v1/openapi.json`): namespaces, repositories,
//! tags, manifests and layers, temporary credentials, accounts, policies and the audit log.
//!
//! ```text
//! /api/v1/openapi.json                                   GET
//! /api/v1/namespaces                                     GET POST
//! /api/v1/namespaces/<ns>                                GET PATCH DELETE[?force=true]
//! /api/v1/repositories[?namespace=<ns>]                  GET POST
//! /api/v1/repositories/<repo>                            GET PATCH DELETE
//! /api/v1/repositories/<repo>/tags[?n=&last=]            GET
//! /api/v1/repositories/<repo>/tags/<tag>                 DELETE
//! /api/v1/repositories/<repo>/manifests/<reference>      GET
//! /api/v1/repositories/<repo>/layers/<reference>         GET
//! /api/v1/tokens                                         POST
//! /api/v1/users                                          GET POST
//! /api/v1/users/<name>                                   DELETE
//! /api/v1/users/<name>/password                          PUT
//! /api/v1/users/<name>/policies/<policy>                 PUT DELETE
//! /api/v1/policies                                       GET POST
//! /api/v1/policies/<name>                                PUT DELETE
//! /api/v1/audit[?since_ms=&until_ms=&account=&...]       GET
//! ```
//!
//! Repository names contain slashes, so a repository path is recognised from its end, as
//! `/v2/` paths are: a last segment `tags`, or a second-to-last `tags`, `manifests` or
//! `layers`, addresses that sub-resource of everything before it.
//!
//! Invariants: every handler authorises exactly one operation of the access table
//! (docs/access.md) with [`super::permit`] before it reads or writes anything, except the
//! OpenAPI document, which is public; request bodies are read after that (except when the
//! body names the resource, as a new repository's namespace), and at most
//! [`REQUEST_BODY_BYTES_MAX`] of them. No response carries a password hash; the only password
//! in any response is a freshly issued temporary credential's.

mod accounts;
mod images;
mod namespaces;

use berth_engine::accounts::AccountError;
use berth_engine::registry::RegistryError;
use http::{header, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{header_str, json_response, ApiResult, ShardContext};
use crate::auth::Identity;
use crate::http::body::{too_large, RequestBody};
use crate::http::error::{ApiError, ErrorCode};

/// The OpenAPI 3 description of this API; a test checks real responses against it.
const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// The largest request body a management call accepts.
const REQUEST_BODY_BYTES_MAX: u64 = 64 << 10;

/// What a management request addresses. Path parts are raw text; handlers parse them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'p> {
    OpenApi,
    Namespaces,
    Namespace(&'p str),
    Repositories,
    Repository(&'p str),
    Tags(&'p str),
    Tag(&'p str, &'p str),
    Manifest(&'p str, &'p str),
    Layers(&'p str, &'p str),
    Tokens,
    Users,
    User(&'p str),
    UserPassword(&'p str),
    UserPolicy(&'p str, &'p str),
    Policies,
    Policy(&'p str),
    Audit,
}

impl<'p> Route<'p> {
    /// The route of `rest`, the path after `/api/v1/` (one trailing `/` ignored).
    fn parse(rest: &'p str) -> Option<Route<'p>> {
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return None;
        }
        let route = match segments.as_slice() {
            ["openapi.json"] => Route::OpenApi,
            ["namespaces"] => Route::Namespaces,
            ["namespaces", ns] => Route::Namespace(ns),
            ["repositories"] => Route::Repositories,
            ["repositories", ..] => {
                return repository_route(&rest["repositories/".len()..]);
            }
            ["tokens"] => Route::Tokens,
            ["users"] => Route::Users,
            ["users", name] => Route::User(name),
            ["users", name, "password"] => Route::UserPassword(name),
            ["users", name, "policies", policy] => Route::UserPolicy(name, policy),
            ["policies"] => Route::Policies,
            ["policies", name] => Route::Policy(name),
            ["audit"] => Route::Audit,
            _ => return None,
        };
        Some(route)
    }

    /// The methods this route answers, as the `Allow` header lists them.
    fn allowed(self) -> &'static str {
        match self {
            Route::OpenApi | Route::Tags(_) | Route::Manifest(..) | Route::Layers(..) => "GET",
            Route::Audit => "GET",
            Route::Namespaces | Route::Repositories | Route::Users | Route::Policies => "GET, POST",
            Route::Namespace(_) | Route::Repository(_) => "GET, PATCH, DELETE",
            Route::Tag(..) | Route::User(_) => "DELETE",
            Route::Tokens => "POST",
            Route::UserPassword(_) => "PUT",
            Route::UserPolicy(..) | Route::Policy(_) => "PUT, DELETE",
        }
    }
}

/// `<repo>`, `<repo>/tags`, `<repo>/tags/<tag>`, `<repo>/manifests/<ref>`,
/// `<repo>/layers/<ref>`, matched from the end.
fn repository_route(path: &str) -> Option<Route<'_>> {
    if let Some(repo) = path.strip_suffix("/tags") {
        return Some(Route::Tags(repo));
    }
    if let Some((head, last)) = path.rsplit_once('/') {
        if let Some((repo, kind)) = head.rsplit_once('/') {
            match kind {
                "tags" => return Some(Route::Tag(repo, last)),
                "manifests" => return Some(Route::Manifest(repo, last)),
                "layers" => return Some(Route::Layers(repo, last)),
                _ => {}
            }
        }
    }
    Some(Route::Repository(path))
}

/// Routes and runs one management request; `identity` is the authenticated caller.
pub async fn handle(
    ctx: &ShardContext,
    req: Request<RequestBody>,
    identity: &Identity,
) -> ApiResult {
    let path = req.uri().path().to_owned();
    let rest = path.strip_prefix("/api/v1/").unwrap_or_default();
    let Some(route) = Route::parse(rest) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::Unsupported,
            format!("no endpoint at {path}"),
        ));
    };
    let method = req.method().clone();
    let allowed = route.allowed();
    if !allowed.split(", ").any(|m| m == method.as_str()) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unsupported,
            format!("{method} is not supported on {path}"),
        )
        .with_header(header::ALLOW, HeaderValue::from_static(allowed)));
    }
    let call = Call { ctx, identity, req };
    match (route, method) {
        (Route::OpenApi, _) => Ok(openapi()),
        (Route::Namespaces, Method::GET) => namespaces::list(call),
        (Route::Namespaces, _) => namespaces::create(call).await,
        (Route::Namespace(ns), Method::GET) => namespaces::get(call, ns),
        (Route::Namespace(ns), Method::PATCH) => namespaces::update(call, ns).await,
        (Route::Namespace(ns), _) => namespaces::delete(call, ns).await,
        (Route::Repositories, Method::GET) => namespaces::list_repositories(call),
        (Route::Repositories, _) => namespaces::create_repository(call).await,
        (Route::Repository(repo), Method::GET) => namespaces::get_repository(call, repo),
        (Route::Repository(repo), Method::PATCH) => namespaces::update_repository(call, repo).await,
        (Route::Repository(repo), _) => namespaces::delete_repository(call, repo).await,
        (Route::Tags(repo), _) => images::list_tags(call, repo),
        (Route::Tag(repo, tag), _) => images::delete_tag(call, repo, tag).await,
        (Route::Manifest(repo, reference), _) => images::manifest(call, repo, reference),
        (Route::Layers(repo, reference), _) => images::layers(call, repo, reference).await,
        (Route::Tokens, _) => accounts::issue_token(call).await,
        (Route::Users, Method::GET) => accounts::list_users(call),
        (Route::Users, _) => accounts::create_user(call).await,
        (Route::User(name), _) => accounts::delete_user(call, name).await,
        (Route::UserPassword(name), _) => accounts::set_password(call, name).await,
        (Route::UserPolicy(name, policy), Method::PUT) => {
            accounts::attach(call, name, policy).await
        }
        (Route::UserPolicy(name, policy), _) => accounts::detach(call, name, policy).await,
        (Route::Policies, Method::GET) => accounts::list_policies(call),
        (Route::Policies, _) => accounts::create_policy(call).await,
        (Route::Policy(name), Method::PUT) => accounts::update_policy(call, name).await,
        (Route::Policy(name), _) => accounts::delete_policy(call, name).await,
        (Route::Audit, _) => accounts::audit(call),
    }
}

/// One request on its way through a handler.
struct Call<'c> {
    ctx: &'c ShardContext,
    identity: &'c Identity,
    req: Request<RequestBody>,
}

impl Call<'_> {
    /// Refuses unless the caller may perform `operation` (see [`super::permit`]).
    fn permit(
        &self,
        operation: berth_engine::access::Operation,
        repo: Option<&berth_engine::oci::RepoName>,
        namespace: &str,
    ) -> Result<(), ApiError> {
        super::permit(
            self.ctx,
            &self.req,
            self.identity,
            operation,
            repo,
            namespace,
        )
    }

    fn query(&self) -> Vec<(String, String)> {
        super::query(&self.req)
    }

    /// Reads the body (at most [`REQUEST_BODY_BYTES_MAX`]) as JSON of `T`. An empty body
    /// reads as `{}`, so that calls whose fields are all optional need none. The request
    /// stays whole, so a handler may still authorise afterwards (when the body names the
    /// resource).
    async fn json_body<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        if let Some(length) = header_str(&self.req, header::CONTENT_LENGTH) {
            if length
                .trim()
                .parse::<u64>()
                .is_ok_and(|n| n > REQUEST_BODY_BYTES_MAX)
            {
                return Err(too_large(REQUEST_BODY_BYTES_MAX));
            }
        }
        let mut bytes = Vec::new();
        while let Some(frame) = self.req.body_mut().frame().await {
            let frame = frame.map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::SizeInvalid,
                    format!("reading request body: {e}"),
                )
            })?;
            if let Some(data) = frame.data_ref() {
                if (bytes.len() + data.len()) as u64 > REQUEST_BODY_BYTES_MAX {
                    return Err(too_large(REQUEST_BODY_BYTES_MAX));
                }
                bytes.extend_from_slice(data);
            }
        }
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map_err(|e| bad_request(format!("the request body is not valid: {e}")))
    }
}

fn openapi() -> http::Response<crate::http::body::ResponseBody> {
    json_response(StatusCode::OK, OPENAPI_JSON.as_bytes().to_vec())
}

/// A JSON answer of `value`.
fn json<T: Serialize>(status: StatusCode, value: &T) -> ApiResult {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::internal("encoding JSON", &e))?;
    Ok(json_response(status, body))
}

fn bad_request(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::Unsupported, detail)
}

/// The answer to an accounts call while access control is off: there are no accounts.
fn access_control_off() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::Unsupported,
        "access control is off on this registry (auth.enabled = false): there are no accounts, \
         policies, temporary credentials or audit log",
    )
}

/// Accounts errors as API errors: one exhaustive `match`, like `From<RegistryError>`.
fn account_error(e: AccountError) -> ApiError {
    use ErrorCode as C;
    use StatusCode as S;
    let detail = e.to_string();
    match e {
        AccountError::AccountExists { .. }
        | AccountError::PolicyExists { .. }
        | AccountError::PolicyAttached { .. }
        | AccountError::PolicyBuiltin { .. }
        | AccountError::AdminProtected { .. } => ApiError::new(S::CONFLICT, C::Conflict, detail),
        AccountError::AccountUnknown { .. } | AccountError::PolicyUnknown { .. } => {
            ApiError::new(S::NOT_FOUND, C::NameUnknown, detail)
        }
        AccountError::NameInvalid { .. } => ApiError::new(S::BAD_REQUEST, C::NameInvalid, detail),
        AccountError::PolicyInvalid { .. }
        | AccountError::PasswordInvalid { .. }
        | AccountError::CursorInvalid => ApiError::new(S::BAD_REQUEST, C::Unsupported, detail),
        AccountError::TemporaryNotAllowed => ApiError::new(S::FORBIDDEN, C::Denied, detail),
        AccountError::AccountLimitReached { .. }
        | AccountError::PolicyLimitReached { .. }
        | AccountError::AttachLimitReached { .. } => {
            ApiError::new(S::FORBIDDEN, C::LimitExceeded, detail)
        }
        // The TTL and the options come from the configuration, which start-up checked.
        AccountError::TtlInvalid { .. } | AccountError::OptionsInvalid { .. } => {
            ApiError::internal("accounts configuration", &e)
        }
        AccountError::Meta(meta) => ApiError::from(RegistryError::from(meta)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_recognised_from_the_end_of_repository_paths() {
        let cases: &[(&str, Option<Route<'_>>)] = &[
            ("openapi.json", Some(Route::OpenApi)),
            ("namespaces", Some(Route::Namespaces)),
            ("namespaces/", Some(Route::Namespaces)),
            ("namespaces/ns", Some(Route::Namespace("ns"))),
            ("namespaces/ns/x", None),
            ("namespaces//", None),
            ("repositories", Some(Route::Repositories)),
            ("repositories/ns/app", Some(Route::Repository("ns/app"))),
            (
                "repositories/ns/team/app",
                Some(Route::Repository("ns/team/app")),
            ),
            ("repositories/ns/app/tags", Some(Route::Tags("ns/app"))),
            (
                "repositories/ns/app/tags/v1",
                Some(Route::Tag("ns/app", "v1")),
            ),
            ("repositories/ns/tags/tags", Some(Route::Tags("ns/tags"))),
            (
                "repositories/ns/a/b/manifests/sha256:ab",
                Some(Route::Manifest("ns/a/b", "sha256:ab")),
            ),
            (
                "repositories/ns/app/layers/v1",
                Some(Route::Layers("ns/app", "v1")),
            ),
            ("repositories//x", None),
            (
                "users/alice/policies/p",
                Some(Route::UserPolicy("alice", "p")),
            ),
            ("users/alice/password", Some(Route::UserPassword("alice"))),
            ("audit", Some(Route::Audit)),
            ("nothing", None),
            ("", None),
        ];
        for (path, expected) in cases {
            assert_eq!(Route::parse(path), *expected, "{path}");
        }
    }

    #[test]
    fn the_openapi_document_is_json_and_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json");
        assert_eq!(doc["openapi"], "3.0.3");
        for path in [
            "/api/v1/namespaces",
            "/api/v1/repositories/{repository}/layers/{reference}",
            "/api/v1/users/{name}/policies/{policy}",
            "/api/v1/audit",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
    }
}
