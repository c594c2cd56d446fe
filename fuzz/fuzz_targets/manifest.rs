//! Fuzz target: manifest and index parsing, and the references extracted from them.
//!
//! Input: the request's `Content-Type` on the first line (an empty line means no header), then
//! the body. The seed corpus holds one real document of each kind in this form.
//!
//! Properties:
//! - Parsing is deterministic, and rejection messages are bounded.
//! - A parsed document is consistent with its kind: `media_type` is the kind's; an image
//!   manifest has a config and no children; an index has children and no config or layers;
//!   Docker documents have no subject or annotations.
//! - Every descriptor (`blob_references`, `child_manifests`, `subject`) holds a digest that
//!   re-parses to itself, a size of at most 2^63-1 and a valid media type, and serializes to
//!   JSON that deserializes to an equal descriptor.
//! - Re-emitting the parsed document as JSON (what Berth knows of it) and parsing that again
//!   gives an equal `ParsedManifest`: nothing the registry acts on depends on fields it drops.
#![no_main]

use berth_engine::oci::media_type::is_valid_media_type;
use berth_engine::oci::{parse_manifest, Descriptor, Digest, ParsedManifest};
use berth_fuzz::{assert_bounded_error, split_first_line};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

fuzz_target!(|data: &[u8]| {
    let (header, body) = split_first_line(data);
    let content_type = match std::str::from_utf8(header) {
        Ok("") | Err(_) => None,
        Ok(text) => Some(text),
    };
    let parsed = parse_manifest(content_type, body);
    assert_eq!(
        parsed,
        parse_manifest(content_type, body),
        "parsing is deterministic"
    );
    match parsed {
        Ok(manifest) => check_parsed(content_type, &manifest),
        Err(e) => assert_bounded_error(&e.to_string(), body.len()),
    }
});

fn check_parsed(content_type: Option<&str>, manifest: &ParsedManifest) {
    let kind = manifest.kind;
    assert_eq!(manifest.media_type, kind.media_type());
    if kind.is_index() {
        assert!(manifest.config.is_none() && manifest.layers.is_empty());
        assert_eq!(manifest.blob_references().count(), 0);
    } else {
        assert!(manifest.config.is_some() && manifest.manifests.is_empty());
        assert_eq!(manifest.child_manifests().count(), 0);
        assert_eq!(
            manifest.blob_references().count(),
            1 + manifest.layers.len()
        );
        // The referrers API falls back to the config's media type.
        assert!(manifest.artifact_type.is_some());
    }
    if kind.is_docker() {
        assert!(manifest.subject.is_none() && manifest.annotations.is_empty());
    }
    if let Some(artifact_type) = &manifest.artifact_type {
        assert!(is_valid_media_type(artifact_type), "{artifact_type:?}");
    }
    let descriptors = manifest
        .blob_references()
        .chain(manifest.child_manifests())
        .chain(manifest.subject.iter());
    for descriptor in descriptors {
        check_descriptor(descriptor);
    }
    check_reemitted(content_type, manifest);
}

fn check_descriptor(descriptor: &Descriptor) {
    let digest = &descriptor.digest;
    assert_eq!(
        Digest::parse(digest.as_str()).as_ref(),
        Ok(digest),
        "digest re-parses"
    );
    assert!(
        i64::try_from(descriptor.size).is_ok(),
        "size {}",
        descriptor.size
    );
    assert!(
        is_valid_media_type(&descriptor.media_type),
        "{:?}",
        descriptor.media_type
    );
    if let Some(artifact_type) = &descriptor.artifact_type {
        assert!(is_valid_media_type(artifact_type), "{artifact_type:?}");
    }
    let json = serde_json::to_string(descriptor).expect("a descriptor serializes");
    let back: Descriptor = serde_json::from_str(&json).expect("a serialized descriptor parses");
    assert_eq!(&back, descriptor, "descriptor JSON round trip: {json}");
}

/// Builds the document Berth's view of `manifest` describes, parses it again (with the same
/// `Content-Type`, which may decide the kind) and expects the same view.
fn check_reemitted(content_type: Option<&str>, manifest: &ParsedManifest) {
    let to_value = |d: &Descriptor| serde_json::to_value(d).expect("a descriptor serializes");
    let mut document = Map::new();
    document.insert("schemaVersion".into(), json!(2));
    document.insert("mediaType".into(), json!(manifest.media_type));
    if manifest.kind.is_index() {
        let children: Vec<Value> = manifest.manifests.iter().map(to_value).collect();
        document.insert("manifests".into(), Value::Array(children));
    } else {
        let config = manifest
            .config
            .as_ref()
            .expect("an image manifest has a config");
        document.insert("config".into(), to_value(config));
        let layers: Vec<Value> = manifest.layers.iter().map(to_value).collect();
        document.insert("layers".into(), Value::Array(layers));
    }
    if let Some(subject) = &manifest.subject {
        document.insert("subject".into(), to_value(subject));
    }
    if !manifest.kind.is_docker() {
        if let Some(artifact_type) = &manifest.artifact_type {
            document.insert("artifactType".into(), json!(artifact_type));
        }
        if !manifest.annotations.is_empty() {
            document.insert("annotations".into(), json!(manifest.annotations));
        }
    }
    let bytes = serde_json::to_vec(&Value::Object(document)).expect("a document serializes");
    let again = parse_manifest(content_type, &bytes);
    assert_eq!(
        again.as_ref(),
        Ok(manifest),
        "re-emitted document: {}",
        String::from_utf8_lossy(&bytes)
    );
}
