//! The OCI vocabulary: parsing and validation of untrusted identifiers and documents.
//!
//! Everything a client sends that names content — a repository, a tag, a digest, a media type,
//! a manifest body — enters Berth through this module and leaves it as a validated type:
//!
//! - [`digest`]: [`Digest`] (`sha256:<64 hex>` or `sha512:<128 hex>`) and the resumable
//!   [`DigestHasher`] that upload sessions persist between requests.
//! - [`name`]: [`RepoName`], [`Tag`] and [`Reference`] (a tag or a digest).
//! - [`media_type`]: the manifest media types Berth accepts ([`ManifestKind`]) and the other
//!   well-known media types.
//! - [`manifest`]: [`parse_manifest`], which turns a manifest or index body into a
//!   [`ParsedManifest`] listing what it references (config, layers, child manifests, subject).
//!
//! **Architecture Invariant:** nothing here touches disk, the network or HTTP. These are pure
//! functions over bytes and strings, so they can be fuzzed, property-tested and called from any
//! shard without blocking.
//!
//! **Architecture Invariant:** past this module a digest, repository name or tag is never a bare
//! `String`; holding one of these types is proof that it passed validation. Every type that
//! deserializes (serde) re-runs the same validation as its `parse`.
//!
//! **Architecture Invariant:** errors quote the offending input only as a bounded excerpt, so a
//! hostile client cannot make an error message (or a log line) arbitrarily large.

pub mod digest;
pub mod manifest;
pub mod media_type;
pub mod name;
pub mod upload_protocol;

pub use self::digest::{Algorithm, Digest, DigestError, DigestHasher};
pub use self::manifest::{parse_manifest, Descriptor, ManifestError, ParsedManifest};
pub use self::media_type::ManifestKind;
pub use self::name::{NameError, Reference, RepoName, Tag, REPO_NAME_BYTES_MAX, TAG_BYTES_MAX};

/// Small shared pieces for turning untrusted text into validated types.
mod text {
    use std::fmt;
    use std::marker::PhantomData;
    use std::str::FromStr;

    /// How many characters of an offending input an error message quotes.
    pub(super) const EXCERPT_CHARS_MAX: usize = 100;

    /// A bounded copy of `input` for error messages: at most [`EXCERPT_CHARS_MAX`] characters,
    /// with `…` appended when something was cut.
    pub(super) fn excerpt(input: &str) -> String {
        match input.char_indices().nth(EXCERPT_CHARS_MAX) {
            None => input.to_owned(),
            Some((cut_at, _)) => {
                let mut out = String::with_capacity(cut_at + '…'.len_utf8());
                out.push_str(&input[..cut_at]);
                out.push('…');
                out
            }
        }
    }

    /// A serde visitor that accepts only a string and parses it with `T::from_str`, so a
    /// deserialized value is validated exactly like a parsed one.
    pub(super) struct FromStrVisitor<T> {
        expecting: &'static str,
        target: PhantomData<fn() -> T>,
    }

    impl<T> FromStrVisitor<T> {
        pub(super) const fn new(expecting: &'static str) -> Self {
            FromStrVisitor {
                expecting,
                target: PhantomData,
            }
        }
    }

    impl<T> serde::de::Visitor<'_> for FromStrVisitor<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            T::from_str(v).map_err(E::custom)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn check(input: &str, expected: &str) {
            assert_eq!(excerpt(input), expected);
        }

        #[test]
        fn excerpt_is_bounded_and_char_safe() {
            check("", "");
            check("short", "short");
            let exactly = "a".repeat(EXCERPT_CHARS_MAX);
            check(&exactly, &exactly);
            let long = "é".repeat(EXCERPT_CHARS_MAX + 5);
            check(&long, &format!("{}…", "é".repeat(EXCERPT_CHARS_MAX)));
        }
    }
}
