//! Operator endpoints under `/api/v1/admin/`: storage accounting, garbage collection and the
//! scrub. Runs happen on the maintenance shard; a full scan for statistics runs on a blocking
//! thread, never on the reactor.

use berth_engine::maintenance::{load_report, stats};
use http::{Request, StatusCode};
use serde_json::json;

use super::{json_response, query, query_value, ApiResult, ShardContext};
use crate::http::body::RequestBody;
use crate::http::error::{ApiError, ErrorCode};
use crate::maintenance::RunError;

fn to_json<T: serde::Serialize>(value: &T) -> ApiResult {
    let body = serde_json::to_vec_pretty(value).map_err(|e| ApiError::internal("report", &e))?;
    Ok(json_response(StatusCode::OK, body))
}

pub async fn stats(ctx: &ShardContext) -> ApiResult {
    let reader = (**ctx.registry.meta()).clone();
    let stats = glommio::executor()
        .spawn_blocking(move || stats::collect(&reader))
        .await
        .map_err(|e| ApiError::internal("collecting statistics", &e))?;
    to_json(&stats)
}

pub fn last_report(ctx: &ShardContext, name: &str) -> ApiResult {
    let last = load_report(ctx.registry.meta(), name)
        .map_err(|e| ApiError::internal("reading a report", &e))?;
    to_json(&json!({ "last": last }))
}

fn run_error(e: RunError) -> ApiError {
    match e {
        RunError::Busy => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyRequests,
            e.to_string(),
        ),
        RunError::Stopped | RunError::Failed(_) => ApiError::internal("maintenance run", &e),
    }
}

pub async fn run_gc(ctx: &ShardContext, req: &Request<RequestBody>) -> ApiResult {
    let pairs = query(req);
    let dry_run = match query_value(&pairs, "dry_run") {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::Unsupported,
                format!("dry_run={other:?}: expected true or false"),
            ))
        }
    };
    let report = ctx.maintenance.gc(dry_run).await.map_err(run_error)?;
    to_json(&report)
}

pub async fn run_scrub(ctx: &ShardContext) -> ApiResult {
    let report = ctx.maintenance.scrub().await.map_err(run_error)?;
    to_json(&report)
}
