//! Garbage collection online: what it reclaims and keeps, the grace period, dry runs, the
//! untagged-manifests policy.

use super::*;

/// Deleting an image and collecting removes exactly its repository links, the blobs only it
/// used (rows and files) and its manifest body; a layer another repository links stays, the
/// other image pulls intact, the accounting follows, and a second run finds nothing.
#[test]
fn gc_reclaims_a_deleted_image_and_keeps_shared_layers() {
    let mut d = Daemon::start_open_with_config(NOT_ABOUT_ACCESS, GC_NOW);
    let shared = random_bytes(1, 4096);
    let only_a = random_bytes(2, 5000);
    let only_b = random_bytes(3, 6001);
    let a = push_image_of(&d, "gc/a", "v1", "a", &[&shared, &only_a]);
    let b = push_image_of(&d, "gc/b", "v1", "b", &[&shared, &only_b]);
    let (config_a, config_b) = (&a.blobs[0][..], &b.blobs[0][..]);

    // The shared layer is stored once and counted in both repositories.
    expect_stats(
        &stats(&d),
        &Expected {
            blobs: &[config_a, config_b, &shared, &only_a, &only_b],
            manifests: 2,
            repos: &[
                ("gc/a", &[config_a, &shared, &only_a], 1, 1),
                ("gc/b", &[config_b, &shared, &only_b], 1, 1),
            ],
        },
    );

    delete(&d, &format!("/v2/gc/a/manifests/{}", a.digest));
    let_a_millisecond_pass();
    let report = gc(&d);
    expect_gc(
        &report,
        &[
            ("links_removed", 3),
            ("blobs_deleted", 2),
            ("blob_bytes_reclaimed", a.size(0) + a.size(2)),
            ("manifest_bodies_deleted", 1),
        ],
    );
    for gone in [a.blob_digest(0), a.blob_digest(2)] {
        assert!(
            !blob_path(&d, &gone).exists(),
            "{gone}'s file is still on disk"
        );
    }
    for kept in [&b.blobs[0], &shared, &only_b] {
        let digest = sha256_digest(kept);
        assert!(
            blob_path(&d, &digest).exists(),
            "{digest}'s file was removed"
        );
    }
    // gc/a no longer links anything, not even the layer gc/b still holds.
    for i in 0..3 {
        expect_blob_unknown(&d, "gc/a", &a.blob_digest(i));
    }
    pull_verified(&d, &b, "v1");
    pull_verified(&d, &b, &b.digest);

    expect_stats(
        &stats(&d),
        &Expected {
            blobs: &[config_b, &shared, &only_b],
            manifests: 1,
            repos: &[
                ("gc/a", &[], 0, 0),
                ("gc/b", &[config_b, &shared, &only_b], 1, 1),
            ],
        },
    );
    // Nothing is left to collect.
    expect_gc(&gc(&d), &[]);
    pull_verified(&d, &b, "v1");
    d.stop();
}

/// With the default grace period (an hour) a collection removes no blob, link or file that
/// was just written: a blob uploaded but not yet named by a manifest, and the layers of an
/// image deleted a moment ago, stay pullable. The deleted manifest's body is not protected by
/// age (no repository holds it any more, and a client re-pushing it sends the bytes again).
#[test]
fn grace_period_protects_fresh_uploads() {
    let mut d = Daemon::start_open_with_config(
        NOT_ABOUT_ACCESS,
        "[gc]\ninterval_s = 0\n[scrub]\ninterval_s = 0\n",
    );
    let lone = random_bytes(10, 3000);
    let lone_digest = push_blob(&d, "grace/app", &lone);
    let image = push_image_of(&d, "grace/app", "v1", "grace", &[&random_bytes(11, 2000)]);
    delete(&d, &format!("/v2/grace/app/manifests/{}", image.digest));
    let before = stats(&d);
    let_a_millisecond_pass();
    expect_gc(&gc(&d), &[("manifest_bodies_deleted", 1)]);
    let r = get_blob(&d, "grace/app", &lone_digest);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, lone);
    for (i, blob) in image.blobs.iter().enumerate() {
        let r = get_blob(&d, "grace/app", &image.blob_digest(i));
        assert_eq!(r.status, 200);
        assert_eq!(&r.body, blob);
    }
    assert_eq!(stats(&d), before, "the accounting changed");
    d.stop();
}

/// A dry run reports the cascade (deleted manifest → its links → its blobs) a real run then
/// performs, and removes nothing; only real runs are remembered as the last report.
#[test]
fn dry_run_reports_what_a_real_run_removes() {
    let mut d = Daemon::start_open_with_config(NOT_ABOUT_ACCESS, GC_NOW);
    let kept = push_image_of(&d, "dry/kept", "v1", "kept", &[&random_bytes(20, 1500)]);
    let doomed = push_image_of(
        &d,
        "dry/doomed",
        "v1",
        "doomed",
        &[&random_bytes(21, 2500), &random_bytes(22, 3500)],
    );
    let lone = random_bytes(23, 777);
    let lone_digest = push_blob(&d, "dry/lone", &lone);
    delete(&d, &format!("/v2/dry/doomed/manifests/{}", doomed.digest));
    let garbage: Vec<(String, String)> = (0..3)
        .map(|i| ("dry/doomed".to_owned(), doomed.blob_digest(i)))
        .chain([("dry/lone".to_owned(), lone_digest.clone())])
        .collect();
    let garbage_bytes: u64 = (0..3).map(|i| doomed.size(i)).sum::<u64>() + lone.len() as u64;
    let before = stats(&d);
    assert_eq!(admin(&d, "GET", "gc"), json!({ "last": null }));

    let_a_millisecond_pass();
    let dry = gc_dry_run(&d);
    let expected = [
        ("links_removed", 4),
        ("blobs_deleted", 4),
        ("blob_bytes_reclaimed", garbage_bytes),
        ("manifest_bodies_deleted", 1),
    ];
    expect_gc(&dry, &expected);
    // Nothing was removed, and a dry run is not "the last collection".
    for (repo, digest) in &garbage {
        assert_eq!(get_blob(&d, repo, digest).status, 200, "{repo}@{digest}");
        assert!(
            blob_path(&d, digest).exists(),
            "{digest}'s file was removed"
        );
    }
    assert_eq!(stats(&d), before, "a dry run changed the accounting");
    assert_eq!(admin(&d, "GET", "gc"), json!({ "last": null }));

    let real = gc(&d);
    expect_gc(&real, &expected);
    assert_eq!(gc_counts(&real), gc_counts(&dry));
    for (repo, digest) in &garbage {
        expect_blob_unknown(&d, repo, digest);
        assert!(!blob_path(&d, digest).exists(), "{digest}'s file is left");
    }
    pull_verified(&d, &kept, "v1");
    assert_eq!(admin(&d, "GET", "gc"), json!({ "last": real }));
    // A later dry run (finding nothing) does not replace it.
    expect_gc(&gc_dry_run(&d), &[]);
    assert_eq!(admin(&d, "GET", "gc"), json!({ "last": real }));
    d.stop();
}

/// `delete_untagged_manifests`: a manifest whose tag moved on is collected with the blobs only
/// it used; an index keeps its untagged children and a subject keeps its referrers, and once
/// the index (or the subject) goes, what it kept goes in the same run.
#[test]
fn untagged_manifests_policy() {
    let mut d = Daemon::start_open_with_config(
        NOT_ABOUT_ACCESS,
        "[gc]\ninterval_s = 0\ngrace_period_s = 0\ndelete_untagged_manifests = true\n\
         [scrub]\ninterval_s = 0\n",
    );
    // (a) The tag moves from X to Y; X is untagged and nothing else keeps it.
    let shared = random_bytes(30, 2222);
    let x = push_image_of(
        &d,
        "untag/app",
        "tag1",
        "x",
        &[&shared, &random_bytes(31, 1111)],
    );
    let y = push_image_of(
        &d,
        "untag/app",
        "tag1",
        "y",
        &[&shared, &random_bytes(32, 3333)],
    );
    let_a_millisecond_pass();
    expect_gc(
        &gc(&d),
        &[
            ("manifests_deleted", 1),
            ("links_removed", 2),
            ("blobs_deleted", 2),
            ("blob_bytes_reclaimed", x.size(0) + x.size(2)),
            ("manifest_bodies_deleted", 1),
        ],
    );
    let r = get(&d, &format!("/v2/untag/app/manifests/{}", x.digest));
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "MANIFEST_UNKNOWN");
    expect_blob_unknown(&d, "untag/app", &x.blob_digest(0));
    expect_blob_unknown(&d, "untag/app", &x.blob_digest(2));
    pull_verified(&d, &y, "tag1");

    // (b) An index pushed by tag, its two children by digest only.
    let children = [
        push_image_of(&d, "untag/multi", "", "amd64", &[&random_bytes(33, 1200)]),
        push_image_of(&d, "untag/multi", "", "arm64", &[&random_bytes(34, 1300)]),
    ];
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children
            .iter()
            .map(|c| descriptor(OCI_MANIFEST, &c.digest, c.manifest.len()))
            .collect::<Vec<_>>(),
    }))
    .expect("json");
    let index_digest = put_manifest(&d, "untag/multi", "multi", OCI_INDEX, &index);

    // (c) A referrer, pushed by digest, of a tagged image.
    let subject = push_image_of(&d, "untag/ref", "v1", "subject", &[&random_bytes(35, 1400)]);
    let payload = b"{\"sbom\":true}";
    let empty_digest = push_blob(&d, "untag/ref", b"{}");
    let payload_digest = push_blob(&d, "untag/ref", payload);
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": descriptor(OCI_EMPTY, &empty_digest, 2),
        "layers": [descriptor("application/spdx+json", &payload_digest, payload.len())],
        "subject": descriptor(OCI_MANIFEST, &subject.digest, subject.manifest.len()),
    }))
    .expect("json");
    let referrer_digest = put_manifest(&d, "untag/ref", "", OCI_MANIFEST, &referrer);

    // The index keeps its children, the subject its referrer: nothing goes.
    let_a_millisecond_pass();
    expect_gc(&gc(&d), &[]);
    for child in &children {
        pull_verified(&d, child, &child.digest);
    }
    let r = get(&d, "/v2/untag/multi/manifests/multi");
    assert_eq!((r.status, &r.body), (200, &index));
    let r = get(&d, &format!("/v2/untag/ref/manifests/{referrer_digest}"));
    assert_eq!((r.status, &r.body), (200, &referrer.to_vec()));

    // Untagging the index frees it, and with it both children, in one run.
    delete(&d, "/v2/untag/multi/manifests/multi");
    let_a_millisecond_pass();
    let child_bytes: u64 = children.iter().map(|c| c.size(0) + c.size(1)).sum();
    expect_gc(
        &gc(&d),
        &[
            ("manifests_deleted", 3),
            ("links_removed", 4),
            ("blobs_deleted", 4),
            ("blob_bytes_reclaimed", child_bytes),
            ("manifest_bodies_deleted", 3),
        ],
    );
    for digest in [&index_digest, &children[0].digest, &children[1].digest] {
        let r = get(&d, &format!("/v2/untag/multi/manifests/{digest}"));
        assert_eq!(r.status, 404, "{digest} survived");
    }
    // The referrer is still there, its subject too.
    let r = get(&d, &format!("/v2/untag/ref/manifests/{referrer_digest}"));
    assert_eq!(r.status, 200);
    pull_verified(&d, &subject, "v1");

    // Deleting the subject leaves the referrer without a reason to stay.
    delete(&d, &format!("/v2/untag/ref/manifests/{}", subject.digest));
    let_a_millisecond_pass();
    expect_gc(
        &gc(&d),
        &[
            ("manifests_deleted", 1),
            ("links_removed", 4),
            ("blobs_deleted", 4),
            (
                "blob_bytes_reclaimed",
                subject.size(0) + subject.size(1) + 2 + payload.len() as u64,
            ),
            ("manifest_bodies_deleted", 2),
        ],
    );
    let r = get(&d, &format!("/v2/untag/ref/manifests/{referrer_digest}"));
    assert_eq!(r.status, 404);
    // What is tagged was never touched.
    pull_verified(&d, &y, "tag1");
    d.stop();
}
