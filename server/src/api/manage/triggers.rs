//! Webhook triggers of a repository and their delivery records (docs/webhooks.md): create,
//! list, get, replace, delete; records newest first; redelivery. The engine stores and
//! filters (`berth_engine::Triggers`); this file checks what only the server can — the
//! destination URL's rules and, unless allowed, that it does not name a private address — and
//! shapes the JSON.

use berth_engine::access::Operation;
use berth_engine::{
    EventKind, PayloadFormat, SecretUpdate, TriggerError, TriggerFilter, TriggerSpec,
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{bad_request, json, Call};
use crate::api::wire;
use crate::api::{empty_response, query_value, repo, ApiResult};
use crate::http::error::{ApiError, ErrorCode};
use crate::workers::webhooks::destination::{self, Destination};

/// Records per page when the request does not say.
const RECORD_PAGE_DEFAULT: usize = 20;

/// The body of a create or replace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    name: String,
    url: String,
    trigger_type: String,
    #[serde(default)]
    expression: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    /// Absent on a replace: the secret stays; `""`: removed.
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    format: Option<String>,
}

pub(super) async fn create(mut call: Call<'_>, name: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::CreateTrigger,
        Some(&repository),
        repository.namespace(),
    )?;
    let body: TriggerBody = call.json_body().await?;
    let secret = body.secret.clone();
    let spec = spec(&call, body)?;
    let record = call
        .ctx
        .engine
        .triggers()
        .create(&repository, spec, secret)
        .await
        .map_err(trigger_error)?;
    json(StatusCode::CREATED, &wire::Trigger::from(record))
}

pub(super) fn list(call: Call<'_>, name: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::ListTriggers,
        Some(&repository),
        repository.namespace(),
    )?;
    let triggers: Vec<wire::Trigger> = call
        .ctx
        .engine
        .triggers()
        .list(&repository)
        .map_err(trigger_error)?
        .into_iter()
        .map(wire::Trigger::from)
        .collect();
    json(
        StatusCode::OK,
        &json!({ "repository": repository.as_str(), "triggers": triggers }),
    )
}

pub(super) fn get(call: Call<'_>, name: &str, id: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::GetTrigger,
        Some(&repository),
        repository.namespace(),
    )?;
    let record = call
        .ctx
        .engine
        .triggers()
        .get(&repository, id)
        .map_err(trigger_error)?;
    json(StatusCode::OK, &wire::Trigger::from(record))
}

pub(super) async fn replace(mut call: Call<'_>, name: &str, id: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::UpdateTrigger,
        Some(&repository),
        repository.namespace(),
    )?;
    let body: TriggerBody = call.json_body().await?;
    let secret = match &body.secret {
        None => SecretUpdate::Keep,
        Some(s) if s.is_empty() => SecretUpdate::Clear,
        Some(s) => SecretUpdate::Set(s.clone()),
    };
    let spec = spec(&call, body)?;
    let record = call
        .ctx
        .engine
        .triggers()
        .update(&repository, id, spec, secret)
        .await
        .map_err(trigger_error)?;
    json(StatusCode::OK, &wire::Trigger::from(record))
}

pub(super) async fn delete(call: Call<'_>, name: &str, id: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::DeleteTrigger,
        Some(&repository),
        repository.namespace(),
    )?;
    call.ctx
        .engine
        .triggers()
        .delete(&repository, id)
        .await
        .map_err(trigger_error)?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// `{"repository","trigger","records":[wire::DeliveryRecord],"next"}`, newest first; `next`
/// is the `after` of the next page.
pub(super) fn records(call: Call<'_>, name: &str, id: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::GetTrigger,
        Some(&repository),
        repository.namespace(),
    )?;
    let pairs = call.query();
    let n = match query_value(&pairs, "n") {
        None | Some("") => RECORD_PAGE_DEFAULT,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| bad_request(format!("n={text:?} is not a non-negative integer")))?,
    };
    let after = query_value(&pairs, "after").filter(|s| !s.is_empty());
    let page = call
        .ctx
        .engine
        .triggers()
        .records(&repository, id, n, after)
        .map_err(trigger_error)?;
    let records: Vec<wire::DeliveryRecord> = page
        .records
        .into_iter()
        .map(wire::DeliveryRecord::from)
        .collect();
    json(
        StatusCode::OK,
        &json!({
            "repository": repository.as_str(),
            "trigger": id,
            "records": records,
            "next": page.next,
        }),
    )
}

/// Answers 202 with the record, queued again.
pub(super) async fn redeliver(call: Call<'_>, name: &str, id: &str, event: &str) -> ApiResult {
    let repository = repo(name)?;
    call.permit(
        Operation::UpdateTrigger,
        Some(&repository),
        repository.namespace(),
    )?;
    let record = call
        .ctx
        .engine
        .triggers()
        .redeliver(&repository, id, event)
        .await
        .map_err(trigger_error)?;
    json(StatusCode::ACCEPTED, &wire::DeliveryRecord::from(record))
}

/// The engine's spec of a request body, after the server's own checks of the URL.
fn spec(call: &Call<'_>, body: TriggerBody) -> Result<TriggerSpec, ApiError> {
    let settings = &call.ctx.config.webhooks;
    let destination = Destination::parse(&body.url).map_err(|e| invalid(format!("url: {e}")))?;
    if !settings.allow_private_destinations {
        let private = match destination.host_ip() {
            Some(ip) => destination::is_private(ip),
            None => destination::refused_name(&destination.host),
        };
        if private {
            return Err(invalid(format!(
                "url: {} is a loopback, link-local or private destination; webhooks refuse \
                 those unless webhooks.allow_private_destinations = true",
                destination.host
            )));
        }
    }
    let filter = match body.trigger_type.as_str() {
        "ALL" => TriggerFilter::All,
        "REGEX" => TriggerFilter::Regex(body.expression.unwrap_or_default()),
        "TAGS" => TriggerFilter::Tags(body.tags.unwrap_or_default()),
        other => {
            return Err(invalid(format!(
                "trigger_type: {other:?} is not ALL, REGEX or TAGS"
            )))
        }
    };
    let events = match body.events {
        None => vec![EventKind::Push],
        Some(names) => {
            let mut events = Vec::with_capacity(names.len());
            for name in names {
                let kind = match name.as_str() {
                    "push" => EventKind::Push,
                    "delete" => EventKind::Delete,
                    "scan_completed" => {
                        return Err(invalid(
                            "events: scan_completed needs the vulnerability scanner, which \
                             this registry does not have yet"
                                .to_owned(),
                        ))
                    }
                    other => {
                        return Err(invalid(format!("events: {other:?} is not push or delete")))
                    }
                };
                if !events.contains(&kind) {
                    events.push(kind);
                }
            }
            events
        }
    };
    let format = match body.format.as_deref() {
        None | Some("acr") => PayloadFormat::Acr,
        Some("cloudevents") => PayloadFormat::Cloudevents,
        Some(other) => {
            return Err(invalid(format!(
                "format: {other:?} is not acr or cloudevents"
            )))
        }
    };
    Ok(TriggerSpec {
        name: body.name,
        url: body.url,
        filter,
        events,
        format,
    })
}

fn invalid(detail: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::Unsupported, detail)
}

/// Trigger errors as API errors: one exhaustive `match`.
pub(super) fn trigger_error(e: TriggerError) -> ApiError {
    use ErrorCode as C;
    use StatusCode as S;
    let detail = e.to_string();
    match e {
        TriggerError::RepositoryUnknown { .. }
        | TriggerError::TriggerUnknown { .. }
        | TriggerError::RecordUnknown { .. } => ApiError::new(S::NOT_FOUND, C::NameUnknown, detail),
        TriggerError::TriggerExists { .. } | TriggerError::NotRedeliverable { .. } => {
            ApiError::new(S::CONFLICT, C::Conflict, detail)
        }
        TriggerError::TriggerLimit { .. } => ApiError::new(S::FORBIDDEN, C::LimitExceeded, detail),
        TriggerError::TriggerInvalid { .. } => invalid(detail),
        TriggerError::OutboxFull { .. } => {
            ApiError::new(S::SERVICE_UNAVAILABLE, C::TooManyRequests, detail)
        }
        TriggerError::Meta(meta) => ApiError::from(berth_engine::RegistryError::from(meta)),
    }
}
