//! Everything reads back the same after a graceful restart and after a crash.

use super::*;

/// Everything a client can read of the registry, in a comparable form.
fn snapshot(d: &Daemon, manifests: &[(&str, String)], blobs: &[(&str, String)]) -> Vec<String> {
    let mut out = Vec::new();
    let r = call(d, "GET", "/v2/_catalog", &[], b"");
    out.push(format!("catalog {} {}", r.status, text(&r)));
    let repos = strings(&r.json()["repositories"]);
    for repo in &repos {
        let r = call(d, "GET", &format!("/v2/{repo}/tags/list"), &[], b"");
        out.push(format!("tags {repo} {} {}", r.status, text(&r)));
        for tag in strings(&r.json()["tags"]) {
            let r = call(d, "GET", &format!("/v2/{repo}/manifests/{tag}"), &[], b"");
            out.push(format!(
                "manifest {repo}:{tag} {} {:?} {:?} {}",
                r.status,
                r.header("Content-Type"),
                r.header("Docker-Content-Digest"),
                sha256_digest(&r.body)
            ));
        }
    }
    for (repo, reference) in manifests {
        let r = call(
            d,
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[],
            b"",
        );
        out.push(format!(
            "manifest {repo}@{reference} {} {:?} {}",
            r.status,
            r.header("Content-Type"),
            sha256_digest(&r.body)
        ));
        let r = call(
            d,
            "GET",
            &format!("/v2/{repo}/referrers/{reference}"),
            &[],
            b"",
        );
        let mut listed = r.json()["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        listed.sort_by_key(|v| v["digest"].as_str().unwrap_or("").to_owned());
        out.push(format!(
            "referrers {repo}@{reference} {} {}",
            r.status,
            Value::Array(listed)
        ));
    }
    for (repo, digest) in blobs {
        let r = call(d, "GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"");
        out.push(format!(
            "blob {repo}@{digest} {} {}",
            r.status,
            sha256_digest(&r.body)
        ));
    }
    out
}

#[test]
fn everything_reads_back_identically_after_restart_and_crash() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let mut manifests: Vec<(&str, String)> = Vec::new();
    let mut blobs: Vec<(&str, String)> = Vec::new();

    // Images with several tags, in nested repositories.
    let m1 = image(&d, "persist/app", 130, 3, Format::Oci);
    let d1 = push(&d, "persist/app", "1.0", OCI_MANIFEST, &m1);
    push(&d, "persist/app", "latest", OCI_MANIFEST, &m1);
    let m2 = image(&d, "persist/app", 131, 2, Format::Oci);
    let d2 = push(&d, "persist/app", "2.0", OCI_MANIFEST, &m2);
    let index = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &d1, m1.len()), descriptor(OCI_MANIFEST, &d2, m2.len())],
    }));
    let di = push(&d, "persist/app", "multi", OCI_INDEX, &index);
    let dm = image(&d, "persist/docker", 132, 1, Format::Docker);
    let dd = push(&d, "persist/docker", "v1", DOCKER_MANIFEST, &dm);
    // A referrer with annotations.
    push_blob(&d, "persist/app", b"{}");
    let sbom = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2),
        "layers": [descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2)],
        "subject": descriptor(OCI_MANIFEST, &d1, m1.len()),
        "annotations": { "k": "v" },
    }));
    let ds = push(
        &d,
        "persist/app",
        &sha256_digest(&sbom),
        OCI_MANIFEST,
        &sbom,
    );
    // A blob-only repository, a mounted blob, an untagged and a deleted manifest.
    let big = random_bytes(133, 700_001);
    let big_digest = push_blob(&d, "persist/blobs", &big);
    let r = call(
        &d,
        "POST",
        &format!("/v2/persist/docker/blobs/uploads/?mount={big_digest}&from=persist/blobs"),
        &[],
        b"",
    );
    expect_blob_created(&r, "persist/docker", &big_digest);
    let r = call(&d, "DELETE", "/v2/persist/app/manifests/latest", &[], b"");
    expect_status(&r, 202);
    let m3 = image(&d, "persist/app", 134, 1, Format::Oci);
    let d3 = push(&d, "persist/app", "gone", OCI_MANIFEST, &m3);
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/persist/app/manifests/{d3}"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    let deleted_blob = push_blob(&d, "persist/blobs", b"deleted blob");
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/persist/blobs/blobs/{deleted_blob}"),
        &[],
        b"",
    );
    expect_status(&r, 202);

    for dg in [&d1, &d2, &di, &ds, &d3] {
        manifests.push(("persist/app", dg.clone()));
    }
    manifests.push(("persist/docker", dd.clone()));
    blobs.push(("persist/blobs", big_digest.clone()));
    blobs.push(("persist/docker", big_digest.clone()));
    blobs.push(("persist/blobs", deleted_blob.clone()));

    let before = snapshot(&d, &manifests, &blobs);
    // Sanity: the snapshot sees what was pushed and what was deleted.
    let joined = before.join("\n");
    assert!(
        joined.contains(&format!("manifest persist/app@{d3} 404")),
        "{joined}"
    );
    assert!(joined.contains(&format!("blob persist/blobs@{deleted_blob} 404")));
    assert!(joined.contains(&format!("blob persist/docker@{big_digest} 200")));
    assert!(joined.contains(&ds), "the referrer is listed: {joined}");

    d.restart();
    assert_eq!(
        snapshot(&d, &manifests, &blobs),
        before,
        "after a graceful restart"
    );

    // More pushes, acknowledged just before SIGKILL.
    let m4 = image(&d, "persist/late", 135, 2, Format::Oci);
    let d4 = push(&d, "persist/late", "late", OCI_MANIFEST, &m4);
    manifests.push(("persist/late", d4.clone()));
    let before = snapshot(&d, &manifests, &blobs);
    d.crash_restart();
    assert_eq!(snapshot(&d, &manifests, &blobs), before, "after SIGKILL");
    expect_manifest(&d, "persist/late", "late", OCI_MANIFEST, &m4);
    expect_manifest(&d, "persist/app", "multi", OCI_INDEX, &index);
    assert!(get_blob(&d, "persist/docker", &big_digest) == big);
    d.stop();
}
