//! Integrity: `berth fsck` finds and repairs damage offline; the scrub reports corruption
//! online.

use super::*;

/// Offline `berth fsck` on a stopped registry: clean after pushes; after damage on disk it
/// names each problem (exit 4); `--repair` removes the garbage and quarantines the corrupt and
/// missing blobs, so the daemon answers 404 rather than wrong bytes; the manifests that named
/// them are then reported (and only they) until the blobs are pushed again.
#[test]
fn fsck_finds_and_repairs_damage_offline() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let one = push_image_of(&d, "fsck/one", "v1", "one", &[&random_bytes(40, 4000)]);
    let two = push_image_of(
        &d,
        "fsck/two",
        "v1",
        "two",
        &[&random_bytes(41, 4100), &random_bytes(42, 4200)],
    );
    let three = push_image_of(&d, "fsck/three", "v1", "three", &[&random_bytes(43, 4300)]);
    d.stop();
    let dir = dir_arg(&d);

    let out = berth(&["fsck", "--data-dir", &dir]);
    assert_eq!(exit_code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(" 0 errors"), "{}", stdout(&out));

    // Damage: a layer's bytes change (same size), another layer's file goes, and three kinds
    // of leftovers appear.
    let corrupt = one.blob_digest(1);
    let missing = two.blob_digest(2);
    flip_byte(&blob_path(&d, &corrupt));
    std::fs::remove_file(blob_path(&d, &missing)).expect("remove a blob file");
    let orphan = b"bytes no row records";
    let orphan_digest = sha256_digest(orphan);
    let orphan_path = blob_path(&d, &orphan_digest);
    std::fs::create_dir_all(orphan_path.parent().expect("parent")).expect("fan directory");
    std::fs::write(&orphan_path, orphan).expect("orphan");
    let stray = d.data_path("blobs/sha256/zz-not-a-digest");
    std::fs::write(&stray, b"stray").expect("stray");
    let upload = d.data_path("uploads/oneshot-x");
    std::fs::write(&upload, b"half an upload").expect("upload");
    let stray_subject = stray.display().to_string();
    let damage = pairs(&[
        ("BLOB_DIGEST_MISMATCH", &corrupt),
        ("BLOB_FILE_MISSING", &missing),
        ("ORPHAN_FILE", &orphan_digest),
        ("STRAY_FILE", &stray_subject),
        ("ORPHAN_UPLOAD_FILE", "oneshot-x"),
    ]);

    let (code, report) = berth_json(&d, &["fsck"]);
    assert_eq!(code, 4, "{report:#}");
    assert_eq!(findings(&report), damage, "{report:#}");
    assert_eq!(
        (
            &report["errors"],
            &report["errors_left"],
            &report["garbage"]
        ),
        (&json!(2), &json!(2), &json!(3))
    );
    assert!(
        orphan_path.exists() && stray.exists() && upload.exists(),
        "a check removed files"
    );

    // Repair fixes what it can and, in the same run, reports what that leaves broken: the two
    // images now name blobs their repositories no longer link, which repair cannot fix.
    let (code, report) = berth_json(&d, &["fsck", "--repair"]);
    let one_subject = format!("fsck/one@{}", one.digest);
    let two_subject = format!("fsck/two@{}", two.digest);
    let mut after_repair = damage.clone();
    after_repair.extend(pairs(&[
        ("MANIFEST_BLOB_MISSING", &one_subject),
        ("MANIFEST_BLOB_MISSING", &two_subject),
    ]));
    after_repair.sort();
    let mut found = findings(&report);
    found.sort();
    assert_eq!(found, after_repair, "{report:#}");
    for f in report["findings"].as_array().expect("findings") {
        let fixable = f["code"] != "MANIFEST_BLOB_MISSING";
        assert_eq!(f["repaired"].is_string(), fixable, "{f}");
    }
    assert_eq!(code, 4, "errors are left: {report:#}");
    assert_eq!(
        (
            &report["errors"],
            &report["repaired"],
            &report["errors_left"]
        ),
        (&json!(4), &json!(5), &json!(2)),
        "{report:#}"
    );
    assert!(!orphan_path.exists(), "the orphan file is left");
    assert!(!stray.exists(), "the stray file is left");
    assert!(!upload.exists(), "the orphan upload file is left");
    assert!(
        !blob_path(&d, &corrupt).exists(),
        "the corrupt file is in place"
    );
    let quarantined: Vec<PathBuf> = std::fs::read_dir(d.data_path("quarantine"))
        .expect("quarantine/")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    let name = quarantined[0].file_name().expect("name").to_string_lossy();
    assert!(
        name.starts_with(&corrupt.replace(':', "-")),
        "quarantined as {name}"
    );
    let mut expected_bytes = one.blobs[1].clone();
    let middle = expected_bytes.len() / 2;
    expected_bytes[middle] = !expected_bytes[middle];
    assert_eq!(
        std::fs::read(&quarantined[0]).expect("read"),
        expected_bytes
    );

    // A plain check agrees: only the two damaged images are left.
    let (code, report) = berth_json(&d, &["fsck"]);
    assert_eq!(code, 4, "{report:#}");
    assert_eq!(
        findings(&report),
        pairs(&[
            ("MANIFEST_BLOB_MISSING", &one_subject),
            ("MANIFEST_BLOB_MISSING", &two_subject),
        ]),
        "{report:#}"
    );

    // The daemon serves no wrong bytes: the blobs are unknown until pushed again.
    d.restart();
    expect_blob_unknown(&d, "fsck/one", &corrupt);
    expect_blob_unknown(&d, "fsck/two", &missing);
    pull_verified(&d, &three, "v1");
    push_blob(&d, "fsck/one", &one.blobs[1]);
    push_blob(&d, "fsck/two", &two.blobs[2]);
    pull_verified(&d, &one, "v1");
    pull_verified(&d, &two, "v1");
    d.stop();

    let out = berth(&["fsck", "--data-dir", &dir]);
    assert_eq!(exit_code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(" 0 errors"), "{}", stdout(&out));
}

/// The online scrub finds a layer whose bytes changed under the running daemon, reports it
/// (not repaired: online is read-only) and keeps the report; `berth fsck` against a running
/// daemon runs that scrub, and refuses to repair.
#[test]
fn scrub_reports_corruption_online() {
    let mut d = Daemon::start_open_with_config(NOT_ABOUT_ACCESS, "[scrub]\ninterval_s = 0\n");
    d.expected_log.push("scrub found a problem".into());
    let image = push_image_of(
        &d,
        "scrub/app",
        "v1",
        "scrub",
        &[&random_bytes(50, 5000), &random_bytes(51, 6000)],
    );
    assert_eq!(admin(&d, "GET", "scrub"), json!({ "last": null }));
    let corrupt = image.blob_digest(2);
    flip_byte(&blob_path(&d, &corrupt));

    let report = admin(&d, "POST", "scrub");
    assert_eq!(report["online"], json!(true));
    assert_eq!(report["errors"], json!(1), "{report:#}");
    assert_eq!(report["errors_left"], json!(1), "{report:#}");
    assert_eq!(report["repaired"], json!(0), "{report:#}");
    assert_eq!(report["blobs_checked"], json!(3));
    let all_bytes: u64 = (0..3).map(|i| image.size(i)).sum();
    assert_eq!(report["blob_bytes_verified"], json!(all_bytes));
    assert_eq!(report["manifests_checked"], json!(1));
    assert_eq!(report["tags_checked"], json!(1));
    let list = report["findings"].as_array().expect("findings");
    assert_eq!(list.len(), 1, "{report:#}");
    assert_eq!(list[0]["code"], json!("BLOB_DIGEST_MISMATCH"));
    assert_eq!(list[0]["severity"], json!("error"));
    assert_eq!(list[0]["subject"], json!(corrupt));
    assert!(
        list[0].get("repaired").is_none(),
        "online repair: {report:#}"
    );
    assert_eq!(admin(&d, "GET", "scrub"), json!({ "last": report }));
    assert!(
        d.log().contains("scrub found a problem"),
        "the daemon did not log the finding"
    );

    let dir = dir_arg(&d);
    let out = berth(&["fsck", "--data-dir", &dir]);
    assert_eq!(exit_code(&out), 4, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("(online scrub)"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("BLOB_DIGEST_MISMATCH") && l.contains(&corrupt)),
        "{text}"
    );

    let out = berth(&["fsck", "--repair", "--data-dir", &dir]);
    assert_eq!(exit_code(&out), 8, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("stop it to repair"),
        "{}",
        stderr(&out)
    );
    // Refusing touched nothing: the corrupt file is still where it was.
    assert!(blob_path(&d, &corrupt).exists());
    d.stop();
}
