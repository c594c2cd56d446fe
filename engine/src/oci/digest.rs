//! Content digests: the [`Digest`] type and the resumable [`DigestHasher`].
//!
//! The OCI image spec defines a digest as
//!
//! ```text
//! digest                ::= algorithm ":" encoded
//! algorithm             ::= algorithm-component (algorithm-separator algorithm-component)*
//! algorithm-component   ::= [a-z0-9]+
//! algorithm-separator   ::= [+._-]
//! encoded               ::= [a-zA-Z0-9=_-]+
//! ```
//!
//! Berth accepts only the two registered algorithms, `sha256` and `sha512`, whose encoded part
//! must be lowercase hex of exactly 64 or 128 characters. Input that fits the grammar but names
//! another algorithm is reported as [`DigestError::UnsupportedAlgorithm`] rather than as
//! malformed, so a client learns what to change.
//!
//! **Invariant:** a [`Digest`] always holds the canonical text `"<algorithm>:<lowercase hex>"`;
//! two digests are equal exactly when they name the same content under the same algorithm.
//!
//! [`DigestHasher`] computes digests incrementally and can save its running state as bytes so an
//! upload session survives a restart. The saved state is an operating input (it comes back from
//! disk), so restoring checks it and returns an error rather than panicking.

use std::fmt;
use std::str::FromStr;

use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest as _, Sha256, Sha512};

use super::text::{excerpt, FromStrVisitor};

/// A hash algorithm Berth accepts in digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the algorithm every OCI client uses by default.
    Sha256,
    /// SHA-512, the other algorithm registered by the OCI image spec.
    Sha512,
}

impl Algorithm {
    /// Every supported algorithm, in a stable order.
    pub const ALL: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

    /// The algorithm's name as it appears before the `:` in a digest.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The length of the hex-encoded hash, in characters.
    pub const fn encoded_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// The algorithm named `name` (exactly as in a digest: lowercase), if Berth supports it.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The tag byte that identifies this algorithm in a saved hasher state.
    const fn state_tag(self) -> u8 {
        match self {
            Algorithm::Sha256 => 1,
            Algorithm::Sha512 => 2,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not an acceptable digest, or a saved hasher state cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The input does not follow the OCI digest grammar at all.
    #[error("malformed digest {input:?}: {reason}")]
    Malformed {
        /// An excerpt of the offending input.
        input: String,
        /// Which part of the grammar was violated.
        reason: &'static str,
    },
    /// The input is a well-formed digest, but for an algorithm Berth does not support.
    #[error("unsupported digest algorithm {algorithm:?}: only sha256 and sha512 are accepted")]
    UnsupportedAlgorithm {
        /// An excerpt of the algorithm part.
        algorithm: String,
    },
    /// The encoded part has the wrong length for its algorithm.
    #[error(
        "digest encoded part has {found} characters, but {algorithm} needs exactly {expected}"
    )]
    BadEncodedLength {
        /// The algorithm the digest names.
        algorithm: Algorithm,
        /// The length that algorithm requires.
        expected: usize,
        /// The length that was given.
        found: usize,
    },
    /// The encoded part has the right length but is not lowercase hex.
    #[error("digest {input:?} must be encoded as lowercase hexadecimal")]
    EncodedNotLowercaseHex {
        /// An excerpt of the offending input.
        input: String,
    },
    /// A saved [`DigestHasher`] state could not be restored.
    #[error("saved {algorithm} hasher state cannot be restored: {reason}")]
    SavedStateCorrupted {
        /// The algorithm the caller asked to restore.
        algorithm: Algorithm,
        /// What was wrong with the saved bytes.
        reason: &'static str,
    },
}

/// A validated content digest, e.g. `sha256:e3b0c442…b855`.
///
/// Ordering is the lexicographic order of the canonical text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Digest(String);

impl Digest {
    /// Parses and validates `input` as a digest (see the module docs for the grammar).
    pub fn parse(input: &str) -> Result<Digest, DigestError> {
        let malformed = |reason| DigestError::Malformed {
            input: excerpt(input),
            reason,
        };
        let Some((algorithm, encoded)) = input.split_once(':') else {
            return Err(malformed(
                "expected \"<algorithm>:<encoded>\" but there is no ':'",
            ));
        };
        if !is_algorithm_syntax(algorithm) {
            return Err(malformed(
                "the algorithm must be [a-z0-9]+ components joined by one of '+', '.', '_', '-'",
            ));
        }
        if !is_encoded_syntax(encoded) {
            return Err(malformed(
                "the encoded part must be one or more of [a-zA-Z0-9=_-]",
            ));
        }
        let Some(algorithm) = Algorithm::from_name(algorithm) else {
            return Err(DigestError::UnsupportedAlgorithm {
                algorithm: excerpt(algorithm),
            });
        };
        if encoded.len() != algorithm.encoded_len() {
            return Err(DigestError::BadEncodedLength {
                algorithm,
                expected: algorithm.encoded_len(),
                found: encoded.len(),
            });
        }
        if !encoded
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(DigestError::EncodedNotLowercaseHex {
                input: excerpt(input),
            });
        }
        Ok(Digest(input.to_owned()))
    }

    /// The digest of `bytes` under `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut hasher = DigestHasher::new(algorithm);
        hasher.update(bytes);
        hasher.finish()
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest::of(Algorithm::Sha256, bytes)
    }

    /// Builds a digest from a finished hash. The caller guarantees `hash` came from `algorithm`.
    fn from_hash(algorithm: Algorithm, hash: &[u8]) -> Digest {
        debug_assert_eq!(hash.len() * 2, algorithm.encoded_len());
        let mut text = String::with_capacity(algorithm.as_str().len() + 1 + hash.len() * 2);
        text.push_str(algorithm.as_str());
        text.push(':');
        text.push_str(&hex::encode(hash));
        Digest(text)
    }

    /// The canonical text, `"<algorithm>:<hex>"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm this digest was computed with.
    pub fn algorithm(&self) -> Algorithm {
        // The constructor only admits the two supported prefixes.
        if self.0.starts_with("sha512:") {
            Algorithm::Sha512
        } else {
            debug_assert!(self.0.starts_with("sha256:"));
            Algorithm::Sha256
        }
    }

    /// The hex-encoded hash, without the algorithm prefix.
    pub fn encoded(&self) -> &str {
        // Skip "<algorithm>:".
        &self.0[self.algorithm().as_str().len() + 1..]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Digest, DigestError> {
        Digest::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        deserializer.deserialize_str(FromStrVisitor::new("an OCI digest string"))
    }
}

/// `[a-z0-9]+ ([+._-] [a-z0-9]+)*`
fn is_algorithm_syntax(s: &str) -> bool {
    let mut previous_was_component_byte = false;
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => previous_was_component_byte = true,
            b'+' | b'.' | b'_' | b'-' if previous_was_component_byte => {
                previous_was_component_byte = false
            }
            _ => return false,
        }
    }
    // Also rejects the empty string and a trailing separator.
    previous_was_component_byte
}

/// `[a-zA-Z0-9=_-]+`
fn is_encoded_syntax(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
}

/// An incremental hasher that produces a [`Digest`] and can be saved and resumed.
///
/// Saved state layout (all of it opaque to callers, who store and return it as-is):
///
/// ```text
/// +---------+---------------+------------------------------------------+
/// | version | algorithm tag | sha2 crate's serialized state            |
/// |  1 byte | 1 byte        | fixed length per algorithm (sha2 0.11.x) |
/// +---------+---------------+------------------------------------------+
/// version: SAVED_STATE_VERSION; algorithm tag: 1 = sha256, 2 = sha512
/// ```
///
/// The sha2 crate keeps its serialized state stable across compatible (0.11.x) releases. If a
/// future upgrade changes it, bump [`SAVED_STATE_VERSION`](Self::SAVED_STATE_VERSION): restore
/// then fails cleanly and the upload has to start over, which is an operating error, never a
/// wrong digest. A state that is well-formed but altered on disk yields a wrong digest, which
/// the caller's final digest check catches.
#[derive(Clone, Debug)]
pub struct DigestHasher {
    state: HasherState,
}

#[derive(Clone, Debug)]
enum HasherState {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl DigestHasher {
    /// The format version written as the first byte of a saved state.
    pub const SAVED_STATE_VERSION: u8 = 1;

    /// A hasher that has seen no bytes yet.
    pub fn new(algorithm: Algorithm) -> DigestHasher {
        let state = match algorithm {
            Algorithm::Sha256 => HasherState::Sha256(Sha256::new()),
            Algorithm::Sha512 => HasherState::Sha512(Sha512::new()),
        };
        DigestHasher { state }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            HasherState::Sha256(_) => Algorithm::Sha256,
            HasherState::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds more content into the hash.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            HasherState::Sha256(h) => h.update(bytes),
            HasherState::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed in so far.
    pub fn finish(self) -> Digest {
        match self.state {
            HasherState::Sha256(h) => Digest::from_hash(Algorithm::Sha256, &h.finalize()),
            HasherState::Sha512(h) => Digest::from_hash(Algorithm::Sha512, &h.finalize()),
        }
    }

    /// The running state as bytes, to be handed back to [`DigestHasher::restore`] later.
    pub fn save_state(&self) -> Vec<u8> {
        let mut out = vec![Self::SAVED_STATE_VERSION, self.algorithm().state_tag()];
        match &self.state {
            HasherState::Sha256(h) => out.extend_from_slice(h.serialize().as_slice()),
            HasherState::Sha512(h) => out.extend_from_slice(h.serialize().as_slice()),
        }
        out
    }

    /// Resumes a hasher from bytes produced by [`DigestHasher::save_state`].
    pub fn restore(algorithm: Algorithm, saved: &[u8]) -> Result<DigestHasher, DigestError> {
        let corrupted = |reason| DigestError::SavedStateCorrupted { algorithm, reason };
        let [version, tag, body @ ..] = saved else {
            return Err(corrupted("it is shorter than its two-byte header"));
        };
        if *version != Self::SAVED_STATE_VERSION {
            return Err(corrupted("it was written by an unknown format version"));
        }
        if *tag != algorithm.state_tag() {
            return Err(corrupted("it was saved by a hasher for another algorithm"));
        }
        match hashed_block_bytes(algorithm, body) {
            Some(n) if n <= SAVED_STATE_BYTES_MAX => {}
            _ => {
                return Err(corrupted(
                    "it claims more bytes hashed than any upload holds",
                ))
            }
        }
        let state = match algorithm {
            Algorithm::Sha256 => {
                HasherState::Sha256(restore_sha2::<Sha256>(body).map_err(corrupted)?)
            }
            Algorithm::Sha512 => {
                HasherState::Sha512(restore_sha2::<Sha512>(body).map_err(corrupted)?)
            }
        };
        Ok(DigestHasher { state })
    }
}

/// Most bytes a restored hasher may claim to have hashed: far beyond any upload, far below the
/// counts at which sha2's length arithmetic overflows.
///
/// Bug story (found by the `digest` fuzz target): sha2's `deserialize` accepts any block count,
/// and a saved state claiming nearly 2^64 blocks made the next `update` or `finish` overflow,
/// which is a panic with overflow checks on. A state read from disk must give an error instead.
const SAVED_STATE_BYTES_MAX: u128 = 1 << 60;

/// The bytes of whole blocks a saved sha2 state says were hashed. sha2 0.11 serialises the
/// core as its state words followed by the block count (u64 for sha256, u128 for sha512), then
/// the partial block; `saved_state_layout_is_as_expected` pins this.
fn hashed_block_bytes(algorithm: Algorithm, body: &[u8]) -> Option<u128> {
    match algorithm {
        Algorithm::Sha256 => {
            let count: [u8; 8] = body.get(32..40)?.try_into().ok()?;
            u128::from(u64::from_le_bytes(count)).checked_mul(64)
        }
        Algorithm::Sha512 => {
            let count: [u8; 16] = body.get(64..80)?.try_into().ok()?;
            u128::from_le_bytes(count).checked_mul(128)
        }
    }
}

fn restore_sha2<H: SerializableState>(body: &[u8]) -> Result<H, &'static str> {
    let body = <&SerializedState<H>>::try_from(body)
        .map_err(|_| "its length does not match the algorithm's state size")?;
    H::deserialize(body).map_err(|_| "the hash library rejected it")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHA256_EMPTY: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const SHA256_ABC: &str =
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const SHA512_ABC: &str = "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

    #[test]
    fn saved_state_layout_is_as_expected() {
        for (algorithm, block) in [(Algorithm::Sha256, 64u128), (Algorithm::Sha512, 128)] {
            let mut h = DigestHasher::new(algorithm);
            h.update(&[7u8; 1000]);
            let saved = h.save_state();
            assert_eq!(
                hashed_block_bytes(algorithm, &saved[2..]),
                Some(1000 / block * block),
                "{algorithm}: sha2's state layout changed; update hashed_block_bytes"
            );
        }
    }

    #[test]
    fn saved_state_claiming_absurd_lengths_is_refused() {
        for (algorithm, at, width) in [(Algorithm::Sha256, 32, 8), (Algorithm::Sha512, 64, 16)] {
            let mut saved = DigestHasher::new(algorithm).save_state();
            for b in &mut saved[2 + at..2 + at + width] {
                *b = 0xff;
            }
            saved[2 + at + width - 1] = 0x0f;
            assert!(matches!(
                DigestHasher::restore(algorithm, &saved),
                Err(DigestError::SavedStateCorrupted { .. })
            ));
        }
    }

    /// Parses `input` and compares a one-line rendering of the outcome with `expected`:
    /// `"ok <algorithm> <encoded len>"` or the error's `Debug` form.
    fn check(input: &str, expected: &str) {
        let actual = match Digest::parse(input) {
            Ok(d) => {
                assert_eq!(d.as_str(), input, "a valid digest is kept verbatim");
                assert_eq!(
                    format!("{}:{}", d.algorithm(), d.encoded()),
                    input,
                    "algorithm and encoded split the text"
                );
                format!("ok {} {}", d.algorithm(), d.encoded().len())
            }
            Err(e) => format!("{e:?}"),
        };
        assert_eq!(actual, expected, "input: {input:?}");
    }

    #[test]
    fn parse_table() {
        check(SHA256_EMPTY, "ok sha256 64");
        check(SHA512_ABC, "ok sha512 128");
        check(
            "",
            r#"Malformed { input: "", reason: "expected \"<algorithm>:<encoded>\" but there is no ':'" }"#,
        );
        check(
            "sha256",
            r#"Malformed { input: "sha256", reason: "expected \"<algorithm>:<encoded>\" but there is no ':'" }"#,
        );
        check(
            ":abc",
            r#"Malformed { input: ":abc", reason: "the algorithm must be [a-z0-9]+ components joined by one of '+', '.', '_', '-'" }"#,
        );
        check(
            "SHA256:abc",
            r#"Malformed { input: "SHA256:abc", reason: "the algorithm must be [a-z0-9]+ components joined by one of '+', '.', '_', '-'" }"#,
        );
        check(
            "sha256+:abc",
            r#"Malformed { input: "sha256+:abc", reason: "the algorithm must be [a-z0-9]+ components joined by one of '+', '.', '_', '-'" }"#,
        );
        check(
            "sha256:",
            r#"Malformed { input: "sha256:", reason: "the encoded part must be one or more of [a-zA-Z0-9=_-]" }"#,
        );
        check(
            "sha256:abc:def",
            r#"Malformed { input: "sha256:abc:def", reason: "the encoded part must be one or more of [a-zA-Z0-9=_-]" }"#,
        );
        check(
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
            r#"UnsupportedAlgorithm { algorithm: "multihash+base58" }"#,
        );
        check(
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            r#"UnsupportedAlgorithm { algorithm: "md5" }"#,
        );
        check(
            "sha256:abc",
            "BadEncodedLength { algorithm: Sha256, expected: 64, found: 3 }",
        );
        check(
            &SHA512_ABC.replace("sha512", "sha256"),
            "BadEncodedLength { algorithm: Sha256, expected: 64, found: 128 }",
        );
        check(
            &SHA256_EMPTY.to_uppercase().replace("SHA256", "sha256"),
            &format!(
                "EncodedNotLowercaseHex {{ input: {:?} }}",
                SHA256_EMPTY.to_uppercase().replace("SHA256", "sha256")
            ),
        );
        check(
            &format!("sha256:{}", "g".repeat(64)),
            &format!(
                "EncodedNotLowercaseHex {{ input: {:?} }}",
                format!("sha256:{}", "g".repeat(64))
            ),
        );
    }

    #[test]
    fn error_quotes_only_an_excerpt() {
        let hostile = format!("sha256:{}", "=".repeat(100_000));
        let message = Digest::parse(&hostile).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn hashes_match_known_vectors() {
        assert_eq!(Digest::sha256_of(b"").as_str(), SHA256_EMPTY);
        assert_eq!(Digest::sha256_of(b"abc").as_str(), SHA256_ABC);
        assert_eq!(Digest::of(Algorithm::Sha512, b"abc").as_str(), SHA512_ABC);
    }

    #[test]
    fn serde_uses_the_string_and_validates() {
        let d = Digest::sha256_of(b"abc");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{SHA256_ABC}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        let bad = serde_json::from_str::<Digest>("\"sha256:abc\"").unwrap_err();
        assert!(bad.to_string().contains("needs exactly 64"), "{bad}");
        assert!(serde_json::from_str::<Digest>("17").is_err());
    }

    /// Hashes `data` at once, and again in two halves with the state saved after `split` bytes
    /// and restored into a fresh hasher.
    fn check_resume(algorithm: Algorithm, data: &[u8], split: usize) {
        let mut first = DigestHasher::new(algorithm);
        first.update(&data[..split]);
        let saved = first.save_state();
        drop(first);
        let mut resumed = DigestHasher::restore(algorithm, &saved).unwrap();
        resumed.update(&data[split..]);
        assert_eq!(
            resumed.finish(),
            Digest::of(algorithm, data),
            "{algorithm} split at {split} of {}",
            data.len()
        );
    }

    #[test]
    fn save_and_restore_in_the_middle_equals_hashing_at_once() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        // Around both block sizes (64 and 128 bytes) and the ends.
        for split in [0, 1, 63, 64, 65, 127, 128, 129, 500, 999, 1000] {
            for algorithm in Algorithm::ALL {
                check_resume(algorithm, &data, split);
            }
        }
    }

    #[test]
    fn restore_rejects_foreign_or_damaged_state() {
        let mut h = DigestHasher::new(Algorithm::Sha256);
        h.update(b"some bytes");
        let saved = h.save_state();

        let expect_corrupted =
            |algorithm, bytes: &[u8], reason: &str| match DigestHasher::restore(algorithm, bytes) {
                Err(DigestError::SavedStateCorrupted { reason: r, .. }) => assert_eq!(r, reason),
                other => panic!("expected SavedStateCorrupted, got {other:?}"),
            };
        expect_corrupted(
            Algorithm::Sha256,
            &[],
            "it is shorter than its two-byte header",
        );
        expect_corrupted(
            Algorithm::Sha256,
            &saved[..1],
            "it is shorter than its two-byte header",
        );
        expect_corrupted(
            Algorithm::Sha512,
            &saved,
            "it was saved by a hasher for another algorithm",
        );
        let mut wrong_version = saved.clone();
        wrong_version[0] = 99;
        expect_corrupted(
            Algorithm::Sha256,
            &wrong_version,
            "it was written by an unknown format version",
        );
        expect_corrupted(
            Algorithm::Sha256,
            &saved[..saved.len() - 1],
            "its length does not match the algorithm's state size",
        );
        let mut too_long = saved.clone();
        too_long.push(0);
        expect_corrupted(
            Algorithm::Sha256,
            &too_long,
            "its length does not match the algorithm's state size",
        );
        // The last byte is the block buffer's fill position; past the block size it is invalid.
        let mut bad_position = saved.clone();
        if let Some(last) = bad_position.last_mut() {
            *last = 200;
        }
        expect_corrupted(
            Algorithm::Sha256,
            &bad_position,
            "the hash library rejected it",
        );
    }

    fn digest_regex() -> regex::Regex {
        regex::Regex::new(r"^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$").unwrap()
    }

    fn digest_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9:+._=A-Z-]{0,20}",
            "(sha256|sha512|SHA256|md5|sha256\\+x):[a-fA-F0-9g=_-]{0,130}",
            "sha256:[a-f0-9]{63,65}",
            "sha512:[a-f0-9]{127,129}",
            "sha256:[a-f0-9]{64}",
            "sha512:[a-f0-9]{128}",
        ]
    }

    proptest! {
        #[test]
        fn parse_agrees_with_the_spec_regex(input in digest_like()) {
            prop_assert_eq!(Digest::parse(&input).is_ok(), digest_regex().is_match(&input));
        }

        #[test]
        fn parse_print_round_trip(input in "sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}") {
            let d = Digest::parse(&input).unwrap();
            prop_assert_eq!(d.to_string(), input.clone());
            prop_assert_eq!(input.parse::<Digest>().unwrap(), d);
        }

        #[test]
        fn resume_anywhere(data in proptest::collection::vec(any::<u8>(), 0..600), split in any::<prop::sample::Index>()) {
            let split = split.index(data.len() + 1);
            for algorithm in Algorithm::ALL {
                check_resume(algorithm, &data, split);
            }
        }
    }
}
