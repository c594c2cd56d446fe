//! Which tags a trigger fires on, as the model registry defines it: `ALL` fires on every tag,
//! `REGEX` when the expression matches the whole tag, `TAGS` when the tag is one of at most
//! [`FILTER_TAGS_MAX`] exact tags. A tag that does not match still gets a delivery record
//! (`UNTRIGGERED`), whose reason is the text [`TriggerFilter::check`] returns.
//!
//! Invariant: a stored filter has passed [`TriggerFilter::validate`], so compiling its
//! expression cannot fail and costs a bounded amount (length and compiled-size limits): the
//! check runs inside the metadata writer job that writes the tag.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::oci::Tag;

/// Exact tags a `TAGS` filter may list (the model's limit).
pub const FILTER_TAGS_MAX: usize = 10;
/// Longest `REGEX` expression accepted.
pub const FILTER_EXPRESSION_CHARS_MAX: usize = 256;
/// Compiled size of an expression (the regex crate's limit), so matching stays cheap.
const FILTER_REGEX_COMPILED_BYTES_MAX: usize = 256 << 10;
/// Compiled expressions kept by [`RegexCache`]; the cache is emptied when it reaches this.
const REGEX_CACHE_ENTRIES_MAX: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "UPPERCASE")]
pub enum TriggerFilter {
    All,
    Regex(String),
    Tags(Vec<String>),
}

impl TriggerFilter {
    /// The model's name of the filter's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            TriggerFilter::All => "ALL",
            TriggerFilter::Regex(_) => "REGEX",
            TriggerFilter::Tags(_) => "TAGS",
        }
    }

    /// Why the filter cannot be stored, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            TriggerFilter::All => Ok(()),
            TriggerFilter::Regex(expression) => {
                if expression.is_empty() {
                    return Err("a REGEX trigger needs a non-empty expression".into());
                }
                if expression.chars().count() > FILTER_EXPRESSION_CHARS_MAX {
                    return Err(format!(
                        "the expression is longer than {FILTER_EXPRESSION_CHARS_MAX} characters"
                    ));
                }
                compile(expression).map(|_| ())
            }
            TriggerFilter::Tags(tags) => {
                if tags.is_empty() || tags.len() > FILTER_TAGS_MAX {
                    return Err(format!(
                        "a TAGS trigger lists 1 to {FILTER_TAGS_MAX} tags, not {}",
                        tags.len()
                    ));
                }
                for tag in tags {
                    Tag::parse(tag).map_err(|e| format!("tags: {e}"))?;
                }
                Ok(())
            }
        }
    }

    /// Ok when `tag` fires the trigger; otherwise the reason it does not, for the record.
    pub(crate) fn check(&self, tag: &str, cache: &RegexCache) -> Result<(), String> {
        match self {
            TriggerFilter::All => Ok(()),
            TriggerFilter::Regex(expression) => match cache.is_match(expression, tag) {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!("tag {tag} does not match {expression}")),
                Err(e) => Err(format!("the expression {expression} does not compile: {e}")),
            },
            TriggerFilter::Tags(tags) => {
                if tags.iter().any(|t| t == tag) {
                    Ok(())
                } else {
                    Err(format!("tag {tag} is not one of {}", tags.join(", ")))
                }
            }
        }
    }
}

/// The whole-tag form of an expression: `release-v.*` must match all of `release-v1`.
fn compile(expression: &str) -> Result<Regex, String> {
    RegexBuilder::new(&format!("^(?:{expression})$"))
        .size_limit(FILTER_REGEX_COMPILED_BYTES_MAX)
        .build()
        .map_err(|e| format!("the expression does not compile: {e}"))
}

/// Compiled expressions, so that the writer job does not compile one per tag push. Only the
/// metadata writer thread uses it (trigger checks run in writer jobs), so its lock is never
/// contended; it is shared by the registry's clones because the jobs come from every shard.
#[derive(Clone, Default)]
pub(crate) struct RegexCache {
    compiled: Arc<Mutex<HashMap<String, Regex>>>,
}

impl RegexCache {
    fn is_match(&self, expression: &str, tag: &str) -> Result<bool, String> {
        let mut compiled = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(regex) = compiled.get(expression) {
            return Ok(regex.is_match(tag));
        }
        let regex = compile(expression)?;
        let matched = regex.is_match(tag);
        if compiled.len() >= REGEX_CACHE_ENTRIES_MAX {
            compiled.clear();
        }
        compiled.insert(expression.to_owned(), regex);
        Ok(matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(filter: &TriggerFilter, tag: &str) -> Result<(), String> {
        filter.check(tag, &RegexCache::default())
    }

    #[test]
    fn filters_fire_as_the_model_defines() {
        let regex = TriggerFilter::Regex("release-v.*".into());
        assert_eq!(check(&regex, "release-v1"), Ok(()));
        assert_eq!(
            check(&regex, "v1"),
            Err("tag v1 does not match release-v.*".into())
        );
        // The whole tag must match, not a part of it.
        assert!(check(&regex, "pre-release-v1").is_err());
        assert!(check(&TriggerFilter::Regex("v1|v2".into()), "v2x").is_err());
        let tags = TriggerFilter::Tags(vec!["latest".into(), "v1".into()]);
        assert_eq!(check(&tags, "v1"), Ok(()));
        assert_eq!(
            check(&tags, "v2"),
            Err("tag v2 is not one of latest, v1".into())
        );
        assert_eq!(check(&TriggerFilter::All, "anything"), Ok(()));
    }

    #[test]
    fn invalid_filters_are_refused_with_the_rule() {
        let too_many = TriggerFilter::Tags((0..11).map(|i| format!("t{i}")).collect());
        assert!(too_many
            .validate()
            .expect_err("11 tags")
            .contains("1 to 10"));
        assert!(TriggerFilter::Tags(vec![]).validate().is_err());
        assert!(TriggerFilter::Tags(vec!["bad tag".into()])
            .validate()
            .is_err());
        assert!(TriggerFilter::Regex("(".into()).validate().is_err());
        assert!(TriggerFilter::Regex(String::new()).validate().is_err());
        assert!(TriggerFilter::Regex("a".repeat(257)).validate().is_err());
        // A pathological repetition exceeds the compiled-size limit instead of costing the
        // writer thread seconds.
        assert!(TriggerFilter::Regex("(a{100}){100}".into())
            .validate()
            .is_err());
        assert!(TriggerFilter::Regex("release-v.*".into())
            .validate()
            .is_ok());
    }
}
