//! The one route table: method + path → endpoint, with path parts still unvalidated, for every
//! path the daemon answers (`/v2`, `/token`, `/api/v1`), and the builders of every path it
//! hands out (`Location`, `Link`, the token realm). No other file names a route.
//!
//! Repository names contain slashes, so routes are recognised from the end of the path, most
//! specific first, the way the distribution spec's endpoint table reads:
//!
//! ```text
//! end-1   GET          /v2/
//! end-2   GET/HEAD     /v2/<name>/blobs/<digest>
//! end-3   GET/HEAD     /v2/<name>/manifests/<reference>
//! end-4a  POST         /v2/<name>/blobs/uploads/
//! end-4b  POST         /v2/<name>/blobs/uploads/?digest=<digest>
//! end-5   PATCH        /v2/<name>/blobs/uploads/<reference>
//! end-6   PUT          /v2/<name>/blobs/uploads/<reference>?digest=<digest>
//! end-7   PUT          /v2/<name>/manifests/<reference>
//! end-8   GET          /v2/<name>/tags/list?n=<integer>&last=<tag>
//! end-9   DELETE       /v2/<name>/manifests/<reference>
//! end-10  DELETE       /v2/<name>/blobs/<digest>
//! end-11  POST         /v2/<name>/blobs/uploads/?mount=<digest>&from=<other name>
//! end-12  GET          /v2/<name>/referrers/<digest>?artifactType=<artifactType>
//! end-13  GET          /v2/<name>/blobs/uploads/<reference>
//!         DELETE       /v2/<name>/blobs/uploads/<reference>
//!         GET          /v2/_catalog?n=<integer>&last=<name>
//!
//! token service:
//!         GET/HEAD     /token?service=&scope=
//!
//! operators (docs/api.md):
//!         GET          /api/v1/admin/stats
//!         GET/POST     /api/v1/admin/gc[?dry_run=true]
//!         GET/POST     /api/v1/admin/scrub
//!         POST         /api/v1/admin/expire
//!
//! management API (docs/openapi.json):
//! /api/v1/openapi.json                                   GET
//! /api/v1/namespaces                                     GET POST
//! /api/v1/namespaces/<ns>                                GET PATCH DELETE[?force=true]
//! /api/v1/repositories[?namespace=<ns>]                  GET POST
//! /api/v1/repositories/<repo>                            GET PATCH DELETE
//! /api/v1/repositories/<repo>/tags[?n=&last=]            GET
//! /api/v1/repositories/<repo>/tags/<tag>                 DELETE
//! /api/v1/repositories/<repo>/manifests/<reference>      GET
//! /api/v1/repositories/<repo>/layers/<reference>         GET
//! /api/v1/repositories/<repo>/triggers                   GET POST
//! /api/v1/repositories/<repo>/triggers/<id>              GET PUT DELETE
//! /api/v1/repositories/<repo>/triggers/<id>/records[?n=&after=]            GET
//! /api/v1/repositories/<repo>/triggers/<id>/records/<event>/redeliver      POST
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
//! A management repository path is recognised from its end too: a last segment `tags` or
//! `triggers`, a second-to-last `tags`, `manifests`, `layers` or `triggers`, or the trigger
//! shapes `triggers/<id>/records` and `triggers/<id>/records/<event>/redeliver`, addresses
//! that sub-resource of everything before it.
//!
//! Must not: depend on anything but `http::Method` (the fuzz target compiles this file alone).

use http::Method;

/// What a request addresses. Names, references and digests are raw text here; handlers parse
/// them so that each gets its own spec error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'p> {
    Base,
    Catalog,
    Blob { name: &'p str, digest: &'p str },
    Manifest { name: &'p str, reference: &'p str },
    UploadStart { name: &'p str },
    Upload { name: &'p str, id: &'p str },
    Tags { name: &'p str },
    Referrers { name: &'p str, digest: &'p str },
    Token,
    AdminStats,
    AdminGc,
    AdminScrub,
    AdminExpire,
    Manage(Manage<'p>),
}

/// A management API resource (under `/api/v1/`, not `admin/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manage<'p> {
    OpenApi,
    Namespaces,
    Namespace(&'p str),
    Repositories,
    Repository(&'p str),
    Tags(&'p str),
    Tag(&'p str, &'p str),
    Manifest(&'p str, &'p str),
    Layers(&'p str, &'p str),
    Triggers(&'p str),
    Trigger(&'p str, &'p str),
    TriggerRecords(&'p str, &'p str),
    Redeliver(&'p str, &'p str, &'p str),
    Tokens,
    Users,
    User(&'p str),
    UserPassword(&'p str),
    UserPolicy(&'p str, &'p str),
    Policies,
    Policy(&'p str),
    Audit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No endpoint has this path.
    NotFound,
    /// The endpoint exists but not with this method.
    MethodNotAllowed { allowed: &'static str },
}

impl Endpoint<'_> {
    /// The methods this endpoint answers, as the `Allow` header lists them.
    pub fn allowed(self) -> &'static str {
        match self {
            Endpoint::Base
            | Endpoint::Catalog
            | Endpoint::Tags { .. }
            | Endpoint::Referrers { .. } => "GET, HEAD",
            Endpoint::Blob { .. } => "GET, HEAD, DELETE",
            Endpoint::Manifest { .. } => "GET, HEAD, PUT, DELETE",
            Endpoint::UploadStart { .. } => "POST",
            Endpoint::Upload { .. } => "GET, PATCH, PUT, DELETE",
            Endpoint::Token => "GET, HEAD",
            Endpoint::AdminStats => "GET",
            Endpoint::AdminGc | Endpoint::AdminScrub => "GET, POST",
            Endpoint::AdminExpire => "POST",
            Endpoint::Manage(manage) => manage.allowed(),
        }
    }
}

impl Manage<'_> {
    fn allowed(self) -> &'static str {
        match self {
            Manage::OpenApi | Manage::Tags(_) | Manage::Manifest(..) | Manage::Layers(..) => "GET",
            Manage::Audit => "GET",
            Manage::Namespaces | Manage::Repositories | Manage::Users | Manage::Policies => {
                "GET, POST"
            }
            Manage::Namespace(_) | Manage::Repository(_) => "GET, PATCH, DELETE",
            Manage::Tag(..) | Manage::User(_) => "DELETE",
            Manage::Tokens | Manage::Redeliver(..) => "POST",
            Manage::Triggers(_) => "GET, POST",
            Manage::Trigger(..) => "GET, PUT, DELETE",
            Manage::TriggerRecords(..) => "GET",
            Manage::UserPassword(_) => "PUT",
            Manage::UserPolicy(..) | Manage::Policy(_) => "PUT, DELETE",
        }
    }
}

pub fn route<'p>(method: &Method, path: &'p str) -> Result<Endpoint<'p>, RouteError> {
    let endpoint = endpoint(path).ok_or(RouteError::NotFound)?;
    let allowed = endpoint.allowed();
    if allowed.split(", ").any(|m| m == method.as_str()) {
        Ok(endpoint)
    } else {
        Err(RouteError::MethodNotAllowed { allowed })
    }
}

const V2: &str = "/v2";
const TOKEN: &str = "/token";
const API: &str = "/api/v1/";
const ADMIN: &str = "/api/v1/admin/";

fn endpoint(path: &str) -> Option<Endpoint<'_>> {
    if path == TOKEN {
        return Some(Endpoint::Token);
    }
    if let Some(admin) = path.strip_prefix(ADMIN) {
        return match admin {
            "stats" => Some(Endpoint::AdminStats),
            "gc" => Some(Endpoint::AdminGc),
            "scrub" => Some(Endpoint::AdminScrub),
            "expire" => Some(Endpoint::AdminExpire),
            _ => None,
        };
    }
    if let Some(rest) = path.strip_prefix(API) {
        return manage(rest).map(Endpoint::Manage);
    }
    let rest = path.strip_prefix(V2)?;
    if rest.is_empty() || rest == "/" {
        return Some(Endpoint::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Endpoint::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return non_empty(name).map(|name| Endpoint::Tags { name });
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return non_empty(name).map(|name| Endpoint::UploadStart { name });
    }
    let (head, last) = rest.rsplit_once('/')?;
    if last.is_empty() {
        return None;
    }
    let (name, kind) = head.rsplit_once('/')?;
    let name = non_empty(name)?;
    match kind {
        "blobs" => Some(Endpoint::Blob { name, digest: last }),
        "manifests" => Some(Endpoint::Manifest {
            name,
            reference: last,
        }),
        "referrers" => Some(Endpoint::Referrers { name, digest: last }),
        "uploads" => {
            let name = name.strip_suffix("/blobs")?;
            non_empty(name).map(|name| Endpoint::Upload { name, id: last })
        }
        _ => None,
    }
}

/// The management route of `rest`, the path after `/api/v1/` (one trailing `/` ignored).
fn manage(rest: &str) -> Option<Manage<'_>> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut segments = rest.split('/');
    let first = segments.next()?;
    let second = segments.next();
    let third = segments.next();
    let fourth = segments.next();
    if rest.split('/').any(str::is_empty) {
        return None;
    }
    if first == "repositories" && second.is_some() {
        return repository(&rest["repositories/".len()..]);
    }
    let route = match (first, second, third, fourth, segments.next()) {
        ("openapi.json", None, ..) => Manage::OpenApi,
        ("namespaces", None, ..) => Manage::Namespaces,
        ("namespaces", Some(ns), None, ..) => Manage::Namespace(ns),
        ("repositories", None, ..) => Manage::Repositories,
        ("tokens", None, ..) => Manage::Tokens,
        ("users", None, ..) => Manage::Users,
        ("users", Some(name), None, ..) => Manage::User(name),
        ("users", Some(name), Some("password"), None, _) => Manage::UserPassword(name),
        ("users", Some(name), Some("policies"), Some(policy), None) => {
            Manage::UserPolicy(name, policy)
        }
        ("policies", None, ..) => Manage::Policies,
        ("policies", Some(name), None, ..) => Manage::Policy(name),
        ("audit", None, ..) => Manage::Audit,
        _ => return None,
    };
    Some(route)
}

/// `<repo>`, `<repo>/tags`, `<repo>/tags/<tag>`, `<repo>/manifests/<ref>`,
/// `<repo>/layers/<ref>`, `<repo>/triggers[/<id>[/records[/<event>/redeliver]]]`, matched
/// from the end.
fn repository(path: &str) -> Option<Manage<'_>> {
    if let Some(repo) = path.strip_suffix("/tags") {
        return Some(Manage::Tags(repo));
    }
    if let Some(repo) = path.strip_suffix("/triggers") {
        return Some(Manage::Triggers(repo));
    }
    if let Some(head) = path.strip_suffix("/redeliver") {
        let (head, event) = head.rsplit_once('/')?;
        let head = head.strip_suffix("/records")?;
        let (head, id) = head.rsplit_once('/')?;
        let repo = head.strip_suffix("/triggers")?;
        return Some(Manage::Redeliver(repo, id, event));
    }
    if let Some(head) = path.strip_suffix("/records") {
        if let Some((head, id)) = head.rsplit_once('/') {
            if let Some(repo) = head.strip_suffix("/triggers") {
                return Some(Manage::TriggerRecords(repo, id));
            }
        }
    }
    if let Some((head, last)) = path.rsplit_once('/') {
        if let Some((repo, kind)) = head.rsplit_once('/') {
            match kind {
                "tags" => return Some(Manage::Tag(repo, last)),
                "manifests" => return Some(Manage::Manifest(repo, last)),
                "layers" => return Some(Manage::Layers(repo, last)),
                "triggers" => return Some(Manage::Trigger(repo, last)),
                _ => {}
            }
        }
    }
    Some(Manage::Repository(path))
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

// ----- paths the daemon hands out -------------------------------------------------------------

/// `Location` of a stored blob.
pub fn blob_path(name: &str, digest: &str) -> String {
    format!("{V2}/{name}/blobs/{digest}")
}

/// `Location` of a stored manifest.
pub fn manifest_path(name: &str, reference: &str) -> String {
    format!("{V2}/{name}/manifests/{reference}")
}

/// `Location` of an upload session.
pub fn upload_path(name: &str, id: &str) -> String {
    format!("{V2}/{name}/blobs/uploads/{id}")
}

/// The tags list of a repository (its `Link` header leads to the next page of it).
pub fn tags_list_path(name: &str) -> String {
    format!("{V2}/{name}/tags/list")
}

/// The catalog (for its `Link` header).
pub fn catalog_path() -> String {
    format!("{V2}/_catalog")
}

/// The management API's tags of a repository (for its `Link` header).
pub fn manage_tags_path(repo: &str) -> String {
    format!("{API}repositories/{repo}/tags")
}

/// The token realm of the challenge, under `base_url` (`http://host:port`).
pub fn token_realm(base_url: &str) -> String {
    format!("{base_url}{TOKEN}")
}

/// An admin endpoint's path, for the `berth` commands that call a running daemon.
pub fn admin_path(endpoint: Endpoint<'_>) -> Option<&'static str> {
    match endpoint {
        Endpoint::AdminStats => Some("/api/v1/admin/stats"),
        Endpoint::AdminGc => Some("/api/v1/admin/gc"),
        Endpoint::AdminScrub => Some("/api/v1/admin/scrub"),
        Endpoint::AdminExpire => Some("/api/v1/admin/expire"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, path: &str, expected: Result<Endpoint<'_>, RouteError>) {
        assert_eq!(route(&method, path), expected, "{method} {path}");
    }

    #[test]
    fn every_endpoint_routes() {
        use Endpoint::*;
        check(Method::GET, "/v2/", Ok(Base));
        check(Method::GET, "/v2", Ok(Base));
        check(Method::HEAD, "/v2/", Ok(Base));
        check(Method::GET, "/v2/_catalog", Ok(Catalog));
        check(Method::GET, "/token", Ok(Token));
        check(
            Method::GET,
            "/v2/a/b/c/blobs/sha256:00",
            Ok(Blob {
                name: "a/b/c",
                digest: "sha256:00",
            }),
        );
        check(
            Method::PUT,
            "/v2/lib/app/manifests/v1",
            Ok(Manifest {
                name: "lib/app",
                reference: "v1",
            }),
        );
        check(
            Method::POST,
            "/v2/app/blobs/uploads/",
            Ok(UploadStart { name: "app" }),
        );
        check(
            Method::POST,
            "/v2/app/blobs/uploads",
            Ok(UploadStart { name: "app" }),
        );
        check(
            Method::PATCH,
            "/v2/ns/app/blobs/uploads/1234",
            Ok(Upload {
                name: "ns/app",
                id: "1234",
            }),
        );
        check(
            Method::GET,
            "/v2/ns/app/tags/list",
            Ok(Tags { name: "ns/app" }),
        );
        check(
            Method::GET,
            "/v2/ns/app/referrers/sha256:ab",
            Ok(Referrers {
                name: "ns/app",
                digest: "sha256:ab",
            }),
        );
    }

    #[test]
    fn admin_endpoints_route() {
        check(Method::GET, "/api/v1/admin/stats", Ok(Endpoint::AdminStats));
        check(Method::POST, "/api/v1/admin/gc", Ok(Endpoint::AdminGc));
        check(Method::GET, "/api/v1/admin/scrub", Ok(Endpoint::AdminScrub));
        check(
            Method::POST,
            "/api/v1/admin/expire",
            Ok(Endpoint::AdminExpire),
        );
        check(
            Method::POST,
            "/api/v1/admin/stats",
            Err(RouteError::MethodNotAllowed { allowed: "GET" }),
        );
        check(
            Method::GET,
            "/api/v1/admin/other",
            Err(RouteError::NotFound),
        );
        for admin in [
            Endpoint::AdminStats,
            Endpoint::AdminGc,
            Endpoint::AdminScrub,
            Endpoint::AdminExpire,
        ] {
            let path = admin_path(admin).expect("an admin path");
            assert_eq!(endpoint(path), Some(admin), "{path}");
        }
    }

    #[test]
    fn management_routes_are_recognised_from_the_end_of_repository_paths() {
        use Manage::*;
        let cases: &[(&str, Option<Manage<'_>>)] = &[
            ("openapi.json", Some(OpenApi)),
            ("namespaces", Some(Namespaces)),
            ("namespaces/", Some(Namespaces)),
            ("namespaces/ns", Some(Namespace("ns"))),
            ("namespaces/ns/x", None),
            ("namespaces//", None),
            ("repositories", Some(Repositories)),
            ("repositories/ns/app", Some(Repository("ns/app"))),
            ("repositories/ns/team/app", Some(Repository("ns/team/app"))),
            ("repositories/ns/app/tags", Some(Tags("ns/app"))),
            ("repositories/ns/app/tags/v1", Some(Tag("ns/app", "v1"))),
            ("repositories/ns/tags/tags", Some(Tags("ns/tags"))),
            (
                "repositories/ns/a/b/manifests/sha256:ab",
                Some(Manifest("ns/a/b", "sha256:ab")),
            ),
            (
                "repositories/ns/app/layers/v1",
                Some(Layers("ns/app", "v1")),
            ),
            ("repositories/ns/app/triggers", Some(Triggers("ns/app"))),
            (
                "repositories/ns/a/b/triggers/t1",
                Some(Trigger("ns/a/b", "t1")),
            ),
            (
                "repositories/ns/app/triggers/t1/records",
                Some(TriggerRecords("ns/app", "t1")),
            ),
            (
                "repositories/ns/app/triggers/t1/records/evt_1/redeliver",
                Some(Redeliver("ns/app", "t1", "evt_1")),
            ),
            ("repositories/ns/app/records/evt_1/redeliver", None),
            ("repositories//x", None),
            ("users/alice/policies/p", Some(UserPolicy("alice", "p"))),
            ("users/alice/policies/p/q", None),
            ("users/alice/password", Some(UserPassword("alice"))),
            ("users/alice/password/x", None),
            ("tokens", Some(Tokens)),
            ("policies/p", Some(Policy("p"))),
            ("audit", Some(Audit)),
            ("nothing", None),
            ("", None),
        ];
        for (rest, expected) in cases {
            let path = format!("{API}{rest}");
            assert_eq!(endpoint(&path), expected.map(Endpoint::Manage), "{path}");
        }
        check(
            Method::PATCH,
            "/api/v1/users",
            Err(RouteError::MethodNotAllowed {
                allowed: "GET, POST",
            }),
        );
    }

    #[test]
    fn handed_out_paths_route_back_to_their_endpoints() {
        assert_eq!(
            endpoint(&blob_path("ns/app", "sha256:ab")),
            Some(Endpoint::Blob {
                name: "ns/app",
                digest: "sha256:ab"
            })
        );
        assert_eq!(
            endpoint(&manifest_path("ns/app", "v1")),
            Some(Endpoint::Manifest {
                name: "ns/app",
                reference: "v1"
            })
        );
        assert_eq!(
            endpoint(&upload_path("ns/app", "u1")),
            Some(Endpoint::Upload {
                name: "ns/app",
                id: "u1"
            })
        );
        assert_eq!(
            endpoint(&tags_list_path("ns/app")),
            Some(Endpoint::Tags { name: "ns/app" })
        );
        assert_eq!(endpoint(&catalog_path()), Some(Endpoint::Catalog));
        assert_eq!(
            endpoint(&manage_tags_path("ns/app")),
            Some(Endpoint::Manage(Manage::Tags("ns/app")))
        );
        assert_eq!(token_realm("http://h:1"), "http://h:1/token");
    }

    #[test]
    fn names_that_look_like_route_words_still_route() {
        // A repository may itself be called "blobs" or "manifests".
        check(
            Method::GET,
            "/v2/blobs/manifests/latest",
            Ok(Endpoint::Manifest {
                name: "blobs",
                reference: "latest",
            }),
        );
        check(
            Method::GET,
            "/v2/tags/tags/list",
            Ok(Endpoint::Tags { name: "tags" }),
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        check(Method::GET, "/v1/", Err(RouteError::NotFound));
        check(Method::GET, "/v2x", Err(RouteError::NotFound));
        check(Method::GET, "/v2/app", Err(RouteError::NotFound));
        check(Method::GET, "/v2/app/blobs/", Err(RouteError::NotFound));
        check(Method::GET, "/v2//manifests/x", Err(RouteError::NotFound));
        check(Method::GET, "/v2/app/other/x", Err(RouteError::NotFound));
        check(Method::GET, "/tokens", Err(RouteError::NotFound));
        check(
            Method::POST,
            "/v2/app/manifests/x",
            Err(RouteError::MethodNotAllowed {
                allowed: "GET, HEAD, PUT, DELETE",
            }),
        );
        check(
            Method::GET,
            "/v2/app/blobs/uploads/",
            Err(RouteError::MethodNotAllowed { allowed: "POST" }),
        );
    }
}
