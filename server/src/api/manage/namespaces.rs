//! Namespaces and repositories: create, list, get, update, delete.
//!
//! A new repository's `name` is relative to its `namespace` (`{"namespace":"ns","name":"app"}`
//! creates `ns/app`); everything the API answers names repositories in full.

use berth_engine::access::Operation;
use berth_engine::oci::RepoName;
use berth_engine::{NamespaceSettings, ADMIN_ACCOUNT};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{bad_request, json, Call};
use crate::api::wire::{self, Visibility};
use crate::api::{empty_response, query_value, repo, ApiResult};
use crate::http::error::{ApiError, ErrorCode};

/// The longest repository summary accepted, in characters.
const SUMMARY_CHARS_MAX: usize = 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateNamespace {
    name: String,
    auto_create_repo: Option<bool>,
    default_visibility: Option<Visibility>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateNamespace {
    auto_create_repo: Option<bool>,
    default_visibility: Option<Visibility>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRepository {
    namespace: String,
    name: String,
    summary: Option<String>,
    visibility: Option<Visibility>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRepository {
    summary: Option<String>,
    visibility: Option<Visibility>,
}

pub(super) async fn create(mut call: Call<'_>) -> ApiResult {
    call.permit(Operation::CreateNamespace, None, "")?;
    let body: CreateNamespace = call.json_body().await?;
    let name = namespace_name(&body.name)?;
    let defaults = NamespaceSettings::default();
    let settings = NamespaceSettings {
        auto_create_repo: body.auto_create_repo.unwrap_or(defaults.auto_create_repo),
        default_visibility: body
            .default_visibility
            .map_or(defaults.default_visibility, Into::into),
    };
    // With access control off there is no caller to own it; `admin` stands in.
    let owner = call.identity.account().unwrap_or(ADMIN_ACCOUNT);
    let max = call.ctx.config.auth.namespaces_per_account_max;
    let info = call
        .ctx
        .registry
        .create_namespace(name, owner, settings, max)
        .await?;
    json(StatusCode::CREATED, &wire::Namespace::from(info))
}

pub(super) fn list(call: Call<'_>) -> ApiResult {
    call.permit(Operation::ListNamespaces, None, "")?;
    let namespaces: Vec<wire::Namespace> = call
        .ctx
        .registry
        .list_namespaces()?
        .into_iter()
        .map(wire::Namespace::from)
        .collect();
    json(StatusCode::OK, &json!({ "namespaces": namespaces }))
}

pub(super) fn get(call: Call<'_>, ns: &str) -> ApiResult {
    let ns = namespace_name(ns)?;
    call.permit(Operation::GetNamespace, None, ns)?;
    json(
        StatusCode::OK,
        &wire::Namespace::from(call.ctx.registry.namespace(ns)?),
    )
}

pub(super) async fn update(mut call: Call<'_>, ns: &str) -> ApiResult {
    let ns = namespace_name(ns)?;
    call.permit(Operation::UpdateNamespace, None, ns)?;
    let body: UpdateNamespace = call.json_body().await?;
    let info = call
        .ctx
        .registry
        .update_namespace(
            ns,
            body.auto_create_repo,
            body.default_visibility.map(Into::into),
        )
        .await?;
    json(StatusCode::OK, &wire::Namespace::from(info))
}

/// 204; a namespace holding repositories is refused (409) unless `?force=true`.
pub(super) async fn delete(call: Call<'_>, ns: &str) -> ApiResult {
    let ns = namespace_name(ns)?;
    call.permit(Operation::DeleteNamespace, None, ns)?;
    let force = flag(&call.query(), "force")?;
    call.ctx.registry.delete_namespace(ns, force).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub(super) async fn create_repository(mut call: Call<'_>) -> ApiResult {
    // The namespace the operation is checked against is in the body, so it is read first.
    let body: CreateRepository = call.json_body().await?;
    let ns = namespace_name(&body.namespace)?;
    call.permit(Operation::CreateRepository, None, ns)?;
    if body.name.is_empty() || body.name.starts_with('/') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::NameInvalid,
            "name: expected the repository's name inside its namespace, e.g. \"app\"",
        ));
    }
    let repository = repo(&format!("{ns}/{}", body.name))?;
    let summary = body.summary.unwrap_or_default();
    check_summary(&summary)?;
    let visibility = match body.visibility {
        Some(visibility) => visibility.into(),
        None => call.ctx.registry.namespace(ns)?.default_visibility,
    };
    let info = call
        .ctx
        .registry
        .create_repository(&repository, &summary, visibility)
        .await?;
    json(StatusCode::CREATED, &wire::Repository::from(info))
}

pub(super) fn list_repositories(call: Call<'_>) -> ApiResult {
    call.permit(Operation::ListRepositories, None, "")?;
    let pairs = call.query();
    let namespace = match query_value(&pairs, "namespace") {
        None | Some("") => None,
        Some(ns) => Some(namespace_name(ns)?),
    };
    let repositories: Vec<wire::Repository> = call
        .ctx
        .registry
        .list_repositories(namespace)?
        .into_iter()
        .map(wire::Repository::from)
        .collect();
    json(StatusCode::OK, &json!({ "repositories": repositories }))
}

pub(super) fn get_repository(call: Call<'_>, name: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::GetRepository,
        Some(&repository),
        repository.namespace(),
    )?;
    json(
        StatusCode::OK,
        &wire::Repository::from(call.ctx.registry.repository(&repository)?),
    )
}

pub(super) async fn update_repository(mut call: Call<'_>, name: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::UpdateRepository,
        Some(&repository),
        repository.namespace(),
    )?;
    let body: UpdateRepository = call.json_body().await?;
    if let Some(summary) = &body.summary {
        check_summary(summary)?;
    }
    let info = call
        .ctx
        .registry
        .update_repository(&repository, body.summary, body.visibility.map(Into::into))
        .await?;
    json(StatusCode::OK, &wire::Repository::from(info))
}

/// Answers 204. Removes the repository with its manifests, tags and blob links; the bytes go
/// at the next garbage collection.
pub(super) async fn delete_repository(call: Call<'_>, name: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::DeleteRepository,
        Some(&repository),
        repository.namespace(),
    )?;
    call.ctx.registry.delete_repository(&repository).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// A namespace name from a path or body: one repository-name component. Checked before it
/// becomes part of a policy resource (`repository/<ns>`), where a `/` would name another
/// namespace's repository.
fn namespace_name(name: &str) -> Result<&str, ApiError> {
    let valid =
        !name.is_empty() && !name.contains('/') && RepoName::parse(&format!("{name}/x")).is_ok();
    if valid {
        Ok(name)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::NameInvalid,
            format!(
                "{name:?} is not a namespace name (lowercase letters and digits, separated by \
                 '.', '_', '__' or '-')"
            ),
        ))
    }
}

fn check_summary(summary: &str) -> Result<(), ApiError> {
    if summary.chars().count() > SUMMARY_CHARS_MAX {
        return Err(bad_request(format!(
            "summary: at most {SUMMARY_CHARS_MAX} characters are allowed"
        )));
    }
    Ok(())
}

/// A boolean query parameter: absent or empty is false.
fn flag(pairs: &[(String, String)], key: &str) -> Result<bool, ApiError> {
    match query_value(pairs, key) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(bad_request(format!(
            "{key}={other:?}: expected true or false"
        ))),
    }
}
