//! A full disk during an upload, on a small file system of its own.

use super::*;

/// A small file system for the full-disk test: a loop-mounted ext4 image where the machine
/// allows it (root, loop devices), else a size-limited tmpfs. Unmounted on drop.
struct SmallFs {
    _dir: tempfile::TempDir,
    mount: PathBuf,
    kind: &'static str,
}

impl SmallFs {
    fn new(mib: u64) -> SmallFs {
        let dir = tempfile::tempdir().expect("tempdir");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).expect("mount point");
        let image = dir.path().join("fs.img");
        let run = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let (image_s, mount_s) = (image.to_string_lossy(), mount.to_string_lossy());
        let size = format!("{mib}M");
        let kind = if run("truncate", &["-s", &size, &image_s])
            && run("mkfs.ext4", &["-q", "-F", &image_s])
            && run("mount", &["-o", "loop", &image_s, &mount_s])
        {
            "loop-mounted ext4"
        } else if run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m"),
                "tmpfs",
                &mount_s,
            ],
        ) {
            "tmpfs"
        } else {
            panic!(
                "the full-disk test needs a small file system: neither a loop-mounted ext4 \
                 image nor a tmpfs could be mounted (it must run as root)"
            );
        };
        SmallFs {
            _dir: dir,
            mount,
            kind,
        }
    }

    fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(&self.mount)
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df output")
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// The disk fills during an upload: the client gets an OCI error body with 507, the partial
/// upload's bytes are freed and its session is gone, everything stored before still pulls
/// byte for byte, and small pushes (manifests, small blobs) still work — the free-space
/// reserve keeps metadata writable.
#[test]
fn a_full_disk_fails_the_upload_cleanly_and_harms_nothing() {
    const RESERVE: u64 = 32 << 20;
    let fs = SmallFs::new(256);
    println!("full-disk test on a {} of 256 MiB", fs.kind);
    let mut d = Daemon::options()
        .access_control_off(NOT_ABOUT_ACCESS)
        .data_dir(fs.mount.join("data"))
        .config(&format!(
            "[storage]\nmin_free_bytes = {RESERVE}\n[gc]\ninterval_s = 0\n[scrub]\ninterval_s = 0\n"
        ))
        .start();
    d.expected_log.push("refusing upload bytes".into());
    let layer = random_bytes(41, 3 << 20);
    let image = push_image_of(&d, "disk/app", "v1", "disk", &[&layer]);
    let free_before = fs.free_bytes();

    let start = send("POST", &d.url("/v2/disk/big/blobs/uploads/"), &[], &[]);
    assert_eq!(start.status, 202);
    let location = start.header("location").expect("Location").to_owned();
    let chunk = random_bytes(42, 4 << 20);
    let mut offset = 0usize;
    let refused = loop {
        let range = format!("{offset}-{}", offset + chunk.len() - 1);
        let r = send(
            "PATCH",
            &d.url(&location),
            &[("Content-Range", &range)],
            &chunk,
        );
        if r.status != 202 {
            break r;
        }
        offset += chunk.len();
        assert!(offset < 512 << 20, "the disk never filled");
    };
    assert_eq!(
        refused.status,
        507,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    let body = refused.json();
    let message = body["errors"][0]["detail"].as_str().unwrap_or_default();
    assert!(message.contains("storage is full"), "{body}");
    assert!(offset > 64 << 20, "refused too early: after {offset} bytes");

    // The partial upload is cleaned up: no session, no file, its space back.
    let status = send("GET", &d.url(&location), &[], &[]);
    assert_eq!(status.status, 404);
    assert_eq!(status.error_code(), "BLOB_UPLOAD_UNKNOWN");
    let leftovers: Vec<_> = std::fs::read_dir(d.data_path("uploads"))
        .expect("uploads/")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let free_after = fs.free_bytes();
    assert!(
        free_after + (8 << 20) >= free_before,
        "free space {free_before} before the upload, {free_after} after its cleanup"
    );

    // Nothing stored before is harmed, and the registry still takes pushes that fit.
    pull_verified(&d, &image, "v1");
    let small = push_image_of(&d, "disk/app", "v2", "after", &[b"small layer"]);
    pull_verified(&d, &small, "v2");
    d.stop();
    let (code, report) = d.fsck(&[]);
    assert_eq!(code, 0, "{report:#}");
}
