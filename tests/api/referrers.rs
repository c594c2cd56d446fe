//! The referrers API: listing, filtering by artifact type, and what deletes do to it.

use super::*;

#[test]
fn referrers_list_filter_and_delete() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let repo = "ref/app";
    let subject = image(&d, repo, 90, 1, Format::Oci);
    let subject_digest = sha256_digest(&subject);
    let empty = push_blob(&d, repo, b"{}");
    assert_eq!(empty, OCI_EMPTY_DIGEST);

    // A referrer pushed before its subject exists: accepted, with OCI-Subject.
    let sbom_payload = b"{\"sbom\":true}";
    let sbom_layer = push_blob(&d, repo, sbom_payload);
    let sbom = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2),
        "layers": [descriptor("application/spdx+json", &sbom_layer, sbom_payload.len())],
        "subject": descriptor(OCI_MANIFEST, &subject_digest, subject.len()),
        "annotations": {
            "org.opencontainers.image.created": "2024-05-01T00:00:00Z",
            "org.example.sbom.format": "spdx",
        },
    }));
    let r = put_manifest(&d, repo, &sha256_digest(&sbom), OCI_MANIFEST, &sbom);
    let sbom_digest = expect_manifest_created(&r, repo, &sbom);
    assert_eq!(r.header("OCI-Subject"), Some(subject_digest.as_str()));
    // Now the subject.
    let r = put_manifest(&d, repo, "v1", OCI_MANIFEST, &subject);
    expect_manifest_created(&r, repo, &subject);
    assert!(r.header("OCI-Subject").is_none());

    // A signature without artifactType: its config's mediaType stands in.
    let sig_config = b"{\"sig\":1}";
    let sig_config_digest = push_blob(&d, repo, sig_config);
    let sig = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.example.sig.config.v1+json", &sig_config_digest, sig_config.len()),
        "layers": [descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2)],
        "subject": descriptor(OCI_MANIFEST, &subject_digest, subject.len()),
    }));
    let r = put_manifest(&d, repo, "sig-tag", OCI_MANIFEST, &sig);
    let sig_digest = expect_manifest_created(&r, repo, &sig);
    assert_eq!(r.header("OCI-Subject"), Some(subject_digest.as_str()));

    // An index can refer too.
    let idx = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": "application/vnd.example.bundle.v1",
        "manifests": [],
        "subject": descriptor(OCI_MANIFEST, &subject_digest, subject.len()),
        "annotations": { "org.example.kind": "bundle" },
    }));
    let r = put_manifest(&d, repo, &sha256_digest(&idx), OCI_INDEX, &idx);
    let idx_digest = expect_manifest_created(&r, repo, &idx);
    assert_eq!(r.header("OCI-Subject"), Some(subject_digest.as_str()));

    // A referrer of a referrer is not a referrer of the subject.
    let nested = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2),
        "layers": [descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, 2)],
        "subject": descriptor(OCI_MANIFEST, &sbom_digest, sbom.len()),
    }));
    let r = put_manifest(&d, repo, &sha256_digest(&nested), OCI_MANIFEST, &nested);
    let nested_digest = expect_manifest_created(&r, repo, &nested);
    assert_eq!(r.header("OCI-Subject"), Some(sbom_digest.as_str()));

    let expected_sbom = json!({
        "mediaType": OCI_MANIFEST,
        "digest": sbom_digest,
        "size": sbom.len(),
        "artifactType": "application/vnd.example.sbom.v1",
        "annotations": {
            "org.opencontainers.image.created": "2024-05-01T00:00:00Z",
            "org.example.sbom.format": "spdx",
        },
    });
    let expected_sig = json!({
        "mediaType": OCI_MANIFEST,
        "digest": sig_digest,
        "size": sig.len(),
        "artifactType": "application/vnd.example.sig.config.v1+json",
    });
    let expected_idx = json!({
        "mediaType": OCI_INDEX,
        "digest": idx_digest,
        "size": idx.len(),
        "artifactType": "application/vnd.example.bundle.v1",
        "annotations": { "org.example.kind": "bundle" },
    });
    let (r, listed) = referrers(&d, repo, &subject_digest, "");
    assert!(r.header("OCI-Filters-Applied").is_none());
    assert_eq!(
        by_digest(&listed),
        by_digest(&[
            expected_sbom.clone(),
            expected_sig.clone(),
            expected_idx.clone()
        ])
    );
    let (_, listed) = referrers(&d, repo, &sbom_digest, "");
    assert_eq!(
        listed
            .iter()
            .map(|d| d["digest"].clone())
            .collect::<Vec<_>>(),
        vec![json!(nested_digest)]
    );

    // Filtering by artifactType.
    let (r, listed) = referrers(
        &d,
        repo,
        &subject_digest,
        "?artifactType=application/vnd.example.sbom.v1",
    );
    assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
    assert_eq!(
        by_digest(&listed),
        by_digest(std::slice::from_ref(&expected_sbom))
    );
    let (r, listed) = referrers(
        &d,
        repo,
        &subject_digest,
        "?artifactType=application%2Fvnd.example.sig.config.v1%2Bjson",
    );
    assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
    assert_eq!(
        by_digest(&listed),
        by_digest(std::slice::from_ref(&expected_sig))
    );
    let (r, listed) = referrers(&d, repo, &subject_digest, "?artifactType=application/none");
    assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
    assert!(listed.is_empty());

    // No referrers: 200 with an empty index, never 404; also for unknown subjects and
    // repositories, and other repositories do not see these referrers.
    push_blob(&d, "ref/other", b"other");
    for (name, dg) in [
        (repo, sha256_digest(b"nothing refers to this")),
        (repo, sig_digest.clone()),
        ("ref/other", subject_digest.clone()),
        ("ref/nowhere", subject_digest.clone()),
    ] {
        let (_, listed) = referrers(&d, name, &dg, "");
        assert!(listed.is_empty(), "{name} {dg}: {listed:?}");
    }
    // Invalid digests: 400.
    for bad in ["sha256:abc", "latest", "sha256:"] {
        let r = call(&d, "GET", &format!("/v2/{repo}/referrers/{bad}"), &[], b"");
        expect_error(&r, 400, "DIGEST_INVALID");
    }

    // Untagging a referrer keeps it; deleting it by digest removes it.
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/sig-tag"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    let (_, listed) = referrers(&d, repo, &subject_digest, "");
    assert_eq!(listed.len(), 3, "{listed:?}");
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/{sig_digest}"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/{repo}/manifests/{idx_digest}"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    let (_, listed) = referrers(&d, repo, &subject_digest, "");
    assert_eq!(by_digest(&listed), by_digest(&[expected_sbom]));
    // Pushed again: back in the list.
    push(&d, repo, &sig_digest, OCI_MANIFEST, &sig);
    let (_, listed) = referrers(&d, repo, &subject_digest, "");
    assert_eq!(by_digest(&listed).len(), 2);
    assert!(by_digest(&listed).contains_key(&sig_digest));
    d.stop();
}
