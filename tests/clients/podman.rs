//! podman against the daemon with access control: login, pull, push.

use super::*;

/// podman's view of a pulled image agrees with the fixture: the manifest digest it was pulled
/// by, the config (its digest is the image id), the layers' diff_ids and the config's fields.
fn assert_podman_image(info: &Value, image: &Image) {
    let config: Value = serde_json::from_slice(&image.config).expect("config json");
    assert_eq!(info["Digest"], image.digest(), "{info}");
    assert_eq!(
        info["Id"],
        image.config_digest().trim_start_matches("sha256:"),
        "{info}"
    );
    assert_eq!(
        info["RootFS"]["Layers"], config["rootfs"]["diff_ids"],
        "{info}"
    );
    assert_eq!(info["Architecture"], image.arch, "{info}");
    assert_eq!(info["Os"], image.os, "{info}");
    assert_eq!(info["Config"]["Env"], config["config"]["Env"], "{info}");
    assert_eq!(info["Labels"], config["config"]["Labels"], "{info}");
}

/// podman against a registry with access control, through the docker token flow: an
/// anonymous pull of a PUBLIC repository (on an anonymous token), a PRIVATE one refused
/// anonymously and served after `podman login` with a read-only account (password on stdin),
/// whose push is refused and leaves nothing behind; after `podman logout`, `--creds` of an
/// account that may push pull and push again.
#[test]
fn access_control_with_podman() {
    let mut rng = seeded_rng("access_control_with_podman");
    let skopeo = Skopeo::new();
    let mut d = Daemon::start_with_config(&format!(
        "[auth]\nenabled = true\nadmin_password = \"{ACCESS_ADMIN_PASSWORD}\"\n"
    ));
    let host = d.host();
    let podman = Podman::new(&host);
    let reader_password = "reader-podman-pw-7";
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
        json!({"name": "reader", "password": reader_password}),
    );
    admin_call(
        &d,
        "PUT",
        "/api/v1/users/reader/policies/ReadOnlyAccess",
        json!({}),
    );

    // Two different images, so that podman's store never holds a private blob before a
    // private pull has to fetch it.
    let work = tempfile::tempdir().expect("tempdir");
    let public = Image::random(&mut rng, "amd64");
    let private = Image::random(&mut rng, "amd64");
    let src = work.path().join("src");
    write_image_layout(&src, &[("public", &public), ("private", &private)]);
    let admin_creds = format!("admin:{ACCESS_ADMIN_PASSWORD}");
    for (tag, repo) in [("public", "pub/app"), ("private", "priv/app")] {
        skopeo.ok(
            &d,
            &[
                "copy",
                "--quiet",
                "--preserve-digests",
                "--dest-tls-verify=false",
                "--dest-creds",
                &admin_creds,
                &format!("oci:{}:{tag}", src.display()),
                &format!("docker://{host}/{repo}:v1"),
            ],
        );
    }
    let public_ref = format!("{host}/pub/app:v1");
    let private_ref = format!("{host}/priv/app:v1");
    let copy_ref = format!("{host}/priv/copy:v1");
    let as_admin = |repo: &str| {
        let auth = basic_auth("admin", ACCESS_ADMIN_PASSWORD);
        send(
            "GET",
            &d.url(&format!("/v2/{repo}/manifests/v1")),
            &[
                ("Authorization", &auth),
                ("Accept", &format!("{OCI_MANIFEST}, {OCI_INDEX}")),
            ],
            b"",
        )
    };
    let refused = |stderr: &str| {
        stderr.contains("unauthorized")
            || stderr.contains("authentication required")
            || stderr.contains("denied")
    };

    // 1. The PUBLIC repository, anonymously.
    podman.ok(&d, &podman.pull_args(&public_ref, None));
    assert_podman_image(&podman.inspect(&d, &public_ref), &public);

    // 2. The PRIVATE one, anonymously: refused.
    let stderr = podman.fails(&d, &podman.pull_args(&private_ref, None));
    assert!(
        refused(&stderr),
        "anonymous pull of {private_ref}: {stderr}"
    );

    // 3. After `podman login` as the read-only account: served.
    podman.ok_stdin(
        &d,
        &[
            "login",
            "--tls-verify=false",
            "--username",
            "reader",
            "--password-stdin",
            &host,
        ],
        reader_password.as_bytes(),
    );
    assert_eq!(podman.logged_in(), std::slice::from_ref(&host));
    podman.ok(&d, &podman.pull_args(&private_ref, None));
    assert_podman_image(&podman.inspect(&d, &private_ref), &private);

    // 4. A push with that login is refused, and nothing lands.
    let stderr = podman.fails(&d, &podman.push_args(&private_ref, &copy_ref, None));
    assert!(refused(&stderr), "read-only push to {copy_ref}: {stderr}");
    let r = as_admin("priv/copy");
    assert_eq!(
        r.status,
        404,
        "a refused push left a manifest: {}",
        String::from_utf8_lossy(&r.body)
    );

    // 5. After `podman logout` the private repository is closed again; `--creds` of the
    // admin opens it for a full pull (the local copy is removed first) and for the push.
    podman.ok(&d, &["logout", &host]);
    assert!(podman.logged_in().is_empty(), "{:?}", podman.logged_in());
    let stderr = podman.fails(&d, &podman.pull_args(&private_ref, None));
    assert!(
        refused(&stderr),
        "pull of {private_ref} after logout: {stderr}"
    );
    podman.ok(&d, &["rmi", &private_ref]);
    podman.ok(&d, &podman.pull_args(&private_ref, Some(&admin_creds)));
    assert_podman_image(&podman.inspect(&d, &private_ref), &private);
    podman.ok(
        &d,
        &podman.push_args(&private_ref, &copy_ref, Some(&admin_creds)),
    );
    let r = as_admin("priv/copy");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // podman re-serializes the manifest it pulled (compact, so the digest changes) but keeps
    // its content: the same config and the same compressed layers, mounted from priv/app
    // rather than compressed again.
    let pushed: Value = serde_json::from_slice(&r.body).expect("pushed manifest is JSON");
    let original: Value = serde_json::from_slice(&private.manifest).expect("fixture manifest");
    assert_eq!(pushed, original);

    // 6. No password reached the log.
    d.stop();
    let log = d.log();
    assert!(
        !log.contains(ACCESS_ADMIN_PASSWORD),
        "the admin password is in the daemon log"
    );
    assert!(
        !log.contains(reader_password),
        "the reader's password is in the daemon log"
    );
}
