//! What a webhook delivery sends: the body in one of two formats and the Standard Webhooks
//! headers that let a receiver check where it came from.
//!
//! Formats:
//! - the model registry's (Alibaba Cloud ACR) JSON, so receivers written for it work unchanged:
//!   ```text
//!   {"push_data":{"digest":"sha256:…","pushed_at":"2026-11-22 21:58:03","tag":"v1"},
//!    "repository":{"date_created":"…","name":"app","namespace":"ns","region":"cn-hangzhou",
//!      "repo_authentication_type":"NO_CERTIFIED","repo_full_name":"ns/app",
//!      "repo_origin_type":"NO_CERTIFIED","repo_type":"PUBLIC"}}
//!   ```
//!   (a delete carries `delete_data` with `deleted_at` instead of `push_data`);
//! - CloudEvents 1.0, structured mode (`application/cloudevents+json`).
//!
//! Signatures follow Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `{webhook-id}.{webhook-timestamp}.{body}`.
//!
//! Invariants: the same facts always give the same bytes (fields are serialised from structs in
//! a fixed order, never from maps), and a body is signed exactly as it is sent.
//! This module is pure: no clock, no I/O; the caller passes every time.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderName, HeaderValue};
use serde::Serialize;
use sha2::Sha256;

use crate::civil_time;

pub const ACR_CONTENT_TYPE: &str = "application/json";
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// The prefix of a Standard Webhooks secret whose rest is the base64 of the key.
pub const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Push,
    Delete,
}

impl EventKind {
    /// The CloudEvents `type`.
    pub fn cloudevents_type(self) -> &'static str {
        match self {
            EventKind::Push => "io.berth.image.push",
            EventKind::Delete => "io.berth.image.delete",
        }
    }
}

/// Everything a body says about one event.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub kind: EventKind,
    pub event_id: &'a str,
    /// `ns/app` or `ns/team/app`.
    pub repo: &'a str,
    /// Empty when the event is about a digest only (a delete by digest).
    pub tag: &'a str,
    pub digest: &'a str,
    pub at_ms: u64,
    pub repo_created_at_ms: u64,
    pub public: bool,
    pub region: &'a str,
}

impl EventFacts<'_> {
    /// (namespace, name): the first path component and the rest. A repository without a `/` has
    /// an empty namespace.
    fn namespace_and_name(&self) -> (&str, &str) {
        self.repo.split_once('/').unwrap_or(("", self.repo))
    }
}

#[derive(Serialize)]
struct AcrBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    delete_data: Option<AcrImage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    push_data: Option<AcrImage<'a>>,
    repository: AcrRepository<'a>,
}

/// `push_data` or `delete_data`; the time's key differs (`pushed_at` / `deleted_at`).
#[derive(Serialize)]
struct AcrImage<'a> {
    digest: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pushed_at: Option<String>,
    tag: &'a str,
}

#[derive(Serialize)]
struct AcrRepository<'a> {
    date_created: String,
    name: &'a str,
    namespace: &'a str,
    region: &'a str,
    repo_authentication_type: &'static str,
    repo_full_name: &'a str,
    repo_origin_type: &'static str,
    repo_type: &'static str,
}

/// The model registry's webhook body for `facts`.
pub fn acr_body(facts: &EventFacts) -> Vec<u8> {
    let (namespace, name) = facts.namespace_and_name();
    let at = civil_time::date_time(facts.at_ms / 1000);
    let (pushed_at, deleted_at) = match facts.kind {
        EventKind::Push => (Some(at), None),
        EventKind::Delete => (None, Some(at)),
    };
    let image = AcrImage {
        digest: facts.digest,
        deleted_at,
        pushed_at,
        tag: facts.tag,
    };
    let (push_data, delete_data) = match facts.kind {
        EventKind::Push => (Some(image), None),
        EventKind::Delete => (None, Some(image)),
    };
    let body = AcrBody {
        delete_data,
        push_data,
        repository: AcrRepository {
            date_created: civil_time::date_time(facts.repo_created_at_ms / 1000),
            name,
            namespace,
            region: facts.region,
            // Berth has no certified (signed-image) or origin tracking; the model registry's
            // value for such repositories is NO_CERTIFIED.
            repo_authentication_type: "NO_CERTIFIED",
            repo_full_name: facts.repo,
            repo_origin_type: "NO_CERTIFIED",
            repo_type: if facts.public { "PUBLIC" } else { "PRIVATE" },
        },
    };
    to_json(&body)
}

#[derive(Serialize)]
struct CloudEvent<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    subject: String,
    time: String,
    datacontenttype: &'static str,
    data: CloudEventData<'a>,
}

#[derive(Serialize)]
struct CloudEventData<'a> {
    repository: &'a str,
    namespace: &'a str,
    name: &'a str,
    tag: &'a str,
    digest: &'a str,
    region: &'a str,
    visibility: &'static str,
}

/// A CloudEvents 1.0 structured-mode body for `facts`, with `source` as the event's source
/// (e.g. `/berth/<region>`). The subject is `repo:tag`, or `repo@digest` without a tag.
pub fn cloudevents_body(facts: &EventFacts, source: &str) -> Vec<u8> {
    let (namespace, name) = facts.namespace_and_name();
    let subject = if facts.tag.is_empty() {
        format!("{}@{}", facts.repo, facts.digest)
    } else {
        format!("{}:{}", facts.repo, facts.tag)
    };
    let event = CloudEvent {
        specversion: "1.0",
        id: facts.event_id,
        source,
        kind: facts.kind.cloudevents_type(),
        subject,
        time: civil_time::rfc3339(facts.at_ms / 1000),
        datacontenttype: "application/json",
        data: CloudEventData {
            repository: facts.repo,
            namespace,
            name,
            tag: facts.tag,
            digest: facts.digest,
            region: facts.region,
            visibility: if facts.public { "public" } else { "private" },
        },
    };
    to_json(&event)
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Structs of strings always serialise; a failure would be a bug in this module.
    serde_json::to_vec(value).expect("webhook bodies are plain structs of strings")
}

/// The HMAC key of a Standard Webhooks secret: the base64-decoded rest of a `whsec_` secret, or
/// (a secret without the prefix, or whose rest is not base64) the secret's own bytes.
fn signing_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The Standard Webhooks signature `v1,<base64 of HMAC-SHA256(key, "{msg_id}.{timestamp_s}.{body}")>`.
pub fn signature(secret: &str, msg_id: &str, timestamp_s: u64, body: &[u8]) -> String {
    let key = signing_key(secret);
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_slice())
    )
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("the message id {msg_id:?} is not a valid HTTP header value")]
    MessageIdNotHeaderSafe { msg_id: String },
}

pub const WEBHOOK_ID: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// The Standard Webhooks headers: `webhook-id` and `webhook-timestamp` always, and
/// `webhook-signature` when a secret is set. The id comes from stored events, so one that is
/// not a valid header value is an error, not a panic.
pub fn signed_headers(
    msg_id: &str,
    timestamp_s: u64,
    secret: Option<&str>,
    body: &[u8],
) -> Result<Vec<(HeaderName, HeaderValue)>, PayloadError> {
    let id = HeaderValue::from_str(msg_id).map_err(|_| PayloadError::MessageIdNotHeaderSafe {
        msg_id: msg_id.to_string(),
    })?;
    let mut headers = vec![
        (HeaderName::from_static(WEBHOOK_ID), id),
        (
            HeaderName::from_static(WEBHOOK_TIMESTAMP),
            HeaderValue::from(timestamp_s),
        ),
    ];
    if let Some(secret) = secret {
        let signature = signature(secret, msg_id, timestamp_s, body);
        // Base64 and `v1,` are visible ASCII.
        let value = HeaderValue::from_str(&signature).expect("a signature is visible ASCII");
        headers.push((HeaderName::from_static(WEBHOOK_SIGNATURE), value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const DIGEST: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
    /// 2026-11-22 21:58:03 UTC, and 2000-02-29 00:00:00 UTC for the repository's creation.
    const AT_MS: u64 = 1_795_384_683_250;
    const CREATED_MS: u64 = 951_782_400_000;

    fn facts(kind: EventKind, repo: &str, public: bool) -> EventFacts<'_> {
        EventFacts {
            kind,
            event_id: "evt_01",
            repo,
            tag: "v1",
            digest: DIGEST,
            at_ms: AT_MS,
            repo_created_at_ms: CREATED_MS,
            public,
            region: "cn-hangzhou",
        }
    }

    fn parse(body: &[u8]) -> Value {
        serde_json::from_slice(body).expect("the body is JSON")
    }

    #[test]
    fn acr_push_body_is_the_model_registrys() {
        let body = acr_body(&facts(EventKind::Push, "ns/app", true));
        let expected = format!(
            concat!(
                r#"{{"push_data":{{"digest":"{}","pushed_at":"2026-11-22 21:58:03","tag":"v1"}},"#,
                r#""repository":{{"date_created":"2000-02-29 00:00:00","name":"app","namespace":"ns","#,
                r#""region":"cn-hangzhou","repo_authentication_type":"NO_CERTIFIED","#,
                r#""repo_full_name":"ns/app","repo_origin_type":"NO_CERTIFIED","repo_type":"PUBLIC"}}}}"#
            ),
            DIGEST
        );
        assert_eq!(String::from_utf8(body).expect("utf-8"), expected);
    }

    #[test]
    fn acr_delete_body_of_a_private_nested_repository() {
        let body = parse(&acr_body(&facts(EventKind::Delete, "ns/team/app", false)));
        assert!(body.get("push_data").is_none());
        let data = &body["delete_data"];
        assert_eq!(data["digest"], DIGEST);
        assert_eq!(data["deleted_at"], "2026-11-22 21:58:03");
        assert_eq!(data["tag"], "v1");
        assert!(data.get("pushed_at").is_none());
        let repo = &body["repository"];
        assert_eq!(repo["namespace"], "ns");
        assert_eq!(repo["name"], "team/app");
        assert_eq!(repo["repo_full_name"], "ns/team/app");
        assert_eq!(repo["repo_type"], "PRIVATE");
        assert_eq!(repo["date_created"], "2000-02-29 00:00:00");
        assert_eq!(repo["region"], "cn-hangzhou");
    }

    #[test]
    fn cloudevents_body_fields() {
        let facts = facts(EventKind::Push, "ns/team/app", false);
        let body = parse(&cloudevents_body(&facts, "/berth/cn-hangzhou"));
        assert_eq!(body["specversion"], "1.0");
        assert_eq!(body["id"], "evt_01");
        assert_eq!(body["source"], "/berth/cn-hangzhou");
        assert_eq!(body["type"], "io.berth.image.push");
        assert_eq!(body["subject"], "ns/team/app:v1");
        assert_eq!(body["time"], "2026-11-22T21:58:03Z");
        assert_eq!(body["datacontenttype"], "application/json");
        let data = &body["data"];
        assert_eq!(data["repository"], "ns/team/app");
        assert_eq!(data["namespace"], "ns");
        assert_eq!(data["name"], "team/app");
        assert_eq!(data["tag"], "v1");
        assert_eq!(data["digest"], DIGEST);
        assert_eq!(data["region"], "cn-hangzhou");
        assert_eq!(data["visibility"], "private");
        assert_eq!(body.as_object().map(|o| o.len()), Some(8));
        assert_eq!(data.as_object().map(|o| o.len()), Some(7));
    }

    #[test]
    fn cloudevents_delete_by_digest() {
        let facts = EventFacts {
            tag: "",
            ..facts(EventKind::Delete, "ns/app", true)
        };
        let body = parse(&cloudevents_body(&facts, "/berth/r"));
        assert_eq!(body["type"], "io.berth.image.delete");
        assert_eq!(body["subject"], format!("ns/app@{DIGEST}"));
        assert_eq!(body["data"]["visibility"], "public");
    }

    /// Expected values computed independently with Python's `hmac`/`hashlib`/`base64`; the
    /// first is also the example in the Standard Webhooks specification.
    #[test]
    fn signatures_match_known_vectors() {
        let table: &[(&str, &str, u64, &[u8], &str)] = &[
            (
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#,
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
            (
                "plain-secret",
                "evt_1",
                1_795_384_683,
                br#"{"a":1}"#,
                "v1,hJWuQ0hZBhG1ORiVtmiBBNQhbCxU1L7hV92HhcKu9/w=",
            ),
            // A `whsec_` secret whose rest is not base64 is used as written, prefix included.
            (
                "whsec_!!notbase64",
                "evt_1",
                1_795_384_683,
                br#"{"a":1}"#,
                "v1,725nksfI9cBW0He/3crIQgfKxgDoHgoVTAKBnp4u3D8=",
            ),
        ];
        for &(secret, msg_id, timestamp_s, body, expected) in table {
            assert_eq!(
                signature(secret, msg_id, timestamp_s, body),
                expected,
                "{secret}"
            );
        }
    }

    #[test]
    fn signed_headers_with_and_without_a_secret() {
        let body = br#"{"a":1}"#;
        let unsigned = signed_headers("evt_1", 1_795_384_683, None, body).expect("headers");
        assert_eq!(
            unsigned,
            vec![
                (
                    HeaderName::from_static(WEBHOOK_ID),
                    HeaderValue::from_static("evt_1")
                ),
                (
                    HeaderName::from_static(WEBHOOK_TIMESTAMP),
                    HeaderValue::from_static("1795384683")
                ),
            ]
        );
        let signed =
            signed_headers("evt_1", 1_795_384_683, Some("plain-secret"), body).expect("headers");
        assert_eq!(signed.len(), 3);
        assert_eq!(signed[2].0, WEBHOOK_SIGNATURE);
        assert_eq!(
            signed[2].1,
            "v1,hJWuQ0hZBhG1ORiVtmiBBNQhbCxU1L7hV92HhcKu9/w="
        );
        assert_eq!(
            signed_headers("evt\n1", 1, None, body),
            Err(PayloadError::MessageIdNotHeaderSafe {
                msg_id: "evt\n1".into()
            })
        );
    }
}
