//! Micro-benchmarks of the engine's hot paths on real RocksDB and real io_uring files:
//! resolving a tag to its manifest (what every `docker pull` starts with, and what `HEAD` on a
//! manifest is), and the blob read path (one small blob opened, read and closed; a large blob
//! streamed in the server's chunk size). Prints one line per benchmark.
//!
//! `cargo bench --workspace --bench engine_hot_paths` (workspace-wide, so RocksDB is not
//! rebuilt for a different feature set).

use std::hint::black_box;
use std::time::{Duration, Instant};

use berth_engine::oci::{Digest, Reference, RepoName, Tag};
use berth_engine::{Engine, EngineOptions, Uploads};

const TAGS: usize = 1_000;
const LOOKUPS: usize = 200_000;
const SMALL_BLOB_READS: usize = 20_000;
const LARGE_BLOB_BYTES: usize = 64 << 20;
const LARGE_BLOB_PASSES: usize = 8;
const READ_CHUNK_BYTES: usize = 256 << 10;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(1 << 20)
        .spawn(move || async move { run(&root).await })
        .expect("executor")
        .join()
        .expect("benchmarks");
}

async fn run(root: &std::path::Path) {
    let engine = Engine::open(EngineOptions::new(root)).expect("open the engine");
    let (registry, uploads) = (engine.registry(), engine.uploads());
    let repo = RepoName::parse("bench/app").expect("repo");

    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let small = vec![7u8; 4096];
    let large: Vec<u8> = (0..LARGE_BLOB_BYTES).map(|i| (i % 251) as u8).collect();
    let config_digest = push(uploads, &repo, &config).await;
    let small_digest = push(uploads, &repo, &small).await;
    let large_digest = push(uploads, &repo, &large).await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{small_digest}","size":4096}}]}}"#,
        config.len()
    )
    .into_bytes();
    let tags: Vec<Reference> = (0..TAGS)
        .map(|i| Reference::Tag(Tag::parse(&format!("v{i}")).expect("tag")))
        .collect();
    for tag in &tags {
        registry
            .put_manifest(
                &repo,
                tag,
                Some("application/vnd.oci.image.manifest.v1+json"),
                manifest.clone(),
            )
            .await
            .expect("put manifest");
    }

    let started = Instant::now();
    for i in 0..LOOKUPS {
        let content = registry
            .get_manifest(&repo, &tags[i % TAGS])
            .expect("get manifest");
        black_box(content.bytes.len());
    }
    report_per_op(
        "tag -> manifest bytes (GET by tag)",
        started.elapsed(),
        LOOKUPS,
    );

    let started = Instant::now();
    for i in 0..LOOKUPS {
        let info = registry
            .stat_manifest(&repo, &tags[i % TAGS])
            .expect("stat manifest");
        black_box((info.digest, info.size));
    }
    report_per_op(
        "tag -> digest + media type (HEAD by tag)",
        started.elapsed(),
        LOOKUPS,
    );

    let started = Instant::now();
    for _ in 0..SMALL_BLOB_READS {
        let file = registry
            .open_blob(&repo, &small_digest)
            .await
            .expect("open");
        let bytes = file.read(0, 4096).await.expect("read");
        black_box(bytes.len());
        file.close().await.expect("close");
    }
    report_per_op(
        "4 KiB blob: link check, open, read, close",
        started.elapsed(),
        SMALL_BLOB_READS,
    );

    let started = Instant::now();
    for _ in 0..LARGE_BLOB_PASSES {
        let file = registry
            .open_blob(&repo, &large_digest)
            .await
            .expect("open");
        let mut pos = 0u64;
        while pos < LARGE_BLOB_BYTES as u64 {
            let chunk = file.read(pos, READ_CHUNK_BYTES).await.expect("read");
            pos += chunk.len() as u64;
            black_box(chunk.len());
        }
        file.close().await.expect("close");
    }
    let elapsed = started.elapsed();
    let mb = (LARGE_BLOB_BYTES * LARGE_BLOB_PASSES) as f64 / 1e6;
    println!(
        "{:<48} {:>10.0} MB/s   ({LARGE_BLOB_PASSES} passes over 64 MiB in 256 KiB reads)",
        "64 MiB blob streamed (O_DIRECT, one read at a time)",
        mb / elapsed.as_secs_f64()
    );
}

async fn push(uploads: &Uploads, repo: &RepoName, bytes: &[u8]) -> Digest {
    let digest = Digest::sha256_of(bytes);
    let mut appender = uploads.oneshot(repo).await.expect("oneshot");
    appender.write(bytes).await.expect("write");
    appender.finish(&digest).await.expect("finish");
    digest
}

fn report_per_op(name: &str, elapsed: Duration, ops: usize) {
    let per_op = elapsed.as_secs_f64() / ops as f64;
    println!(
        "{name:<48} {:>10.2} µs/op   ({:.0} ops/s, {ops} ops)",
        per_op * 1e6,
        1.0 / per_op
    );
}
