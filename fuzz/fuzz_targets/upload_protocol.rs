//! Fuzz target: the upload session protocol (`berth_engine::oci::upload_protocol`) against a
//! model that is just the list of accepted bytes.
//!
//! Input: a script, one request per line (unknown lines are skipped):
//!
//! ```text
//! POST [sha512]              start a new session (sha256 unless told), ending any other
//! GET                        status: the offset and the Range header
//! RESTART                    save and restore the session, as between two requests
//! PATCH <range>|<body>       a chunk; the body is the rest of the line
//! PUT <digest>|<range>|<body>  complete with a last chunk (possibly empty)
//!
//! <range>   empty: no Content-Range
//!           @, @+N, @-N: "<offset>-<end>" announcing the body's length, or N bytes more or less
//!           anything else: a Content-Range value, parsed by the server's parse_content_range
//! <digest>  sha256, sha512: the right digest of all bytes; anything else: parsed as a digest
//! ```
//!
//! A request the server would refuse before touching the session (a malformed Content-Range
//! or digest) is skipped, as is any request while no session is open.
//!
//! Properties, after every request: the session and the model agree on the outcome (offset,
//! `OutOfOrder`, `LengthMismatch`, completed digest, `DigestMismatch`), on the offset and
//! Range header, and the session's running hash is the sha256 (or sha512) of exactly the
//! model's bytes. A completed upload's digest is the hash of the model's bytes.
#![no_main]

use berth_engine::oci::upload_protocol::{range_header, SessionState, UploadProtocolError};
use berth_engine::oci::{Algorithm, Digest, DigestHasher};
use berth_fuzz::hex_lower;
use berth_fuzz::range::parse_content_range;
use libfuzzer_sys::fuzz_target;
use sha2::Digest as _;

/// The model: the bytes a session has accepted, in order, and the algorithm it hashes with.
struct Model {
    bytes: Vec<u8>,
    algorithm: Algorithm,
}

/// What a request did, as both sides report it.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Accepted { offset: u64 },
    OutOfOrder { offset: u64 },
    LengthMismatch,
    Completed { digest: String },
    DigestMismatch,
}

impl Model {
    fn offset(&self) -> u64 {
        u64::try_from(self.bytes.len()).expect("a model fits in u64")
    }

    /// The chunk rules, over u128 so that no announced range can overflow.
    fn check_chunk(&self, range: Option<(u64, u64)>, body: &[u8]) -> Option<Outcome> {
        let (start, end) = range?;
        if start != self.offset() {
            return Some(Outcome::OutOfOrder {
                offset: self.offset(),
            });
        }
        let announced = u128::from(end) - u128::from(start) + 1;
        (announced != body.len() as u128).then_some(Outcome::LengthMismatch)
    }

    fn patch(&mut self, range: Option<(u64, u64)>, body: &[u8]) -> Outcome {
        if let Some(refused) = self.check_chunk(range, body) {
            return refused;
        }
        self.bytes.extend_from_slice(body);
        Outcome::Accepted {
            offset: self.offset(),
        }
    }

    fn complete(&mut self, expected: &Digest, range: Option<(u64, u64)>, body: &[u8]) -> Outcome {
        if let Some(refused) = self.check_chunk(range, body) {
            return refused;
        }
        self.bytes.extend_from_slice(body);
        let actual = hash_text(expected.algorithm(), &self.bytes);
        if actual == expected.as_str() {
            Outcome::Completed { digest: actual }
        } else {
            Outcome::DigestMismatch
        }
    }

    fn range_header(&self) -> String {
        match self.bytes.len() {
            0 => "0-0".to_owned(),
            n => format!("0-{}", n - 1),
        }
    }
}

/// The digest text of `bytes`, computed with sha2 directly rather than through the engine.
fn hash_text(algorithm: Algorithm, bytes: &[u8]) -> String {
    match algorithm {
        Algorithm::Sha256 => format!("sha256:{}", hex_lower(&sha2::Sha256::digest(bytes))),
        Algorithm::Sha512 => format!("sha512:{}", hex_lower(&sha2::Sha512::digest(bytes))),
    }
}

fn outcome_of(result: Result<u64, UploadProtocolError>) -> Outcome {
    match result {
        Ok(offset) => Outcome::Accepted { offset },
        Err(UploadProtocolError::OutOfOrder { offset, .. }) => Outcome::OutOfOrder { offset },
        Err(UploadProtocolError::LengthMismatch { .. }) => Outcome::LengthMismatch,
        Err(UploadProtocolError::DigestMismatch { .. }) => Outcome::DigestMismatch,
    }
}

/// The Content-Range a script's `<range>` field stands for, for a chunk of `body_bytes` at
/// `offset`: `Ok(None)` for no header, `Err(())` when the server would refuse it (416).
fn content_range(field: &str, offset: u64, body_bytes: usize) -> Result<Option<(u64, u64)>, ()> {
    if field.is_empty() {
        return Ok(None);
    }
    let header = match field.strip_prefix('@') {
        Some(delta) => {
            let delta: i128 = match delta.strip_prefix('+') {
                Some(n) => n.parse().unwrap_or(0),
                None => delta.parse().unwrap_or(0),
            };
            let end = i128::from(offset) + body_bytes as i128 + delta - 1;
            format!("{offset}-{end}")
        }
        None => field.to_owned(),
    };
    parse_content_range(&header).map(Some).ok_or(())
}

fuzz_target!(|data: &[u8]| {
    let script = String::from_utf8_lossy(data);
    let mut open: Option<(SessionState, Model)> = Some((
        SessionState::new(Algorithm::Sha256),
        Model {
            bytes: Vec::new(),
            algorithm: Algorithm::Sha256,
        },
    ));
    for (number, line) in script.lines().enumerate() {
        let (verb, args) = line.split_once(' ').unwrap_or((line, ""));
        if verb == "POST" {
            let algorithm = if args == "sha512" {
                Algorithm::Sha512
            } else {
                Algorithm::Sha256
            };
            let model = Model {
                bytes: Vec::new(),
                algorithm,
            };
            open = Some((SessionState::new(algorithm), model));
            continue;
        }
        let Some((session, model)) = open.as_mut() else {
            continue;
        };
        let context = format!("line {}: {line:?}", number + 1);
        let session_ended = match verb {
            "GET" => false,
            "RESTART" => {
                let saved = session.hasher().save_state();
                let hasher = DigestHasher::restore(model.algorithm, &saved)
                    .unwrap_or_else(|e| panic!("{context}: a saved state restores: {e}"));
                *session = SessionState::resume(session.status(), hasher);
                false
            }
            "PATCH" => {
                let (field, body) = args.split_once('|').unwrap_or(("", args));
                let Ok(range) = content_range(field, model.offset(), body.len()) else {
                    continue;
                };
                let actual = outcome_of(session.patch(range, body.as_bytes()));
                let expected = model.patch(range, body.as_bytes());
                assert_eq!(actual, expected, "{context}");
                false
            }
            "PUT" => {
                let mut fields = args.splitn(3, '|');
                let digest_field = fields.next().unwrap_or("");
                let range_field = fields.next().unwrap_or("");
                let body = fields.next().unwrap_or("");
                let Ok(range) = content_range(range_field, model.offset(), body.len()) else {
                    continue;
                };
                let all_bytes = [model.bytes.as_slice(), body.as_bytes()].concat();
                let expected_digest = match digest_field {
                    "sha256" => hash_text(Algorithm::Sha256, &all_bytes),
                    "sha512" => hash_text(Algorithm::Sha512, &all_bytes),
                    other => other.to_owned(),
                };
                let Ok(expected_digest) = Digest::parse(&expected_digest) else {
                    continue;
                };
                // The storage side re-reads its file, which holds every byte written.
                let rehash = |algorithm| Digest::of(algorithm, &all_bytes);
                let actual =
                    match session.complete(&expected_digest, range, body.as_bytes(), rehash) {
                        Ok(digest) => Outcome::Completed {
                            digest: digest.to_string(),
                        },
                        Err(e) => outcome_of(Err(e)),
                    };
                let expected = model.complete(&expected_digest, range, body.as_bytes());
                assert_eq!(actual, expected, "{context}");
                if let Outcome::Completed { digest } = &actual {
                    assert_eq!(
                        *digest,
                        hash_text(expected_digest.algorithm(), &model.bytes),
                        "{context}: a completed upload is the hash of the accepted bytes"
                    );
                }
                matches!(actual, Outcome::Completed { .. } | Outcome::DigestMismatch)
            }
            _ => continue,
        };
        if session_ended {
            open = None;
            continue;
        }
        assert_eq!(session.status(), model.offset(), "{context}");
        assert_eq!(
            range_header(session.status()),
            model.range_header(),
            "{context}"
        );
        assert_eq!(
            session.hasher().clone().finish().as_str(),
            hash_text(model.algorithm, &model.bytes),
            "{context}: the running hash covers exactly the accepted bytes"
        );
    }
});
