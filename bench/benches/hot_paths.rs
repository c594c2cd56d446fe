//! Micro-benchmarks of hot paths that need no storage: digest verification and identifier and
//! manifest parsing (the engine's pure OCI layer, built without RocksDB).
//!
//! Run with `cargo bench -p berth-bench --bench hot_paths` (a few seconds). Each figure is the
//! best of several timed batches, so a noisy neighbour makes it look worse, never better. An
//! argument filters benchmarks by name: `cargo bench -p berth-bench --bench hot_paths -- sha256`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use berth_engine::oci::media_type::{
    DOCKER_MANIFEST_V2, OCI_CONFIG_V1, OCI_INDEX_V1, OCI_LAYER_TAR_GZIP, OCI_MANIFEST_V1,
};
use berth_engine::oci::{
    parse_manifest, Algorithm, Digest, DigestHasher, Reference, RepoName, Tag,
};

/// Batches per benchmark; the best one is reported.
const BATCHES: usize = 5;
/// Roughly how long one batch of a fast operation runs.
const BATCH_TARGET: Duration = Duration::from_millis(60);

/// Times `op` and prints its best-batch cost per call (and throughput when `bytes_per_op`).
fn bench(filter: Option<&str>, name: &str, bytes_per_op: Option<usize>, mut op: impl FnMut()) {
    if filter.is_some_and(|f| !name.contains(f)) {
        return;
    }
    // Calibrate: how many calls fill one batch.
    let mut calls = 1u64;
    loop {
        let started = Instant::now();
        for _ in 0..calls {
            op();
        }
        if started.elapsed() >= BATCH_TARGET / 4 || calls >= 1 << 30 {
            let per_call = started.elapsed().as_secs_f64() / calls as f64;
            calls = ((BATCH_TARGET.as_secs_f64() / per_call.max(1e-9)) as u64).max(1);
            break;
        }
        calls *= 4;
    }
    let mut best = f64::INFINITY;
    for _ in 0..BATCHES {
        let started = Instant::now();
        for _ in 0..calls {
            op();
        }
        best = best.min(started.elapsed().as_secs_f64() / calls as f64);
    }
    let per_call = if best >= 1e-3 {
        format!("{:>10.2} ms", best * 1e3)
    } else if best >= 1e-6 {
        format!("{:>10.2} µs", best * 1e6)
    } else {
        format!("{:>10.1} ns", best * 1e9)
    };
    match bytes_per_op {
        Some(bytes) => println!(
            "{name:<44} {per_call}/op {:>10.0} MB/s",
            bytes as f64 / best / 1e6
        ),
        None => println!("{name:<44} {per_call}/op"),
    }
}

/// Incompressible test content (splitmix64).
fn content(size: usize) -> Vec<u8> {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(size);
    out
}

fn descriptor(media_type: &str, digest: &Digest, size: usize) -> serde_json::Value {
    serde_json::json!({ "mediaType": media_type, "digest": digest.as_str(), "size": size })
}

fn main() {
    // `cargo bench` passes `--bench`; anything else that is not a flag is a name filter.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let filter = filter.as_deref();

    // Digest verification: what every push (server) and every verified pull (client) pays.
    let blob = content(64 << 20);
    bench(
        filter,
        "sha256 64MiB one call (Digest::sha256_of)",
        Some(blob.len()),
        || {
            black_box(Digest::sha256_of(black_box(&blob)));
        },
    );
    bench(
        filter,
        "sha256 64MiB in 256KiB updates (DigestHasher)",
        Some(blob.len()),
        || {
            let mut hasher = DigestHasher::new(Algorithm::Sha256);
            for chunk in blob.chunks(256 << 10) {
                hasher.update(black_box(chunk));
            }
            black_box(hasher.finish());
        },
    );
    bench(
        filter,
        "sha512 64MiB in 256KiB updates (DigestHasher)",
        Some(blob.len()),
        || {
            let mut hasher = DigestHasher::new(Algorithm::Sha512);
            for chunk in blob.chunks(256 << 10) {
                hasher.update(black_box(chunk));
            }
            black_box(hasher.finish());
        },
    );
    let small = content(4096);
    bench(
        filter,
        "sha256 4KiB (Digest::sha256_of)",
        Some(small.len()),
        || {
            black_box(Digest::sha256_of(black_box(&small)));
        },
    );
    drop(blob);

    // Identifiers: parsed from every request path.
    let digest_text = Digest::sha256_of(b"berth").to_string();
    bench(filter, "Digest::parse sha256", None, || {
        black_box(Digest::parse(black_box(&digest_text)).expect("valid"));
    });
    bench(filter, "RepoName::parse library/ubuntu", None, || {
        black_box(RepoName::parse(black_box("library/ubuntu")).expect("valid"));
    });
    let deep_name = "team-a/platform.services/build_tools/image-builder/x86-64";
    bench(filter, "RepoName::parse 5 components", None, || {
        black_box(RepoName::parse(black_box(deep_name)).expect("valid"));
    });
    bench(filter, "Tag::parse v1.2.3-alpine", None, || {
        black_box(Tag::parse(black_box("v1.2.3-alpine")).expect("valid"));
    });
    bench(filter, "Reference::parse tag", None, || {
        black_box(Reference::parse(black_box("latest")).expect("valid"));
    });
    bench(filter, "Reference::parse digest", None, || {
        black_box(Reference::parse(black_box(&digest_text)).expect("valid"));
    });

    // Manifests: parsed and checked on every push.
    let digests: Vec<Digest> = (0..64u32)
        .map(|i| Digest::sha256_of(&i.to_le_bytes()))
        .collect();
    let image = |media_type: &str, layers: usize| -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": descriptor(OCI_CONFIG_V1, &digests[0], 1469),
            "layers": (1..=layers)
                .map(|i| descriptor(OCI_LAYER_TAR_GZIP, &digests[i], 1 << 20))
                .collect::<Vec<_>>(),
            "annotations": { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
        }))
        .expect("serializes")
    };
    let oci_manifest = image(OCI_MANIFEST_V1, 5);
    bench(
        filter,
        "parse_manifest OCI image, 5 layers",
        Some(oci_manifest.len()),
        || {
            black_box(
                parse_manifest(Some(OCI_MANIFEST_V1), black_box(&oci_manifest)).expect("valid"),
            );
        },
    );
    let big_manifest = image(OCI_MANIFEST_V1, 50);
    bench(
        filter,
        "parse_manifest OCI image, 50 layers",
        Some(big_manifest.len()),
        || {
            black_box(
                parse_manifest(Some(OCI_MANIFEST_V1), black_box(&big_manifest)).expect("valid"),
            );
        },
    );
    let docker_manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_V2,
        "config": descriptor("application/vnd.docker.container.image.v1+json", &digests[0], 1469),
        "layers": (1..=5)
            .map(|i| descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", &digests[i], 1 << 20))
            .collect::<Vec<_>>(),
    }))
    .expect("serializes");
    bench(
        filter,
        "parse_manifest docker schema 2, 5 layers",
        Some(docker_manifest.len()),
        || {
            black_box(
                parse_manifest(Some(DOCKER_MANIFEST_V2), black_box(&docker_manifest))
                    .expect("valid"),
            );
        },
    );
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX_V1,
        "manifests": (0..8)
            .map(|i| {
                let mut d = descriptor(OCI_MANIFEST_V1, &digests[i], 1000);
                d["platform"] = serde_json::json!({ "architecture": "amd64", "os": "linux" });
                d
            })
            .collect::<Vec<_>>(),
    }))
    .expect("serializes");
    bench(
        filter,
        "parse_manifest OCI index, 8 manifests",
        Some(index.len()),
        || {
            black_box(parse_manifest(Some(OCI_INDEX_V1), black_box(&index)).expect("valid"));
        },
    );
}
