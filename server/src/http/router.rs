//! The one route table: method + path → endpoint, with path parts still unvalidated.
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
//! operators (docs/api.md):
//!         GET          /api/v1/admin/stats
//!         GET/POST     /api/v1/admin/gc[?dry_run=true]
//!         GET/POST     /api/v1/admin/scrub
//! ```

use http::Method;

/// What a request addresses. Names, references and digests are raw text here; handlers parse
/// them so that each gets its own spec error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint<'p> {
    Base,
    Catalog,
    Blob { name: &'p str, digest: &'p str },
    Manifest { name: &'p str, reference: &'p str },
    UploadStart { name: &'p str },
    Upload { name: &'p str, id: &'p str },
    Tags { name: &'p str },
    Referrers { name: &'p str, digest: &'p str },
    AdminStats,
    AdminGc,
    AdminScrub,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No endpoint has this path.
    NotFound,
    /// The endpoint exists but not with this method.
    MethodNotAllowed { allowed: &'static str },
}

pub fn route<'p>(method: &Method, path: &'p str) -> Result<Endpoint<'p>, RouteError> {
    let endpoint = endpoint(path).ok_or(RouteError::NotFound)?;
    let allowed: &'static str = match endpoint {
        Endpoint::Base | Endpoint::Catalog | Endpoint::Tags { .. } | Endpoint::Referrers { .. } => {
            "GET, HEAD"
        }
        Endpoint::Blob { .. } => "GET, HEAD, DELETE",
        Endpoint::Manifest { .. } => "GET, HEAD, PUT, DELETE",
        Endpoint::UploadStart { .. } => "POST",
        Endpoint::Upload { .. } => "GET, PATCH, PUT, DELETE",
        Endpoint::AdminStats => "GET",
        Endpoint::AdminGc | Endpoint::AdminScrub => "GET, POST",
    };
    if allowed.split(", ").any(|m| m == method.as_str()) {
        Ok(endpoint)
    } else {
        Err(RouteError::MethodNotAllowed { allowed })
    }
}

fn endpoint(path: &str) -> Option<Endpoint<'_>> {
    if let Some(admin) = path.strip_prefix("/api/v1/admin/") {
        return match admin {
            "stats" => Some(Endpoint::AdminStats),
            "gc" => Some(Endpoint::AdminGc),
            "scrub" => Some(Endpoint::AdminScrub),
            _ => None,
        };
    }
    let rest = path.strip_prefix("/v2")?;
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

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
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
            "/api/v1/admin/stats",
            Err(RouteError::MethodNotAllowed { allowed: "GET" }),
        );
        check(
            Method::GET,
            "/api/v1/admin/other",
            Err(RouteError::NotFound),
        );
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
