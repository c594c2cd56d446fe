//! Manifests: OCI and Docker images, indexes and manifest lists, artifacts, push errors, the
//! size limit, reads by tag and digest, deletes.

use super::*;

#[test]
fn oci_image_manifest_push_pull_head_by_tag_and_digest() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let repo = "lib/app";
    let manifest = image(&d, repo, 20, 3, Format::Oci);
    let r = put_manifest(&d, repo, "v1", OCI_MANIFEST, &manifest);
    let digest = expect_manifest_created(&r, repo, &manifest);
    // The Location is a pullable manifest URL.
    let r = call(&d, "GET", &location(&r), &[], b"");
    expect_status(&r, 200);
    assert!(r.body == manifest);

    expect_manifest(&d, repo, "v1", OCI_MANIFEST, &manifest);
    expect_manifest(&d, repo, &digest, OCI_MANIFEST, &manifest);

    // Pushing by digest: same answer; a second tag for the same bytes: same digest.
    assert_eq!(push(&d, repo, &digest, OCI_MANIFEST, &manifest), digest);
    assert_eq!(push(&d, repo, "stable", OCI_MANIFEST, &manifest), digest);
    expect_manifest(&d, repo, "stable", OCI_MANIFEST, &manifest);

    // Re-pointing a tag: the tag follows, the old manifest stays pullable by digest.
    let manifest2 = image(&d, repo, 21, 1, Format::Oci);
    let digest2 = push(&d, repo, "v1", OCI_MANIFEST, &manifest2);
    assert_ne!(digest, digest2);
    expect_manifest(&d, repo, "v1", OCI_MANIFEST, &manifest2);
    expect_manifest(&d, repo, &digest, OCI_MANIFEST, &manifest);
    expect_manifest(&d, repo, "stable", OCI_MANIFEST, &manifest);

    // No Content-Type: the body's mediaType decides, and is what GET says.
    let manifest3 = image(&d, repo, 22, 2, Format::Oci);
    let r = call(
        &d,
        "PUT",
        &format!("/v2/{repo}/manifests/untyped"),
        &[],
        &manifest3,
    );
    expect_manifest_created(&r, repo, &manifest3);
    expect_manifest(&d, repo, "untyped", OCI_MANIFEST, &manifest3);
    // Content-Type with parameters and other case is the same media type.
    let manifest4 = image(&d, repo, 23, 2, Format::Oci);
    let r = put_manifest(
        &d,
        repo,
        "params",
        "Application/VND.oci.image.manifest.v1+json; charset=utf-8",
        &manifest4,
    );
    expect_manifest_created(&r, repo, &manifest4);
    expect_manifest(&d, repo, "params", OCI_MANIFEST, &manifest4);
    // A manifest with no layers at all is valid (the list of blobs MAY be empty).
    let config = push_blob(&d, repo, b"{\"config\":\"only\"}");
    let bare = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config, 17),
        "layers": [],
    }));
    push(&d, repo, "bare", OCI_MANIFEST, &bare);
    expect_manifest(&d, repo, "bare", OCI_MANIFEST, &bare);

    let mut expected = vec!["bare", "params", "stable", "untyped", "v1"];
    expected.sort();
    assert_eq!(tags(&d, repo), expected);

    // Manifests are scoped to their repository.
    push_blob(&d, "other", b"other repo");
    let r = call(
        &d,
        "GET",
        &format!("/v2/other/manifests/{digest}"),
        &[],
        b"",
    );
    expect_error(&r, 404, "MANIFEST_UNKNOWN");
    let r = call(&d, "GET", "/v2/other/manifests/v1", &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");
    d.stop();
}

#[test]
fn docker_schema2_manifest_and_manifest_list() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let repo = "docker/img";
    let amd64 = image(&d, repo, 30, 2, Format::Docker);
    let arm64 = image(&d, repo, 31, 1, Format::Docker);
    let amd64_digest = push(&d, repo, &sha256_digest(&amd64), DOCKER_MANIFEST, &amd64);
    let arm64_digest = push(&d, repo, "arm64", DOCKER_MANIFEST, &arm64);
    expect_manifest(&d, repo, &amd64_digest, DOCKER_MANIFEST, &amd64);
    expect_manifest(&d, repo, "arm64", DOCKER_MANIFEST, &arm64);

    let list = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": amd64_digest,
                "size": amd64.len(),
                "platform": { "architecture": "amd64", "os": "linux" },
            },
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": arm64_digest,
                "size": arm64.len(),
                "platform": { "architecture": "arm64", "os": "linux", "variant": "v8" },
            },
        ],
    }));
    let r = put_manifest(&d, repo, "latest", DOCKER_LIST, &list);
    let list_digest = expect_manifest_created(&r, repo, &list);
    assert!(
        r.header("OCI-Subject").is_none(),
        "no subject, no OCI-Subject"
    );
    expect_manifest(&d, repo, "latest", DOCKER_LIST, &list);
    expect_manifest(&d, repo, &list_digest, DOCKER_LIST, &list);

    // Docker schema 2 has no subject: a `subject` field in a Docker manifest is ignored, so no
    // OCI-Subject header and no referrer entry.
    let mut with_subject: Value =
        serde_json::from_slice(&image(&d, repo, 32, 1, Format::Docker)).expect("json");
    with_subject["subject"] = descriptor(DOCKER_MANIFEST, &amd64_digest, amd64.len());
    let with_subject = manifest_bytes(&with_subject);
    let r = put_manifest(&d, repo, "subj", DOCKER_MANIFEST, &with_subject);
    expect_manifest_created(&r, repo, &with_subject);
    assert!(r.header("OCI-Subject").is_none());
    let (_, listed) = referrers(&d, repo, &amd64_digest, "");
    assert!(listed.is_empty(), "{listed:?}");

    // A Docker manifest without its mandatory mediaType is invalid.
    let mut untyped: Value = serde_json::from_slice(&arm64).expect("json");
    untyped.as_object_mut().expect("object").remove("mediaType");
    let r = put_manifest(
        &d,
        repo,
        "untyped",
        DOCKER_MANIFEST,
        &manifest_bytes(&untyped),
    );
    expect_error(&r, 400, "MANIFEST_INVALID");
    d.stop();
}

#[test]
fn oci_index_and_artifact_with_the_empty_config() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let repo = "oci/multi";
    let a = image(&d, repo, 40, 1, Format::Oci);
    let b = image(&d, repo, 41, 2, Format::Oci);
    let a_digest = push(&d, repo, &sha256_digest(&a), OCI_MANIFEST, &a);
    let b_digest = push(&d, repo, &sha256_digest(&b), OCI_MANIFEST, &b);
    let index = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST, "digest": a_digest, "size": a.len(),
                "platform": { "architecture": "amd64", "os": "linux" },
            },
            {
                "mediaType": OCI_MANIFEST, "digest": b_digest, "size": b.len(),
                "platform": { "architecture": "arm64", "os": "linux" },
            },
        ],
        "annotations": { "org.opencontainers.image.ref.name": "multi" },
    }));
    let index_digest = push(&d, repo, "multi", OCI_INDEX, &index);
    expect_manifest(&d, repo, "multi", OCI_INDEX, &index);
    expect_manifest(&d, repo, &index_digest, OCI_INDEX, &index);
    // An index of indexes.
    let nested = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{ "mediaType": OCI_INDEX, "digest": index_digest, "size": index.len() }],
    }));
    push(&d, repo, "nested", OCI_INDEX, &nested);
    expect_manifest(&d, repo, "nested", OCI_INDEX, &nested);

    // The empty blob `{}` has the well-known digest.
    let empty = push_blob(&d, repo, b"{}");
    assert_eq!(empty, OCI_EMPTY_DIGEST);
    let r = call(&d, "HEAD", &format!("/v2/{repo}/blobs/{empty}"), &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.header("Content-Length"), Some("2"));

    // An artifact: artifactType, empty config, the empty descriptor as its only layer.
    let artifact = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.thing.v1",
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2),
        "layers": [descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2)],
        "annotations": { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
    }));
    let r = put_manifest(&d, repo, "artifact", OCI_MANIFEST, &artifact);
    expect_manifest_created(&r, repo, &artifact);
    assert!(r.header("OCI-Subject").is_none());
    expect_manifest(&d, repo, "artifact", OCI_MANIFEST, &artifact);

    // An artifact with a real payload.
    let payload = b"artifact payload bytes";
    let payload_digest = push_blob(&d, repo, payload);
    let artifact2 = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.other.v1",
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2),
        "layers": [descriptor("application/vnd.example.payload", &payload_digest, payload.len())],
    }));
    push(&d, repo, "artifact2", OCI_MANIFEST, &artifact2);
    expect_manifest(&d, repo, "artifact2", OCI_MANIFEST, &artifact2);
    assert_eq!(
        tags(&d, repo),
        vec!["artifact", "artifact2", "multi", "nested"]
    );
    d.stop();
}

#[test]
fn manifest_push_errors() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let repo = "bad/pushes";
    let good = image(&d, repo, 50, 2, Format::Oci);
    let good_json: Value = serde_json::from_slice(&good).expect("json");

    // PUT by a digest the bytes do not have: 400 DIGEST_INVALID, nothing stored.
    let wrong = sha256_digest(b"other bytes");
    let r = put_manifest(&d, repo, &wrong, OCI_MANIFEST, &good);
    expect_error(&r, 400, "DIGEST_INVALID");
    for reference in [wrong.as_str(), &sha256_digest(&good)] {
        let r = call(
            &d,
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[],
            b"",
        );
        expect_error(&r, 404, "MANIFEST_UNKNOWN");
    }
    // A malformed digest as the reference.
    let r = put_manifest(&d, repo, "sha256:abc", OCI_MANIFEST, &good);
    expect_error(&r, 400, "DIGEST_INVALID");

    // Referenced blobs that the repository lacks: layer, config, or a blob that only another
    // repository has. Nothing is tagged.
    let elsewhere = push_blob(&d, "elsewhere", b"only in another repo");
    let missing = sha256_digest(b"never pushed layer");
    let mut missing_layer = good_json.clone();
    missing_layer["layers"][1] = descriptor(OCI_LAYER, &missing, 18);
    let mut missing_config = good_json.clone();
    missing_config["config"] = descriptor(OCI_CONFIG, &missing, 18);
    let mut other_repo_layer = good_json.clone();
    other_repo_layer["layers"][0] = descriptor(OCI_LAYER, &elsewhere, 20);
    for (case, doc) in [
        ("missing layer", missing_layer),
        ("missing config", missing_config),
        ("blob of another repository", other_repo_layer),
    ] {
        let r = put_manifest(&d, repo, "broken", OCI_MANIFEST, &manifest_bytes(&doc));
        assert_eq!(r.status, 400, "{case}: {}", text(&r));
        assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN", "{case}");
    }
    let r = call(&d, "GET", &format!("/v2/{repo}/manifests/broken"), &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");

    // A descriptor whose size is not the stored blob's.
    let mut bad_size = good_json.clone();
    let real = bad_size["layers"][0]["size"].as_u64().expect("size");
    bad_size["layers"][0]["size"] = json!(real + 1);
    let r = put_manifest(
        &d,
        repo,
        "badsize",
        OCI_MANIFEST,
        &manifest_bytes(&bad_size),
    );
    expect_error(&r, 400, "MANIFEST_INVALID");
    let mut bad_config_size = good_json.clone();
    bad_config_size["config"]["size"] = json!(1);
    let r = put_manifest(
        &d,
        repo,
        "badsize",
        OCI_MANIFEST,
        &manifest_bytes(&bad_config_size),
    );
    expect_error(&r, 400, "MANIFEST_INVALID");

    // An index whose child manifest the repository does not hold: 400 MANIFEST_UNKNOWN.
    let index = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &sha256_digest(&good), good.len())],
    }));
    let r = put_manifest(&d, repo, "index", OCI_INDEX, &index);
    expect_error(&r, 400, "MANIFEST_UNKNOWN");

    // A child that is a blob of the repository, not a manifest, is still an unknown manifest.
    let layer_digest = good_json["layers"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let blob_as_child = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &layer_digest, 1000)],
    }));
    let r = put_manifest(&d, repo, "index", OCI_INDEX, &blob_as_child);
    expect_error(&r, 400, "MANIFEST_UNKNOWN");

    // Documents that are not valid manifests: 400 MANIFEST_INVALID.
    let mut v1 = good_json.clone();
    v1["schemaVersion"] = json!(1);
    let mut no_version = good_json.clone();
    no_version
        .as_object_mut()
        .expect("object")
        .remove("schemaVersion");
    let mut no_config = good_json.clone();
    no_config.as_object_mut().expect("object").remove("config");
    let mut bad_descriptor_digest = good_json.clone();
    bad_descriptor_digest["layers"][0]["digest"] = json!("sha256:nothex");
    let mut negative_size = good_json.clone();
    negative_size["layers"][0]["size"] = json!(-1);
    let mut bad_subject = good_json.clone();
    bad_subject["subject"] = json!({ "mediaType": OCI_MANIFEST, "digest": "sha256:zz", "size": 1 });
    let mut bad_artifact_type = good_json.clone();
    bad_artifact_type["artifactType"] = json!("not a media type");
    let mut unknown_type = good_json.clone();
    unknown_type["mediaType"] = json!("application/vnd.example.not-a-manifest+json");
    let invalid: Vec<(&str, &str, Vec<u8>)> = vec![
        ("not JSON", OCI_MANIFEST, b"{ this is not json".to_vec()),
        ("empty body", OCI_MANIFEST, Vec::new()),
        ("a JSON array", OCI_MANIFEST, b"[2]".to_vec()),
        ("schemaVersion 1", OCI_MANIFEST, manifest_bytes(&v1)),
        (
            "no schemaVersion",
            OCI_MANIFEST,
            manifest_bytes(&no_version),
        ),
        ("no config", OCI_MANIFEST, manifest_bytes(&no_config)),
        (
            "bad layer digest",
            OCI_MANIFEST,
            manifest_bytes(&bad_descriptor_digest),
        ),
        (
            "negative size",
            OCI_MANIFEST,
            manifest_bytes(&negative_size),
        ),
        (
            "malformed subject digest",
            OCI_MANIFEST,
            manifest_bytes(&bad_subject),
        ),
        (
            "invalid artifactType",
            OCI_MANIFEST,
            manifest_bytes(&bad_artifact_type),
        ),
        (
            "unknown mediaType",
            OCI_MANIFEST,
            manifest_bytes(&unknown_type),
        ),
        // Content-Type says index, the body's mediaType says image manifest.
        ("Content-Type vs mediaType", OCI_INDEX, good.clone()),
        ("Docker type vs OCI body", DOCKER_MANIFEST, good.clone()),
    ];
    for (case, content_type, body) in invalid {
        let r = put_manifest(&d, repo, "invalid", content_type, &body);
        assert_eq!(r.status, 400, "{case}: {}", text(&r));
        assert_eq!(r.error_code(), "MANIFEST_INVALID", "{case}");
    }

    // Invalid tags: 400 (too long, bad first character).
    for tag in ["-lead".to_owned(), ".dot".to_owned(), "t".repeat(129)] {
        let r = put_manifest(&d, repo, &tag, OCI_MANIFEST, &good);
        expect_error(&r, 400, "MANIFEST_INVALID");
    }
    // The longest valid tag works.
    let longest = format!("_{}", "t".repeat(127));
    push(&d, repo, &longest, OCI_MANIFEST, &good);

    // After all that, only the good push is there.
    assert_eq!(tags(&d, repo), vec![longest]);
    d.stop();
}

#[test]
fn manifest_size_limit_is_4_mib() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let repo = "big";
    let base: Value = serde_json::from_slice(&image(&d, repo, 60, 1, Format::Oci)).expect("json");
    let limit = 4 << 20;
    // Pads the manifest with an annotation to exactly `size` bytes.
    let padded = |size: usize| -> Vec<u8> {
        let mut doc = base.clone();
        doc["annotations"] = json!({ "pad": "" });
        let overhead = serde_json::to_vec(&doc).expect("json").len();
        doc["annotations"]["pad"] = json!("p".repeat(size - overhead));
        let bytes = serde_json::to_vec(&doc).expect("json");
        assert_eq!(bytes.len(), size);
        bytes
    };

    // Exactly at the limit: accepted and read back whole.
    let at_limit = padded(limit);
    let digest = push(&d, repo, "at-limit", OCI_MANIFEST, &at_limit);
    expect_manifest(&d, repo, &digest, OCI_MANIFEST, &at_limit);

    // One byte over: 413 (with Content-Length known up front, and streamed without it).
    let over = padded(limit + 1);
    let r = call_raw_early_answer(
        &d,
        "PUT",
        &format!("/v2/{repo}/manifests/over"),
        &[("Content-Type", OCI_MANIFEST)],
        over,
    )
    .unwrap_or_else(|e| panic!("PUT of a manifest 1 byte over the limit: no 413 arrived: {e}"));
    expect_error(&r, 413, "SIZE_INVALID");
    let r = call_chunked(
        &d,
        "PUT",
        &format!("/v2/{repo}/manifests/over"),
        &[("Content-Type", OCI_MANIFEST)],
        &padded(limit + (1 << 20)),
        64 << 10,
    );
    expect_error(&r, 413, "SIZE_INVALID");
    let r = call(&d, "GET", &format!("/v2/{repo}/manifests/over"), &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");
    assert_eq!(tags(&d, repo), vec!["at-limit"]);
    d.stop();
}

#[test]
fn manifest_reads_unknown_references_invalid_names_and_nested_repositories() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let manifest = image(&d, "a/b/c", 70, 1, Format::Oci);
    let digest = push(&d, "a/b/c", "deep", OCI_MANIFEST, &manifest);
    expect_manifest(&d, "a/b/c", "deep", OCI_MANIFEST, &manifest);
    expect_manifest(&d, "a/b/c", &digest, OCI_MANIFEST, &manifest);
    // Parent and child repositories are distinct: a tag of a/b is not one of a/b/c.
    let parent = image(&d, "a/b", 71, 1, Format::Oci);
    push(&d, "a/b", "parent", OCI_MANIFEST, &parent);
    assert_eq!(tags(&d, "a/b"), vec!["parent"]);
    assert_eq!(tags(&d, "a/b/c"), vec!["deep"]);
    let r = call(&d, "GET", "/v2/a/b/manifests/deep", &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");

    // Repository names made of route words still route.
    for repo in [
        "blobs",
        "x/manifests",
        "tags/list/y",
        "q/blobs/uploads",
        "referrers/r",
    ] {
        let m = image(&d, repo, 72, 1, Format::Oci);
        let dg = push(&d, repo, "t", OCI_MANIFEST, &m);
        expect_manifest(&d, repo, "t", OCI_MANIFEST, &m);
        assert_eq!(tags(&d, repo), vec!["t"], "{repo}");
        let (_, listed) = referrers(&d, repo, &dg, "");
        assert!(listed.is_empty());
        // An upload session in it.
        let blob = random_bytes(73, 999);
        let loc = start_upload(&d, repo);
        let r = patch_chunk(&d, &loc, 0, &blob);
        let loc = expect_upload_accepted(&r, 202, repo, 999);
        assert_eq!(upload_offset(&d, repo, &loc), 999);
        let r = call(
            &d,
            "PUT",
            &with_query(&loc, &format!("digest={}", sha256_digest(&blob))),
            &[],
            b"",
        );
        expect_blob_created(&r, repo, &sha256_digest(&blob));
        assert!(get_blob(&d, repo, &sha256_digest(&blob)) == blob);
    }

    // Unknown references.
    let unknown = sha256_digest(b"no such manifest");
    for path in [
        "/v2/a/b/c/manifests/nope".to_owned(),
        format!("/v2/a/b/c/manifests/{unknown}"),
        "/v2/no/such/repo/manifests/latest".to_owned(),
        format!("/v2/no/such/repo/manifests/{digest}"),
    ] {
        let r = call(&d, "GET", &path, &[], b"");
        if path.starts_with("/v2/no/") {
            expect_error_one_of(&r, 404, &["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
        } else {
            expect_error(&r, 404, "MANIFEST_UNKNOWN");
        }
        let r = call(&d, "HEAD", &path, &[], b"");
        assert_eq!(r.status, 404, "HEAD {path}");
        assert!(r.body.is_empty());
    }
    // A malformed digest reference: 400 DIGEST_INVALID.
    let r = call(&d, "GET", "/v2/a/b/c/manifests/sha256:123", &[], b"");
    expect_error(&r, 400, "DIGEST_INVALID");

    // Invalid repository names, on every endpoint family.
    let long = "n".repeat(256);
    for name in ["UPPER", "a/UPPER", "a__-b", "_lead", "a/", long.as_str()] {
        for (method, path) in [
            ("GET", format!("/v2/{name}/manifests/x")),
            ("HEAD", format!("/v2/{name}/manifests/x")),
            ("PUT", format!("/v2/{name}/manifests/x")),
            ("DELETE", format!("/v2/{name}/manifests/x")),
            ("GET", format!("/v2/{name}/tags/list")),
            ("GET", format!("/v2/{name}/referrers/{digest}")),
            ("DELETE", format!("/v2/{name}/blobs/{digest}")),
        ] {
            let body: &[u8] = if method == "PUT" { &manifest } else { b"" };
            let r = call(&d, method, &path, &[("Content-Type", OCI_MANIFEST)], body);
            expect_error(&r, 400, "NAME_INVALID");
        }
    }
    // The longest valid name works.
    let longest = format!("{}/{}", "l".repeat(127), "m".repeat(127));
    assert_eq!(longest.len(), 255);
    let m = image(&d, &longest, 74, 1, Format::Oci);
    push(&d, &longest, "ok", OCI_MANIFEST, &m);
    expect_manifest(&d, &longest, "ok", OCI_MANIFEST, &m);
    d.stop();
}

#[test]
fn delete_manifest_by_digest_and_by_tag() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let repo = "del/me";
    let m1 = image(&d, repo, 80, 1, Format::Oci);
    let m2 = image(&d, repo, 81, 1, Format::Oci);
    let d1 = push(&d, repo, "one", OCI_MANIFEST, &m1);
    push(&d, repo, "two", OCI_MANIFEST, &m1);
    let d2 = push(&d, repo, "three", OCI_MANIFEST, &m2);
    assert_eq!(tags(&d, repo), vec!["one", "three", "two"]);

    // By tag: only the tag goes.
    let r = call(&d, "DELETE", &format!("/v2/{repo}/manifests/two"), &[], b"");
    expect_status(&r, 202);
    let r = call(&d, "GET", &format!("/v2/{repo}/manifests/two"), &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");
    expect_manifest(&d, repo, &d1, OCI_MANIFEST, &m1);
    expect_manifest(&d, repo, "one", OCI_MANIFEST, &m1);
    assert_eq!(tags(&d, repo), vec!["one", "three"]);
    let r = call(&d, "DELETE", &format!("/v2/{repo}/manifests/two"), &[], b"");
    expect_error(&r, 404, "MANIFEST_UNKNOWN");

    // By digest: the manifest and every tag pointing at it.
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/{d1}"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    for reference in ["one", d1.as_str()] {
        for method in ["GET", "HEAD"] {
            let r = call(
                &d,
                method,
                &format!("/v2/{repo}/manifests/{reference}"),
                &[],
                b"",
            );
            expect_error(&r, 404, "MANIFEST_UNKNOWN");
        }
    }
    assert_eq!(tags(&d, repo), vec!["three"]);
    expect_manifest(&d, repo, "three", OCI_MANIFEST, &m2);
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/{d1}"),
        &[],
        b"",
    );
    expect_error(&r, 404, "MANIFEST_UNKNOWN");

    // Unknown references and repositories; malformed digests.
    let unknown = sha256_digest(b"unknown");
    for path in [
        format!("/v2/{repo}/manifests/{unknown}"),
        format!("/v2/{repo}/manifests/nosuchtag"),
    ] {
        let r = call(&d, "DELETE", &path, &[], b"");
        expect_error(&r, 404, "MANIFEST_UNKNOWN");
    }
    for path in [
        "/v2/no/repo/manifests/latest".to_owned(),
        format!("/v2/no/repo/manifests/{d2}"),
    ] {
        let r = call(&d, "DELETE", &path, &[], b"");
        expect_error_one_of(&r, 404, &["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
    }
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/sha256:zz"),
        &[],
        b"",
    );
    expect_error(&r, 400, "DIGEST_INVALID");

    // The deleted manifest can be pushed again.
    push(&d, repo, "back", OCI_MANIFEST, &m1);
    expect_manifest(&d, repo, &d1, OCI_MANIFEST, &m1);
    assert_eq!(tags(&d, repo), vec!["back", "three"]);
    // Deleting the last tag leaves an existing repository with an empty list.
    for reference in [d1.as_str(), d2.as_str()] {
        let r = call(
            &d,
            "DELETE",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[],
            b"",
        );
        expect_status(&r, 202);
    }
    assert_eq!(tags(&d, repo), Vec::<String>::new());
    d.stop();
}
