//! The management API under `/api/v1/` (docs/api.md, "Management API"; the contract is
//! `docs/openapi.json`, served at `GET /api/v1/openapi.json`): namespaces, repositories,
//! tags, manifests and layers, webhook triggers and their records, temporary credentials, accounts, policies and the audit log.
//! Its routes are in the one route table (`http/router.rs`); its JSON is `wire.rs`.
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
mod triggers;

use berth_engine::{AccountError, RegistryError};
use http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{header_str, json_response, ApiResult};
use crate::auth::Identity;
use crate::http::body::too_large;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::router::Manage;
use crate::http::RequestBody;
use crate::state::ShardState;

/// The OpenAPI 3 description of this API; a test checks real responses against it.
const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// The largest request body a management call accepts.
const REQUEST_BODY_BYTES_MAX: u64 = 64 << 10;

/// Runs one management request; `identity` is the authenticated caller.
pub async fn handle(
    ctx: &ShardState,
    req: Request<RequestBody>,
    identity: &Identity,
    route: Manage<'_>,
) -> ApiResult {
    let method = req.method().clone();
    let call = Call { ctx, identity, req };
    match (route, method) {
        (Manage::OpenApi, _) => Ok(openapi()),
        (Manage::Namespaces, Method::GET) => namespaces::list(call),
        (Manage::Namespaces, _) => namespaces::create(call).await,
        (Manage::Namespace(ns), Method::GET) => namespaces::get(call, ns),
        (Manage::Namespace(ns), Method::PATCH) => namespaces::update(call, ns).await,
        (Manage::Namespace(ns), _) => namespaces::delete(call, ns).await,
        (Manage::Repositories, Method::GET) => namespaces::list_repositories(call),
        (Manage::Repositories, _) => namespaces::create_repository(call).await,
        (Manage::Repository(repo), Method::GET) => namespaces::get_repository(call, repo),
        (Manage::Repository(repo), Method::PATCH) => {
            namespaces::update_repository(call, repo).await
        }
        (Manage::Repository(repo), _) => namespaces::delete_repository(call, repo).await,
        (Manage::Tags(repo), _) => images::list_tags(call, repo),
        (Manage::Tag(repo, tag), _) => images::delete_tag(call, repo, tag).await,
        (Manage::Manifest(repo, reference), _) => images::manifest(call, repo, reference),
        (Manage::Layers(repo, reference), _) => images::layers(call, repo, reference).await,
        (Manage::Triggers(repo), Method::GET) => triggers::list(call, repo),
        (Manage::Triggers(repo), _) => triggers::create(call, repo).await,
        (Manage::Trigger(repo, id), Method::GET) => triggers::get(call, repo, id),
        (Manage::Trigger(repo, id), Method::PUT) => triggers::replace(call, repo, id).await,
        (Manage::Trigger(repo, id), _) => triggers::delete(call, repo, id).await,
        (Manage::TriggerRecords(repo, id), _) => triggers::records(call, repo, id),
        (Manage::Redeliver(repo, id, event), _) => triggers::redeliver(call, repo, id, event).await,
        (Manage::Tokens, _) => accounts::issue_token(call).await,
        (Manage::Users, Method::GET) => accounts::list_users(call),
        (Manage::Users, _) => accounts::create_user(call).await,
        (Manage::User(name), _) => accounts::delete_user(call, name).await,
        (Manage::UserPassword(name), _) => accounts::set_password(call, name).await,
        (Manage::UserPolicy(name, policy), Method::PUT) => {
            accounts::attach(call, name, policy).await
        }
        (Manage::UserPolicy(name, policy), _) => accounts::detach(call, name, policy).await,
        (Manage::Policies, Method::GET) => accounts::list_policies(call),
        (Manage::Policies, _) => accounts::create_policy(call).await,
        (Manage::Policy(name), Method::PUT) => accounts::update_policy(call, name).await,
        (Manage::Policy(name), _) => accounts::delete_policy(call, name).await,
        (Manage::Audit, _) => accounts::audit(call),
    }
}

/// One request on its way through a handler.
struct Call<'c> {
    ctx: &'c ShardState,
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

fn openapi() -> http::Response<crate::http::ResponseBody> {
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
