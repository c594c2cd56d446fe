//! Temporary credentials, users, policies and their attachments, and the audit log. These
//! exist only with access control on; otherwise every call answers 404 UNSUPPORTED.
//!
//! argon2 runs (creating a user, setting a password) happen on a blocking thread, never on
//! the shard's executor. Passwords are read from request bodies and handed to the accounts
//! store; they are never logged or answered.

use berth_engine::access::Operation;
use berth_engine::{AccountError, AccountName, Accounts, AuditFilter, PolicyInfo, PolicyName};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{access_control_off, account_error, bad_request, json, Call};
use crate::api::wire;
use crate::api::{empty_response, query_value, ApiResult};
use crate::auth::Identity;
use crate::http::error::{ApiError, ErrorCode};

/// Audit records per page when the request does not say `limit`.
const AUDIT_PAGE_RECORDS_DEFAULT: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    name: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPassword {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePolicy {
    name: String,
    document: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePolicy {
    document: Value,
}

impl Call<'_> {
    /// The accounts store, after authorising `operation` (on the whole instance: every
    /// accounts operation is).
    fn accounts(&self, operation: Operation) -> Result<Accounts, ApiError> {
        let auth = self.ctx.auth.as_ref().ok_or_else(access_control_off)?;
        self.permit(operation, None, "")?;
        Ok(auth.accounts().clone())
    }
}

/// 201 `{"username","password","expires_at_ms"}`: credentials acting as the caller until
/// they expire (`auth.temporary_credentials_ttl_s`). Only an account signed in with its own
/// password may ask; temporary credentials and bearer tokens may not.
pub(super) async fn issue_token(call: Call<'_>) -> ApiResult {
    let accounts = call.accounts(Operation::GetAuthorizationToken)?;
    let Identity::Account { principal, .. } = call.identity else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Denied,
            "temporary credentials are issued to accounts signed in with a password",
        ));
    };
    let ttl_ms = call
        .ctx
        .config
        .auth
        .temporary_credentials_ttl_s
        .saturating_mul(1000);
    let credentials = accounts
        .issue_temporary(principal, ttl_ms)
        .await
        .map_err(account_error)?;
    json(
        StatusCode::CREATED,
        &json!({
            "username": credentials.username,
            "password": credentials.password,
            "expires_at_ms": credentials.expires_at_ms,
        }),
    )
}

pub(super) fn list_users(call: Call<'_>) -> ApiResult {
    let accounts = call.accounts(Operation::ListUsers)?;
    let users: Vec<wire::User> = accounts
        .list_users()
        .map_err(account_error)?
        .into_iter()
        .map(wire::User::from)
        .collect();
    json(StatusCode::OK, &json!({ "users": users }))
}

/// 201 with the user (no policies yet).
pub(super) async fn create_user(mut call: Call<'_>) -> ApiResult {
    let accounts = call.accounts(Operation::CreateUser)?;
    let body: CreateUser = call.json_body().await?;
    let name = AccountName::parse(&body.name).map_err(account_error)?;
    let (job_accounts, job_name) = (accounts.clone(), name.clone());
    glommio::executor()
        .spawn_blocking(move || job_accounts.add_user(&job_name, &body.password))
        .await
        .map_err(account_error)?;
    json(StatusCode::CREATED, &user(&accounts, &name)?)
}

/// Answers 204. The user's temporary credentials stop working with it.
pub(super) async fn delete_user(call: Call<'_>, name: &str) -> ApiResult {
    let accounts = call.accounts(Operation::DeleteUser)?;
    let name = AccountName::parse(name).map_err(account_error)?;
    accounts.delete_user(&name).await.map_err(account_error)?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// Answers 204.
pub(super) async fn set_password(mut call: Call<'_>, name: &str) -> ApiResult {
    let accounts = call.accounts(Operation::UpdateUser)?;
    let name = AccountName::parse(name).map_err(account_error)?;
    let body: SetPassword = call.json_body().await?;
    glommio::executor()
        .spawn_blocking(move || accounts.set_password(&name, &body.password))
        .await
        .map_err(account_error)?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// 200 with the user as it is now.
pub(super) async fn attach(call: Call<'_>, name: &str, policy: &str) -> ApiResult {
    let accounts = call.accounts(Operation::AttachPolicy)?;
    let name = AccountName::parse(name).map_err(account_error)?;
    let policy = PolicyName::parse(policy).map_err(account_error)?;
    accounts
        .attach(&name, &policy)
        .await
        .map_err(account_error)?;
    json(StatusCode::OK, &user(&accounts, &name)?)
}

/// 200 with the user as it is now.
pub(super) async fn detach(call: Call<'_>, name: &str, policy: &str) -> ApiResult {
    let accounts = call.accounts(Operation::DetachPolicy)?;
    let name = AccountName::parse(name).map_err(account_error)?;
    let policy = PolicyName::parse(policy).map_err(account_error)?;
    accounts
        .detach(&name, &policy)
        .await
        .map_err(account_error)?;
    json(StatusCode::OK, &user(&accounts, &name)?)
}

fn user(accounts: &Accounts, name: &AccountName) -> Result<wire::User, ApiError> {
    let user = accounts.user(name).map_err(account_error)?.ok_or_else(|| {
        // Deleted by another request since this one wrote it.
        account_error(AccountError::AccountUnknown {
            account: name.clone(),
        })
    })?;
    Ok(wire::User::from(user))
}

pub(super) fn list_policies(call: Call<'_>) -> ApiResult {
    let accounts = call.accounts(Operation::ListPolicies)?;
    let policies = accounts
        .list_policies()
        .map_err(account_error)?
        .into_iter()
        .map(policy_view)
        .collect::<Result<Vec<_>, _>>()?;
    json(StatusCode::OK, &json!({ "policies": policies }))
}

/// 201 with the policy. An invalid document is refused with the parser's message, which
/// names the field (`Statement[0].Effect: expected "Allow" or "Deny", got "allow"`).
pub(super) async fn create_policy(mut call: Call<'_>) -> ApiResult {
    let accounts = call.accounts(Operation::CreatePolicy)?;
    let body: CreatePolicy = call.json_body().await?;
    let name = PolicyName::parse(&body.name).map_err(account_error)?;
    let text = document_text(body.document)?;
    accounts
        .create_policy(&name, &text)
        .await
        .map_err(account_error)?;
    json(StatusCode::CREATED, &stored_policy(&name, text)?)
}

/// 200 with the policy. There is no separate update action: replacing a document is
/// authorised as creating one (`ram:CreatePolicy`).
pub(super) async fn update_policy(mut call: Call<'_>, name: &str) -> ApiResult {
    let accounts = call.accounts(Operation::CreatePolicy)?;
    let name = PolicyName::parse(name).map_err(account_error)?;
    let body: UpdatePolicy = call.json_body().await?;
    let text = document_text(body.document)?;
    accounts
        .update_policy(&name, &text)
        .await
        .map_err(account_error)?;
    json(StatusCode::OK, &stored_policy(&name, text)?)
}

/// 204; refused (409) while the policy is attached to a user.
pub(super) async fn delete_policy(call: Call<'_>, name: &str) -> ApiResult {
    let accounts = call.accounts(Operation::DeletePolicy)?;
    let name = PolicyName::parse(name).map_err(account_error)?;
    accounts.delete_policy(&name).await.map_err(account_error)?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// A document given as a JSON object is stored as its compact text; one given as a string,
/// as that text.
fn document_text(document: Value) -> Result<String, ApiError> {
    match document {
        Value::String(text) => Ok(text),
        Value::Object(_) => Ok(document.to_string()),
        _ => Err(bad_request(
            "document: expected a policy document, as a JSON object or as a string",
        )),
    }
}

fn stored_policy(name: &PolicyName, text: String) -> Result<wire::Policy, ApiError> {
    policy_view(PolicyInfo {
        name: name.clone(),
        builtin: false,
        document: text,
    })
}

fn policy_view(info: PolicyInfo) -> Result<wire::Policy, ApiError> {
    // Every stored document parsed when it was written.
    let document = serde_json::from_str(&info.document)
        .map_err(|e| ApiError::internal("stored policy document is not JSON", &e))?;
    Ok(wire::Policy {
        name: info.name.to_string(),
        builtin: info.builtin,
        document,
    })
}

/// `{"records":[AuditRecord],"next"}`, oldest first; `next` is the `after` of the next page.
pub(super) fn audit(call: Call<'_>) -> ApiResult {
    let accounts = call.accounts(Operation::GetAuditLog)?;
    let pairs = call.query();
    let text = |key: &str| {
        query_value(&pairs, key)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let number = |key: &str| -> Result<Option<u64>, ApiError> {
        match query_value(&pairs, key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| bad_request(format!("{key}={v:?} is not a non-negative integer"))),
        }
    };
    let filter = AuditFilter {
        since_ms: number("since_ms")?,
        until_ms: number("until_ms")?,
        account: text("account"),
        repository: text("repository"),
        operation: text("operation"),
        result: text("result"),
    };
    let limit = number("limit")?.map_or(AUDIT_PAGE_RECORDS_DEFAULT, |n| {
        usize::try_from(n).unwrap_or(usize::MAX)
    });
    let after = text("after");
    let page = accounts
        .query_audit(&filter, after.as_deref(), limit)
        .map_err(account_error)?;
    let records: Vec<wire::AuditRecord> = page
        .records
        .into_iter()
        .map(wire::AuditRecord::from)
        .collect();
    json(
        StatusCode::OK,
        &json!({ "records": records, "next": page.next }),
    )
}
