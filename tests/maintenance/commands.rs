//! The operator commands `berth stats` and `berth gc`, offline and against the running daemon.

use super::*;

/// Drops what differs between two runs of the same collection (when it ran).
fn without_times(report: &Value) -> Value {
    let mut report = report.clone();
    let object = report.as_object_mut().expect("report object");
    object.remove("started_at_ms");
    object.remove("finished_at_ms");
    report
}

/// `berth stats` and `berth gc --dry-run` give the same figures through the running daemon's
/// API as offline on its stopped data directory; an offline `berth gc` then removes what the
/// dry run named, and the daemon reports it as the last collection.
#[test]
fn stats_and_gc_commands_work_offline_and_online() {
    let mut d = Daemon::start_open_with_config(NOT_ABOUT_ACCESS, GC_NOW);
    let config_dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir.path().join("berth.toml");
    std::fs::write(&config, GC_NOW).expect("config");
    let config = config.to_str().expect("utf-8 path").to_owned();

    let shared = random_bytes(60, 3000);
    let a = push_image_of(&d, "ops/a", "v1", "a", &[&shared, &random_bytes(61, 2000)]);
    let b = push_image_of(&d, "ops/b", "v1", "b", &[&shared, &random_bytes(62, 2100)]);
    delete(&d, &format!("/v2/ops/a/manifests/{}", a.digest));
    push_blob(&d, "ops/lone", &random_bytes(63, 900));
    // An unfinished upload session holding 100 bytes.
    let r = send("POST", &d.url("/v2/ops/b/blobs/uploads/"), &[], &[]);
    assert_eq!(r.status, 202);
    let location = r.header("location").expect("location").to_owned();
    let r = send(
        "PATCH",
        &d.url(&location),
        &[("Content-Range", "0-99")],
        &random_bytes(64, 100),
    );
    assert_eq!(r.status, 202);

    let api_stats = stats(&d);
    assert_eq!(api_stats["upload_sessions"], json!(1));
    assert_eq!(api_stats["upload_bytes"], json!(100));
    let (code, online_stats) = berth_json(&d, &["stats"]);
    assert_eq!(code, 0);
    assert_eq!(online_stats, api_stats);
    let_a_millisecond_pass();
    let (code, online_dry) = berth_json(&d, &["gc", "--dry-run", "--config", &config]);
    assert_eq!(code, 0);
    assert_eq!(online_dry["dry_run"], json!(true));
    expect_gc(
        &online_dry,
        &[
            ("links_removed", 4),
            ("blobs_deleted", 3),
            ("blob_bytes_reclaimed", a.size(0) + a.size(2) + 900),
            ("manifest_bodies_deleted", 1),
        ],
    );
    d.stop();

    let (code, offline_stats) = berth_json(&d, &["stats"]);
    assert_eq!(code, 0);
    assert_eq!(offline_stats, api_stats);
    let (code, offline_dry) = berth_json(&d, &["gc", "--dry-run", "--config", &config]);
    assert_eq!(code, 0);
    assert_eq!(without_times(&offline_dry), without_times(&online_dry));

    let (code, offline_gc) = berth_json(&d, &["gc", "--config", &config]);
    assert_eq!(code, 0);
    assert_eq!(offline_gc["dry_run"], json!(false));
    assert_eq!(gc_counts(&offline_gc), gc_counts(&online_dry));
    let (_, after) = berth_json(&d, &["stats"]);
    assert_eq!(
        after["blobs"].as_u64(),
        api_stats["blobs"].as_u64().map(|n| n - 3)
    );

    d.restart();
    assert_eq!(admin(&d, "GET", "gc"), json!({ "last": offline_gc }));
    assert_eq!(stats(&d), after);
    pull_verified(&d, &b, "v1");
    d.stop();
}

/// Bug (#9): `berth gc|stats|fsck` against a running daemon called its admin API without
/// credentials, so on the shipped configuration (access control on) each failed with 401.
/// They now call it as `admin` with the password from the configuration, the environment or
/// `<data_dir>/admin.password`, and say where a password comes from when none is known.
#[test]
fn commands_authenticate_to_a_daemon_with_access_control_on() {
    let mut d = Daemon::start();
    let run = |args: &[&str], password: Option<&str>| -> Output {
        let mut cmd = d.command(args);
        cmd.arg("--json");
        match password {
            Some(password) => cmd.env("BERTH_ADMIN_PASSWORD", password),
            None => cmd.env_remove("BERTH_ADMIN_PASSWORD"),
        };
        cmd.output().expect("run berth")
    };
    for args in [
        &["stats"][..],
        &["gc", "--dry-run"],
        &["fsck", "--no-verify"],
    ] {
        let out = run(args, Some(ADMIN_PASSWORD));
        assert_eq!(
            exit_code(&out),
            0,
            "berth {args:?}\nstdout: {}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
        assert!(report.is_object(), "berth {args:?}: {report}");
        if args[0] == "fsck" {
            assert_eq!(
                report["online"],
                json!(true),
                "the daemon's scrub ran: {report}"
            );
        }
    }

    // No password anywhere: refused by the daemon, and told where one comes from.
    let out = run(&["stats"], None);
    assert_ne!(exit_code(&out), 0);
    assert!(
        stderr(&out).contains("401") && stderr(&out).contains("BERTH_ADMIN_PASSWORD"),
        "{}",
        stderr(&out)
    );
    // A wrong one: the daemon's own 401.
    let out = run(&["stats"], Some("not-the-password"));
    assert_ne!(exit_code(&out), 0);
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    // The generated password file serves when nothing else is set (as on a first start).
    std::fs::write(d.data_path("admin.password"), ADMIN_PASSWORD).expect("write the file");
    let out = run(&["stats"], None);
    assert_eq!(exit_code(&out), 0, "{}", stderr(&out));
    d.stop();
}
