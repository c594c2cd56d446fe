//! Fuzz target: request routing, compiled from `server/src/http/router.rs`.
//!
//! Input: a request line without the version, `METHOD TARGET`, e.g.
//! `PUT /v2/library/app/blobs/uploads/0b2f…?digest=sha256:…`. The target is routed twice: as
//! the raw text before any `?` or `#`, and, when `http::Uri` accepts it (as hyper would have to), by
//! its parsed path, which is what the server hands the router.
//!
//! Properties:
//! - Routing never panics and is deterministic.
//! - Every `name`, `digest`, `reference` and `id` of an endpoint is a non-empty slice of the
//!   path itself, and the endpoint's canonical path rebuilt from them is the path.
//! - Whether a path exists does not depend on the method: `Ok` exactly when the method is in
//!   the endpoint's allowed list, `MethodNotAllowed` naming that list otherwise.
//! - The query never changes the route: an origin-form target's parsed path is its text before
//!   the `?` (or `#`).
#![no_main]

use berth_fuzz::router::{route, Endpoint, Manage, RouteError};
use berth_fuzz::split_first_line;
use http::{Method, Uri};
use libfuzzer_sys::fuzz_target;

const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

fuzz_target!(|data: &[u8]| {
    let (line, _rest) = split_first_line(data);
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let Some((method, target)) = line.split_once(' ') else {
        return;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    // The path ends at the query ('?') or at a fragment ('#'), which `http::Uri` drops.
    let raw_path = target.split(['?', '#']).next().unwrap_or(target);
    check_path(&method, raw_path);
    if let Ok(uri) = target.parse::<Uri>() {
        check_path(&method, uri.path());
        // The query never reaches the router: an origin-form target's path is its text
        // before '?' (or '#'), so both routes agree.
        if target.starts_with('/') {
            assert_eq!(uri.path(), raw_path, "{target:?}");
        }
    }
});

fn check_path(method: &Method, path: &str) {
    let routed = route(method, path);
    assert_eq!(routed, route(method, path), "routing is deterministic");
    let allowed = match &routed {
        Ok(endpoint) => {
            check_endpoint(path, endpoint);
            None
        }
        Err(RouteError::NotFound) => {
            for other in &METHODS {
                assert_eq!(
                    route(other, path),
                    Err(RouteError::NotFound),
                    "{other} {path:?}"
                );
            }
            return;
        }
        Err(RouteError::MethodNotAllowed { allowed }) => {
            assert!(
                !allowed.split(", ").any(|m| m == method.as_str()),
                "{method} {path:?}"
            );
            Some(*allowed)
        }
    };
    // Some method reaches the endpoint; every allowed one does, and reaches the same endpoint.
    let reachable: Vec<&Method> = METHODS.iter().filter(|m| route(m, path).is_ok()).collect();
    assert!(
        !reachable.is_empty(),
        "{path:?} exists but no method reaches it"
    );
    let endpoint = route(reachable[0], path).expect("reachable");
    for other in &METHODS {
        match route(other, path) {
            Ok(e) => assert_eq!(e, endpoint, "{other} {path:?}"),
            Err(RouteError::MethodNotAllowed { allowed: a }) => {
                if let Some(allowed) = allowed {
                    assert_eq!(a, allowed, "{path:?}");
                }
            }
            Err(RouteError::NotFound) => panic!("{other} {path:?}: NotFound, {method}: {routed:?}"),
        }
    }
}

/// Checks that each part is a non-empty slice of `path` (not a copy or a rewrite) and that the
/// endpoint's canonical form is `path`.
fn check_endpoint(path: &str, endpoint: &Endpoint<'_>) {
    let slice_of_path = |part: &str| {
        let (start, end) = (path.as_ptr() as usize, path.as_ptr() as usize + path.len());
        let part_start = part.as_ptr() as usize;
        !part.is_empty() && part_start >= start && part_start + part.len() <= end
    };
    let parts: Vec<&str> = match *endpoint {
        Endpoint::Base
        | Endpoint::Catalog
        | Endpoint::Token
        | Endpoint::AdminStats
        | Endpoint::AdminGc
        | Endpoint::AdminScrub
        | Endpoint::AdminExpire => vec![],
        Endpoint::Manage(manage) => manage_parts(manage),
        Endpoint::Blob { name, digest } => vec![name, digest],
        Endpoint::Manifest { name, reference } => vec![name, reference],
        Endpoint::UploadStart { name } => vec![name],
        Endpoint::Upload { name, id } => vec![name, id],
        Endpoint::Tags { name } => vec![name],
        Endpoint::Referrers { name, digest } => vec![name, digest],
    };
    for part in &parts {
        assert!(
            slice_of_path(part),
            "{part:?} is not part of {path:?}: {endpoint:?}"
        );
    }
    let canonical: Vec<String> = match endpoint {
        Endpoint::Base => vec!["/v2".into(), "/v2/".into()],
        Endpoint::Catalog => vec!["/v2/_catalog".into()],
        Endpoint::AdminStats => vec!["/api/v1/admin/stats".into()],
        Endpoint::AdminGc => vec!["/api/v1/admin/gc".into()],
        Endpoint::AdminScrub => vec!["/api/v1/admin/scrub".into()],
        Endpoint::AdminExpire => vec!["/api/v1/admin/expire".into()],
        Endpoint::Token => vec!["/token".into()],
        Endpoint::Manage(manage) => {
            let path = manage_path(*manage);
            vec![path.clone(), format!("{path}/")]
        }
        Endpoint::Blob { name, digest } => vec![format!("/v2/{name}/blobs/{digest}")],
        Endpoint::Manifest { name, reference } => {
            vec![format!("/v2/{name}/manifests/{reference}")]
        }
        Endpoint::UploadStart { name } => vec![
            format!("/v2/{name}/blobs/uploads"),
            format!("/v2/{name}/blobs/uploads/"),
        ],
        Endpoint::Upload { name, id } => vec![format!("/v2/{name}/blobs/uploads/{id}")],
        Endpoint::Tags { name } => vec![format!("/v2/{name}/tags/list")],
        Endpoint::Referrers { name, digest } => vec![format!("/v2/{name}/referrers/{digest}")],
    };
    assert!(
        canonical.iter().any(|c| c == path),
        "{path:?} routed to {endpoint:?}, whose path is {canonical:?}"
    );
    // The last part (a digest, reference, id, tag or policy) is one path segment; so is a
    // namespace or account name.
    let single_segment = match endpoint {
        Endpoint::Manage(
            Manage::Namespace(_)
            | Manage::User(_)
            | Manage::UserPassword(_)
            | Manage::Policy(_)
            | Manage::UserPolicy(..),
        ) => parts.as_slice(),
        _ => parts.get(1..).unwrap_or_default(),
    };
    for part in single_segment {
        assert!(!part.contains('/'), "{endpoint:?}");
    }
}

fn manage_parts(manage: Manage<'_>) -> Vec<&str> {
    match manage {
        Manage::OpenApi
        | Manage::Namespaces
        | Manage::Repositories
        | Manage::Tokens
        | Manage::Users
        | Manage::Policies
        | Manage::Audit => vec![],
        Manage::Namespace(a)
        | Manage::Repository(a)
        | Manage::Tags(a)
        | Manage::Triggers(a)
        | Manage::User(a)
        | Manage::UserPassword(a)
        | Manage::Policy(a) => vec![a],
        Manage::Tag(a, b)
        | Manage::Manifest(a, b)
        | Manage::Layers(a, b)
        | Manage::Trigger(a, b)
        | Manage::TriggerRecords(a, b)
        | Manage::UserPolicy(a, b) => vec![a, b],
        Manage::Redeliver(a, b, c) => vec![a, b, c],
    }
}

/// The canonical path of a management route, rebuilt from its parts.
fn manage_path(manage: Manage<'_>) -> String {
    let api = "/api/v1";
    match manage {
        Manage::OpenApi => format!("{api}/openapi.json"),
        Manage::Namespaces => format!("{api}/namespaces"),
        Manage::Namespace(ns) => format!("{api}/namespaces/{ns}"),
        Manage::Repositories => format!("{api}/repositories"),
        Manage::Repository(repo) => format!("{api}/repositories/{repo}"),
        Manage::Tags(repo) => format!("{api}/repositories/{repo}/tags"),
        Manage::Tag(repo, tag) => format!("{api}/repositories/{repo}/tags/{tag}"),
        Manage::Manifest(repo, r) => format!("{api}/repositories/{repo}/manifests/{r}"),
        Manage::Layers(repo, r) => format!("{api}/repositories/{repo}/layers/{r}"),
        Manage::Triggers(repo) => format!("{api}/repositories/{repo}/triggers"),
        Manage::Trigger(repo, id) => format!("{api}/repositories/{repo}/triggers/{id}"),
        Manage::TriggerRecords(repo, id) => {
            format!("{api}/repositories/{repo}/triggers/{id}/records")
        }
        Manage::Redeliver(repo, id, event) => {
            format!("{api}/repositories/{repo}/triggers/{id}/records/{event}/redeliver")
        }
        Manage::Tokens => format!("{api}/tokens"),
        Manage::Users => format!("{api}/users"),
        Manage::User(name) => format!("{api}/users/{name}"),
        Manage::UserPassword(name) => format!("{api}/users/{name}/password"),
        Manage::UserPolicy(name, p) => format!("{api}/users/{name}/policies/{p}"),
        Manage::Policies => format!("{api}/policies"),
        Manage::Policy(name) => format!("{api}/policies/{name}"),
        Manage::Audit => format!("{api}/audit"),
    }
}
