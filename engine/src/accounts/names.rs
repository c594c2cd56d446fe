//! Account and policy names: the two identifiers of the accounts store, validated once here.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::AccountError;
use crate::access::BuiltinPolicy;

/// The longest account name, in characters (all ASCII).
pub const ACCOUNT_NAME_CHARS_MAX: usize = 64;

/// The longest policy name, in characters (all ASCII).
pub const POLICY_NAME_CHARS_MAX: usize = 64;

/// The main account's name: created from the configuration, never deleted.
pub const ADMIN_ACCOUNT: &str = "admin";

/// Every temporary credential's user name starts with this, and no account name may, so a
/// name says by itself which store authenticates it.
pub const TEMPORARY_USERNAME_PREFIX: &str = "tmp-";

/// How many characters of a rejected name an error quotes.
const EXCERPT_CHARS_MAX: usize = 80;

/// A user's name: 1–64 characters of `[a-z0-9][a-z0-9._-]*`, not starting with `tmp-`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(name: &str) -> Result<AccountName, AccountError> {
        match account_name_problem(name) {
            None => Ok(AccountName(name.to_owned())),
            Some(reason) => Err(AccountError::NameInvalid {
                name: excerpt(name),
                reason,
            }),
        }
    }

    /// The main account.
    pub fn admin() -> AccountName {
        AccountName(ADMIN_ACCOUNT.to_owned())
    }

    pub fn is_admin(&self) -> bool {
        self.0 == ADMIN_ACCOUNT
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn account_name_problem(name: &str) -> Option<String> {
    let chars = name.chars().count();
    if chars == 0 {
        return Some("an account name must not be empty".into());
    }
    if chars > ACCOUNT_NAME_CHARS_MAX {
        return Some(format!(
            "an account name is at most {ACCOUNT_NAME_CHARS_MAX} characters, this one is {chars}"
        ));
    }
    let mut rest = name.chars();
    let first = rest.next().unwrap_or_default();
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Some(format!(
            "an account name starts with a lowercase letter or a digit, not {first:?}"
        ));
    }
    if let Some(bad) = rest
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "an account name holds only lowercase letters, digits, '.', '_' and '-', not {bad:?}"
        ));
    }
    if name.starts_with(TEMPORARY_USERNAME_PREFIX) {
        return Some(format!(
            "names starting with {TEMPORARY_USERNAME_PREFIX:?} are reserved for temporary \
             credentials"
        ));
    }
    None
}

impl TryFrom<String> for AccountName {
    type Error = AccountError;
    fn try_from(name: String) -> Result<Self, AccountError> {
        AccountName::parse(&name)
    }
}

impl From<AccountName> for String {
    fn from(name: AccountName) -> String {
        name.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A policy's name: 1–64 characters of `[A-Za-z0-9_-]`. The names of built-in policies parse
/// (they are attached by name like any other), but no stored policy may take one of them, in
/// any letter case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PolicyName(String);

impl PolicyName {
    pub fn parse(name: &str) -> Result<PolicyName, AccountError> {
        let chars = name.chars().count();
        let reason = if chars == 0 {
            Some("a policy name must not be empty".to_owned())
        } else if chars > POLICY_NAME_CHARS_MAX {
            Some(format!(
                "a policy name is at most {POLICY_NAME_CHARS_MAX} characters, this one is {chars}"
            ))
        } else {
            name.chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
                .map(|bad| {
                    format!("a policy name holds only letters, digits, '_' and '-', not {bad:?}")
                })
        };
        match reason {
            None => Ok(PolicyName(name.to_owned())),
            Some(reason) => Err(AccountError::NameInvalid {
                name: excerpt(name),
                reason,
            }),
        }
    }

    /// The built-in policy of exactly this name.
    pub fn builtin(&self) -> Option<BuiltinPolicy> {
        BuiltinPolicy::ALL.into_iter().find(|b| b.name == self.0)
    }

    /// Whether a stored policy may not take this name: it is a built-in's in some letter case.
    pub fn is_reserved(&self) -> bool {
        BuiltinPolicy::ALL
            .iter()
            .any(|b| b.name.eq_ignore_ascii_case(&self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PolicyName {
    type Error = AccountError;
    fn try_from(name: String) -> Result<Self, AccountError> {
        PolicyName::parse(&name)
    }
}

impl From<PolicyName> for String {
    fn from(name: PolicyName) -> String {
        name.0
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bounded copy of a rejected name for error messages.
fn excerpt(input: &str) -> String {
    match input.char_indices().nth(EXCERPT_CHARS_MAX) {
        None => input.to_owned(),
        Some((cut_at, _)) => format!("{}…", &input[..cut_at]),
    }
}
