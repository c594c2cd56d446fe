//! The base endpoint `/v2/`, unknown paths and wrong methods.

use super::*;

#[test]
fn base_endpoint_unknown_paths_and_wrong_methods() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    for path in ["/v2/", "/v2"] {
        let r = call(&d, "GET", path, &[], b"");
        expect_status(&r, 200);
    }
    let r = call(&d, "HEAD", "/v2/", &[], b"");
    expect_status(&r, 200);

    // Paths that are no endpoint: 404, with the API version header and an error body.
    for path in [
        "/",
        "/v1/",
        "/v2x",
        "/v2/app",
        "/v2/app/blobs/",
        "/v2/app/other/x",
        "/v2//manifests/latest",
    ] {
        // The spec names no code for this; `call` checks the body is a spec error.
        let r = call(&d, "GET", path, &[], b"");
        expect_status(&r, 404);
    }

    // Existing endpoints with a method they do not have: 405 UNSUPPORTED and an Allow header.
    let digest = sha256_digest(b"x");
    let cases = [
        ("POST", "/v2/app/manifests/latest".to_owned(), "PUT"),
        ("PATCH", "/v2/".to_owned(), "GET"),
        ("DELETE", "/v2/_catalog".to_owned(), "GET"),
        ("GET", "/v2/app/blobs/uploads/".to_owned(), "POST"),
        ("PUT", format!("/v2/app/blobs/{digest}"), "DELETE"),
        ("POST", "/v2/app/tags/list".to_owned(), "GET"),
        ("PUT", format!("/v2/app/referrers/{digest}"), "GET"),
        (
            "POST",
            "/v2/app/blobs/uploads/0b0c5a3e-57d3-4c39-9a61-9a4b1c2d3e4f".to_owned(),
            "PATCH",
        ),
    ];
    for (method, path, allowed_example) in cases {
        let r = call(&d, method, &path, &[], b"");
        expect_error(&r, 405, "UNSUPPORTED");
        let allow = r
            .header("Allow")
            .unwrap_or_else(|| panic!("405 without Allow for {method} {path}"));
        assert!(
            allow.split(", ").any(|m| m == allowed_example),
            "{method} {path}: Allow {allow:?}"
        );
        assert!(!allow.split(", ").any(|m| m == method), "Allow {allow:?}");
    }

    // HEAD of every read endpoint family: 200, headers, no body.
    let manifest = push_image(&d, "h/app", "v1", 170, 2);
    let config = push_blob(
        &d,
        "h/app",
        b"{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":170}",
    );
    for path in [
        "/v2/h/app/manifests/v1".to_owned(),
        format!("/v2/h/app/manifests/{manifest}"),
        format!("/v2/h/app/blobs/{config}"),
        "/v2/h/app/tags/list".to_owned(),
        "/v2/_catalog".to_owned(),
        format!("/v2/h/app/referrers/{manifest}"),
    ] {
        let r = call(&d, "HEAD", &path, &[], b"");
        expect_status(&r, 200);
        assert!(r.body.is_empty(), "HEAD {path}");
    }
    d.stop();
}
