//! The OpenAPI validator itself, and one walk through every endpoint of the management API
//! with every response checked against the document.

use super::*;

#[test]
fn the_validator_catches_wrong_types_missing_fields_and_undocumented_ones() {
    let spec = Spec::load();
    let namespace = json!({"$ref": "#/components/schemas/Namespace"});
    let good = json!({"name": "team", "owner": "admin", "created_at_ms": 1,
                      "auto_create_repo": true, "default_visibility": "PRIVATE"});
    let check = |value: &Value, schema: &Value| {
        let mut errors = Vec::new();
        validate(&spec.doc, schema, value, "body", &mut errors);
        errors
    };
    assert_eq!(check(&good, &namespace), Vec::<String>::new());
    let mut wrong_type = good.clone();
    wrong_type["created_at_ms"] = json!("1");
    assert_eq!(
        check(&wrong_type, &namespace),
        vec!["body.created_at_ms: expected integer, got \"1\"".to_owned()]
    );
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("owner");
    assert_eq!(
        check(&missing, &namespace),
        vec!["body: required field \"owner\" is missing".to_owned()]
    );
    let mut extra = good.clone();
    extra["password_hash"] = json!("$argon2id$");
    assert_eq!(check(&extra, &namespace).len(), 1);
    let mut bad_enum = good.clone();
    bad_enum["default_visibility"] = json!("public");
    assert_eq!(check(&bad_enum, &namespace).len(), 1);
    let mut null = good;
    null["owner"] = Value::Null;
    assert_eq!(check(&null, &namespace).len(), 1);
    // Nullable fields and nested arrays.
    let tag_page = json!({"$ref": "#/components/schemas/TagPage"});
    let tag = json!({"tag": "v1", "digest": "sha256:00", "image_id": null, "size": 3,
                     "media_type": OCI_INDEX, "pushed_at_ms": 5});
    assert!(check(
        &json!({"repository": "a/b", "tags": [tag], "next": null}),
        &tag_page
    )
    .is_empty());
    let mut bad_tag = tag.clone();
    bad_tag["size"] = json!(-3);
    assert_eq!(
        check(
            &json!({"repository": "a/b", "tags": [bad_tag], "next": null}),
            &tag_page
        )
        .len(),
        1
    );
    // oneOf: a policy document as an object or a string, nothing else.
    let create = json!({"$ref": "#/components/schemas/CreatePolicyRequest"});
    assert!(check(&json!({"name": "p", "document": {"Version": "1"}}), &create).is_empty());
    assert!(check(&json!({"name": "p", "document": "{}"}), &create).is_empty());
    assert_eq!(
        check(&json!({"name": "p", "document": 7}), &create).len(),
        1
    );
    // Templates: the most specific wins, and repository names span segments.
    assert_eq!(
        spec.template("/api/v1/repositories/a/b/c/tags").as_deref(),
        Some("/api/v1/repositories/{repository}/tags")
    );
    assert_eq!(
        spec.template("/api/v1/repositories/a/b/c").as_deref(),
        Some("/api/v1/repositories/{repository}")
    );
    assert_eq!(spec.template("/api/v1/nothing"), None);
}

/// Every endpoint as admin, every response checked against the document, and at the end every
/// documented operation seen succeeding.
#[test]
fn a_walk_through_every_endpoint_matches_the_openapi_document() {
    let mut d = Daemon::start_with_config(AUTH_TOML);
    let spec = Spec::load();
    let admin = Client::admin(&d, &spec);
    let anonymous = Client::anonymous(&d, &spec);

    // The document itself, without credentials, byte for byte.
    let r = anonymous.call("GET", "/api/v1/openapi.json", Value::Null);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, OPENAPI_JSON.as_bytes());

    // Namespaces.
    let ns = admin.expect("POST", "/api/v1/namespaces", json!({"name": "team"}), 201);
    assert_eq!(
        (ns["name"].as_str(), ns["owner"].as_str()),
        (Some("team"), Some("admin"))
    );
    assert_eq!(ns["auto_create_repo"], json!(true));
    assert_eq!(ns["default_visibility"], json!("PRIVATE"));
    admin.expect(
        "POST",
        "/api/v1/namespaces",
        json!({"name": "other", "default_visibility": "PUBLIC", "auto_create_repo": false}),
        201,
    );
    admin.expect_error(
        "POST",
        "/api/v1/namespaces",
        json!({"name": "team"}),
        409,
        "CONFLICT",
    );
    admin.expect_error(
        "POST",
        "/api/v1/namespaces",
        json!({"name": "Not_Valid!"}),
        400,
        "NAME_INVALID",
    );
    let detail = admin.expect_error(
        "POST",
        "/api/v1/namespaces",
        json!({"name": "x", "colour": 1}),
        400,
        "UNSUPPORTED",
    );
    assert!(detail.contains("colour"), "{detail}");
    admin.expect_error(
        "POST",
        "/api/v1/namespaces",
        json!({"name": "x", "default_visibility": "public"}),
        400,
        "UNSUPPORTED",
    );
    let list = admin.expect("GET", "/api/v1/namespaces", Value::Null, 200);
    let names: Vec<&str> = list["namespaces"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, ["other", "team"]);
    assert_eq!(
        admin.expect("GET", "/api/v1/namespaces/team", Value::Null, 200),
        ns
    );
    admin.expect_error(
        "GET",
        "/api/v1/namespaces/ghost",
        Value::Null,
        404,
        "NAME_UNKNOWN",
    );
    let patched = admin.expect(
        "PATCH",
        "/api/v1/namespaces/team",
        json!({"default_visibility": "PUBLIC"}),
        200,
    );
    assert_eq!(patched["default_visibility"], json!("PUBLIC"));
    assert_eq!(
        patched["auto_create_repo"],
        json!(true),
        "fields left out keep their value"
    );

    // Repositories.
    let app = admin.expect(
        "POST",
        "/api/v1/repositories",
        json!({"namespace": "team", "name": "app", "summary": "the app"}),
        201,
    );
    assert_eq!(app["name"], json!("team/app"));
    assert_eq!(app["namespace"], json!("team"));
    assert_eq!(
        app["visibility"],
        json!("PUBLIC"),
        "the namespace's default visibility"
    );
    let cli = admin.expect(
        "POST",
        "/api/v1/repositories",
        json!({"namespace": "team", "name": "tools/cli", "visibility": "PRIVATE"}),
        201,
    );
    assert_eq!(cli["name"], json!("team/tools/cli"));
    assert_eq!(cli["summary"], json!(""));
    admin.expect_error(
        "POST",
        "/api/v1/repositories",
        json!({"namespace": "team", "name": "app"}),
        409,
        "CONFLICT",
    );
    admin.expect_error(
        "POST",
        "/api/v1/repositories",
        json!({"namespace": "ghost", "name": "app"}),
        404,
        "NAME_UNKNOWN",
    );
    admin.expect_error(
        "POST",
        "/api/v1/repositories",
        json!({"namespace": "team", "name": "UPPER"}),
        400,
        "NAME_INVALID",
    );
    let all = admin.expect("GET", "/api/v1/repositories", Value::Null, 200);
    assert_eq!(all["repositories"].as_array().map(Vec::len), Some(2));
    let in_other = admin.expect(
        "GET",
        "/api/v1/repositories?namespace=other",
        Value::Null,
        200,
    );
    assert_eq!(in_other["repositories"], json!([]));
    assert_eq!(
        admin.expect(
            "GET",
            "/api/v1/repositories/team/tools/cli",
            Value::Null,
            200
        ),
        cli
    );
    admin.expect_error(
        "GET",
        "/api/v1/repositories/team/ghost",
        Value::Null,
        404,
        "NAME_UNKNOWN",
    );
    let updated = admin.expect(
        "PATCH",
        "/api/v1/repositories/team/app",
        json!({"summary": "the new app", "visibility": "PRIVATE"}),
        200,
    );
    assert_eq!(
        (updated["summary"].as_str(), updated["visibility"].as_str()),
        (Some("the new app"), Some("PRIVATE"))
    );

    // Tags, manifests, layers of a pushed image and an index over it.
    let image = push_image(&admin, "team/app", "v1");
    admin.push_manifest("team/app", "latest", OCI_MANIFEST, &image.manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST,
                       "digest": image.manifest_digest,
                       "size": image.manifest_len,
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .expect("json");
    let index_digest = admin.push_manifest("team/app", "multi", OCI_INDEX, &index);

    let page = admin.expect(
        "GET",
        "/api/v1/repositories/team/app/tags",
        Value::Null,
        200,
    );
    assert_eq!(page["repository"], json!("team/app"));
    assert_eq!(page["next"], Value::Null);
    let tags = page["tags"].as_array().expect("tags");
    let names: Vec<&str> = tags.iter().filter_map(|t| t["tag"].as_str()).collect();
    assert_eq!(names, ["latest", "multi", "v1"]);
    let v1 = &tags[2];
    assert_eq!(v1["digest"].as_str(), Some(image.manifest_digest.as_str()));
    assert_eq!(v1["image_id"].as_str(), Some(image.config_digest.as_str()));
    assert_eq!(v1["size"].as_u64(), Some(image.size));
    assert_eq!(v1["media_type"].as_str(), Some(OCI_MANIFEST));
    assert!(v1["pushed_at_ms"]
        .as_u64()
        .is_some_and(|t| t > 1_600_000_000_000));
    let multi = &tags[1];
    assert_eq!(multi["digest"].as_str(), Some(index_digest.as_str()));
    assert_eq!(multi["image_id"], Value::Null, "an index has no image id");
    assert_eq!(
        multi["size"].as_u64(),
        Some(index.len() as u64 + image.size)
    );
    assert_eq!(tags[0]["digest"], v1["digest"]);

    let first = admin.call("GET", "/api/v1/repositories/team/app/tags?n=2", Value::Null);
    assert_eq!(first.status, 200);
    let first_page = first.json();
    assert_eq!(first_page["tags"].as_array().map(Vec::len), Some(2));
    assert_eq!(first_page["next"], json!("multi"));
    assert_eq!(
        first.header("link"),
        Some("</api/v1/repositories/team/app/tags?n=2&last=multi>; rel=\"next\"")
    );
    let rest = admin.expect(
        "GET",
        "/api/v1/repositories/team/app/tags?n=2&last=multi",
        Value::Null,
        200,
    );
    assert_eq!(rest["tags"][0]["tag"], json!("v1"));
    assert_eq!(rest["next"], Value::Null);
    admin.expect_error(
        "GET",
        "/api/v1/repositories/team/app/tags?n=lots",
        Value::Null,
        400,
        "UNSUPPORTED",
    );
    admin.expect_error(
        "GET",
        "/api/v1/repositories/team/ghost/tags",
        Value::Null,
        404,
        "NAME_UNKNOWN",
    );

    let by_tag = admin.expect(
        "GET",
        "/api/v1/repositories/team/app/manifests/v1",
        Value::Null,
        200,
    );
    assert_eq!(
        by_tag["digest"].as_str(),
        Some(image.manifest_digest.as_str())
    );
    assert_eq!(by_tag["media_type"].as_str(), Some(OCI_MANIFEST));
    assert_eq!(by_tag["size"].as_u64(), Some(image.manifest_len));
    assert_eq!(
        by_tag["manifest"]["config"]["digest"].as_str(),
        Some(image.config_digest.as_str())
    );
    let by_digest = admin.expect(
        "GET",
        &format!(
            "/api/v1/repositories/team/app/manifests/{}",
            image.manifest_digest
        ),
        Value::Null,
        200,
    );
    assert_eq!(by_digest, by_tag);
    let index_view = admin.expect(
        "GET",
        "/api/v1/repositories/team/app/manifests/multi",
        Value::Null,
        200,
    );
    assert_eq!(
        index_view["manifest"]["manifests"][0]["digest"].as_str(),
        Some(image.manifest_digest.as_str())
    );
    admin.expect_error(
        "GET",
        "/api/v1/repositories/team/app/manifests/nope",
        Value::Null,
        404,
        "MANIFEST_UNKNOWN",
    );
    admin.expect_error(
        "GET",
        "/api/v1/repositories/team/app/manifests/sha256:zz",
        Value::Null,
        400,
        "DIGEST_INVALID",
    );

    let layers = admin.expect(
        "GET",
        "/api/v1/repositories/team/app/layers/v1",
        Value::Null,
        200,
    );
    assert_eq!(
        layers["digest"].as_str(),
        Some(image.manifest_digest.as_str())
    );
    let layers = layers["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2);
    for (layer, digest) in layers.iter().zip(&image.layer_digests) {
        assert_eq!(layer["digest"].as_str(), Some(digest.as_str()));
        assert_eq!(layer["media_type"].as_str(), Some(OCI_LAYER));
    }
    assert_eq!(layers[0]["size"].as_u64(), Some(1500));
    // The ENV entry made no layer: the second layer is the third history entry's.
    assert_eq!(
        layers[0]["created_by"],
        json!("/bin/sh -c #(nop) ADD file:rootfs in /")
    );
    assert_eq!(layers[0]["created"], json!("2024-01-01T00:00:00Z"));
    assert_eq!(layers[1]["created_by"], json!("/bin/sh -c make install"));
    assert_eq!(layers[1]["created"], json!("2024-01-01T00:00:02Z"));
    admin.expect_error(
        "GET",
        "/api/v1/repositories/team/app/layers/multi",
        Value::Null,
        400,
        "UNSUPPORTED",
    );

    admin.expect(
        "DELETE",
        "/api/v1/repositories/team/app/tags/latest",
        Value::Null,
        204,
    );
    admin.expect_error(
        "DELETE",
        "/api/v1/repositories/team/app/tags/latest",
        Value::Null,
        404,
        "MANIFEST_UNKNOWN",
    );
    let page = admin.expect(
        "GET",
        "/api/v1/repositories/team/app/tags",
        Value::Null,
        200,
    );
    assert_eq!(page["tags"].as_array().map(Vec::len), Some(2));
    admin.expect(
        "GET",
        &format!(
            "/api/v1/repositories/team/app/manifests/{}",
            image.manifest_digest
        ),
        Value::Null,
        200,
    );

    // A namespace holding repositories goes only when forced.
    let detail = admin.expect_error(
        "DELETE",
        "/api/v1/namespaces/team",
        Value::Null,
        409,
        "CONFLICT",
    );
    assert!(detail.contains("team"), "{detail}");
    admin.expect(
        "DELETE",
        "/api/v1/repositories/team/tools/cli",
        Value::Null,
        204,
    );
    admin.expect_error(
        "GET",
        "/api/v1/repositories/team/tools/cli",
        Value::Null,
        404,
        "NAME_UNKNOWN",
    );
    admin.expect_error(
        "DELETE",
        "/api/v1/namespaces/team?force=maybe",
        Value::Null,
        400,
        "UNSUPPORTED",
    );

    // Temporary credentials act as the account, and cannot issue more.
    let credentials = admin.expect("POST", "/api/v1/tokens", Value::Null, 201);
    let username = credentials["username"].as_str().expect("username");
    assert!(username.starts_with("tmp-"), "{username}");
    assert!(credentials["expires_at_ms"]
        .as_u64()
        .is_some_and(|t| t > 1_600_000_000_000));
    let temporary = Client::basic(
        &d,
        &spec,
        username,
        credentials["password"].as_str().expect("password"),
    );
    temporary.expect("GET", "/api/v1/namespaces/team", Value::Null, 200);
    temporary.expect_error("POST", "/api/v1/tokens", Value::Null, 403, "DENIED");

    // Users.
    let user = admin.expect(
        "POST",
        "/api/v1/users",
        json!({"name": "reader", "password": "reader-password-1"}),
        201,
    );
    assert_eq!(user["name"], json!("reader"));
    assert_eq!(user["policies"], json!([]));
    admin.expect_error(
        "POST",
        "/api/v1/users",
        json!({"name": "reader", "password": "reader-password-1"}),
        409,
        "CONFLICT",
    );
    let detail = admin.expect_error(
        "POST",
        "/api/v1/users",
        json!({"name": "shorty", "password": "short"}),
        400,
        "UNSUPPORTED",
    );
    assert!(detail.contains("password"), "{detail}");
    admin.expect_error(
        "POST",
        "/api/v1/users",
        json!({"name": "Bad Name", "password": "long-enough-1"}),
        400,
        "NAME_INVALID",
    );
    admin.expect_error(
        "POST",
        "/api/v1/users",
        json!({"name": "admin", "password": "long-enough-1"}),
        409,
        "CONFLICT",
    );
    let r = admin.call("GET", "/api/v1/users", Value::Null);
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
    let users: Vec<String> = r.json()["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(users, ["admin", "reader"]);
    admin.expect(
        "PUT",
        "/api/v1/users/reader/password",
        json!({"password": "reader-password-2"}),
        204,
    );
    admin.expect_error(
        "PUT",
        "/api/v1/users/ghost/password",
        json!({"password": "reader-password-2"}),
        404,
        "NAME_UNKNOWN",
    );
    admin.expect_error(
        "PUT",
        "/api/v1/users/admin/password",
        json!({"password": "another-password"}),
        409,
        "CONFLICT",
    );
    Client::basic(&d, &spec, "reader", "reader-password-2").expect_error(
        "GET",
        "/api/v1/users",
        Value::Null,
        403,
        "DENIED",
    );

    // Policies.
    let builtins = admin.expect("GET", "/api/v1/policies", Value::Null, 200);
    let names: Vec<&str> = builtins["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["FullAccess", "ReadOnlyAccess", "AdministratorAccess"]
    );
    let document = json!({"Version": "1", "Statement": [{
        "Effect": "Allow",
        "Action": ["cr:Get*", "cr:List*"],
        "Resource": ["acs:cr:*:*:repository/team/*"],
    }]});
    let policy = admin.expect(
        "POST",
        "/api/v1/policies",
        json!({"name": "team-read", "document": document}),
        201,
    );
    assert_eq!(policy["builtin"], json!(false));
    assert_eq!(policy["document"], document);
    let as_text = admin.expect(
        "POST",
        "/api/v1/policies",
        json!({"name": "team-read-text", "document": document.to_string()}),
        201,
    );
    assert_eq!(as_text["document"], document);
    let invalid = json!({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "cr:*", "Resource": "*"},
        {"Effect": "allow", "Action": "cr:*", "Resource": "*"},
    ]});
    let detail = admin.expect_error(
        "POST",
        "/api/v1/policies",
        json!({"name": "broken", "document": invalid}),
        400,
        "UNSUPPORTED",
    );
    assert!(
        detail.contains("Statement[1].Effect"),
        "the error names the field: {detail}"
    );
    assert!(detail.contains("\"allow\""), "{detail}");
    admin.expect_error(
        "POST",
        "/api/v1/policies",
        json!({"name": "broken", "document": 7}),
        400,
        "UNSUPPORTED",
    );
    admin.expect_error(
        "POST",
        "/api/v1/policies",
        json!({"name": "FullAccess", "document": document}),
        409,
        "CONFLICT",
    );
    let widened = json!({"Version": "1", "Statement": [{
        "Effect": "Allow",
        "Action": "cr:*",
        "Resource": "acs:cr:*:*:repository/team/*",
    }]});
    let replaced = admin.expect(
        "PUT",
        "/api/v1/policies/team-read",
        json!({"document": widened}),
        200,
    );
    assert_eq!(replaced["document"], widened);
    admin.expect_error(
        "PUT",
        "/api/v1/policies/ghost",
        json!({"document": widened}),
        404,
        "NAME_UNKNOWN",
    );
    let detail = admin.expect_error(
        "PUT",
        "/api/v1/policies/team-read",
        json!({"document": {"Version": "2", "Statement": []}}),
        400,
        "UNSUPPORTED",
    );
    assert!(detail.contains("Version"), "{detail}");

    // Attachments.
    let attached = admin.expect(
        "PUT",
        "/api/v1/users/reader/policies/team-read",
        Value::Null,
        200,
    );
    assert_eq!(attached["policies"], json!(["team-read"]));
    let attached = admin.expect(
        "PUT",
        "/api/v1/users/reader/policies/ReadOnlyAccess",
        Value::Null,
        200,
    );
    assert_eq!(attached["policies"], json!(["team-read", "ReadOnlyAccess"]));
    admin.expect_error(
        "PUT",
        "/api/v1/users/reader/policies/ghost",
        Value::Null,
        404,
        "NAME_UNKNOWN",
    );
    let detail = admin.expect_error(
        "DELETE",
        "/api/v1/policies/team-read",
        Value::Null,
        409,
        "CONFLICT",
    );
    assert!(detail.contains("reader"), "{detail}");
    let detached = admin.expect(
        "DELETE",
        "/api/v1/users/reader/policies/team-read",
        Value::Null,
        200,
    );
    assert_eq!(detached["policies"], json!(["ReadOnlyAccess"]));
    admin.expect_error(
        "DELETE",
        "/api/v1/users/admin/policies/AdministratorAccess",
        Value::Null,
        409,
        "CONFLICT",
    );
    admin.expect("DELETE", "/api/v1/policies/team-read", Value::Null, 204);
    admin.expect(
        "DELETE",
        "/api/v1/policies/team-read-text",
        Value::Null,
        204,
    );
    admin.expect_error(
        "DELETE",
        "/api/v1/policies/team-read",
        Value::Null,
        404,
        "NAME_UNKNOWN",
    );
    admin.expect("DELETE", "/api/v1/users/reader", Value::Null, 204);
    admin.expect_error(
        "DELETE",
        "/api/v1/users/reader",
        Value::Null,
        404,
        "NAME_UNKNOWN",
    );
    admin.expect_error(
        "DELETE",
        "/api/v1/users/admin",
        Value::Null,
        409,
        "CONFLICT",
    );

    // Unknown paths and methods.
    admin.expect_error("GET", "/api/v1/nothing", Value::Null, 404, "UNSUPPORTED");
    let r = admin.call("PUT", "/api/v1/namespaces", json!({}));
    assert_eq!((r.status, r.error_code().as_str()), (405, "UNSUPPORTED"));
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let r = admin.call("GET", "/api/v1/tokens", Value::Null);
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));

    // The audit log: the trail is written in batches, so wait for this walk's changes to
    // reach it. Whatever it holds is checked against the document.
    let audit = wait_for(
        "the audit trail to record this walk's changes",
        Duration::from_secs(10),
        || {
            let audit = admin.expect("GET", "/api/v1/audit?limit=1000", Value::Null, 200);
            audit["records"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
                .then_some(audit)
        },
    );
    let records = audit["records"].as_array().expect("records");
    eprintln!("audit log: {} records", records.len());
    if let Some(first) = records.first() {
        let at_ms = first["at_ms"].as_u64().expect("at_ms");
        let one = admin.expect(
            "GET",
            &format!("/api/v1/audit?since_ms={at_ms}&limit=1"),
            Value::Null,
            200,
        );
        assert_eq!(one["records"].as_array().map(Vec::len), Some(1));
        if records.len() > 1 {
            let next = one["next"].as_str().expect("a cursor when more may follow");
            admin.expect(
                "GET",
                &format!("/api/v1/audit?after={next}&limit=1"),
                Value::Null,
                200,
            );
        }
        let empty = admin.expect(
            "GET",
            "/api/v1/audit?account=nobody-at-all",
            Value::Null,
            200,
        );
        assert_eq!(empty["records"], json!([]));
    }
    admin.expect_error(
        "GET",
        "/api/v1/audit?limit=many",
        Value::Null,
        400,
        "UNSUPPORTED",
    );
    admin.expect_error(
        "GET",
        "/api/v1/audit?after=not-a-cursor",
        Value::Null,
        400,
        "UNSUPPORTED",
    );

    // Forced deletes, last: everything goes.
    admin.expect("DELETE", "/api/v1/repositories/team/app", Value::Null, 204);
    push_image(&admin, "team/again", "v1");
    admin.expect(
        "DELETE",
        "/api/v1/namespaces/team?force=true",
        Value::Null,
        204,
    );
    admin.expect_error(
        "GET",
        "/api/v1/namespaces/team",
        Value::Null,
        404,
        "NAME_UNKNOWN",
    );
    let left = admin.expect("GET", "/api/v1/repositories", Value::Null, 200);
    assert_eq!(left["repositories"], json!([]));
    admin.expect("DELETE", "/api/v1/namespaces/other", Value::Null, 204);

    let missing: Vec<String> = spec
        .operations()
        .difference(&spec.succeeded.borrow())
        // Triggers need a receiver; `triggers.rs` walks them with the same check.
        .filter(|(path, _)| !path.contains("/triggers"))
        .map(|(path, method)| format!("{method} {path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "documented operations the walk never saw succeed: {missing:?}"
    );
    d.stop();
}
