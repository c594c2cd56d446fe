//! Temporary credentials (the `GetAuthorizationToken` operation): a random user name and
//! password that act for the issuing account until they expire.
//!
//! The password is 256 random bits, so a fast hash (SHA-256) protects it at rest as well as a
//! slow one would, and checking it costs microseconds; authentication compares hashes in
//! constant time.

use std::fmt;

use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{
    AccountError, AccountName, AccountRecord, Accounts, Principal, TEMPORARY_USERNAME_PREFIX,
};
use crate::meta::schema::{CF_ACCOUNTS, CF_TEMP_CREDENTIALS};

/// Random bytes in a temporary user name (hex encoded after the prefix).
const USERNAME_RANDOM_BYTES: usize = 8;

/// Random bytes in a temporary password (hex encoded).
const PASSWORD_RANDOM_BYTES: usize = 32;

/// Rows read, and deleted in one writer job, per step of expiry and revocation.
const SWEEP_PAGE_ROWS: usize = 1024;

/// A temporary credential as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TempCredentialRecord {
    /// The issuing account.
    pub account: AccountName,
    /// The issuing account's `id`: the credential does not outlive that account.
    pub account_id: String,
    /// SHA-256 of the password, hex.
    pub secret_sha256: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
}

impl fmt::Debug for TempCredentialRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempCredentialRecord")
            .field("account", &self.account)
            .field("account_id", &self.account_id)
            .field("secret_sha256", &"<redacted>")
            .field("created_at_ms", &self.created_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// What the caller of `GetAuthorizationToken` receives; the only time the password exists
/// outside the caller's hands. Its `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct TemporaryCredentials {
    /// `tmp-` and 16 hex digits.
    pub username: String,
    /// 64 hex digits.
    pub password: String,
    pub expires_at_ms: u64,
}

impl fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

impl Accounts {
    /// Issues a credential that authenticates as `principal`'s account for `ttl_ms`. Refused
    /// for a principal that is itself temporary, and for a TTL outside
    /// `1..=temporary_ttl_ms_max`.
    pub async fn issue_temporary(
        &self,
        principal: &Principal,
        ttl_ms: u64,
    ) -> Result<TemporaryCredentials, AccountError> {
        if principal.temporary {
            return Err(AccountError::TemporaryNotAllowed);
        }
        let ttl_ms_max = self.shared.options.temporary_ttl_ms_max;
        if ttl_ms == 0 || ttl_ms > ttl_ms_max {
            return Err(AccountError::TtlInvalid { ttl_ms, ttl_ms_max });
        }
        let account = AccountName::parse(&principal.name)?;
        let password = hex::encode(random_bytes::<PASSWORD_RANDOM_BYTES>());
        let secret_sha256 = sha256_hex(&password);
        let now_ms = self.now_ms();
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        let username = self
            .meta()
            .write(move |ctx| -> Result<String, AccountError> {
                let Some(issuer) =
                    ctx.get_json::<AccountRecord>(CF_ACCOUNTS, account.as_str().as_bytes())?
                else {
                    return Err(AccountError::AccountUnknown { account });
                };
                // 64 random bits: a collision is not expected in the life of the universe,
                // but an existing row is never overwritten.
                let username = loop {
                    let candidate = format!(
                        "{TEMPORARY_USERNAME_PREFIX}{}",
                        hex::encode(random_bytes::<USERNAME_RANDOM_BYTES>())
                    );
                    if !ctx.contains(CF_TEMP_CREDENTIALS, candidate.as_bytes())? {
                        break candidate;
                    }
                };
                let record = TempCredentialRecord {
                    account,
                    account_id: issuer.id,
                    secret_sha256,
                    created_at_ms: now_ms,
                    expires_at_ms,
                };
                ctx.put_json(CF_TEMP_CREDENTIALS, username.as_bytes(), &record);
                Ok(username)
            })
            .await?;
        Ok(TemporaryCredentials {
            username,
            password,
            expires_at_ms,
        })
    }

    /// Authenticates a temporary credential: unexpired, the password's hash matches, and the
    /// issuing account still exists. The principal carries that account's current policies.
    pub(super) fn authenticate_temporary(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Principal>, AccountError> {
        let presented = sha256_hex(password);
        let record: Option<TempCredentialRecord> = if is_temporary_username(username) {
            self.meta()
                .get_json(CF_TEMP_CREDENTIALS, username.as_bytes())?
        } else {
            None
        };
        let Some(record) = record else {
            return Ok(None);
        };
        if self.now_ms() >= record.expires_at_ms
            || !constant_time_eq(presented.as_bytes(), record.secret_sha256.as_bytes())
        {
            return Ok(None);
        }
        let Some(issuer) = self.account_record(&record.account)? else {
            return Ok(None);
        };
        if issuer.id != record.account_id {
            return Ok(None);
        }
        Ok(Some(Principal {
            name: record.account.to_string(),
            policies: issuer.policies.iter().map(|p| p.to_string()).collect(),
            temporary: true,
            expires_at_ms: Some(record.expires_at_ms),
        }))
    }

    /// Removes expired temporary credentials; returns how many.
    pub async fn expire_temporary(&self) -> Result<usize, AccountError> {
        let now_ms = self.now_ms();
        self.remove_temporary_where(move |record| now_ms >= record.expires_at_ms)
            .await
    }

    /// Removes every temporary credential `account` issued; returns how many.
    pub(super) async fn revoke_temporary_of(
        &self,
        account: &AccountName,
    ) -> Result<usize, AccountError> {
        let account = account.clone();
        self.remove_temporary_where(move |record| record.account == account)
            .await
    }

    /// Deletes the rows whose record satisfies `doomed`, a page at a time, each page in one
    /// writer job. Rows are never rewritten, so what a page read found still holds in its job.
    async fn remove_temporary_where(
        &self,
        doomed: impl Fn(&TempCredentialRecord) -> bool,
    ) -> Result<usize, AccountError> {
        let mut removed = 0;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = self.meta().scan_prefix(
                CF_TEMP_CREDENTIALS,
                b"",
                after.as_deref(),
                SWEEP_PAGE_ROWS,
            )?;
            let full_page = rows.len() == SWEEP_PAGE_ROWS;
            after = rows.last().map(|(key, _)| key.clone());
            let mut keys = Vec::new();
            for (key, value) in rows {
                let record: TempCredentialRecord = crate::meta::decode_json(&key, &value)?;
                if doomed(&record) {
                    keys.push(key);
                }
            }
            if !keys.is_empty() {
                removed += self
                    .meta()
                    .write(move |ctx| -> Result<usize, AccountError> {
                        let mut count = 0;
                        for key in keys {
                            if ctx.contains(CF_TEMP_CREDENTIALS, &key)? {
                                ctx.delete(CF_TEMP_CREDENTIALS, &key);
                                count += 1;
                            }
                        }
                        Ok(count)
                    })
                    .await?;
            }
            if !full_page {
                return Ok(removed);
            }
        }
    }
}

/// Whether `name` has the exact form of a temporary user name.
fn is_temporary_username(name: &str) -> bool {
    name.strip_prefix(TEMPORARY_USERNAME_PREFIX)
        .is_some_and(|rest| {
            rest.len() == USERNAME_RANDOM_BYTES * 2
                && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()).as_slice())
}

/// Equality whose time depends only on the lengths, so a wrong guess does not learn how many
/// leading characters it got right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
