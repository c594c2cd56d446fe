//! Operator endpoints under `/api/v1/admin/`: storage accounting, garbage collection, the
//! scrub and the expiry sweep. Every run, the statistics' full scan included, happens on the
//! maintenance thread, never on a shard's reactor.

use http::{Request, StatusCode};
use serde_json::json;

use super::wire::{FsckReport, GcReport, StorageStats};
use super::{json_response, query, query_value, ApiResult};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::RequestBody;
use crate::maintenance::RunError;
use crate::state::ShardState;

fn to_json<T: serde::Serialize>(value: &T) -> ApiResult {
    let body = serde_json::to_vec_pretty(value).map_err(|e| ApiError::internal("report", &e))?;
    Ok(json_response(StatusCode::OK, body))
}

pub async fn stats(ctx: &ShardState) -> ApiResult {
    let stats = ctx.maintenance.stats().await.map_err(run_error)?;
    let mut stats = StorageStats::from(stats);
    stats.webhooks = ctx
        .engine
        .triggers()
        .outbox_stats()
        .map_err(|e| ApiError::internal("reading the webhook outbox", &e))?
        .into();
    to_json(&stats)
}

pub fn last_gc(ctx: &ShardState) -> ApiResult {
    let last = ctx
        .engine
        .last_gc_report()
        .map_err(|e| ApiError::internal("reading a report", &e))?;
    to_json(&json!({ "last": last.map(GcReport::from) }))
}

pub fn last_scrub(ctx: &ShardState) -> ApiResult {
    let last = ctx
        .engine
        .last_scrub_report()
        .map_err(|e| ApiError::internal("reading a report", &e))?;
    to_json(&json!({ "last": last.map(FsckReport::from) }))
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

pub async fn run_gc(ctx: &ShardState, req: &Request<RequestBody>) -> ApiResult {
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
    to_json(&GcReport::from(report))
}

pub async fn run_scrub(ctx: &ShardState) -> ApiResult {
    let report = ctx.maintenance.scrub().await.map_err(run_error)?;
    to_json(&FsckReport::from(report))
}

pub async fn run_expiry(ctx: &ShardState) -> ApiResult {
    let report = ctx.maintenance.expire().await.map_err(run_error)?;
    to_json(&report)
}
