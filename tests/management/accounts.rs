//! Who may do what: read-only users, anonymous callers challenged, and no accounts at all with
//! access control off.

use super::*;

/// A user with ReadOnlyAccess reads everything and changes nothing; anonymous callers are
/// challenged.
#[test]
fn read_only_users_read_and_anonymous_callers_are_challenged() {
    let mut d = Daemon::start_with_config(AUTH_TOML);
    let spec = Spec::load();
    let admin = Client::admin(&d, &spec);
    admin.expect("POST", "/api/v1/namespaces", json!({"name": "team"}), 201);
    admin.expect(
        "POST",
        "/api/v1/repositories",
        json!({"namespace": "team", "name": "app"}),
        201,
    );
    push_image(&admin, "team/app", "v1");
    admin.expect(
        "POST",
        "/api/v1/users",
        json!({"name": "reader", "password": "reader-password-1"}),
        201,
    );
    admin.expect(
        "PUT",
        "/api/v1/users/reader/policies/ReadOnlyAccess",
        Value::Null,
        200,
    );

    let reader = Client::basic(&d, &spec, "reader", "reader-password-1");
    for path in [
        "/api/v1/namespaces",
        "/api/v1/namespaces/team",
        "/api/v1/repositories",
        "/api/v1/repositories?namespace=team",
        "/api/v1/repositories/team/app",
        "/api/v1/repositories/team/app/tags",
        "/api/v1/repositories/team/app/manifests/v1",
        "/api/v1/repositories/team/app/layers/v1",
    ] {
        reader.expect("GET", path, Value::Null, 200);
    }
    // cr:GetAuthorizationToken is a cr:Get*.
    reader.expect("POST", "/api/v1/tokens", Value::Null, 201);
    let refused: [(&str, &str, Value); 10] = [
        ("POST", "/api/v1/namespaces", json!({"name": "mine"})),
        (
            "PATCH",
            "/api/v1/namespaces/team",
            json!({"auto_create_repo": false}),
        ),
        ("DELETE", "/api/v1/namespaces/team", Value::Null),
        (
            "POST",
            "/api/v1/repositories",
            json!({"namespace": "team", "name": "new"}),
        ),
        (
            "PATCH",
            "/api/v1/repositories/team/app",
            json!({"summary": "mine"}),
        ),
        ("DELETE", "/api/v1/repositories/team/app", Value::Null),
        (
            "DELETE",
            "/api/v1/repositories/team/app/tags/v1",
            Value::Null,
        ),
        ("GET", "/api/v1/users", Value::Null),
        (
            "POST",
            "/api/v1/policies",
            json!({"name": "p", "document": "{}"}),
        ),
        ("GET", "/api/v1/audit", Value::Null),
    ];
    for (method, path, body) in refused {
        let detail = reader.expect_error(method, path, body, 403, "DENIED");
        assert!(
            detail.contains("is not allowed"),
            "{method} {path}: {detail}"
        );
    }

    let anonymous = Client::anonymous(&d, &spec);
    for (method, path, body) in [
        ("GET", "/api/v1/namespaces", Value::Null),
        ("GET", "/api/v1/repositories/team/app/tags", Value::Null),
        ("POST", "/api/v1/namespaces", json!({"name": "mine"})),
        ("DELETE", "/api/v1/repositories/team/app", Value::Null),
        ("POST", "/api/v1/tokens", Value::Null),
        ("GET", "/api/v1/users", Value::Null),
    ] {
        let r = anonymous.call(method, path, body);
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (401, "UNAUTHORIZED"),
            "{method} {path}"
        );
        let challenge = r.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer realm=\""),
            "{method} {path}: {challenge}"
        );
    }
    let wrong = Client::basic(&d, &spec, "reader", "not-the-password");
    let r = wrong.call("GET", "/api/v1/namespaces", Value::Null);
    assert_eq!(r.status, 401);

    // Nothing changed.
    let repo = admin.expect("GET", "/api/v1/repositories/team/app", Value::Null, 200);
    assert_eq!(repo["summary"], json!(""));
    admin.expect(
        "GET",
        "/api/v1/repositories/team/app/manifests/v1",
        Value::Null,
        200,
    );
    d.stop();
}

/// With access control off every call is allowed, namespaces belong to `admin`, and the
/// account endpoints say there are no accounts. With deletes disabled a tag stays, but a
/// repository or namespace may still be removed.
#[test]
fn without_access_control_there_are_no_accounts() {
    let mut d =
        Daemon::start_with_config("[auth]\nenabled = false\n[registry]\ndelete_enabled = false\n");
    let spec = Spec::load();
    let open = Client::anonymous(&d, &spec);
    let ns = open.expect("POST", "/api/v1/namespaces", json!({"name": "dev"}), 201);
    assert_eq!(ns["owner"], json!("admin"));
    open.expect(
        "POST",
        "/api/v1/repositories",
        json!({"namespace": "dev", "name": "app"}),
        201,
    );
    push_image(&open, "dev/app", "v1");
    let layers = open.expect(
        "GET",
        "/api/v1/repositories/dev/app/layers/v1",
        Value::Null,
        200,
    );
    assert_eq!(layers["layers"].as_array().map(Vec::len), Some(2));
    let detail = open.expect_error(
        "DELETE",
        "/api/v1/repositories/dev/app/tags/v1",
        Value::Null,
        405,
        "UNSUPPORTED",
    );
    assert!(detail.contains("disabled"), "{detail}");
    for (method, path, body) in [
        ("GET", "/api/v1/users", Value::Null),
        (
            "POST",
            "/api/v1/users",
            json!({"name": "u", "password": "long-enough-1"}),
        ),
        ("GET", "/api/v1/policies", Value::Null),
        ("POST", "/api/v1/tokens", Value::Null),
        ("GET", "/api/v1/audit", Value::Null),
    ] {
        let detail = open.expect_error(method, path, body, 404, "UNSUPPORTED");
        assert!(
            detail.contains("access control is off"),
            "{method} {path}: {detail}"
        );
    }
    open.expect(
        "DELETE",
        "/api/v1/namespaces/dev?force=true",
        Value::Null,
        204,
    );
    d.stop();
}
