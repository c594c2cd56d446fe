//! The rules of the distribution spec's chunked blob upload, as Berth applies them, without
//! storage: what a PATCH, a completing PUT and a status GET do to a session.
//!
//! ```text
//!   POST                 PATCH [Content-Range: <offset>-<end>] body
//!  ───────▶ offset = 0 ──────────────────────────────────────────▶ offset += body length
//!              │   ▲   (with a Content-Range, a chunk must start at the offset and be
//!              │   │    exactly end - start + 1 bytes long; otherwise nothing changes)
//!              │   └── GET: 204, Range: 0-<offset - 1>    ("0-0" while empty)
//!              │
//!              └── PUT ?digest=<d> [Content-Range] [last chunk]
//!                     same chunk rules, then the digest of every byte must be <d>:
//!                     equal     → the blob is complete; the session is over
//!                     different → DigestMismatch; the session is over (cancelled)
//! ```
//!
//! The storage side (`crate::upload`, behind the `storage` feature, and the server's upload
//! handlers) enforces the same rules on a RocksDB record and a data file. This module states
//! them as pure functions so that they can be unit-tested and fuzzed against a trivial model
//! (`fuzz/fuzz_targets/upload_protocol.rs`) without a disk; the storage side is meant to call
//! [`check_chunk`], [`verify_digest`] and [`range_header`] rather than restate them.
//!
//! **Invariant:** a [`SessionState`]'s hasher has seen exactly the first `offset` bytes of the
//! upload, in order. A rejected request (out of order, wrong length) leaves the state exactly
//! as it was, as the storage side does by abandoning the request without saving it.
//!
//! What this module does not do: streaming (a body arrives here whole, so a request cut off
//! mid-body, whose received frames the storage side keeps, is not modelled), the blob size
//! limit (`uploads.blob_bytes_max`, enforced per frame by the appender), leases, expiry, or the
//! `Content-Length` check of a request without a `Content-Range`.

use super::digest::{Algorithm, Digest, DigestHasher};

/// Why an upload request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadProtocolError {
    /// The chunk's `Content-Range` does not start where the upload stands. The client should
    /// ask for the offset (GET) and resend from there.
    #[error("upload is at offset {offset}, the chunk starts at {start}")]
    OutOfOrder {
        /// How many bytes the session holds: where the next chunk must start.
        offset: u64,
        /// Where the refused chunk started.
        start: u64,
    },
    /// The body's length differs from the one its `Content-Range` announced.
    #[error(
        "Content-Range {start}-{end} announces {} bytes, but the body has {received}",
        u128::from(*end) - u128::from(*start) + 1
    )]
    LengthMismatch {
        /// The announced range's first byte.
        start: u64,
        /// The announced range's last byte (inclusive).
        end: u64,
        /// How many bytes the body had.
        received: u64,
    },
    /// The uploaded bytes do not hash to the digest the client named on completion.
    #[error("content digest is {actual}, not the {expected} given")]
    DigestMismatch {
        /// The digest the client named.
        expected: Digest,
        /// The digest of the uploaded bytes, under the same algorithm.
        actual: Digest,
    },
}

impl UploadProtocolError {
    /// Whether the session is over after this error. A wrong digest means the bytes are
    /// wrong, so the session is cancelled; any other refusal leaves it for a retry.
    pub fn ends_session(&self) -> bool {
        matches!(self, UploadProtocolError::DigestMismatch { .. })
    }
}

/// Where an upload session stands: how many bytes it holds and the running hash of them.
#[derive(Clone, Debug)]
pub struct SessionState {
    offset: u64,
    hasher: DigestHasher,
}

impl SessionState {
    /// A new, empty session hashing with `algorithm` (Berth starts every session with sha256).
    pub fn new(algorithm: Algorithm) -> SessionState {
        SessionState {
            offset: 0,
            hasher: DigestHasher::new(algorithm),
        }
    }

    /// A session continued from a saved record. The caller guarantees that `hasher` has seen
    /// exactly the first `offset` bytes (the storage side saves them together).
    pub fn resume(offset: u64, hasher: DigestHasher) -> SessionState {
        SessionState { offset, hasher }
    }

    /// The running hash, to be saved with the offset between requests.
    pub fn hasher(&self) -> &DigestHasher {
        &self.hasher
    }

    /// How many bytes the session holds: what a status GET reports.
    pub fn status(&self) -> u64 {
        self.offset
    }

    /// A PATCH: appends `body` if the chunk is acceptable. Returns the new offset.
    ///
    /// `content_range` is the parsed `Content-Range` header, inclusive, with `start <= end`
    /// (as `parse_content_range` in the server produces it); `None` streams the body at the
    /// current offset.
    pub fn patch(
        &mut self,
        content_range: Option<(u64, u64)>,
        body: &[u8],
    ) -> Result<u64, UploadProtocolError> {
        check_chunk(self.offset, content_range, byte_count(body))?;
        self.append(body);
        Ok(self.offset)
    }

    /// A completing PUT with `?digest=expected`: appends `last_chunk` under the same rules as
    /// [`patch`](Self::patch), then checks the digest of every byte of the upload. Returns the
    /// digest of the completed blob.
    ///
    /// After `Ok`, or an error whose [`ends_session`](UploadProtocolError::ends_session) is
    /// true, the session is over and the state must be dropped. After any other error the
    /// state is unchanged.
    ///
    /// `rehash` is asked for the digest of the upload's bytes (including `last_chunk`) under
    /// another algorithm, when `expected` does not use the one the session hashed with: the
    /// running hash cannot answer that, so the storage side hashes the stored bytes again.
    pub fn complete(
        &mut self,
        expected: &Digest,
        content_range: Option<(u64, u64)>,
        last_chunk: &[u8],
        rehash: impl FnOnce(Algorithm) -> Digest,
    ) -> Result<Digest, UploadProtocolError> {
        check_chunk(self.offset, content_range, byte_count(last_chunk))?;
        self.append(last_chunk);
        let actual = if expected.algorithm() == self.hasher.algorithm() {
            self.hasher.clone().finish()
        } else {
            rehash(expected.algorithm())
        };
        verify_digest(expected, actual)
    }

    fn append(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.offset = self
            .offset
            .checked_add(byte_count(bytes))
            .expect("an upload offset never exceeds u64");
    }
}

fn byte_count(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).expect("a slice length fits in u64")
}

/// Checks a chunk of `received` bytes against a session at `offset`: with a `Content-Range`,
/// it must start at `offset` (checked first: the storage side checks it before reading the
/// body) and be exactly as long as announced.
pub fn check_chunk(
    offset: u64,
    content_range: Option<(u64, u64)>,
    received: u64,
) -> Result<(), UploadProtocolError> {
    let Some((start, end)) = content_range else {
        return Ok(());
    };
    assert!(
        start <= end,
        "a parsed Content-Range has start <= end, got {start}-{end}"
    );
    if start != offset {
        return Err(UploadProtocolError::OutOfOrder { offset, start });
    }
    // `end - start + 1` overflows for the range 0-18446744073709551615, whose length (2^64)
    // no body can have; comparing `end - start` with `received - 1` cannot overflow.
    if received.checked_sub(1) != Some(end - start) {
        return Err(UploadProtocolError::LengthMismatch {
            start,
            end,
            received,
        });
    }
    Ok(())
}

/// The completion check: the client's digest must be the content's.
pub fn verify_digest(expected: &Digest, actual: Digest) -> Result<Digest, UploadProtocolError> {
    if &actual == expected {
        Ok(actual)
    } else {
        Err(UploadProtocolError::DigestMismatch {
            expected: expected.clone(),
            actual,
        })
    }
}

/// The value of the `Range` header that reports an upload's progress: `0-<offset - 1>`, the
/// inclusive range of bytes held. An empty upload also reports `0-0`, as the distribution spec's
/// reference implementation does, so `0-0` alone does not tell one byte from none.
pub fn range_header(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request in a test script.
    enum Step<'a> {
        Patch(Option<(u64, u64)>, &'a [u8]),
        Put(&'a str, Option<(u64, u64)>, &'a [u8]),
        Get,
    }

    /// The digest of `bytes` under another algorithm, as the storage side would compute it
    /// from the stored file. Scripts name the content by its full text.
    fn digest_text(algorithm: Algorithm, bytes: &[u8]) -> String {
        Digest::of(algorithm, bytes).to_string()
    }

    /// Runs `steps` against a fresh sha256 session and compares one rendered line per step
    /// with `expected` (indentation ignored). `content` is every byte the steps upload, so
    /// that a rehash can be answered; a script ends with the step that ends its session.
    fn check(content: &[u8], steps: &[Step<'_>], expected: &str) {
        let mut session = SessionState::new(Algorithm::Sha256);
        let mut lines = Vec::new();
        for step in steps {
            let line = match step {
                Step::Patch(range, body) => match session.patch(*range, body) {
                    Ok(offset) => format!("patch ok {offset} {}", range_header(offset)),
                    Err(e) => format!("patch {e:?}"),
                },
                Step::Put(digest, range, body) => {
                    let digest = Digest::parse(digest).unwrap();
                    let before = session.status();
                    let result =
                        session.complete(&digest, *range, body, |a| Digest::of(a, content));
                    match result {
                        Ok(d) => format!("put ok {}", short(d.as_str())),
                        Err(e) => {
                            if !e.ends_session() {
                                assert_eq!(session.status(), before, "a refusal changes nothing");
                            }
                            format!("put {}", short(&format!("{e:?}")))
                        }
                    }
                }
                Step::Get => format!(
                    "get {} {}",
                    session.status(),
                    range_header(session.status())
                ),
            };
            lines.push(line);
        }
        let expected: Vec<&str> = expected
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines, expected);
    }

    /// Shortens every hex digest in `text` to its first 8 characters, so expectations read.
    fn short(text: &str) -> String {
        let mut out = String::new();
        let mut hex_run = String::new();
        for c in text.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_hexdigit() && c.is_ascii_lowercase() || c.is_ascii_digit() {
                hex_run.push(c);
                continue;
            }
            if hex_run.len() >= 64 {
                out.push_str(&hex_run[..8]);
            } else {
                out.push_str(&hex_run);
            }
            hex_run.clear();
            out.push(c);
        }
        out.pop();
        out
    }

    const ABC_SHA256: &str =
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn chunks_in_order_then_complete() {
        check(
            b"abc",
            &[
                Step::Get,
                Step::Patch(Some((0, 1)), b"ab"),
                Step::Get,
                Step::Put(ABC_SHA256, Some((2, 2)), b"c"),
            ],
            "
            get 0 0-0
            patch ok 2 0-1
            get 2 0-1
            put ok sha256:ba7816bf
            ",
        );
    }

    #[test]
    fn streamed_chunks_need_no_range() {
        check(
            b"abc",
            &[
                Step::Patch(None, b"a"),
                Step::Patch(None, b""),
                Step::Patch(None, b"bc"),
                Step::Put(ABC_SHA256, None, b""),
            ],
            "
            patch ok 1 0-0
            patch ok 1 0-0
            patch ok 3 0-2
            put ok sha256:ba7816bf
            ",
        );
    }

    #[test]
    fn out_of_order_and_wrong_length_change_nothing() {
        check(
            b"abc",
            &[
                Step::Patch(Some((1, 2)), b"bc"),
                Step::Patch(Some((0, 2)), b"ab"),
                Step::Patch(Some((0, 0)), b""),
                Step::Patch(Some((0, u64::MAX)), b"abc"),
                Step::Get,
                Step::Patch(Some((0, 0)), b"a"),
                Step::Put(ABC_SHA256, Some((0, 1)), b"bc"),
                Step::Put(ABC_SHA256, Some((1, 1)), b"bc"),
                Step::Get,
                Step::Put(ABC_SHA256, Some((1, 2)), b"bc"),
            ],
            "
            patch OutOfOrder { offset: 0, start: 1 }
            patch LengthMismatch { start: 0, end: 2, received: 2 }
            patch LengthMismatch { start: 0, end: 0, received: 0 }
            patch LengthMismatch { start: 0, end: 18446744073709551615, received: 3 }
            get 0 0-0
            patch ok 1 0-0
            put OutOfOrder { offset: 1, start: 0 }
            put LengthMismatch { start: 1, end: 1, received: 2 }
            get 1 0-0
            put ok sha256:ba7816bf
            ",
        );
    }

    #[test]
    fn wrong_digest_ends_the_session() {
        let wrong = digest_text(Algorithm::Sha256, b"abd");
        let err = UploadProtocolError::DigestMismatch {
            expected: Digest::parse(&wrong).unwrap(),
            actual: Digest::parse(ABC_SHA256).unwrap(),
        };
        assert!(err.ends_session());
        check(
            b"abc",
            &[Step::Patch(None, b"ab"), Step::Put(&wrong, None, b"c")],
            "
            patch ok 2 0-1
            put DigestMismatch { expected: Digest(\"sha256:a52d159f\"), actual: Digest(\"sha256:ba7816bf\") }
            ",
        );
    }

    #[test]
    fn a_digest_under_another_algorithm_is_verified_by_rehashing() {
        let sha512 = digest_text(Algorithm::Sha512, b"abc");
        check(
            b"abc",
            &[Step::Patch(None, b"abc"), Step::Put(&sha512, None, b"")],
            "
            patch ok 3 0-2
            put ok sha512:ddaf35a1
            ",
        );
    }

    #[test]
    fn a_resumed_session_continues_the_hash() {
        let mut first = SessionState::new(Algorithm::Sha256);
        first.patch(None, b"ab").unwrap();
        let saved = first.hasher().save_state();
        let hasher = DigestHasher::restore(Algorithm::Sha256, &saved).unwrap();
        let mut resumed = SessionState::resume(first.status(), hasher);
        let expected = Digest::parse(ABC_SHA256).unwrap();
        let done = resumed.complete(&expected, Some((2, 2)), b"c", |_| unreachable!());
        assert_eq!(done, Ok(expected));
    }

    #[test]
    fn range_header_is_inclusive() {
        assert_eq!(range_header(0), "0-0");
        assert_eq!(range_header(1), "0-0");
        assert_eq!(range_header(1024), "0-1023");
        assert_eq!(range_header(u64::MAX), format!("0-{}", u64::MAX - 1));
    }

    #[test]
    fn errors_explain_themselves() {
        let e = UploadProtocolError::LengthMismatch {
            start: 0,
            end: u64::MAX,
            received: 3,
        };
        assert_eq!(
            e.to_string(),
            "Content-Range 0-18446744073709551615 announces 18446744073709551616 bytes, but the body has 3"
        );
    }
}
