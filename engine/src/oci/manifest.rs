//! Manifest parsing: turns an untrusted manifest or index body into a [`ParsedManifest`].
//!
//! This module owns the answer to "what does this document reference?": the config and layer
//! blobs of an image manifest, the child manifests of an index, and the `subject` a referrer
//! points at. Storage, garbage collection and the referrers API all work from that answer, so it
//! is computed in exactly one place.
//!
//! How the kind of a document is decided:
//!
//! 1. The body's `mediaType` field, if present, must be exactly one of the four supported
//!    types. A `Content-Type` header that names a different manifest type is a
//!    [`ManifestError::MediaTypeMismatch`].
//! 2. Otherwise a `Content-Type` naming a manifest type decides. Docker types require the
//!    `mediaType` field (Docker schema 2 has it mandatory); OCI types may omit it.
//! 3. Otherwise (no header, or one such as `application/json` that names no manifest type) the
//!    shape decides, as the OCI image spec suggests: `manifests` means an OCI index,
//!    `config`/`layers` an OCI image manifest, both is [`ManifestError::KindAmbiguous`].
//!
//! **Invariant:** a [`ParsedManifest`] only exists for a document with `schemaVersion: 2` whose
//! required descriptors are all present and valid: every digest parsed, every size a
//! non-negative int64, every media type well-formed.
//!
//! **Invariant:** a field that decides what the document references (`mediaType`, `config`,
//! `layers`, `manifests`, `subject`, and each descriptor's `mediaType`, `digest`, `size`) is
//! rejected if it appears twice, not resolved by taking one of the values: two parsers must
//! never see two different manifests in the same bytes. (Annotation maps keep the last value
//! of a repeated key, as every JSON library does.)
//!
//! What this module does not do: limit the body size (the caller reads the body under its own
//! limit), compute the manifest's digest, or check that referenced blobs exist.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::digest::Digest;
use super::media_type::{is_valid_media_type, ManifestKind};
use super::text::excerpt;

/// A reference from a manifest to content: an OCI content descriptor.
///
/// Serializes as an OCI descriptor (camelCase keys; `artifactType` and `annotations` omitted
/// when absent), so it can be re-emitted as is, for example in a referrers index. It also
/// deserializes, for Berth's own stored copies; untrusted documents go through
/// [`parse_manifest`], which checks media types too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    pub media_type: String,
    /// The digest of the referenced content.
    pub digest: Digest,
    /// The size of the referenced content in bytes.
    pub size: u64,
    /// The artifact type of the referenced manifest, if it declared one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The descriptor's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What a valid manifest or index says, reduced to what the registry needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedManifest {
    /// Which of the four supported document types this is.
    pub kind: ManifestKind,
    /// The canonical media type of `kind` (what to send as `Content-Type` when serving it).
    pub media_type: String,
    /// The config blob; always present for image manifests, never for indexes.
    pub config: Option<Descriptor>,
    /// The layer blobs of an image manifest, in order; empty for indexes.
    pub layers: Vec<Descriptor>,
    /// The child manifests of an index, in order; empty for image manifests.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (OCI only). It need not exist in the registry.
    pub subject: Option<Descriptor>,
    /// The artifact type reported by the referrers API: the document's `artifactType`, else,
    /// for image manifests, the config's media type.
    pub artifact_type: Option<String>,
    /// The document's annotations (OCI only).
    pub annotations: BTreeMap<String, String>,
}

impl ParsedManifest {
    /// The blobs this document references: the config (even when it is the empty descriptor)
    /// followed by the layers. Empty for indexes.
    pub fn blob_references(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter())
    }

    /// The manifests an index references. Empty for image manifests. The `subject` is not a
    /// child: it is a weak reference that keeps nothing alive.
    pub fn child_manifests(&self) -> impl Iterator<Item = &Descriptor> {
        self.manifests.iter()
    }
}

/// Why a manifest body was rejected. Every message names the field and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The body is not JSON, or not JSON of the right shape (wrong types, duplicate keys,
    /// nesting too deep).
    #[error("manifest is not a valid JSON document: {reason}")]
    InvalidJson {
        /// The JSON parser's description, with line and column.
        reason: String,
    },
    /// The declared media type is not one Berth stores, or no media type could be determined.
    #[error("{}", unsupported_media_type_message(.media_type))]
    UnsupportedMediaType {
        /// The declared media type (an excerpt); empty if none was declared.
        media_type: String,
    },
    /// The `Content-Type` header and the body's `mediaType` name different manifest types.
    #[error(
        "Content-Type {header:?} does not match the manifest's mediaType {body:?}; \
         send the manifest with the Content-Type of its mediaType"
    )]
    MediaTypeMismatch {
        /// The `Content-Type` header value (an excerpt).
        header: String,
        /// The body's `mediaType` value (an excerpt).
        body: String,
    },
    /// `schemaVersion` is not 2.
    #[error(
        "manifest schemaVersion is {found}, but only schemaVersion 2 is supported \
         (Docker schema 1 manifests must be converted before pushing)"
    )]
    SchemaVersion {
        /// The value found, as JSON text (an excerpt).
        found: String,
    },
    /// A required field is absent (or null).
    #[error("manifest is missing the required field `{field}`")]
    MissingField {
        /// The path of the field, e.g. `config` or `layers[2].digest`.
        field: String,
    },
    /// A top-level field of the document has an invalid value.
    #[error("manifest field `{field}` {reason}")]
    InvalidField {
        /// The field's name, e.g. `annotations`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A field of a descriptor has an invalid value.
    #[error("manifest descriptor field `{field}` {reason}")]
    InvalidDescriptor {
        /// The path of the field, e.g. `layers[2].digest`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing says which kind the document is, and its shape fits both kinds.
    #[error(
        "manifest has no mediaType and the Content-Type names no manifest type, but it has both \
         `manifests` and `config`/`layers`; set mediaType to say whether it is an image manifest \
         or an index"
    )]
    KindAmbiguous,
}

fn unsupported_media_type_message(media_type: &str) -> String {
    let supported = ManifestKind::ALL.map(ManifestKind::media_type).join(", ");
    if media_type.is_empty() {
        format!(
            "manifest media type cannot be determined: there is no mediaType field, no \
             Content-Type naming a manifest type, and the document has neither `manifests` nor \
             `config`/`layers`; supported media types: {supported}"
        )
    } else {
        format!("manifest media type {media_type:?} is not supported; supported media types: {supported}")
    }
}

/// Parses and validates a manifest or index.
///
/// `content_type` is the request's `Content-Type` header, if any. See the module docs for how
/// the kind is decided and what is checked.
pub fn parse_manifest(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<ParsedManifest, ManifestError> {
    // JSON text is UTF-8 (RFC 8259), but serde_json only checks the strings it decodes, not
    // those it skips in unknown fields; check it all, so every client can read what we store.
    let text = std::str::from_utf8(bytes).map_err(|e| ManifestError::InvalidJson {
        reason: format!(
            "the body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ),
    })?;
    let Object(raw) = serde_json::from_str::<Object<RawManifest>>(text).map_err(invalid_json)?;
    check_schema_version(raw.schema_version.as_ref())?;
    let kind = manifest_kind(content_type, &raw)?;

    let mut parsed = ParsedManifest {
        kind,
        media_type: kind.media_type().to_owned(),
        config: None,
        layers: Vec::new(),
        manifests: Vec::new(),
        subject: None,
        artifact_type: None,
        annotations: BTreeMap::new(),
    };

    if kind.is_index() {
        let manifests = raw.manifests.ok_or_else(|| missing("manifests"))?;
        parsed.manifests = descriptors(manifests, "manifests")?;
    } else {
        let Object(config) = raw.config.ok_or_else(|| missing("config"))?;
        parsed.config = Some(descriptor(config, "config")?);
        let layers = raw.layers.ok_or_else(|| missing("layers"))?;
        parsed.layers = descriptors(layers, "layers")?;
    }

    // Docker schema 2 has no subject, artifactType or annotations; such fields in a Docker
    // document are ignored, as the reference registry does.
    if !kind.is_docker() {
        parsed.subject = match raw.subject {
            Some(Object(subject)) => Some(descriptor(subject, "subject")?),
            None => None,
        };
        parsed.artifact_type = optional_media_type(raw.artifact_type).map_err(|reason| {
            ManifestError::InvalidField {
                field: "artifactType".to_owned(),
                reason,
            }
        })?;
        parsed.annotations =
            annotations(raw.annotations).map_err(|reason| ManifestError::InvalidField {
                field: "annotations".to_owned(),
                reason,
            })?;
    }

    // Distribution spec, listing referrers: "If the artifactType is empty or missing in an
    // image manifest, the value of artifactType MUST be set to the config descriptor mediaType".
    if parsed.artifact_type.is_none() {
        parsed.artifact_type = parsed.config.as_ref().map(|c| c.media_type.clone());
    }
    Ok(parsed)
}

/// The fields of a manifest or index that Berth reads. Unknown fields are ignored (the specs
/// require it); known fields that appear twice are rejected by serde's derive.
///
/// Scalars are held as [`Value`] and checked by hand so that errors can name the field.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<Value>,
    media_type: Option<Value>,
    artifact_type: Option<Value>,
    config: Option<Object<RawDescriptor>>,
    layers: Option<Vec<Object<RawDescriptor>>>,
    manifests: Option<Vec<Object<RawDescriptor>>>,
    subject: Option<Object<RawDescriptor>>,
    annotations: Option<Value>,
}

/// The fields of a descriptor that Berth reads or checks.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<Value>,
    digest: Option<Value>,
    size: Option<Value>,
    urls: Option<Value>,
    annotations: Option<Value>,
    artifact_type: Option<Value>,
    platform: Option<Value>,
}

/// Deserializes `T` from a JSON object only.
///
/// Serde's derived structs also accept a JSON array, taking fields by position. A manifest
/// written that way would be accepted here and rejected by every client, so it is refused.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<fn() -> T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Object)
    }
}

/// Keeps serde_json's line and column but bounds the part that may quote the input.
fn invalid_json(error: serde_json::Error) -> ManifestError {
    let full = error.to_string();
    let reason = if error.line() == 0 {
        excerpt(&full)
    } else {
        let position = format!(" at line {} column {}", error.line(), error.column());
        let message = full.strip_suffix(&position).unwrap_or(&full);
        format!("{}{position}", excerpt(message))
    };
    ManifestError::InvalidJson { reason }
}

fn missing(field: &str) -> ManifestError {
    ManifestError::MissingField {
        field: field.to_owned(),
    }
}

fn check_schema_version(value: Option<&Value>) -> Result<(), ManifestError> {
    match value {
        None => Err(missing("schemaVersion")),
        Some(v) if v.as_u64() == Some(2) => Ok(()),
        Some(v) => Err(ManifestError::SchemaVersion {
            found: excerpt(&v.to_string()),
        }),
    }
}

/// Decides the document's kind; see the module docs for the rules.
fn manifest_kind(
    content_type: Option<&str>,
    raw: &RawManifest,
) -> Result<ManifestKind, ManifestError> {
    let from_body = match &raw.media_type {
        None => None,
        Some(Value::String(text)) => {
            // The body is JSON, not a header: its media type must be exact.
            match ManifestKind::ALL
                .into_iter()
                .find(|k| k.media_type() == text)
            {
                Some(kind) => Some((kind, text.as_str())),
                None => {
                    return Err(ManifestError::UnsupportedMediaType {
                        media_type: excerpt(text),
                    })
                }
            }
        }
        Some(_) => {
            return Err(ManifestError::InvalidField {
                field: "mediaType".to_owned(),
                reason: "must be a string".to_owned(),
            })
        }
    };
    let from_header =
        content_type.and_then(|text| ManifestKind::from_media_type(text).map(|kind| (kind, text)));

    match (from_body, from_header) {
        (Some((body, body_text)), Some((header, header_text))) if body != header => {
            Err(ManifestError::MediaTypeMismatch {
                header: excerpt(header_text),
                body: excerpt(body_text),
            })
        }
        (Some((body, _)), _) => Ok(body),
        (None, Some((header, _))) if header.is_docker() => Err(missing("mediaType")),
        (None, Some((header, _))) => Ok(header),
        (None, None) => {
            let index_shaped = raw.manifests.is_some();
            let image_shaped = raw.config.is_some() || raw.layers.is_some();
            match (index_shaped, image_shaped) {
                (true, true) => Err(ManifestError::KindAmbiguous),
                (true, false) => Ok(ManifestKind::OciIndex),
                (false, true) => Ok(ManifestKind::OciManifest),
                (false, false) => Err(ManifestError::UnsupportedMediaType {
                    media_type: content_type.map(excerpt).unwrap_or_default(),
                }),
            }
        }
    }
}

fn descriptors(
    raw: Vec<Object<RawDescriptor>>,
    array_name: &str,
) -> Result<Vec<Descriptor>, ManifestError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, Object(d))| descriptor(d, &format!("{array_name}[{i}]")))
        .collect()
}

/// Validates one descriptor; `path` names it in errors (`config`, `layers[2]`, …).
fn descriptor(raw: RawDescriptor, path: &str) -> Result<Descriptor, ManifestError> {
    let field = |name: &str| format!("{path}.{name}");
    let invalid = |name: &str, reason: String| ManifestError::InvalidDescriptor {
        field: field(name),
        reason,
    };

    let media_type = raw
        .media_type
        .ok_or_else(|| missing(&field("mediaType")))
        .and_then(|v| media_type(v).map_err(|r| invalid("mediaType", r)))?;

    let digest = match raw.digest {
        None => return Err(missing(&field("digest"))),
        Some(Value::String(text)) => Digest::parse(&text)
            .map_err(|e| invalid("digest", format!("is not a valid digest: {e}")))?,
        Some(_) => return Err(invalid("digest", "must be a string".to_owned())),
    };

    let size = match raw.size {
        None => return Err(missing(&field("size"))),
        Some(v) => match v.as_i64().and_then(|n| u64::try_from(n).ok()) {
            Some(size) => size,
            None => {
                return Err(invalid(
                    "size",
                    format!(
                        "is {}, but must be an integer from 0 to 2^63-1",
                        excerpt(&v.to_string())
                    ),
                ))
            }
        },
    };

    let artifact_type =
        optional_media_type(raw.artifact_type).map_err(|r| invalid("artifactType", r))?;
    let annotations = annotations(raw.annotations).map_err(|r| invalid("annotations", r))?;

    match raw.urls {
        None => {}
        Some(Value::Array(urls)) if urls.iter().all(Value::is_string) => {}
        Some(_) => return Err(invalid("urls", "must be an array of strings".to_owned())),
    }

    if let Some(platform) = raw.platform {
        let Value::Object(platform) = platform else {
            return Err(invalid("platform", "must be an object".to_owned()));
        };
        for key in ["architecture", "os"] {
            match platform.get(key) {
                None | Some(Value::Null) => {
                    return Err(missing(&field(&format!("platform.{key}"))))
                }
                Some(Value::String(_)) => {}
                Some(_) => {
                    return Err(invalid(
                        &format!("platform.{key}"),
                        "must be a string".to_owned(),
                    ))
                }
            }
        }
    }

    Ok(Descriptor {
        media_type,
        digest,
        size,
        artifact_type,
        annotations,
    })
}

/// A required media type: a string in RFC 6838 form.
fn media_type(value: Value) -> Result<String, String> {
    match value {
        Value::String(text) if is_valid_media_type(&text) => Ok(text),
        Value::String(text) => Err(format!(
            "is {:?}, which is not a media type of the form type/subtype",
            excerpt(&text)
        )),
        _ => Err("must be a string".to_owned()),
    }
}

/// An optional media type; the specs treat an empty string like an absent one.
fn optional_media_type(value: Option<Value>) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(v) => media_type(v).map(Some),
    }
}

/// Annotations: an object whose values are all strings.
fn annotations(value: Option<Value>) -> Result<BTreeMap<String, String>, String> {
    let entries = match value {
        None => return Ok(BTreeMap::new()),
        Some(Value::Object(entries)) => entries,
        Some(_) => return Err("must be an object mapping strings to strings".to_owned()),
    };
    entries
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            _ => Err(format!(
                "has a non-string value for the key {:?}",
                excerpt(&key)
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::media_type::{
        DOCKER_CONFIG_V1, DOCKER_MANIFEST_LIST_V2, DOCKER_MANIFEST_V2, OCI_EMPTY_CONTENT,
        OCI_EMPTY_V1, OCI_INDEX_V1, OCI_LAYER_TAR_GZIP, OCI_MANIFEST_V1,
    };
    use super::*;
    use proptest::prelude::*;

    /// Placeholders used in the test documents, and the content they are digests of.
    const PLACEHOLDERS: [(&str, &str); 9] = [
        ("@config", "config"),
        ("@layer1", "layer1"),
        ("@layer2", "layer2"),
        ("@layer3", "layer3"),
        ("@amd64", "amd64"),
        ("@arm64", "arm64"),
        ("@subject", "subject"),
        ("@sig", "sig"),
        ("@sbom", "sbom"),
    ];

    /// Replaces `@name` placeholders in a test document by the sha256 digest of `name`, and
    /// `@empty` by the digest of the OCI empty blob.
    fn fill(document: &str) -> String {
        let mut out = document.replace("@empty", Digest::sha256_of(OCI_EMPTY_CONTENT).as_str());
        for (placeholder, content) in PLACEHOLDERS {
            out = out.replace(placeholder, Digest::sha256_of(content.as_bytes()).as_str());
        }
        out
    }

    /// The placeholder name for a digest, so rendered results stay short and readable.
    fn name_of(digest: &Digest) -> String {
        if *digest == Digest::sha256_of(OCI_EMPTY_CONTENT) {
            return "@empty".to_owned();
        }
        PLACEHOLDERS
            .iter()
            .find(|(_, content)| *digest == Digest::sha256_of(content.as_bytes()))
            .map_or_else(
                || digest.to_string(),
                |(placeholder, _)| placeholder.to_string(),
            )
    }

    fn render_descriptor(d: &Descriptor) -> String {
        let mut out = format!("{} {} {}", d.media_type, name_of(&d.digest), d.size);
        if let Some(t) = &d.artifact_type {
            out += &format!(" artifactType={t}");
        }
        for (k, v) in &d.annotations {
            out += &format!(" {k}={v}");
        }
        out
    }

    fn render(result: &Result<ParsedManifest, ManifestError>) -> String {
        let m = match result {
            Ok(m) => m,
            Err(e) => return format!("{e:?}"),
        };
        assert_eq!(m.media_type, m.kind.media_type());
        let mut lines = vec![format!("{:?}", m.kind)];
        if let Some(t) = &m.artifact_type {
            lines.push(format!("artifactType {t}"));
        }
        if let Some(c) = &m.config {
            lines.push(format!("config {}", render_descriptor(c)));
        }
        for l in &m.layers {
            lines.push(format!("layer {}", render_descriptor(l)));
        }
        for c in &m.manifests {
            lines.push(format!("manifest {}", render_descriptor(c)));
        }
        if let Some(s) = &m.subject {
            lines.push(format!("subject {}", render_descriptor(s)));
        }
        for (k, v) in &m.annotations {
            lines.push(format!("annotation {k}={v}"));
        }
        lines.join("\n")
    }

    /// Parses `document` (after [`fill`]) with `content_type` and compares a rendering of the
    /// outcome with `expected`: one line per part of the manifest, or the error's `Debug` form.
    /// Indentation in `expected` is ignored.
    fn check(content_type: Option<&str>, document: &str, expected: &str) {
        let actual = render(&parse_manifest(content_type, fill(document).as_bytes()));
        let expected: Vec<&str> = expected
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(actual, expected.join("\n"), "document:\n{document}");
    }

    const DOCKER_IMAGE: &str = r#"{
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": "@config"
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 32654,
                "digest": "@layer1"
            },
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 16724,
                "digest": "@layer2"
            },
            {
                "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                "size": 73109,
                "digest": "@layer3",
                "urls": ["https://example.invalid/layer3.tar.gz"]
            }
        ]
    }"#;

    #[test]
    fn docker_image_manifest() {
        let expected = "
            DockerManifest
            artifactType application/vnd.docker.container.image.v1+json
            config application/vnd.docker.container.image.v1+json @config 7023
            layer application/vnd.docker.image.rootfs.diff.tar.gzip @layer1 32654
            layer application/vnd.docker.image.rootfs.diff.tar.gzip @layer2 16724
            layer application/vnd.docker.image.rootfs.foreign.diff.tar.gzip @layer3 73109
        ";
        check(None, DOCKER_IMAGE, expected);
        check(Some(DOCKER_MANIFEST_V2), DOCKER_IMAGE, expected);
        // A header that names no manifest type leaves the decision to the body.
        check(Some("application/json"), DOCKER_IMAGE, expected);
    }

    #[test]
    fn docker_manifest_list() {
        let document = r#"{
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "size": 7143,
                    "digest": "@amd64",
                    "platform": { "architecture": "amd64", "os": "linux" }
                },
                {
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "size": 7682,
                    "digest": "@arm64",
                    "platform": {
                        "architecture": "arm64",
                        "os": "linux",
                        "variant": "v8",
                        "features": ["sse4"]
                    }
                }
            ]
        }"#;
        check(
            Some(DOCKER_MANIFEST_LIST_V2),
            document,
            "
            DockerManifestList
            manifest application/vnd.docker.distribution.manifest.v2+json @amd64 7143
            manifest application/vnd.docker.distribution.manifest.v2+json @arm64 7682
            ",
        );
    }

    const OCI_IMAGE_WITHOUT_MEDIA_TYPE: &str = r#"{
        "schemaVersion": 2,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "@config",
            "size": 7023
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "@layer1",
                "size": 32654,
                "annotations": { "org.opencontainers.image.title": "layer1.tar.gz" }
            },
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
                "digest": "@layer2",
                "size": 16724
            }
        ],
        "annotations": {
            "org.opencontainers.image.created": "2024-01-02T03:04:05Z",
            "com.example.key1": "value1"
        }
    }"#;

    #[test]
    fn oci_image_manifest() {
        let expected = "
            OciManifest
            artifactType application/vnd.oci.image.config.v1+json
            config application/vnd.oci.image.config.v1+json @config 7023
            layer application/vnd.oci.image.layer.v1.tar+gzip @layer1 32654 org.opencontainers.image.title=layer1.tar.gz
            layer application/vnd.oci.image.layer.v1.tar+zstd @layer2 16724
            annotation com.example.key1=value1
            annotation org.opencontainers.image.created=2024-01-02T03:04:05Z
        ";
        // Without mediaType in the body: the header decides, or failing that the shape.
        check(
            Some(OCI_MANIFEST_V1),
            OCI_IMAGE_WITHOUT_MEDIA_TYPE,
            expected,
        );
        check(
            Some(" application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
            OCI_IMAGE_WITHOUT_MEDIA_TYPE,
            expected,
        );
        check(None, OCI_IMAGE_WITHOUT_MEDIA_TYPE, expected);
        check(
            Some("application/octet-stream"),
            OCI_IMAGE_WITHOUT_MEDIA_TYPE,
            expected,
        );
        // With mediaType in the body.
        let with_media_type = OCI_IMAGE_WITHOUT_MEDIA_TYPE.replacen(
            "{",
            r#"{ "mediaType": "application/vnd.oci.image.manifest.v1+json","#,
            1,
        );
        check(Some(OCI_MANIFEST_V1), &with_media_type, expected);
        check(None, &with_media_type, expected);
    }

    #[test]
    fn oci_index_with_platforms() {
        let document = r#"{
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "size": 7143,
                    "digest": "@amd64",
                    "platform": { "architecture": "amd64", "os": "linux" }
                },
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "size": 7682,
                    "digest": "@arm64",
                    "platform": { "architecture": "arm64", "os": "linux", "variant": "v8" }
                },
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "size": 840,
                    "digest": "@sbom",
                    "platform": { "architecture": "unknown", "os": "unknown" },
                    "annotations": {
                        "vnd.docker.reference.digest": "@amd64",
                        "vnd.docker.reference.type": "attestation-manifest"
                    }
                }
            ],
            "annotations": { "com.example.index": "yes" }
        }"#;
        let expected = "
            OciIndex
            manifest application/vnd.oci.image.manifest.v1+json @amd64 7143
            manifest application/vnd.oci.image.manifest.v1+json @arm64 7682
            manifest application/vnd.oci.image.manifest.v1+json @sbom 840 vnd.docker.reference.digest=sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51 vnd.docker.reference.type=attestation-manifest
            annotation com.example.index=yes
        ";
        check(Some(OCI_INDEX_V1), document, expected);
        check(None, document, expected);
        let with_media_type = document.replacen(
            "{",
            r#"{ "mediaType": "application/vnd.oci.image.index.v1+json","#,
            1,
        );
        check(None, &with_media_type, expected);
    }

    #[test]
    fn oci_artifact_with_empty_config_and_subject() {
        let document = r#"{
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.example.signature.v1",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": "@empty",
                "size": 2,
                "data": "e30="
            },
            "layers": [
                {
                    "mediaType": "application/vnd.example.signature.v1+json",
                    "digest": "@sig",
                    "size": 1234
                }
            ],
            "subject": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "@subject",
                "size": 1337
            },
            "annotations": { "org.opencontainers.image.created": "2024-05-06T07:08:09Z" }
        }"#;
        check(
            Some(OCI_MANIFEST_V1),
            document,
            "
            OciManifest
            artifactType application/vnd.example.signature.v1
            config application/vnd.oci.empty.v1+json @empty 2
            layer application/vnd.example.signature.v1+json @sig 1234
            subject application/vnd.oci.image.manifest.v1+json @subject 1337
            annotation org.opencontainers.image.created=2024-05-06T07:08:09Z
            ",
        );
    }

    #[test]
    fn artifact_without_layers_or_artifact_type_falls_back_to_config_type() {
        let document = r#"{
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "",
            "config": {
                "mediaType": "application/vnd.example.config.v1+json",
                "digest": "@config",
                "size": 10
            },
            "layers": [],
            "subject": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "@subject",
                "size": 1337,
                "artifactType": "application/vnd.example.parent"
            }
        }"#;
        check(
            None,
            document,
            "
            OciManifest
            artifactType application/vnd.example.config.v1+json
            config application/vnd.example.config.v1+json @config 10
            subject application/vnd.oci.image.manifest.v1+json @subject 1337 artifactType=application/vnd.example.parent
            ",
        );
    }

    #[test]
    fn index_with_artifact_type_and_subject() {
        let document = r#"{
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "artifactType": "application/vnd.example.bundle",
            "manifests": [],
            "subject": { "mediaType": "application/vnd.oci.image.index.v1+json", "digest": "@subject", "size": 99 }
        }"#;
        check(
            None,
            document,
            "
            OciIndex
            artifactType application/vnd.example.bundle
            subject application/vnd.oci.image.index.v1+json @subject 99
            ",
        );
    }

    #[test]
    fn docker_documents_ignore_oci_only_fields() {
        let document = DOCKER_IMAGE.replacen(
            "{",
            r#"{ "artifactType": "not a media type", "subject": { "bogus": 1 }, "annotations": 7,"#,
            1,
        );
        let result = parse_manifest(None, fill(&document).as_bytes()).unwrap();
        assert_eq!(result.kind, ManifestKind::DockerManifest);
        assert_eq!(result.subject, None);
        assert!(result.annotations.is_empty());
        assert_eq!(result.artifact_type.as_deref(), Some(DOCKER_CONFIG_V1));
    }

    #[test]
    fn kind_decision_errors() {
        let oci_image = OCI_IMAGE_WITHOUT_MEDIA_TYPE;
        check(
            Some(OCI_INDEX_V1),
            &oci_image.replacen(
                "{",
                r#"{ "mediaType": "application/vnd.oci.image.manifest.v1+json","#,
                1,
            ),
            r#"MediaTypeMismatch { header: "application/vnd.oci.image.index.v1+json", body: "application/vnd.oci.image.manifest.v1+json" }"#,
        );
        check(
            Some(OCI_MANIFEST_V1),
            DOCKER_IMAGE,
            r#"MediaTypeMismatch { header: "application/vnd.oci.image.manifest.v1+json", body: "application/vnd.docker.distribution.manifest.v2+json" }"#,
        );
        // The header decides; the body lacks what that kind requires.
        check(
            Some(OCI_INDEX_V1),
            oci_image,
            r#"MissingField { field: "manifests" }"#,
        );
        // Docker schema 2 requires the mediaType field in the body.
        check(
            Some(DOCKER_MANIFEST_V2),
            &DOCKER_IMAGE.replace(
                r#""mediaType": "application/vnd.docker.distribution.manifest.v2+json","#,
                "",
            ),
            r#"MissingField { field: "mediaType" }"#,
        );
        check(
            Some(OCI_MANIFEST_V1),
            r#"{ "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws" }"#,
            r#"UnsupportedMediaType { media_type: "application/vnd.docker.distribution.manifest.v1+prettyjws" }"#,
        );
        // The body's mediaType is compared exactly.
        check(
            None,
            r#"{ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json; x=y" }"#,
            r#"UnsupportedMediaType { media_type: "application/vnd.oci.image.manifest.v1+json; x=y" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": 2, "mediaType": 17 }"#,
            r#"InvalidField { field: "mediaType", reason: "must be a string" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": 2 }"#,
            r#"UnsupportedMediaType { media_type: "" }"#,
        );
        check(
            Some("application/x-unknown"),
            r#"{ "schemaVersion": 2 }"#,
            r#"UnsupportedMediaType { media_type: "application/x-unknown" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": 2, "manifests": [], "layers": [] }"#,
            "KindAmbiguous",
        );
        // Shape says image manifest, so the missing half is reported by name.
        check(
            None,
            r#"{ "schemaVersion": 2, "layers": [] }"#,
            r#"MissingField { field: "config" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": 2, "config": { "mediaType": "a/b", "digest": "@config", "size": 1 } }"#,
            r#"MissingField { field: "layers" }"#,
        );
    }

    #[test]
    fn schema_version_errors() {
        check(
            None,
            r#"{ "schemaVersion": 1, "fsLayers": [] }"#,
            r#"SchemaVersion { found: "1" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": "2" }"#,
            r#"SchemaVersion { found: "\"2\"" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": 2.0 }"#,
            r#"SchemaVersion { found: "2.0" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": null, "manifests": [] }"#,
            r#"MissingField { field: "schemaVersion" }"#,
        );
        check(
            None,
            r#"{ "manifests": [] }"#,
            r#"MissingField { field: "schemaVersion" }"#,
        );
    }

    #[test]
    fn invalid_json_errors() {
        check(
            None,
            "",
            r#"InvalidJson { reason: "EOF while parsing a value at line 1 column 0" }"#,
        );
        check(
            None,
            "not json",
            r#"InvalidJson { reason: "expected ident at line 1 column 2" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": 2, "manifests": [] } trailing"#,
            r#"InvalidJson { reason: "trailing characters at line 1 column 41" }"#,
        );
        check(
            None,
            "[2]",
            r#"InvalidJson { reason: "invalid type: sequence, expected a JSON object at line 1 column 0" }"#,
        );
        check(
            None,
            "null",
            r#"InvalidJson { reason: "invalid type: null, expected a JSON object at line 1 column 4" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": 2, "config": ["a/b", "@config", 1], "layers": [] }"#,
            r#"InvalidJson { reason: "invalid type: sequence, expected a JSON object at line 1 column 32" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": 2, "layers": {}, "config": {} }"#,
            r#"InvalidJson { reason: "invalid type: map, expected a sequence at line 1 column 32" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": 2, "manifests": [], "manifests": [] }"#,
            r#"InvalidJson { reason: "duplicate field `manifests` at line 1 column 50" }"#,
        );
        check(
            None,
            r#"{ "schemaVersion": 2, "manifests": [ { "digest": "@amd64", "digest": "@arm64" } ] }"#,
            r#"InvalidJson { reason: "duplicate field `digest` at line 1 column 132" }"#,
        );
        // Invalid UTF-8 is refused even where serde_json would skip it unchecked.
        for field in ["mediaType", "unknownField"] {
            let document = format!(r#"{{ "schemaVersion": 2, "{field}": "?" }}"#);
            let mut bytes = document.into_bytes();
            let at = bytes.iter().position(|&b| b == b'?').unwrap();
            bytes[at] = 0xff;
            assert_eq!(
                render(&parse_manifest(None, &bytes)),
                format!(
                    r#"InvalidJson {{ reason: "the body is not UTF-8 (invalid byte at offset {at})" }}"#
                )
            );
        }
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let depth = 100_000;
        let nested = |field: &str| {
            let document = format!(
                r#"{{ "schemaVersion": 2, "{field}": {}{} }}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            parse_manifest(None, document.as_bytes())
        };
        // Where a value is parsed, serde_json's recursion limit stops it.
        for field in ["annotations", "mediaType"] {
            let result = nested(field);
            assert!(
                matches!(&result, Err(ManifestError::InvalidJson { reason }) if reason.starts_with("recursion limit exceeded")),
                "{field}: {result:?}"
            );
        }
        // Unknown fields are skipped without recursion; the document is simply incomplete.
        assert_eq!(
            nested("unknownField"),
            Err(ManifestError::UnsupportedMediaType {
                media_type: String::new()
            })
        );
    }

    #[test]
    fn descriptor_errors() {
        // Each case replaces the config descriptor of a valid OCI manifest.
        let check_config = |config: &str, expected: &str| {
            let document = format!(
                r#"{{ "schemaVersion": 2, "mediaType": "{OCI_MANIFEST_V1}", "config": {config}, "layers": [] }}"#
            );
            check(None, &document, expected);
        };
        check_config(
            r#"{ "digest": "@config", "size": 1 }"#,
            r#"MissingField { field: "config.mediaType" }"#,
        );
        check_config(
            r#"{ "mediaType": "a/b", "size": 1 }"#,
            r#"MissingField { field: "config.digest" }"#,
        );
        check_config(
            r#"{ "mediaType": "a/b", "digest": "@config" }"#,
            r#"MissingField { field: "config.size" }"#,
        );
        check_config(
            r#"{ "mediaType": "a/b", "digest": "@config", "size": null }"#,
            r#"MissingField { field: "config.size" }"#,
        );
        check_config(
            r#"{ "mediaType": 5, "digest": "@config", "size": 1 }"#,
            r#"InvalidDescriptor { field: "config.mediaType", reason: "must be a string" }"#,
        );
        check_config(
            r#"{ "mediaType": "", "digest": "@config", "size": 1 }"#,
            r#"InvalidDescriptor { field: "config.mediaType", reason: "is \"\", which is not a media type of the form type/subtype" }"#,
        );
        check_config(
            r#"{ "mediaType": "not a media type", "digest": "@config", "size": 1 }"#,
            r#"InvalidDescriptor { field: "config.mediaType", reason: "is \"not a media type\", which is not a media type of the form type/subtype" }"#,
        );
        check_config(
            r#"{ "mediaType": "a/b", "digest": 5, "size": 1 }"#,
            r#"InvalidDescriptor { field: "config.digest", reason: "must be a string" }"#,
        );
        check_config(
            r#"{ "mediaType": "a/b", "digest": "sha256:abc", "size": 1 }"#,
            r#"InvalidDescriptor { field: "config.digest", reason: "is not a valid digest: digest encoded part has 3 characters, but sha256 needs exactly 64" }"#,
        );
        check_config(
            r#"{ "mediaType": "a/b", "digest": "md5:d41d8cd98f00b204e9800998ecf8427e", "size": 1 }"#,
            r#"InvalidDescriptor { field: "config.digest", reason: "is not a valid digest: unsupported digest algorithm \"md5\": only sha256 and sha512 are accepted" }"#,
        );
        for (size, shown) in [
            ("-1", "-1"),
            ("1.5", "1.5"),
            ("\"12\"", "\\\"12\\\""),
            ("9223372036854775808", "9223372036854775808"),
            ("1e3", "1000.0"),
        ] {
            check_config(
                &format!(r#"{{ "mediaType": "a/b", "digest": "@config", "size": {size} }}"#),
                &format!(
                    r#"InvalidDescriptor {{ field: "config.size", reason: "is {shown}, but must be an integer from 0 to 2^63-1" }}"#
                ),
            );
        }
        check_config(
            r#"{ "mediaType": "a/b", "digest": "@config", "size": 9223372036854775807 }"#,
            "
            OciManifest
            artifactType a/b
            config a/b @config 9223372036854775807
            ",
        );
        check_config(
            r#"{ "mediaType": "a/b", "digest": "@config", "size": 1, "urls": "https://x" }"#,
            r#"InvalidDescriptor { field: "config.urls", reason: "must be an array of strings" }"#,
        );
        check_config(
            r#"{ "mediaType": "a/b", "digest": "@config", "size": 1, "urls": [1] }"#,
            r#"InvalidDescriptor { field: "config.urls", reason: "must be an array of strings" }"#,
        );
        check_config(
            r#"{ "mediaType": "a/b", "digest": "@config", "size": 1, "annotations": ["x"] }"#,
            r#"InvalidDescriptor { field: "config.annotations", reason: "must be an object mapping strings to strings" }"#,
        );
        check_config(
            r#"{ "mediaType": "a/b", "digest": "@config", "size": 1, "annotations": { "k": 1 } }"#,
            r#"InvalidDescriptor { field: "config.annotations", reason: "has a non-string value for the key \"k\"" }"#,
        );
        check_config(
            r#"{ "mediaType": "a/b", "digest": "@config", "size": 1, "artifactType": "nope" }"#,
            r#"InvalidDescriptor { field: "config.artifactType", reason: "is \"nope\", which is not a media type of the form type/subtype" }"#,
        );
        check_config(
            r#"{ "mediaType": "a/b", "digest": "@config", "size": 1, "platform": "linux/amd64" }"#,
            r#"InvalidDescriptor { field: "config.platform", reason: "must be an object" }"#,
        );
    }

    #[test]
    fn descriptor_errors_name_their_position() {
        let layer = r#"{ "mediaType": "a/b", "digest": "@layer1", "size": 1 }"#;
        let document = format!(
            r#"{{ "schemaVersion": 2, "config": {layer}, "layers": [{layer}, {layer}, {{ "mediaType": "a/b", "digest": "@layer2", "size": -5 }}] }}"#
        );
        check(
            None,
            &document,
            r#"InvalidDescriptor { field: "layers[2].size", reason: "is -5, but must be an integer from 0 to 2^63-1" }"#,
        );
        let index = r#"{ "schemaVersion": 2, "manifests": [
            { "mediaType": "a/b", "digest": "@amd64", "size": 1, "platform": { "architecture": "amd64", "os": "linux" } },
            { "mediaType": "a/b", "digest": "@arm64", "size": 1, "platform": { "architecture": "arm64" } }
        ] }"#;
        check(
            None,
            index,
            r#"MissingField { field: "manifests[1].platform.os" }"#,
        );
        check(
            None,
            &index.replace(
                r#""architecture": "arm64""#,
                r#""architecture": 64, "os": "linux""#,
            ),
            r#"InvalidDescriptor { field: "manifests[1].platform.architecture", reason: "must be a string" }"#,
        );
        check(
            None,
            &index
                .replacen("{", r#"{ "subject": { "mediaType": "a/b", "size": 1 },"#, 1)
                .replace(
                    r#""architecture": "arm64""#,
                    r#""architecture": "arm64", "os": "linux""#,
                ),
            r#"MissingField { field: "subject.digest" }"#,
        );
    }

    #[test]
    fn top_level_field_errors() {
        let with =
            |field: &str| OCI_IMAGE_WITHOUT_MEDIA_TYPE.replacen("{", &format!("{{ {field},"), 1);
        check(
            None,
            &with(r#""annotations2": 1, "artifactType": "plain""#),
            r#"InvalidField { field: "artifactType", reason: "is \"plain\", which is not a media type of the form type/subtype" }"#,
        );
        check(
            None,
            &with(r#""artifactType": ["a/b"]"#),
            r#"InvalidField { field: "artifactType", reason: "must be a string" }"#,
        );
        check(
            None,
            &OCI_IMAGE_WITHOUT_MEDIA_TYPE.replace(
                r#""com.example.key1": "value1""#,
                r#""com.example.key1": true"#,
            ),
            r#"InvalidField { field: "annotations", reason: "has a non-string value for the key \"com.example.key1\"" }"#,
        );
    }

    #[test]
    fn error_messages_are_actionable() {
        let cases = [
            (
                ManifestError::InvalidJson { reason: "trailing characters at line 1 column 3".into() },
                "manifest is not a valid JSON document: trailing characters at line 1 column 3",
            ),
            (
                ManifestError::UnsupportedMediaType { media_type: "text/plain".into() },
                "manifest media type \"text/plain\" is not supported; supported media types: \
                 application/vnd.docker.distribution.manifest.v2+json, \
                 application/vnd.docker.distribution.manifest.list.v2+json, \
                 application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
            ),
            (
                ManifestError::UnsupportedMediaType { media_type: String::new() },
                "manifest media type cannot be determined: there is no mediaType field, no \
                 Content-Type naming a manifest type, and the document has neither `manifests` nor \
                 `config`/`layers`; supported media types: \
                 application/vnd.docker.distribution.manifest.v2+json, \
                 application/vnd.docker.distribution.manifest.list.v2+json, \
                 application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
            ),
            (
                ManifestError::MediaTypeMismatch { header: "a/b".into(), body: "c/d".into() },
                "Content-Type \"a/b\" does not match the manifest's mediaType \"c/d\"; send the \
                 manifest with the Content-Type of its mediaType",
            ),
            (
                ManifestError::SchemaVersion { found: "1".into() },
                "manifest schemaVersion is 1, but only schemaVersion 2 is supported (Docker schema \
                 1 manifests must be converted before pushing)",
            ),
            (
                ManifestError::MissingField { field: "layers[0].digest".into() },
                "manifest is missing the required field `layers[0].digest`",
            ),
            (
                ManifestError::InvalidField { field: "annotations".into(), reason: "must be an object".into() },
                "manifest field `annotations` must be an object",
            ),
            (
                ManifestError::InvalidDescriptor { field: "config.size".into(), reason: "is -1".into() },
                "manifest descriptor field `config.size` is -1",
            ),
            (
                ManifestError::KindAmbiguous,
                "manifest has no mediaType and the Content-Type names no manifest type, but it has \
                 both `manifests` and `config`/`layers`; set mediaType to say whether it is an \
                 image manifest or an index",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn hostile_values_are_excerpted_in_errors() {
        let long = "x".repeat(10_000);
        let document = format!(r#"{{ "schemaVersion": 2, "mediaType": "{long}" }}"#);
        let error = parse_manifest(Some(&long), document.as_bytes()).unwrap_err();
        assert!(error.to_string().len() < 500, "{error}");
        let document = format!(r#"{{ "schemaVersion": 2, "layers": "{long}" }}"#);
        let error = parse_manifest(None, document.as_bytes()).unwrap_err();
        assert!(error.to_string().len() < 300, "{error}");
        assert!(
            error.to_string().ends_with("at line 1 column 10034"),
            "{error}"
        );
    }

    #[test]
    fn descriptor_serializes_as_oci_json() {
        let mut descriptor = Descriptor {
            media_type: OCI_EMPTY_V1.to_owned(),
            digest: Digest::sha256_of(OCI_EMPTY_CONTENT),
            size: 2,
            artifact_type: None,
            annotations: BTreeMap::new(),
        };
        assert_eq!(
            serde_json::to_string(&descriptor).unwrap(),
            r#"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#
        );
        descriptor.artifact_type = Some("application/vnd.example".to_owned());
        descriptor
            .annotations
            .insert("k".to_owned(), "v".to_owned());
        let json = serde_json::to_string(&descriptor).unwrap();
        assert_eq!(
            json,
            r#"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"artifactType":"application/vnd.example","annotations":{"k":"v"}}"#
        );
        assert_eq!(
            serde_json::from_str::<Descriptor>(&json).unwrap(),
            descriptor
        );
    }

    #[test]
    fn references_by_kind() {
        let image = parse_manifest(None, fill(DOCKER_IMAGE).as_bytes()).unwrap();
        let blobs: Vec<String> = image
            .blob_references()
            .map(|d| name_of(&d.digest))
            .collect();
        assert_eq!(blobs, ["@config", "@layer1", "@layer2", "@layer3"]);
        assert_eq!(image.child_manifests().count(), 0);

        let index = fill(
            r#"{ "schemaVersion": 2, "manifests": [
            { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "@amd64", "size": 1 },
            { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "@arm64", "size": 2 }
        ], "subject": { "mediaType": "a/b", "digest": "@subject", "size": 3 } }"#,
        );
        let index = parse_manifest(Some(OCI_INDEX_V1), index.as_bytes()).unwrap();
        assert_eq!(index.blob_references().count(), 0);
        let children: Vec<String> = index
            .child_manifests()
            .map(|d| name_of(&d.digest))
            .collect();
        assert_eq!(children, ["@amd64", "@arm64"]);
    }

    fn arbitrary_descriptor() -> impl Strategy<Value = Descriptor> {
        (
            "[a-z]{1,8}/[a-z0-9][a-z0-9.+-]{0,20}",
            proptest::collection::vec(any::<u8>(), 0..16),
            0..=i64::MAX,
            proptest::option::of("application/[a-z]{1,10}"),
            proptest::collection::btree_map("[a-z.]{1,10}", ".{0,10}", 0..3),
        )
            .prop_map(|(media_type, content, size, artifact_type, annotations)| {
                Descriptor {
                    media_type,
                    digest: Digest::sha256_of(&content),
                    size: size.unsigned_abs(),
                    artifact_type,
                    annotations,
                }
            })
    }

    proptest! {
        #[test]
        fn emitted_descriptors_parse_back(
            config in arbitrary_descriptor(),
            layers in proptest::collection::vec(arbitrary_descriptor(), 0..4),
            subject in proptest::option::of(arbitrary_descriptor()),
        ) {
            let document = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST_V1,
                "config": config,
                "layers": layers,
                "subject": subject,
            });
            let parsed = parse_manifest(None, document.to_string().as_bytes()).unwrap();
            prop_assert_eq!(parsed.config.as_ref(), Some(&config));
            prop_assert_eq!(&parsed.layers, &layers);
            prop_assert_eq!(&parsed.subject, &subject);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_manifest(None, &bytes);
        }

        #[test]
        fn mangled_manifests_never_panic(cut in 0..DOCKER_IMAGE.len(), byte in any::<u8>()) {
            let mut bytes = fill(DOCKER_IMAGE).into_bytes();
            let cut = cut.min(bytes.len() - 1);
            bytes[cut] = byte;
            let _ = parse_manifest(Some(OCI_LAYER_TAR_GZIP), &bytes);
            bytes.truncate(cut);
            let _ = parse_manifest(None, &bytes);
        }
    }
}
