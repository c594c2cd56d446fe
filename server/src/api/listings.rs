//! Ordered listings: tags of a repository, the catalog, and the referrers of a manifest.

use berth_engine::oci::{Digest, RepoName};
use http::{header, HeaderValue, Request, Response, StatusCode};
use serde_json::json;

use super::{header_value, json_response, query, query_value, ApiResult, ShardState};
use crate::http::body::{RequestBody, ResponseBody};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::router;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// `n` and `last` of a paginated listing.
struct PageRequest {
    n: Option<usize>,
    last: Option<String>,
}

fn page_request(req: &Request<RequestBody>) -> Result<PageRequest, ApiError> {
    let pairs = query(req);
    let n = match query_value(&pairs, "n") {
        None | Some("") => None,
        Some(text) => Some(text.parse::<usize>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::Unsupported,
                format!("n={text:?} is not a non-negative integer"),
            )
        })?),
    };
    let last = query_value(&pairs, "last")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok(PageRequest { n, last })
}

/// Adds `Link: <path?n=N&last=X>; rel="next"` when a page follows, i.e. `last` is given.
fn with_link_after(
    mut response: Response<ResponseBody>,
    path: &str,
    request: &PageRequest,
    last: Option<&str>,
) -> ApiResult {
    if let Some(last) = last {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(n) = request.n {
            query.append_pair("n", &n.to_string());
        }
        query.append_pair("last", last);
        let link = format!("<{path}?{}>; rel=\"next\"", query.finish());
        response
            .headers_mut()
            .insert(header::LINK, header_value(&link)?);
    }
    Ok(response)
}

pub fn tags(ctx: &ShardState, req: &Request<RequestBody>, repo: &RepoName) -> ApiResult {
    let request = page_request(req)?;
    let page = ctx
        .registry
        .list_tags(repo, request.n, request.last.as_deref())?;
    let body = json!({ "name": repo.as_str(), "tags": page.items });
    let response = json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    );
    let last = page.more.then(|| page.items.last()).flatten();
    with_link_after(
        response,
        &router::tags_list_path(repo.as_str()),
        &request,
        last.map(String::as_str),
    )
}

/// The catalog; with access control on, only the repositories `visible` says the caller may
/// pull (a page may then hold fewer than `n`; its `Link` still leads on).
pub fn catalog(
    ctx: &ShardState,
    req: &Request<RequestBody>,
    visible: impl Fn(&str) -> bool,
) -> ApiResult {
    let request = page_request(req)?;
    let mut page = ctx.registry.catalog(request.n, request.last.as_deref())?;
    // The next page starts after the last name this page scanned, listed or not.
    let scanned_last = page.more.then(|| page.items.last().cloned()).flatten();
    page.items.retain(|name| visible(name));
    let body = json!({ "repositories": page.items });
    let response = json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    );
    with_link_after(
        response,
        &router::catalog_path(),
        &request,
        scanned_last.as_deref(),
    )
}

/// Always an image index, empty when nothing refers to `subject` (never 404).
pub fn referrers(
    ctx: &ShardState,
    req: &Request<RequestBody>,
    repo: &RepoName,
    subject: &Digest,
) -> ApiResult {
    let pairs = query(req);
    let artifact_type = query_value(&pairs, "artifactType").filter(|s| !s.is_empty());
    let descriptors = ctx.registry.referrers(repo, subject, artifact_type)?;
    let body = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": descriptors,
    });
    let mut response = json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    );
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX));
    if artifact_type.is_some() {
        headers.insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(response)
}
