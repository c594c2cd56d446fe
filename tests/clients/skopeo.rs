//! skopeo against the daemon: push, pull, inspect, list tags, delete, copy between
//! repositories, and access control with credentials and anonymous pulls.

use super::*;

/// An image with 2–3 layers goes in under a nested repository name and comes back, as an OCI
/// layout and as a `dir:`, with the same manifest digest and byte-identical blobs; inspect
/// reports what was pushed.
#[test]
fn push_pull_inspect_round_trip() {
    let mut rng = seeded_rng("push_pull_inspect_round_trip");
    let skopeo = Skopeo::new();
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let work = tempfile::tempdir().expect("tempdir");
    let image = Image::random(&mut rng, "amd64");
    let src = work.path().join("src");
    write_image_layout(&src, &[("v1", &image)]);

    let repo = "team/sub/app";
    skopeo.push(&d, &src, "v1", &format!("{repo}:v1"), false);

    // The registry itself holds the exact bytes under the tag and the digest.
    let by_tag = registry_manifest(&d, repo, "v1");
    assert_eq!(by_tag.status, 200);
    assert_eq!(
        by_tag.header("docker-content-digest"),
        Some(image.digest().as_str())
    );
    assert_eq!(by_tag.body, image.manifest);
    assert_eq!(registry_manifest(&d, repo, &image.digest()).status, 200);

    // inspect --raw: the exact manifest bytes.
    assert_eq!(
        skopeo.inspect_raw(&d, &format!("{repo}:v1")),
        image.manifest
    );
    let by_digest = format!("{repo}@{}", image.digest());
    assert_eq!(skopeo.inspect_raw(&d, &by_digest), image.manifest);

    // inspect: digest, platform, layers, tags.
    let reference = format!("docker://{}/{repo}:v1", d.host());
    let info = skopeo.json(&d, &["inspect", "--tls-verify=false", &reference]);
    assert_eq!(info["Digest"], image.digest(), "{info}");
    assert_eq!(info["Architecture"], "amd64", "{info}");
    assert_eq!(info["Os"], "linux", "{info}");
    assert_eq!(info["Layers"], json!(image.layer_digests()), "{info}");
    assert_eq!(info["RepoTags"], json!(["v1"]), "{info}");
    assert_eq!(info["Name"], format!("{}/{repo}", d.host()), "{info}");
    let original: Value = serde_json::from_slice(&image.config).expect("config json");
    assert_eq!(info["Env"], original["config"]["Env"], "{info}");
    assert_eq!(info["Labels"], original["config"]["Labels"], "{info}");
    assert_eq!(info["Created"], "2024-01-01T00:00:00Z", "{info}");

    // inspect --config: the config, parsed; with --raw, the exact bytes.
    let config = skopeo.json(
        &d,
        &["inspect", "--tls-verify=false", "--config", &reference],
    );
    assert_eq!(config["architecture"], "amd64", "{config}");
    assert_eq!(config["os"], "linux", "{config}");
    assert_eq!(config["rootfs"], original["rootfs"], "{config}");
    assert_eq!(
        config["config"]["Env"], original["config"]["Env"],
        "{config}"
    );
    assert_eq!(
        config["history"].as_array().map(Vec::len),
        Some(image.layers.len()),
        "{config}"
    );
    let raw_config = skopeo.ok(
        &d,
        &[
            "inspect",
            "--tls-verify=false",
            "--config",
            "--raw",
            &reference,
        ],
    );
    assert_eq!(raw_config, image.config);

    // Pull into an OCI layout.
    let pulled = work.path().join("pulled-oci");
    skopeo.pull(
        &d,
        &format!("{repo}:v1"),
        &format!("oci:{}:v1", pulled.display()),
        false,
    );
    let desc = layout_ref(&pulled, "v1");
    assert_eq!(desc["digest"], image.digest(), "{desc}");
    assert_eq!(desc["mediaType"], OCI_MANIFEST, "{desc}");
    assert_eq!(desc["size"], image.manifest.len(), "{desc}");
    assert_layout_holds_image(&pulled, &image);

    // Pull by digest into a `dir:`; its blobs are named by the digest's hex.
    let dir = work.path().join("pulled-dir");
    skopeo.pull(&d, &by_digest, &format!("dir:{}", dir.display()), false);
    let manifest = std::fs::read(dir.join("manifest.json")).expect("dir: manifest.json");
    assert_eq!(sha256_digest(&manifest), image.digest());
    assert_eq!(manifest, image.manifest);
    let dir_blob = |digest: &str| {
        let path = dir.join(digest.trim_start_matches("sha256:"));
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("dir: lacks {}: {e}", path.display()));
        assert_eq!(sha256_digest(&bytes), digest, "{}", path.display());
        bytes
    };
    assert_eq!(dir_blob(&image.config_digest()), image.config);
    for layer in &image.layers {
        assert!(dir_blob(&layer.digest()) == layer.gz, "dir: layer differs");
    }

    d.stop();
}

/// A two-platform index goes in with `--all` and comes back with `--all` under the same
/// digest, with both platform manifests; skopeo picks each platform on request.
#[test]
fn multi_arch_index_round_trip() {
    let mut rng = seeded_rng("multi_arch_index_round_trip");
    let skopeo = Skopeo::new();
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let work = tempfile::tempdir().expect("tempdir");
    let multi = MultiArch::random(&mut rng);
    let src = work.path().join("src");
    for image in &multi.images {
        image.write_blobs(&src);
    }
    write_blob(&src, &multi.index);
    write_layout_index(&src, &[("2.0", OCI_INDEX, &multi.index)]);

    let repo = "multi/app";
    skopeo.push(&d, &src, "2.0", &format!("{repo}:2.0"), true);

    assert_eq!(skopeo.inspect_raw(&d, &format!("{repo}:2.0")), multi.index);
    let index = registry_manifest(&d, repo, "2.0");
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), Some(OCI_INDEX));
    assert_eq!(
        index.header("docker-content-digest"),
        Some(multi.digest().as_str())
    );
    for image in &multi.images {
        let child = registry_manifest(&d, repo, &image.digest());
        assert_eq!(child.status, 200, "{} manifest", image.arch);
        assert_eq!(child.body, image.manifest, "{} manifest", image.arch);
        let raw = skopeo.inspect_raw(&d, &format!("{repo}@{}", image.digest()));
        assert_eq!(raw, image.manifest);
    }

    // skopeo resolves the index to the platform it is asked for.
    let reference = format!("docker://{}/{repo}:2.0", d.host());
    for arch in ["amd64", "arm64"] {
        let image = multi.image(arch);
        let info = skopeo.json_with(
            &d,
            &["--override-arch", arch, "--override-os", "linux"],
            &["inspect", "--tls-verify=false", &reference],
        );
        // skopeo reports the digest of what the reference names: the index.
        assert_eq!(info["Digest"], multi.digest(), "{info}");
        assert_eq!(info["Architecture"], arch, "{info}");
        assert_eq!(info["Os"], "linux", "{info}");
        assert_eq!(info["Layers"], json!(image.layer_digests()), "{info}");
        let config = skopeo.ok_with(
            &d,
            &["--override-arch", arch, "--override-os", "linux"],
            &[
                "inspect",
                "--tls-verify=false",
                "--config",
                "--raw",
                &reference,
            ],
        );
        assert_eq!(config, image.config, "{arch} config");
    }

    // --all brings back the index under the same digest, and both platforms.
    let pulled = work.path().join("pulled");
    skopeo.pull(
        &d,
        &format!("{repo}:2.0"),
        &format!("oci:{}:2.0", pulled.display()),
        true,
    );
    let desc = layout_ref(&pulled, "2.0");
    assert_eq!(desc["digest"], multi.digest(), "{desc}");
    assert_eq!(desc["mediaType"], OCI_INDEX, "{desc}");
    assert_eq!(layout_blob(&pulled, &multi.digest()), multi.index);
    for image in &multi.images {
        assert_layout_holds_image(&pulled, image);
    }

    d.stop();
}

/// Three tags of one repository (and one of a sibling) list as exactly those three.
#[test]
fn list_tags_shows_exactly_the_pushed_tags() {
    let mut rng = seeded_rng("list_tags_shows_exactly_the_pushed_tags");
    let skopeo = Skopeo::new();
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let work = tempfile::tempdir().expect("tempdir");
    let images: Vec<Image> = (0..3).map(|_| Image::random(&mut rng, "amd64")).collect();
    let tags = ["1.0", "1.1", "latest"];
    let src = work.path().join("src");
    let refs: Vec<(&str, &Image)> = tags.iter().copied().zip(images.iter()).collect();
    write_image_layout(&src, &refs);

    for tag in tags {
        skopeo.push(&d, &src, tag, &format!("listing/app:{tag}"), false);
    }
    // A sibling whose name extends this one's must not leak into its listing.
    skopeo.push(&d, &src, "1.0", "listing/app-extra:other", false);

    let listed: BTreeSet<String> = skopeo.list_tags(&d, "listing/app").into_iter().collect();
    let expected: BTreeSet<String> = tags.iter().map(|t| t.to_string()).collect();
    assert_eq!(listed, expected);
    assert_eq!(skopeo.list_tags(&d, "listing/app-extra"), vec!["other"]);

    // The registry API agrees, and each tag names its own image.
    let r = send("GET", &d.url("/v2/listing/app/tags/list"), &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["tags"], json!(tags), "{}", r.json());
    for (tag, image) in &refs {
        let raw = skopeo.inspect_raw(&d, &format!("listing/app:{tag}"));
        assert_eq!(sha256_digest(&raw), image.digest(), "tag {tag}");
    }

    d.stop();
}

/// Deleting by digest and by tag (which skopeo resolves to the digest) removes the manifest:
/// inspect fails, the API answers 404, the tags are gone, and the untouched image survives.
#[test]
fn delete_by_digest_and_by_tag() {
    let mut rng = seeded_rng("delete_by_digest_and_by_tag");
    let skopeo = Skopeo::new();
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let work = tempfile::tempdir().expect("tempdir");
    let images: Vec<Image> = (0..3).map(|_| Image::random(&mut rng, "amd64")).collect();
    let tags = ["a", "b", "c"];
    let src = work.path().join("src");
    let refs: Vec<(&str, &Image)> = tags.iter().copied().zip(images.iter()).collect();
    write_image_layout(&src, &refs);
    let repo = "deletions/app";
    for tag in tags {
        skopeo.push(&d, &src, tag, &format!("{repo}:{tag}"), false);
    }
    let host = d.host();
    let docker = |reference: &str| format!("docker://{host}/{reference}");

    // By digest.
    let a = &images[0];
    let a_ref = docker(&format!("{repo}@{}", a.digest()));
    skopeo.ok(&d, &["delete", "--tls-verify=false", &a_ref]);
    let err = skopeo.fails(&d, &["inspect", "--tls-verify=false", "--raw", &a_ref]);
    assert!(
        err.contains("manifest unknown"),
        "inspect after delete: {err}"
    );
    let r = registry_manifest(&d, repo, &a.digest());
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "MANIFEST_UNKNOWN");
    assert_eq!(registry_manifest(&d, repo, "a").status, 404);
    skopeo.fails(
        &d,
        &[
            "inspect",
            "--tls-verify=false",
            &docker(&format!("{repo}:a")),
        ],
    );
    // A second delete of the same digest is an error, not a silent success.
    skopeo.fails(&d, &["delete", "--tls-verify=false", &a_ref]);

    // By tag.
    let b = &images[1];
    let b_tag = docker(&format!("{repo}:b"));
    skopeo.ok(&d, &["delete", "--tls-verify=false", &b_tag]);
    let err = skopeo.fails(&d, &["inspect", "--tls-verify=false", "--raw", &b_tag]);
    assert!(
        err.contains("manifest unknown"),
        "inspect after delete: {err}"
    );
    let r = registry_manifest(&d, repo, &b.digest());
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "MANIFEST_UNKNOWN");

    // What was not deleted is whole.
    let c = &images[2];
    assert_eq!(skopeo.list_tags(&d, repo), vec!["c"]);
    assert_eq!(skopeo.inspect_raw(&d, &format!("{repo}:c")), c.manifest);
    let pulled = work.path().join("pulled");
    skopeo.pull(
        &d,
        &format!("{repo}:c"),
        &format!("oci:{}:c", pulled.display()),
        false,
    );
    assert_layout_holds_image(&pulled, c);

    d.stop();
}

/// Registry → registry within one daemon: skopeo mounts the layers from the source repository
/// instead of uploading them again, and the copy is identical.
#[test]
fn copy_between_repositories_mounts_blobs() {
    let mut rng = seeded_rng("copy_between_repositories_mounts_blobs");
    let skopeo = Skopeo::new();
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let work = tempfile::tempdir().expect("tempdir");
    let image = Image::random(&mut rng, "amd64");
    let src = work.path().join("src");
    write_image_layout(&src, &[("1", &image)]);
    skopeo.push(&d, &src, "1", "mounts/a:1", false);

    let before = access_log(&d).len();
    let from = format!("docker://{}/mounts/a:1", d.host());
    let to = format!("docker://{}/mounts/b:1", d.host());
    skopeo.ok(
        &d,
        &[
            "copy",
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &from,
            &to,
        ],
    );

    let copy: Vec<Access> = access_log(&d).split_off(before);

    assert_eq!(skopeo.inspect_raw(&d, "mounts/b:1"), image.manifest);
    let r = registry_manifest(&d, "mounts/b", &image.digest());
    assert_eq!(r.status, 200);
    assert_eq!(r.body, image.manifest);
    for layer in image.layer_digests() {
        let r = send(
            "GET",
            &d.url(&format!("/v2/mounts/b/blobs/{layer}")),
            &[],
            b"",
        );
        assert_eq!(r.status, 200, "layer {layer} in mounts/b");
        assert_eq!(sha256_digest(&r.body), layer);
    }

    // The copy's requests to the destination. skopeo learned from the push where these blobs
    // live, so each layer is mounted: a POST to the uploads of mounts/b (carrying `mount=` and
    // `from=mounts/a`, which the access log leaves out) answered 201 at once. skopeo never
    // pushes monolithically, so a 201 POST is a mount; a 202 POST opens an upload session,
    // which only the config (fetched and re-uploaded) may need.
    let uploads = "/v2/mounts/b/blobs/uploads/";
    let posts = |status: u16| {
        copy.iter()
            .filter(|a| a.method == "POST" && a.path == uploads && a.status == status)
            .count()
    };
    assert_eq!(
        posts(201),
        image.layers.len(),
        "one mount per layer; the copy's requests:\n{copy:#?}"
    );
    assert!(
        posts(202) <= 1,
        "layers were uploaded again instead of mounted; the copy's requests:\n{copy:#?}"
    );
    for layer in image.layer_digests() {
        assert!(
            !copy
                .iter()
                .any(|a| a.method == "GET" && a.path.ends_with(&layer)),
            "layer {layer} was downloaded for the copy; the copy's requests:\n{copy:#?}"
        );
    }

    d.stop();
}

/// skopeo against a registry with access control: pushes with credentials, anonymous pulls of
/// a PUBLIC repository (skopeo walks the challenge and fetches an anonymous token), refusal of
/// a PRIVATE one without credentials and success with them, and a push with read-only
/// credentials refused.
#[test]
fn access_control_with_skopeo() {
    let mut rng = seeded_rng("access_control_with_skopeo");
    let skopeo = Skopeo::new();
    let mut d = Daemon::start_with_config(&format!(
        "[auth]\nenabled = true\nadmin_password = \"{ACCESS_ADMIN_PASSWORD}\"\n"
    ));
    admin_call(
        &d,
        "POST",
        "/api/v1/namespaces",
        json!({"name": "pub", "default_visibility": "PUBLIC"}),
    );
    admin_call(&d, "POST", "/api/v1/namespaces", json!({"name": "priv"}));
    admin_call(
        &d,
        "POST",
        "/api/v1/users",
        json!({"name": "reader", "password": "reader-pw-123"}),
    );
    admin_call(
        &d,
        "PUT",
        "/api/v1/users/reader/policies/ReadOnlyAccess",
        json!({}),
    );

    let work = tempfile::tempdir().expect("tempdir");
    let image = Image::random(&mut rng, "amd64");
    let src = work.path().join("src");
    write_image_layout(&src, &[("v1", &image)]);
    let src_ref = format!("oci:{}:v1", src.display());
    let admin_creds = format!("admin:{ACCESS_ADMIN_PASSWORD}");
    for repo in ["pub/app", "priv/app"] {
        let dest = format!("docker://{}/{repo}:v1", d.host());
        skopeo.ok(
            &d,
            &[
                "copy",
                "--quiet",
                "--preserve-digests",
                "--dest-tls-verify=false",
                "--dest-creds",
                &admin_creds,
                &src_ref,
                &dest,
            ],
        );
    }

    // Anonymous pull of the PUBLIC repository.
    let pulled = work.path().join("public");
    skopeo.pull(
        &d,
        "pub/app:v1",
        &format!("oci:{}:v1", pulled.display()),
        false,
    );
    assert_layout_holds_image(&pulled, &image);

    // The PRIVATE one: refused anonymously, with the challenge a client needs…
    let private_src = format!("docker://{}/priv/app:v1", d.host());
    let denied = work.path().join("denied");
    let stderr = skopeo.fails(
        &d,
        &[
            "copy",
            "--src-tls-verify=false",
            &private_src,
            &format!("oci:{}:v1", denied.display()),
        ],
    );
    assert!(
        stderr.contains("unauthorized") || stderr.contains("authentication required"),
        "{stderr}"
    );
    let r = registry_manifest(&d, "priv/app", "v1");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            format!(
                "Bearer realm=\"http://{}/token\",service=\"berth\",scope=\"repository:priv/app:pull\"",
                d.host()
            )
            .as_str()
        )
    );
    // …and served with credentials (a read-only account is enough).
    let private = work.path().join("private");
    skopeo.ok(
        &d,
        &[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--src-creds",
            "reader:reader-pw-123",
            &private_src,
            &format!("oci:{}:v1", private.display()),
        ],
    );
    assert_layout_holds_image(&private, &image);

    // A push with read-only credentials is refused.
    let out = skopeo.run(
        &[],
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "reader:reader-pw-123",
            &src_ref,
            &format!("docker://{}/priv/other:v1", d.host()),
        ],
    );
    assert!(!out.status.success(), "a read-only account pushed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("denied") || stderr.contains("unauthorized"),
        "{stderr}"
    );
    assert_eq!(registry_manifest(&d, "priv/other", "v1").status, 401);

    // `skopeo login` stores credentials that later commands use.
    skopeo.ok(
        &d,
        &[
            "login",
            "--tls-verify=false",
            "--username",
            "reader",
            "--password",
            "reader-pw-123",
            &d.host(),
        ],
    );
    let tags = skopeo.list_tags(&d, "priv/app");
    assert_eq!(tags, ["v1"]);
    d.stop();
    let log = d.log();
    assert!(!log.contains(ACCESS_ADMIN_PASSWORD) && !log.contains("reader-pw-123"));
}

/// A push by skopeo fires the repository's trigger: the receiver gets the model's payload
/// naming the tag and the manifest digest skopeo pushed, and the record says DELIVERED.
#[test]
fn a_skopeo_push_fires_the_repositorys_trigger() {
    use crate::support::receiver::{Answer, Receiver};
    use crate::support::wait_for;
    use std::time::Duration;
    let mut rng = seeded_rng("a_skopeo_push_fires_the_repositorys_trigger");
    let skopeo = Skopeo::new();
    let mut d = Daemon::start_open_with_config(
        "about trigger delivery from a real client's push",
        "[webhooks]\nallow_private_destinations = true\n",
    );
    let receiver = Receiver::start(Answer::Status(200));
    let work = tempfile::tempdir().expect("tempdir");
    let first = Image::random(&mut rng, "amd64");
    let second = Image::random(&mut rng, "amd64");
    let src = work.path().join("src");
    write_image_layout(&src, &[("v1", &first), ("v2", &second)]);
    let repo = "hooks/app";
    // The first push creates the repository; the trigger goes on it.
    skopeo.push(&d, &src, "v1", &format!("{repo}:v1"), false);
    let r = send(
        "POST",
        &d.url(&format!("/api/v1/repositories/{repo}/triggers")),
        &[("Content-Type", "application/json")],
        json!({"name": "deploy", "url": receiver.url("/deploy"), "trigger_type": "ALL"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let trigger = r.json()["id"].as_str().expect("id").to_owned();
    skopeo.push(&d, &src, "v2", &format!("{repo}:v2"), false);
    let got = wait_for("the push event", Duration::from_secs(30), || {
        receiver.received().into_iter().next()
    });
    let body = got.json();
    assert_eq!(body["push_data"]["tag"], "v2", "{body}");
    assert_eq!(
        body["push_data"]["digest"],
        json!(second.digest()),
        "{body}"
    );
    assert_eq!(body["repository"]["repo_full_name"], repo, "{body}");
    let record = wait_for("a DELIVERED record", Duration::from_secs(30), || {
        let r = send(
            "GET",
            &d.url(&format!(
                "/api/v1/repositories/{repo}/triggers/{trigger}/records"
            )),
            &[],
            b"",
        );
        r.json()["records"]
            .as_array()
            .and_then(|records| records.first().cloned())
            .filter(|record| record["status"] == "DELIVERED")
    });
    assert_eq!(record["http_status"], 200);
    assert_eq!(receiver.received().len(), 1, "one push, one delivery");
    d.stop();
}
