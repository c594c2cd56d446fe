//! Fuzz target: repository name, tag and reference parsing.
//!
//! Input: any bytes; non-UTF-8 input is skipped (the router hands the parsers `&str`).
//!
//! Properties:
//! - `RepoName::parse` and `Tag::parse` accept exactly what reference predicates, written as
//!   token scans different from the engine's byte loops, accept.
//! - `Reference::parse` is a digest exactly when the text has a ':', and otherwise a tag; it
//!   accepts exactly when the matching parser does.
//! - Accepted values are kept verbatim, print and re-parse to equal values, and round-trip
//!   through serde; `namespace` and `components` split the name on '/'.
//! - Parsing is deterministic; error messages are bounded.
#![no_main]

use berth_engine::oci::{Digest, Reference, RepoName, Tag, REPO_NAME_BYTES_MAX, TAG_BYTES_MAX};
use berth_fuzz::assert_bounded_error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_repo_name(text);
    check_tag(text);
    check_reference(text);
});

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255
/// bytes: each '/'-separated component is cut into alternating runs of alphanumerics and
/// separators, which must start and end with an alphanumeric run.
fn is_accepted_repo_name(text: &str) -> bool {
    if text.len() > REPO_NAME_BYTES_MAX {
        return false;
    }
    text.split('/').all(|component| {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        let mut runs: Vec<(bool, String)> = Vec::new();
        for c in component.chars() {
            match runs.last_mut() {
                Some((is_alnum, run)) if *is_alnum == alnum(c) => run.push(c),
                _ => runs.push((alnum(c), c.to_string())),
            }
        }
        let (Some(first), Some(last)) = (runs.first(), runs.last()) else {
            return false;
        };
        first.0
            && last.0
            && runs
                .iter()
                .filter(|(is_alnum, _)| !is_alnum)
                .all(|(_, sep)| {
                    sep == "." || sep == "_" || sep == "__" || (sep.chars().all(|c| c == '-'))
                })
    })
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
fn is_accepted_tag(text: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    word(first) && chars.all(|c| word(c) || c == '.' || c == '-') && text.len() <= TAG_BYTES_MAX
}

fn check_repo_name(text: &str) {
    let parsed = RepoName::parse(text);
    assert_eq!(parsed, RepoName::parse(text), "parsing is deterministic");
    assert_eq!(
        parsed.is_ok(),
        is_accepted_repo_name(text),
        "repository name {text:?}: {parsed:?}"
    );
    match parsed {
        Ok(name) => {
            assert_eq!(name.as_str(), text);
            assert_eq!(name.to_string().parse::<RepoName>().as_ref(), Ok(&name));
            let components: Vec<&str> = name.components().collect();
            assert_eq!(components.join("/"), text);
            assert!(components.iter().all(|c| !c.is_empty()));
            assert_eq!(name.namespace(), components[0]);
            let json = serde_json::to_string(&name).expect("a name serializes");
            assert_eq!(serde_json::from_str::<RepoName>(&json).ok(), Some(name));
        }
        Err(e) => {
            assert_bounded_error(&e.to_string(), text.len());
            let json = serde_json::to_string(text).expect("a string serializes");
            assert!(serde_json::from_str::<RepoName>(&json).is_err());
        }
    }
}

fn check_tag(text: &str) {
    let parsed = Tag::parse(text);
    assert_eq!(parsed, Tag::parse(text), "parsing is deterministic");
    assert_eq!(
        parsed.is_ok(),
        is_accepted_tag(text),
        "tag {text:?}: {parsed:?}"
    );
    match parsed {
        Ok(tag) => {
            assert_eq!(tag.as_str(), text);
            assert_eq!(tag.to_string().parse::<Tag>().as_ref(), Ok(&tag));
            let json = serde_json::to_string(&tag).expect("a tag serializes");
            assert_eq!(serde_json::from_str::<Tag>(&json).ok(), Some(tag));
        }
        Err(e) => {
            assert_bounded_error(&e.to_string(), text.len());
            let json = serde_json::to_string(text).expect("a string serializes");
            assert!(serde_json::from_str::<Tag>(&json).is_err());
        }
    }
}

fn check_reference(text: &str) {
    let parsed = Reference::parse(text);
    assert_eq!(parsed, Reference::parse(text), "parsing is deterministic");
    let expected_ok = if text.contains(':') {
        Digest::parse(text).is_ok()
    } else {
        Tag::parse(text).is_ok()
    };
    assert_eq!(
        parsed.is_ok(),
        expected_ok,
        "reference {text:?}: {parsed:?}"
    );
    match parsed {
        Ok(reference) => {
            assert_eq!(reference.as_str(), text);
            match &reference {
                Reference::Tag(tag) => {
                    assert!(!text.contains(':'));
                    assert_eq!(reference.as_tag(), Some(tag));
                    assert_eq!(reference.as_digest(), None);
                }
                Reference::Digest(digest) => {
                    assert!(text.contains(':'));
                    assert_eq!(reference.as_digest(), Some(digest));
                    assert_eq!(reference.as_tag(), None);
                }
            }
            assert_eq!(
                reference.to_string().parse::<Reference>().as_ref(),
                Ok(&reference)
            );
            let json = serde_json::to_string(&reference).expect("a reference serializes");
            assert_eq!(
                serde_json::from_str::<Reference>(&json).ok(),
                Some(reference)
            );
        }
        Err(e) => assert_bounded_error(&e.to_string(), text.len()),
    }
}
