//! Stored policies, their attachment to users, and the compiled policy set of a principal.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{AccountError, AccountName, AccountRecord, Accounts, PolicyName, Principal};
use crate::access::{BuiltinPolicy, PolicyDocument, PolicySet};
use crate::meta::schema::{self, CF_ACCOUNTS, CF_INSTANCE, CF_POLICIES, CF_POLICY_HOLDERS};

/// Holders a refused policy delete names.
const HOLDERS_LISTED_MAX: usize = 100;
use crate::meta::{MetaError, WriteCtx};

/// Key of the instance-wide policy version counter in `CF_INSTANCE`.
const POLICY_VERSION_KEY: &[u8] = b"policy-version";

/// Compiled documents kept before the cache is emptied and refilled.
pub const POLICY_CACHE_ENTRIES_MAX: usize = 256;

/// A policy as stored: the document text as it was submitted (validated before it was
/// written) and a version that no other text of any policy ever had.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub document: String,
    pub version: u64,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

impl fmt::Debug for PolicyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyRecord")
            .field("document_bytes", &self.document.len())
            .field("version", &self.version)
            .field("created_at_ms", &self.created_at_ms)
            .field("updated_at_ms", &self.updated_at_ms)
            .finish()
    }
}

/// What a policy listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    pub name: PolicyName,
    pub builtin: bool,
    /// The document's JSON text.
    pub document: String,
}

/// Compiled documents by `(name, version)`. A version is never reused, so an entry is never
/// stale; entries for superseded versions merely wait for the next clearing.
#[derive(Default)]
pub(super) struct PolicyCache {
    documents: HashMap<(PolicyName, u64), Arc<PolicyDocument>>,
}

impl Accounts {
    /// Stores a new policy. `document` must parse as a [`PolicyDocument`]; the error carries
    /// the parser's message, which names the offending field.
    pub async fn create_policy(
        &self,
        name: &PolicyName,
        document: &str,
    ) -> Result<(), AccountError> {
        refuse_builtin(name)?;
        validate(name, document)?;
        // Counted outside the job; see `add_user`.
        let policies_max = self.shared.options.policies_max;
        if self
            .meta()
            .scan_prefix(CF_POLICIES, b"", None, policies_max)?
            .len()
            >= policies_max
        {
            return Err(AccountError::PolicyLimitReached { policies_max });
        }
        let now_ms = self.now_ms();
        let policy = name.clone();
        let document = document.to_owned();
        self.meta()
            .write(move |ctx| -> Result<(), AccountError> {
                let key = policy.as_str().as_bytes();
                if ctx.contains(CF_POLICIES, key)? {
                    return Err(AccountError::PolicyExists { policy });
                }
                let record = PolicyRecord {
                    document,
                    version: next_policy_version(ctx)?,
                    created_at_ms: now_ms,
                    updated_at_ms: now_ms,
                };
                ctx.put_json(CF_POLICIES, key, &record);
                Ok(())
            })
            .await
    }

    /// Replaces a stored policy's document. Users it is attached to are governed by the new
    /// document from their next [`Accounts::policy_set`].
    pub async fn update_policy(
        &self,
        name: &PolicyName,
        document: &str,
    ) -> Result<(), AccountError> {
        refuse_builtin(name)?;
        validate(name, document)?;
        let now_ms = self.now_ms();
        let policy = name.clone();
        let document = document.to_owned();
        self.meta()
            .write(move |ctx| -> Result<(), AccountError> {
                let key = policy.as_str().as_bytes();
                let Some(mut record) = ctx.get_json::<PolicyRecord>(CF_POLICIES, key)? else {
                    return Err(AccountError::PolicyUnknown { policy });
                };
                record.document = document;
                record.version = next_policy_version(ctx)?;
                record.updated_at_ms = now_ms;
                ctx.put_json(CF_POLICIES, key, &record);
                Ok(())
            })
            .await
    }

    /// Deletes a stored policy; refused while it is attached to any user (the error lists
    /// them).
    pub async fn delete_policy(&self, name: &PolicyName) -> Result<(), AccountError> {
        refuse_builtin(name)?;
        let policy = name.clone();
        self.meta()
            .write(move |ctx| -> Result<(), AccountError> {
                let key = policy.as_str().as_bytes();
                if !ctx.contains(CF_POLICIES, key)? {
                    return Err(AccountError::PolicyUnknown { policy });
                }
                // The holder index is read in the job so no attachment can slip in between
                // check and delete; it holds only this policy's holders (the error names at
                // most `HOLDERS_LISTED_MAX` of them).
                let mut users = Vec::new();
                let holders = ctx.scan_prefix(
                    CF_POLICY_HOLDERS,
                    &schema::pair_prefix(policy.as_str()),
                    None,
                    HOLDERS_LISTED_MAX,
                )?;
                for (account_key, _) in holders {
                    users.push(super::account_from_key(&account_key)?);
                }
                if !users.is_empty() {
                    return Err(AccountError::PolicyAttached { policy, users });
                }
                ctx.delete(CF_POLICIES, key);
                Ok(())
            })
            .await
    }

    /// The built-in policies (in [`BuiltinPolicy::ALL`] order), then the stored ones in name
    /// order.
    pub fn list_policies(&self) -> Result<Vec<PolicyInfo>, AccountError> {
        let mut policies: Vec<PolicyInfo> = BuiltinPolicy::ALL
            .into_iter()
            .map(|b| {
                Ok(PolicyInfo {
                    name: PolicyName::parse(b.name)?,
                    builtin: true,
                    document: b.document.to_owned(),
                })
            })
            .collect::<Result<_, AccountError>>()?;
        for (key, value) in self
            .meta()
            .scan_prefix(CF_POLICIES, b"", None, usize::MAX)?
        {
            let record: PolicyRecord = crate::meta::decode_json(&key, &value)?;
            policies.push(PolicyInfo {
                name: policy_from_key(&key)?,
                builtin: false,
                document: record.document,
            });
        }
        Ok(policies)
    }

    /// Attaches `policy` (built-in or stored) to `user`. Attaching an attached policy changes
    /// nothing.
    pub async fn attach(
        &self,
        user: &AccountName,
        policy: &PolicyName,
    ) -> Result<(), AccountError> {
        let builtin = policy.builtin().is_some();
        let policies_max = self.shared.options.policies_per_account_max;
        let account = user.clone();
        let policy = policy.clone();
        self.meta()
            .write(move |ctx| -> Result<(), AccountError> {
                let key = account.as_str().as_bytes();
                let Some(mut record) = ctx.get_json::<AccountRecord>(CF_ACCOUNTS, key)? else {
                    return Err(AccountError::AccountUnknown { account });
                };
                if !builtin && !ctx.contains(CF_POLICIES, policy.as_str().as_bytes())? {
                    return Err(AccountError::PolicyUnknown { policy });
                }
                if record.policies.contains(&policy) {
                    return Ok(());
                }
                if record.policies.len() >= policies_max {
                    return Err(AccountError::AttachLimitReached {
                        account,
                        policies_max,
                    });
                }
                ctx.put_raw(
                    CF_POLICY_HOLDERS,
                    &schema::pair_key(policy.as_str(), account.as_str()),
                    b"",
                );
                record.policies.push(policy);
                ctx.put_json(CF_ACCOUNTS, key, &record);
                Ok(())
            })
            .await
    }

    /// Detaches `policy` from `user`. Detaching a policy that exists but is not attached
    /// changes nothing; `admin` keeps `AdministratorAccess`.
    pub async fn detach(
        &self,
        user: &AccountName,
        policy: &PolicyName,
    ) -> Result<(), AccountError> {
        if user.is_admin() && policy.as_str() == BuiltinPolicy::ADMINISTRATOR_ACCESS.name {
            return Err(AccountError::AdminProtected {
                reason: "it keeps AdministratorAccess",
            });
        }
        let builtin = policy.builtin().is_some();
        let account = user.clone();
        let policy = policy.clone();
        self.meta()
            .write(move |ctx| -> Result<(), AccountError> {
                let key = account.as_str().as_bytes();
                let Some(mut record) = ctx.get_json::<AccountRecord>(CF_ACCOUNTS, key)? else {
                    return Err(AccountError::AccountUnknown { account });
                };
                let before = record.policies.len();
                record.policies.retain(|p| *p != policy);
                if record.policies.len() == before {
                    if !builtin && !ctx.contains(CF_POLICIES, policy.as_str().as_bytes())? {
                        return Err(AccountError::PolicyUnknown { policy });
                    }
                    return Ok(());
                }
                ctx.delete(
                    CF_POLICY_HOLDERS,
                    &schema::pair_key(policy.as_str(), account.as_str()),
                );
                ctx.put_json(CF_ACCOUNTS, key, &record);
                Ok(())
            })
            .await
    }

    /// The compiled set of `principal`'s policies, read now: a stored policy's current
    /// document applies. A name that no longer resolves (detached and deleted since the
    /// principal was authenticated) contributes nothing, which can only deny more.
    pub fn policy_set(&self, principal: &Principal) -> Result<PolicySet, AccountError> {
        let mut documents: Vec<Arc<PolicyDocument>> = Vec::with_capacity(principal.policies.len());
        for name in &principal.policies {
            if let Some((_, document)) = self
                .shared
                .builtins
                .iter()
                .find(|(builtin, _)| builtin.name == name)
            {
                documents.push(Arc::clone(document));
                continue;
            }
            let Ok(policy) = PolicyName::parse(name) else {
                continue;
            };
            let Some(record) = self
                .meta()
                .get_json::<PolicyRecord>(CF_POLICIES, policy.as_str().as_bytes())?
            else {
                continue;
            };
            documents.push(self.compiled(policy, &record)?);
        }
        Ok(PolicySet::new(documents.iter().map(|d| &**d)))
    }

    /// The parsed document of `record`, from the cache when this version was parsed before.
    fn compiled(
        &self,
        name: PolicyName,
        record: &PolicyRecord,
    ) -> Result<Arc<PolicyDocument>, AccountError> {
        let key = (name, record.version);
        if let Some(document) = self.cache().documents.get(&key) {
            return Ok(Arc::clone(document));
        }
        // Parsed outside the lock; a racing parse of the same version gives an equal document.
        let document = PolicyDocument::parse(&record.document).map_err(|e| {
            AccountError::Meta(MetaError::Corrupted {
                key: format!("{CF_POLICIES}/{}", key.0),
                reason: format!("stored policy document no longer parses: {e}"),
            })
        })?;
        let document = Arc::new(document);
        let mut cache = self.cache();
        if cache.documents.len() >= POLICY_CACHE_ENTRIES_MAX {
            cache.documents.clear();
        }
        cache.documents.insert(key, Arc::clone(&document));
        Ok(document)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, PolicyCache> {
        // The cache holds only parsed documents; one left half-updated by a panic is still
        // valid, so a poisoned lock is used as is.
        self.shared
            .policy_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn refuse_builtin(name: &PolicyName) -> Result<(), AccountError> {
    if name.is_reserved() {
        return Err(AccountError::PolicyBuiltin {
            policy: name.clone(),
        });
    }
    Ok(())
}

fn validate(name: &PolicyName, document: &str) -> Result<(), AccountError> {
    PolicyDocument::parse(document)
        .map(|_| ())
        .map_err(|e| AccountError::PolicyInvalid {
            policy: name.clone(),
            reason: e.to_string(),
        })
}

/// Hands out the next policy version. Call at most once per job: reads in a job do not see
/// the job's own writes.
fn next_policy_version(ctx: &mut WriteCtx<'_>) -> Result<u64, AccountError> {
    let last: u64 = ctx.get_json(CF_INSTANCE, POLICY_VERSION_KEY)?.unwrap_or(0);
    let next = last + 1;
    ctx.put_json(CF_INSTANCE, POLICY_VERSION_KEY, &next);
    Ok(next)
}

fn policy_from_key(key: &[u8]) -> Result<PolicyName, AccountError> {
    std::str::from_utf8(key)
        .ok()
        .and_then(|name| PolicyName::parse(name).ok())
        .ok_or_else(|| {
            AccountError::Meta(MetaError::Corrupted {
                key: format!("{CF_POLICIES}/{}", String::from_utf8_lossy(key)),
                reason: "the key is not a policy name".into(),
            })
        })
}
