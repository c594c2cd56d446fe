//! The management API (`/api/v1/`) against the real daemon, checked against its own OpenAPI
//! document (`docs/openapi.json`).
//!
//! Every request goes through [`Client::call`], which finds the operation the document
//! describes for the request's path and method, picks the response for the status (or
//! `default`) and validates the body against its schema: a field of the wrong type, a
//! missing required field or an undocumented one fails the test. The walk then checks that
//! it answered every operation of the document with a success at least once, so the
//! document cannot describe an endpoint the walk never saw work.
//!
//! This file holds the OpenAPI checker and the checking client; the tests are in the `walk`
//! and `accounts` modules, all in this one test binary.

#[path = "../support/mod.rs"]
mod support;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use support::*;

mod accounts;
mod triggers;
mod walk;

const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");
const ADMIN_PASSWORD: &str = "admin-password-1";
const AUTH_TOML: &str = "[auth]\nenabled = true\nadmin_password = \"admin-password-1\"\n";

use berth_fixtures::media_type::{OCI_INDEX, OCI_LAYER, OCI_MANIFEST};

// ----- the OpenAPI document as a checker ----------------------------------------------------

/// The document, and which operations answered a success so far.
struct Spec {
    doc: Value,
    succeeded: RefCell<BTreeSet<(String, String)>>,
}

impl Spec {
    fn load() -> Spec {
        Spec {
            doc: serde_json::from_str(OPENAPI_JSON).expect("docs/openapi.json is JSON"),
            succeeded: RefCell::default(),
        }
    }

    /// The path template a concrete path matches, preferring the one with the most literal
    /// segments (`/repositories/{repository}/tags` over `/repositories/{repository}`).
    /// `{repository}` spans one or more segments; every other parameter exactly one.
    fn template(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<(usize, String)> = None;
        for template in self.doc["paths"].as_object().expect("paths").keys() {
            let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
            if matches(&parts, &segments) {
                let literal = parts.iter().filter(|p| !p.starts_with('{')).count();
                if best.as_ref().is_none_or(|(n, _)| literal > *n) {
                    best = Some((literal, template.clone()));
                }
            }
        }
        best.map(|(_, template)| template)
    }

    /// Checks one response against the document; panics with everything wrong.
    fn check(&self, method: &str, path_and_query: &str, r: &Resp) {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let what = format!(
            "{method} {path_and_query} -> {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let response = match self.template(path) {
            None => {
                assert_eq!(r.status, 404, "no documented path: {what}");
                assert_eq!(r.error_code(), "UNSUPPORTED", "{what}");
                pointer(&self.doc, "#/components/responses/Error")
            }
            Some(template) => {
                let operation = &self.doc["paths"][&template][method.to_lowercase()];
                if operation.is_null() {
                    assert_eq!(
                        r.status, 405,
                        "{method} is not documented on {template}: {what}"
                    );
                    pointer(&self.doc, "#/components/responses/MethodNotAllowed")
                } else {
                    if (200..300).contains(&r.status) {
                        self.succeeded
                            .borrow_mut()
                            .insert((template.clone(), method.to_owned()));
                    }
                    let responses = &operation["responses"];
                    let response = responses
                        .get(r.status.to_string())
                        .or_else(|| responses.get("default"))
                        .unwrap_or_else(|| panic!("status not documented: {what}"));
                    self.resolve(response)
                }
            }
        };
        if let Some(headers) = response["headers"].as_object() {
            for (name, header) in headers {
                if header["required"] == json!(true) {
                    assert!(r.header(name).is_some(), "header {name} missing: {what}");
                }
            }
        }
        let schema = &response["content"]["application/json"]["schema"];
        if schema.is_null() {
            assert!(r.body.is_empty(), "a body where none is documented: {what}");
            return;
        }
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "Content-Type is not JSON: {what}"
        );
        let body: Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {what}"));
        let mut errors = Vec::new();
        validate(&self.doc, schema, &body, "body", &mut errors);
        assert!(
            errors.is_empty(),
            "response does not match docs/openapi.json:\n  {}\n{what}",
            errors.join("\n  ")
        );
    }

    fn resolve<'v>(&'v self, value: &'v Value) -> &'v Value {
        match value["$ref"].as_str() {
            Some(reference) => self.resolve(pointer(&self.doc, reference)),
            None => value,
        }
    }

    /// Every (path template, method) the document describes.
    fn operations(&self) -> BTreeSet<(String, String)> {
        let mut all = BTreeSet::new();
        for (template, item) in self.doc["paths"].as_object().expect("paths") {
            for method in ["get", "put", "post", "delete", "patch"] {
                if item.get(method).is_some() {
                    all.insert((template.clone(), method.to_uppercase()));
                }
            }
        }
        all
    }
}

fn matches(parts: &[&str], segments: &[&str]) -> bool {
    match (parts.first(), segments.first()) {
        (None, None) => true,
        (None, _) | (_, None) => false,
        (Some(&"{repository}"), _) => {
            (1..=segments.len()).any(|n| matches(&parts[1..], &segments[n..]))
        }
        (Some(part), Some(segment)) if part.starts_with('{') => {
            !segment.is_empty() && matches(&parts[1..], &segments[1..])
        }
        (Some(part), Some(segment)) => part == segment && matches(&parts[1..], &segments[1..]),
    }
}

fn pointer<'v>(doc: &'v Value, reference: &str) -> &'v Value {
    let path = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("only local references: {reference}"));
    doc.pointer(path)
        .unwrap_or_else(|| panic!("dangling reference {reference}"))
}

/// The subset of OpenAPI 3.0 schemas the document uses: `$ref`, `type`, `nullable`, `enum`,
/// `required`, `properties`, `additionalProperties`, `items`, `oneOf`, `minimum`.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        return validate(doc, pointer(doc, reference), value, at, errors);
    }
    if value.is_null() {
        if schema["nullable"] != json!(true) && !schema["type"].is_null() {
            errors.push(format!("{at}: null, but the schema is not nullable"));
        }
        return;
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        let matching = choices
            .iter()
            .filter(|choice| {
                let mut sub = Vec::new();
                validate(doc, choice, value, at, &mut sub);
                sub.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!(
                "{at}: matches {matching} of oneOf's schemas, not 1"
            ));
        }
        return;
    }
    if let Some(kind) = schema["type"].as_str() {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            other => panic!("schema type {other} is not supported by this checker"),
        };
        if !ok {
            errors.push(format!("{at}: expected {kind}, got {value}"));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let (Some(minimum), Some(number)) = (schema["minimum"].as_f64(), value.as_f64()) {
        if number < minimum {
            errors.push(format!("{at}: {number} is below the minimum {minimum}"));
        }
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().expect("required names are strings");
            if !object.contains_key(name) {
                errors.push(format!("{at}: required field {name:?} is missing"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, field) in object {
            let at = format!("{at}.{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => validate(doc, field_schema, field, &at, errors),
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => errors.push(format!("{at}: not in the schema")),
                    extra @ Value::Object(_) => validate(doc, extra, field, &at, errors),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(doc, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

// ----- a client that checks every response --------------------------------------------------

struct Client<'a> {
    d: &'a Daemon,
    spec: &'a Spec,
    authorization: Option<String>,
}

impl<'a> Client<'a> {
    fn anonymous(d: &'a Daemon, spec: &'a Spec) -> Client<'a> {
        Client {
            d,
            spec,
            authorization: None,
        }
    }

    fn basic(d: &'a Daemon, spec: &'a Spec, user: &str, password: &str) -> Client<'a> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Client {
            d,
            spec,
            authorization: Some(format!("Basic {encoded}")),
        }
    }

    fn admin(d: &'a Daemon, spec: &'a Spec) -> Client<'a> {
        Client::basic(d, spec, "admin", ADMIN_PASSWORD)
    }

    fn headers(&self) -> Vec<(&str, &str)> {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(value) = &self.authorization {
            headers.push(("Authorization", value.as_str()));
        }
        headers
    }

    /// Sends a request (a JSON body when `body` is not null) and checks the answer against
    /// the document.
    fn call(&self, method: &str, path: &str, body: Value) -> Resp {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).expect("json")
        };
        let r = send(method, &self.d.url(path), &self.headers(), &bytes);
        self.spec.check(method, path, &r);
        r
    }

    /// Like [`Client::call`], and asserts the status; returns the body as JSON (Null if none).
    fn expect(&self, method: &str, path: &str, body: Value, status: u16) -> Value {
        let r = self.call(method, path, body);
        assert_eq!(
            r.status,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    /// Asserts an error answer; returns its detail.
    fn expect_error(
        &self,
        method: &str,
        path: &str,
        body: Value,
        status: u16,
        code: &str,
    ) -> String {
        let r = self.call(method, path, body);
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (status, code),
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["errors"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    // The distribution API, for setting up content.

    fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let mut headers = self.headers();
        headers[0] = ("Content-Type", "application/octet-stream");
        let r = send(
            "POST",
            &self
                .d
                .url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")),
            &headers,
            bytes,
        );
        assert_eq!(
            r.status,
            201,
            "push blob: {}",
            String::from_utf8_lossy(&r.body)
        );
        digest
    }

    fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        let mut headers = self.headers();
        headers[0] = ("Content-Type", media_type);
        let r = send(
            "PUT",
            &self.d.url(&format!("/v2/{repo}/manifests/{reference}")),
            &headers,
            body,
        );
        assert_eq!(
            r.status,
            201,
            "push manifest: {}",
            String::from_utf8_lossy(&r.body)
        );
        sha256_digest(body)
    }
}

/// An image pushed for the walk, with what the API should say about it.
struct Image {
    manifest_digest: String,
    config_digest: String,
    layer_digests: Vec<String>,
    manifest: Vec<u8>,
    /// Manifest + config + layers.
    size: u64,
    manifest_len: u64,
}

/// Pushes an image whose config history has three entries, the middle one an `empty_layer`,
/// for two layers.
fn push_image(client: &Client<'_>, repo: &str, tag: &str) -> Image {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/app"]},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [
            {"created": "2024-01-01T00:00:00Z",
             "created_by": "/bin/sh -c #(nop) ADD file:rootfs in /"},
            {"created": "2024-01-01T00:00:01Z",
             "created_by": "/bin/sh -c #(nop) ENV PATH=/bin",
             "empty_layer": true},
            {"created": "2024-01-01T00:00:02Z", "created_by": "/bin/sh -c make install"},
        ],
    }))
    .expect("json");
    let config_digest = client.push_blob(repo, &config);
    let layers: Vec<Vec<u8>> = vec![random_bytes(1, 1500), random_bytes(2, 2500)];
    let layer_digests: Vec<String> = layers.iter().map(|l| client.push_blob(repo, l)).collect();
    let layer_refs: Vec<berth_fixtures::BlobRef<'_>> = layers
        .iter()
        .zip(&layer_digests)
        .map(|(layer, digest)| berth_fixtures::BlobRef {
            digest,
            size: layer.len() as u64,
        })
        .collect();
    let config_ref = berth_fixtures::BlobRef {
        digest: &config_digest,
        size: config.len() as u64,
    };
    let manifest =
        berth_fixtures::image_manifest(berth_fixtures::Format::Oci, config_ref, &layer_refs);
    let manifest_digest = client.push_manifest(repo, tag, OCI_MANIFEST, &manifest);
    let size = (manifest.len() + config.len() + layers.iter().map(Vec::len).sum::<usize>()) as u64;
    Image {
        manifest_digest,
        config_digest,
        layer_digests,
        size,
        manifest_len: manifest.len() as u64,
        manifest,
    }
}
