//! Repository names, tags and references, validated by the OCI distribution spec's grammar.
//!
//! ```text
//! <name>      [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
//!             at most REPO_NAME_BYTES_MAX (255) bytes
//! <tag>       [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
//! <reference> <tag> | <digest>        (a ':' means digest: tags cannot contain one)
//! ```
//!
//! The validators are hand-written byte loops: every API request parses a name and usually a
//! reference, so they neither allocate nor run a regex. Property tests hold them equal to the
//! spec's regular expressions.
//!
//! **Invariant:** a [`RepoName`] or [`Tag`] holds text that matches its grammar; a
//! [`Reference`] is exactly one of a valid tag or a valid digest. None of them can be built
//! any other way, including through serde.

use std::fmt;
use std::str::FromStr;

use super::digest::{Digest, DigestError};
use super::text::{excerpt, FromStrVisitor};

/// The longest repository name accepted, in bytes.
///
/// The distribution spec notes that many clients limit `<registry host>/<name>` to 255
/// characters; Berth bounds the name alone by the same number, as the reference registry does,
/// so that names stay usable as bounded database keys.
pub const REPO_NAME_BYTES_MAX: usize = 255;

/// The longest tag accepted, in bytes (1 leading character plus up to 127 more).
pub const TAG_BYTES_MAX: usize = 128;

/// Why a repository name, tag or reference was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The text is not a valid repository name.
    #[error("invalid repository name {input:?}: {reason}")]
    InvalidRepoName {
        /// An excerpt of the offending input.
        input: String,
        /// Which rule of the grammar it breaks.
        reason: &'static str,
    },
    /// The text is not a valid tag.
    #[error("invalid tag {input:?}: {reason}")]
    InvalidTag {
        /// An excerpt of the offending input.
        input: String,
        /// Which rule of the grammar it breaks.
        reason: &'static str,
    },
    /// A reference containing ':' (so not a tag) is not a valid digest either.
    #[error("invalid digest reference: {0}")]
    InvalidDigestReference(#[from] DigestError),
}

/// A validated repository name such as `library/ubuntu` or `team-a/tools/builder`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct RepoName(String);

impl RepoName {
    /// Parses and validates `input` against the distribution-spec `<name>` grammar.
    pub fn parse(input: &str) -> Result<RepoName, NameError> {
        match check_repo_name(input) {
            Ok(()) => Ok(RepoName(input.to_owned())),
            Err(reason) => Err(NameError::InvalidRepoName {
                input: excerpt(input),
                reason,
            }),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first path component: `library` for `library/ubuntu`, `alpine` for `alpine`.
    pub fn namespace(&self) -> &str {
        // A valid name is never empty, so `split` yields at least one component.
        self.0.split('/').next().unwrap_or(&self.0)
    }

    /// The `/`-separated path components, in order. There is at least one and none is empty.
    pub fn components(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.split('/')
    }
}

/// A validated tag such as `latest` or `v1.2.3-rc_1`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Tag(String);

impl Tag {
    /// Parses and validates `input` against the distribution-spec `<tag>` grammar.
    pub fn parse(input: &str) -> Result<Tag, NameError> {
        match check_tag(input) {
            Ok(()) => Ok(Tag(input.to_owned())),
            Err(reason) => Err(NameError::InvalidTag {
                input: excerpt(input),
                reason,
            }),
        }
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a manifest request names: a tag or a digest.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Reference {
    /// A mutable name pointing at a manifest.
    Tag(Tag),
    /// The manifest's content digest.
    Digest(Digest),
}

impl Reference {
    /// Parses a reference: text containing ':' must be a digest, anything else must be a tag.
    pub fn parse(input: &str) -> Result<Reference, NameError> {
        if input.contains(':') {
            Ok(Reference::Digest(Digest::parse(input)?))
        } else {
            Ok(Reference::Tag(Tag::parse(input)?))
        }
    }

    /// The reference as text.
    pub fn as_str(&self) -> &str {
        match self {
            Reference::Tag(tag) => tag.as_str(),
            Reference::Digest(digest) => digest.as_str(),
        }
    }

    /// The tag, if this reference is one.
    pub fn as_tag(&self) -> Option<&Tag> {
        match self {
            Reference::Tag(tag) => Some(tag),
            Reference::Digest(_) => None,
        }
    }

    /// The digest, if this reference is one.
    pub fn as_digest(&self) -> Option<&Digest> {
        match self {
            Reference::Tag(_) => None,
            Reference::Digest(digest) => Some(digest),
        }
    }
}

impl From<Tag> for Reference {
    fn from(tag: Tag) -> Reference {
        Reference::Tag(tag)
    }
}

impl From<Digest> for Reference {
    fn from(digest: Digest) -> Reference {
        Reference::Digest(digest)
    }
}

/// Display, FromStr, AsRef<str> and string-form serde for a validated string type.
macro_rules! string_form {
    ($ty:ty, $expecting:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = NameError;

            fn from_str(s: &str) -> Result<Self, NameError> {
                <$ty>::parse(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(FromStrVisitor::new($expecting))
            }
        }
    };
}

string_form!(RepoName, "an OCI repository name");
string_form!(Tag, "an OCI tag");
string_form!(Reference, "an OCI tag or digest");

fn is_name_alphanumeric(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9')
}

/// Checks the `<name>` grammar and length bound; on failure says which rule broke.
fn check_repo_name(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("it is empty");
    }
    if s.len() > REPO_NAME_BYTES_MAX {
        return Err("it is longer than 255 bytes");
    }
    // Character set first: it gives the most useful message for the commonest mistakes.
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'/' => {}
            b'A'..=b'Z' => return Err("repository names must be lowercase"),
            _ => return Err("only [a-z0-9], '.', '_', '-' and '/' are allowed"),
        }
    }
    s.split('/').try_for_each(check_repo_name_component)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, given that the character set was already checked.
fn check_repo_name_component(component: &str) -> Result<(), &'static str> {
    let bytes = component.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return Err("a path component is empty (leading, trailing or doubled '/')");
    };
    if !is_name_alphanumeric(first) || !is_name_alphanumeric(last) {
        return Err("each path component must start and end with [a-z0-9]");
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_name_alphanumeric(bytes[i]) {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < bytes.len() && !is_name_alphanumeric(bytes[i]) {
            i += 1;
        }
        let separator = &bytes[run_start..i];
        let allowed =
            matches!(separator, b"." | b"_" | b"__") || separator.iter().all(|&b| b == b'-');
        if !allowed {
            return Err("separators must be '.', '_', '__' or a run of '-'");
        }
    }
    Ok(())
}

/// Checks the `<tag>` grammar; on failure says which rule broke.
fn check_tag(s: &str) -> Result<(), &'static str> {
    let bytes = s.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return Err("it is empty");
    };
    if bytes.len() > TAG_BYTES_MAX {
        return Err("it is longer than 128 bytes");
    }
    if !(first.is_ascii_alphanumeric() || first == b'_') {
        return Err("it must start with [a-zA-Z0-9_]");
    }
    if !rest
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("only [a-zA-Z0-9], '.', '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `check` parses the input as.
    #[derive(Clone, Copy, Debug)]
    enum As {
        RepoName,
        Tag,
        Reference,
    }

    /// Parses `input` as `what` and compares a one-line rendering with `expected`: the
    /// re-printed value prefixed with `ok` (and the variant for references), or the error's
    /// `Display` form. Successful parses must also print back to their input.
    fn check(what: As, input: &str, expected: &str) {
        let actual = match what {
            As::RepoName => render(RepoName::parse(input), |n| {
                format!("ok {n} (namespace {})", n.namespace())
            }),
            As::Tag => render(Tag::parse(input), |t| format!("ok {t}")),
            As::Reference => render(Reference::parse(input), |r| match r {
                Reference::Tag(t) => format!("ok tag {t}"),
                Reference::Digest(d) => format!("ok digest {d}"),
            }),
        };
        assert_eq!(actual, expected, "{what:?} {input:?}");
    }

    fn render<T: fmt::Display>(
        parsed: Result<T, NameError>,
        ok: impl FnOnce(&T) -> String,
    ) -> String {
        match parsed {
            Ok(value) => ok(&value),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn repo_names() {
        use As::RepoName as R;
        check(R, "alpine", "ok alpine (namespace alpine)");
        check(R, "library/ubuntu", "ok library/ubuntu (namespace library)");
        check(R, "a/b/c/d", "ok a/b/c/d (namespace a)");
        check(
            R,
            "my.app_v2__x---y/z9",
            "ok my.app_v2__x---y/z9 (namespace my.app_v2__x---y)",
        );
        check(R, "", r#"invalid repository name "": it is empty"#);
        check(
            R,
            "Library/ubuntu",
            r#"invalid repository name "Library/ubuntu": repository names must be lowercase"#,
        );
        check(
            R,
            "a b",
            r#"invalid repository name "a b": only [a-z0-9], '.', '_', '-' and '/' are allowed"#,
        );
        check(
            R,
            "ubuntu:latest",
            r#"invalid repository name "ubuntu:latest": only [a-z0-9], '.', '_', '-' and '/' are allowed"#,
        );
        check(
            R,
            "/a",
            r#"invalid repository name "/a": a path component is empty (leading, trailing or doubled '/')"#,
        );
        check(
            R,
            "a/",
            r#"invalid repository name "a/": a path component is empty (leading, trailing or doubled '/')"#,
        );
        check(
            R,
            "a//b",
            r#"invalid repository name "a//b": a path component is empty (leading, trailing or doubled '/')"#,
        );
        check(
            R,
            "-a",
            r#"invalid repository name "-a": each path component must start and end with [a-z0-9]"#,
        );
        check(
            R,
            "a/b.",
            r#"invalid repository name "a/b.": each path component must start and end with [a-z0-9]"#,
        );
        check(
            R,
            "a..b",
            r#"invalid repository name "a..b": separators must be '.', '_', '__' or a run of '-'"#,
        );
        check(
            R,
            "a___b",
            r#"invalid repository name "a___b": separators must be '.', '_', '__' or a run of '-'"#,
        );
        check(
            R,
            "a.-b",
            r#"invalid repository name "a.-b": separators must be '.', '_', '__' or a run of '-'"#,
        );
        let longest = format!("{}/{}", "a".repeat(127), "b".repeat(127));
        check(
            R,
            &longest,
            &format!("ok {longest} (namespace {})", "a".repeat(127)),
        );
        let too_long = format!("{longest}c");
        check(
            R,
            &too_long,
            &format!(
                "invalid repository name {:?}: it is longer than 255 bytes",
                excerpt(&too_long)
            ),
        );
    }

    #[test]
    fn components_split_on_slash() {
        let name = RepoName::parse("org/team/app").unwrap();
        assert_eq!(
            name.components().collect::<Vec<_>>(),
            ["org", "team", "app"]
        );
        assert_eq!(name.namespace(), "org");
    }

    #[test]
    fn tags() {
        use As::Tag as T;
        check(T, "latest", "ok latest");
        check(T, "_", "ok _");
        check(T, "V1.2.3-rc_1", "ok V1.2.3-rc_1");
        check(T, "", r#"invalid tag "": it is empty"#);
        check(
            T,
            ".hidden",
            r#"invalid tag ".hidden": it must start with [a-zA-Z0-9_]"#,
        );
        check(
            T,
            "-x",
            r#"invalid tag "-x": it must start with [a-zA-Z0-9_]"#,
        );
        check(
            T,
            "a/b",
            r#"invalid tag "a/b": only [a-zA-Z0-9], '.', '_' and '-' are allowed"#,
        );
        check(
            T,
            "ünïcode",
            r#"invalid tag "ünïcode": it must start with [a-zA-Z0-9_]"#,
        );
        let longest = "t".repeat(TAG_BYTES_MAX);
        check(T, &longest, &format!("ok {longest}"));
        let too_long = "t".repeat(TAG_BYTES_MAX + 1);
        check(
            T,
            &too_long,
            &format!(
                "invalid tag {:?}: it is longer than 128 bytes",
                excerpt(&too_long)
            ),
        );
    }

    #[test]
    fn references() {
        use As::Reference as F;
        let digest = Digest::sha256_of(b"manifest");
        check(F, "latest", "ok tag latest");
        check(F, digest.as_str(), &format!("ok digest {digest}"));
        check(F, "", r#"invalid tag "": it is empty"#);
        check(F, "sha256:abc", "invalid digest reference: digest encoded part has 3 characters, but sha256 needs exactly 64");
        check(
            F,
            "latest:",
            r#"invalid digest reference: malformed digest "latest:": the encoded part must be one or more of [a-zA-Z0-9=_-]"#,
        );
        check(
            F,
            "a b",
            r#"invalid tag "a b": only [a-zA-Z0-9], '.', '_' and '-' are allowed"#,
        );
    }

    #[test]
    fn serde_uses_strings_and_validates() {
        let name: RepoName = serde_json::from_str(r#""library/ubuntu""#).unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""library/ubuntu""#);
        let tag: Tag = serde_json::from_str(r#""v1""#).unwrap();
        assert_eq!(serde_json::to_string(&tag).unwrap(), r#""v1""#);
        let reference: Reference = serde_json::from_str(r#""v1""#).unwrap();
        assert_eq!(reference.as_tag(), Some(&tag));
        assert!(serde_json::from_str::<RepoName>(r#""Library""#).is_err());
        assert!(serde_json::from_str::<Tag>(r#"".x""#).is_err());
        assert!(serde_json::from_str::<Reference>(r#""sha256:x""#).is_err());
    }

    fn repo_name_regex() -> regex::Regex {
        regex::Regex::new(
            r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$",
        )
        .unwrap()
    }

    fn tag_regex() -> regex::Regex {
        regex::Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").unwrap()
    }

    /// Strings over the name alphabet (plus a few intruders), biased towards near-valid names.
    fn name_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9._/A-Z: -]{0,24}",
            "([a-c0-9]{1,3}[._/-]{0,3}){0,10}",
            "([a-z]{1,3}(\\.|_|__|-+)?){1,6}(/([a-z]{1,3}(\\.|_|__|-+)?){1,6}){0,4}",
            "[a-z]{1,8}(/[a-z]{1,60}){4,5}",
        ]
    }

    /// Strings over the tag alphabet (plus a few intruders), around the length limit too.
    fn tag_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9._:/ -]{0,16}",
            "[a-zA-Z0-9_.-][a-zA-Z0-9._-]{0,20}",
            "[a-zA-Z0-9_][a-zA-Z0-9._-]{124,130}",
        ]
    }

    proptest! {
        #[test]
        fn repo_name_agrees_with_spec_regex(input in name_like()) {
            let by_spec = repo_name_regex().is_match(&input) && input.len() <= REPO_NAME_BYTES_MAX;
            prop_assert_eq!(RepoName::parse(&input).is_ok(), by_spec);
        }

        #[test]
        fn tag_agrees_with_spec_regex(input in tag_like()) {
            prop_assert_eq!(Tag::parse(&input).is_ok(), tag_regex().is_match(&input));
        }

        #[test]
        fn repo_name_round_trips(input in "[a-z0-9]{1,4}((\\.|_|__|-+)[a-z0-9]{1,4}){0,3}(/[a-z0-9]{1,4}((\\.|_|__|-+)[a-z0-9]{1,4}){0,3}){0,3}") {
            let name = RepoName::parse(&input).unwrap();
            prop_assert_eq!(name.to_string(), input.clone());
            prop_assert_eq!(name.components().collect::<Vec<_>>().join("/"), input.clone());
            prop_assert_eq!(input.parse::<RepoName>().unwrap(), name);
        }

        #[test]
        fn reference_round_trips(input in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}|sha256:[a-f0-9]{64}") {
            let reference = Reference::parse(&input).unwrap();
            prop_assert_eq!(reference.to_string(), input.clone());
            prop_assert_eq!(reference.as_str(), input.as_str());
            prop_assert_eq!(input.parse::<Reference>().unwrap(), reference);
        }
    }
}
