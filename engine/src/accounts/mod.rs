//! The accounts store (issue #5): users and their password hashes, stored policies and which
//! users they are attached to, temporary credentials, the token-signing key and the audit log.
//!
//! This module decides who a caller is ([`Accounts::authenticate`]) and which policies apply
//! to them ([`Accounts::policy_set`]). Whether those policies allow a request is decided by
//! [`crate::access`]; how credentials arrive (Basic auth, bearer tokens) is the server's.
//!
//! # Records
//!
//! ```text
//! cf "accounts"         <account name>        -> AccountRecord (json)
//!     {"id":"<uuid v4>","created_at_ms":…,"updated_at_ms":…,
//!      "password_hash":"$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>",
//!      "policies":["ReadOnlyAccess","team-push"]}
//! cf "policies"         <policy name>         -> PolicyRecord (json)
//!     {"document":"<the JSON text as submitted>","version":7,"created_at_ms":…,"updated_at_ms":…}
//! cf "temp_credentials" tmp-<16 hex>          -> TempCredentialRecord (json)
//!     {"account":"alice","account_id":"<uuid>","secret_sha256":"<64 hex>",
//!      "created_at_ms":…,"expires_at_ms":…}
//! cf "instance"         token-signing-key     -> 32 random bytes (raw)
//!                       policy-version        -> the last policy version handed out (json u64)
//! cf "audit"            <at ms, 16 hex> 0x00 <seq, 8 hex> -> AuditRecord (json)
//! ```
//!
//! Built-in policies ([`BuiltinPolicy`]) are not stored: they are attached by name and resolved
//! from the code, so every installation has the same ones and an upgrade can change them.
//!
//! # Invariants
//!
//! - **No password and no hash leaves this module.** Listings return [`UserInfo`], records'
//!   `Debug` hides hashes and [`TemporaryCredentials`]' hides the password, and nothing here
//!   logs. Passwords are stored as argon2id PHC strings with a random salt; temporary
//!   passwords, which are 256 random bits, as their SHA-256.
//! - **An account's `policies` name only policies that exist.** `attach` checks the policy in
//!   the same writer job that writes the attachment, and `delete_policy` refuses, in its job,
//!   while any account holds the policy.
//! - **A temporary credential acts for the account that issued it, as that account is when the
//!   credential is used**: its policies are looked up at authentication, it stops working when
//!   the account is deleted (the record names the account's `id`, which a re-created account of
//!   the same name does not share), and it cannot issue further temporary credentials.
//! - **`admin` always holds `AdministratorAccess` and its password is the configuration's.**
//!   It cannot be created by `add_user`, deleted, have its password set, or lose
//!   `AdministratorAccess`; [`Accounts::ensure_admin`] creates or repairs it at start-up.
//! - **A policy version is never reused**, not even after a delete and re-create (it comes from
//!   an instance-wide counter), so `(name, version)` names one document text forever. That is
//!   what makes the compiled-policy cache safe without invalidation.
//!
//! # Costs
//!
//! Reads run inline on the caller's thread and writes are metadata writer jobs (see
//! [`crate::meta`]). The API is split by what a call costs:
//!
//! - **Blocking** — `add_user`, `set_password`, `ensure_admin` and `authenticate` run argon2
//!   on the caller's thread (tens of milliseconds of CPU with the default parameters, by
//!   design), and the first three then wait for their write; `token_signing_key` may wait for
//!   a write. Call them from a blocking thread (`spawn_blocking`, start-up, CLI), never on an
//!   executor. Authenticating a temporary credential costs one SHA-256, but shares the call.
//! - **async** — every other write (`delete_user`, policies, attachments, temporary
//!   credentials, audit) resolves once its writer job is durable, like [`Meta::write`].
//! - **Inline reads** — listings, `user`, `policy_set`, `query_audit`.
//!
//! This module must not know about HTTP, decide access, or log.

mod audit;
mod names;
mod policies;
mod temporary;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{self, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::access::{BuiltinPolicy, PolicyDocument};
use crate::meta::schema::{pair_key, CF_ACCOUNTS, CF_INSTANCE, CF_POLICY_HOLDERS};
use crate::meta::{Meta, MetaError};
use crate::Clock;

pub use self::audit::{
    AuditFilter, AuditPage, AuditRecord, AUDIT_DETAIL_BYTES_MAX, AUDIT_FIELD_BYTES_MAX,
    AUDIT_PAGE_RECORDS_MAX, AUDIT_QUERY_SCAN_ROWS_MAX,
};
pub use self::names::{
    AccountName, PolicyName, ACCOUNT_NAME_CHARS_MAX, ADMIN_ACCOUNT, POLICY_NAME_CHARS_MAX,
    TEMPORARY_USERNAME_PREFIX,
};
pub use self::policies::PolicyInfo;
pub use self::temporary::TemporaryCredentials;

/// The shortest password accepted, in characters.
pub const PASSWORD_CHARS_MIN: usize = 8;

/// The longest password accepted, in characters.
pub const PASSWORD_CHARS_MAX: usize = 256;

/// Key of the token-signing key in `CF_INSTANCE`.
const SIGNING_KEY_KEY: &[u8] = b"token-signing-key";

/// Length of the token-signing key.
pub const SIGNING_KEY_BYTES: usize = 32;

/// Limits and tuning of the accounts store.
#[derive(Debug, Clone)]
pub struct AccountOptions {
    /// argon2id memory cost of new password hashes, in KiB.
    pub argon2_memory_kib: u32,
    /// argon2id passes over that memory.
    pub argon2_iterations: u32,
    /// argon2id lanes.
    pub argon2_parallelism: u32,
    /// The longest lifetime a temporary credential may be issued with.
    pub temporary_ttl_ms_max: u64,
    /// Accounts (users, `admin` included) before `add_user` is refused.
    pub accounts_max: usize,
    /// Stored policies (built-ins not counted) before `create_policy` is refused.
    pub policies_max: usize,
    /// Policies attached to one account before `attach` is refused.
    pub policies_per_account_max: usize,
}

impl Default for AccountOptions {
    /// argon2id at m=19456 KiB, t=2, p=1: OWASP's recommendation for interactive logins.
    fn default() -> Self {
        Self {
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            temporary_ttl_ms_max: 12 * 3600 * 1000,
            accounts_max: 10_000,
            policies_max: 1_000,
            policies_per_account_max: 32,
        }
    }
}

impl AccountOptions {
    /// The smallest argon2 costs argon2 accepts, so tests hash in microseconds. Never for
    /// production: such hashes are cheap to brute-force.
    pub fn for_tests() -> Self {
        Self {
            argon2_memory_kib: argon2::Params::MIN_M_COST,
            argon2_iterations: argon2::Params::MIN_T_COST,
            argon2_parallelism: 1,
            ..Self::default()
        }
    }

    /// Whether these options can be used: argon2 accepts the cost parameters, and every limit
    /// is at least 1.
    pub fn validate(&self) -> Result<(), AccountError> {
        self.argon2_params()?;
        let limits = [
            ("temporary_ttl_ms_max", self.temporary_ttl_ms_max as usize),
            ("accounts_max", self.accounts_max),
            ("policies_max", self.policies_max),
            ("policies_per_account_max", self.policies_per_account_max),
        ];
        match limits.iter().find(|(_, value)| *value == 0) {
            Some((name, _)) => Err(AccountError::OptionsInvalid {
                reason: format!("{name} must be at least 1"),
            }),
            None => Ok(()),
        }
    }

    fn argon2_params(&self) -> Result<argon2::Params, AccountError> {
        argon2::Params::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
            None,
        )
        .map_err(|e| AccountError::OptionsInvalid {
            reason: format!(
                "argon2 parameters m={} KiB, t={}, p={}: {e}",
                self.argon2_memory_kib, self.argon2_iterations, self.argon2_parallelism
            ),
        })
    }
}

/// Every way an accounts operation fails.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("account {account} already exists")]
    AccountExists { account: AccountName },
    #[error("account {account} does not exist")]
    AccountUnknown { account: AccountName },
    #[error("policy {policy} already exists")]
    PolicyExists { policy: PolicyName },
    #[error("policy {policy} does not exist")]
    PolicyUnknown { policy: PolicyName },
    #[error(
        "{policy} is a built-in policy's name; built-in policies cannot be created, changed or \
         deleted"
    )]
    PolicyBuiltin { policy: PolicyName },
    /// `reason` is the parser's message, which names the offending field.
    #[error("policy {policy} is invalid: {reason}")]
    PolicyInvalid { policy: PolicyName, reason: String },
    #[error("policy {policy} is attached to {}; detach it first", join(.users))]
    PolicyAttached {
        policy: PolicyName,
        users: Vec<AccountName>,
    },
    #[error("invalid password: {reason}")]
    PasswordInvalid { reason: String },
    #[error("invalid name {name:?}: {reason}")]
    NameInvalid { name: String, reason: String },
    #[error("the admin account is protected: {reason}")]
    AdminProtected { reason: &'static str },
    #[error("temporary credentials cannot issue temporary credentials")]
    TemporaryNotAllowed,
    #[error("a temporary credential lives 1 to {ttl_ms_max} ms, not {ttl_ms} ms")]
    TtlInvalid { ttl_ms: u64, ttl_ms_max: u64 },
    #[error("{accounts_max} accounts exist, the most allowed")]
    AccountLimitReached { accounts_max: usize },
    #[error("{policies_max} policies exist, the most allowed")]
    PolicyLimitReached { policies_max: usize },
    #[error("account {account} has {policies_max} policies attached, the most allowed")]
    AttachLimitReached {
        account: AccountName,
        policies_max: usize,
    },
    #[error("the audit log cursor is not one this server handed out")]
    CursorInvalid,
    #[error("invalid accounts options: {reason}")]
    OptionsInvalid { reason: String },
    #[error(transparent)]
    Meta(#[from] MetaError),
}

fn join(names: &[AccountName]) -> String {
    names
        .iter()
        .map(AccountName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A user as stored. Its `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// Random, per account: temporary credentials name it so that they die with the account
    /// and are not inherited by a later account of the same name.
    pub id: String,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// argon2 PHC string.
    pub password_hash: String,
    /// Attached policies, in attachment order, each at most once.
    #[serde(default)]
    pub policies: Vec<PolicyName>,
}

impl fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountRecord")
            .field("id", &self.id)
            .field("created_at_ms", &self.created_at_ms)
            .field("updated_at_ms", &self.updated_at_ms)
            .field("password_hash", &"<redacted>")
            .field("policies", &self.policies)
            .finish()
    }
}

/// What may be shown about a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: AccountName,
    pub created_at_ms: u64,
    pub policies: Vec<String>,
}

impl UserInfo {
    fn of(name: AccountName, record: &AccountRecord) -> UserInfo {
        UserInfo {
            name,
            created_at_ms: record.created_at_ms,
            policies: record.policies.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// Who a request acts as, once authenticated.
///
/// For a temporary credential, `name` is the account that issued it (so audit records name
/// an account) and `policies` are that account's as of authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub policies: Vec<String>,
    pub temporary: bool,
    pub expires_at_ms: Option<u64>,
}

/// What [`Accounts::ensure_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminBootstrap {
    /// `admin` did not exist and was created with `AdministratorAccess`.
    Created,
    /// `admin` existed; its password was changed to the configured one, and/or
    /// `AdministratorAccess`, which it had lost, was attached again.
    Updated {
        password_changed: bool,
        administrator_access_restored: bool,
    },
    /// `admin` existed as configured.
    Unchanged,
}

/// The accounts store. Cheap to clone; clones share the store and a small cache of compiled
/// policies.
#[derive(Clone)]
pub struct Accounts {
    shared: Arc<Shared>,
}

struct Shared {
    meta: Meta,
    clock: Arc<dyn Clock>,
    options: AccountOptions,
    argon2: argon2::Argon2<'static>,
    /// A hash of no one's password, verified against when the user is unknown so that an
    /// unknown name costs what a wrong password costs.
    dummy_hash: OnceLock<String>,
    builtins: Vec<(BuiltinPolicy, Arc<PolicyDocument>)>,
    /// Compiled stored policies; see `policies.rs`. Consulted only when a principal's policy
    /// set is built, which callers do once per authentication, so the lock is not contended.
    policy_cache: Mutex<policies::PolicyCache>,
    /// Sequence numbers of audit keys; see `audit.rs`.
    audit_seq: Arc<AtomicU64>,
}

impl Accounts {
    /// **Precondition:** `options` are valid ([`AccountOptions::validate`]; the defaults and
    /// [`AccountOptions::for_tests`] are). Invalid ones are a bug of the caller and panic.
    pub(crate) fn new(meta: Meta, clock: Arc<dyn Clock>, options: AccountOptions) -> Accounts {
        let params = match options.argon2_params() {
            Ok(params) => params,
            Err(e) => panic!("Accounts::new with invalid options: {e}"),
        };
        let argon2 =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let builtins = BuiltinPolicy::ALL
            .into_iter()
            .map(|b| (b, Arc::new(b.parse())))
            .collect();
        Accounts {
            shared: Arc::new(Shared {
                meta,
                clock,
                options,
                argon2,
                dummy_hash: OnceLock::new(),
                builtins,
                policy_cache: Mutex::default(),
                audit_seq: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    pub fn options(&self) -> &AccountOptions {
        &self.shared.options
    }

    fn meta(&self) -> &Meta {
        &self.shared.meta
    }

    fn now_ms(&self) -> u64 {
        self.shared.clock.now_ms()
    }

    // -----------------------------------------------------------------------------------------
    // Users
    // -----------------------------------------------------------------------------------------

    /// Creates user `name` with `password` and no policies. Blocking: it hashes.
    pub fn add_user(&self, name: &AccountName, password: &str) -> Result<(), AccountError> {
        if name.is_admin() {
            return Err(AccountError::AdminProtected {
                reason: "it is created from the configuration",
            });
        }
        check_password(password)?;
        // Counted outside the writer job to keep the job short; concurrent creations may
        // overshoot the limit by a few, which is fine for a limit that guards against floods.
        let accounts_max = self.shared.options.accounts_max;
        if self
            .meta()
            .scan_prefix(CF_ACCOUNTS, b"", None, accounts_max)?
            .len()
            >= accounts_max
        {
            return Err(AccountError::AccountLimitReached { accounts_max });
        }
        let now_ms = self.now_ms();
        let record = AccountRecord {
            id: uuid::Uuid::new_v4().to_string(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            password_hash: self.hash_password(password),
            policies: Vec::new(),
        };
        let account = name.clone();
        self.meta()
            .write_blocking(move |ctx| -> Result<(), AccountError> {
                let key = account.as_str().as_bytes();
                if ctx.contains(CF_ACCOUNTS, key)? {
                    return Err(AccountError::AccountExists { account });
                }
                ctx.put_json(CF_ACCOUNTS, key, &record);
                Ok(())
            })
    }

    /// Replaces the password of user `name`. Blocking: it hashes.
    pub fn set_password(&self, name: &AccountName, password: &str) -> Result<(), AccountError> {
        if name.is_admin() {
            return Err(AccountError::AdminProtected {
                reason: "its password comes from the configuration",
            });
        }
        check_password(password)?;
        let hash = self.hash_password(password);
        let now_ms = self.now_ms();
        let account = name.clone();
        self.meta()
            .write_blocking(move |ctx| -> Result<(), AccountError> {
                let key = account.as_str().as_bytes();
                let Some(mut record) = ctx.get_json::<AccountRecord>(CF_ACCOUNTS, key)? else {
                    return Err(AccountError::AccountUnknown { account });
                };
                record.password_hash = hash;
                record.updated_at_ms = now_ms;
                ctx.put_json(CF_ACCOUNTS, key, &record);
                Ok(())
            })
    }

    /// Deletes user `name` and revokes the temporary credentials it issued.
    pub async fn delete_user(&self, name: &AccountName) -> Result<(), AccountError> {
        if name.is_admin() {
            return Err(AccountError::AdminProtected {
                reason: "it cannot be deleted",
            });
        }
        let account = name.clone();
        self.meta()
            .write(move |ctx| -> Result<(), AccountError> {
                let key = account.as_str().as_bytes();
                let Some(record) = ctx.get_json::<AccountRecord>(CF_ACCOUNTS, key)? else {
                    return Err(AccountError::AccountUnknown { account });
                };
                for policy in &record.policies {
                    ctx.delete(
                        CF_POLICY_HOLDERS,
                        &pair_key(policy.as_str(), account.as_str()),
                    );
                }
                ctx.delete(CF_ACCOUNTS, key);
                Ok(())
            })
            .await?;
        // The credentials stopped working with the account row (authentication finds no
        // account); removing their rows is tidying, which `expire_temporary` would also do.
        self.revoke_temporary_of(name).await?;
        Ok(())
    }

    /// Every user, in name order.
    pub fn list_users(&self) -> Result<Vec<UserInfo>, AccountError> {
        let rows = self
            .meta()
            .scan_prefix(CF_ACCOUNTS, b"", None, usize::MAX)?;
        rows.into_iter()
            .map(|(key, value)| {
                let record: AccountRecord = crate::meta::decode_json(&key, &value)?;
                Ok(UserInfo::of(account_from_key(&key)?, &record))
            })
            .collect()
    }

    pub fn user(&self, name: &AccountName) -> Result<Option<UserInfo>, AccountError> {
        Ok(self
            .account_record(name)?
            .map(|record| UserInfo::of(name.clone(), &record)))
    }

    fn account_record(&self, name: &AccountName) -> Result<Option<AccountRecord>, AccountError> {
        Ok(self
            .meta()
            .get_json(CF_ACCOUNTS, name.as_str().as_bytes())?)
    }

    /// Makes `admin` exist with `password` and `AdministratorAccess`. The configuration is the
    /// source of truth for the admin password, so a different stored one is replaced.
    /// Idempotent. Blocking and meant for start-up: it costs an argon2 run or two.
    pub fn ensure_admin(&self, password: &str) -> Result<AdminBootstrap, AccountError> {
        check_password(password)?;
        let admin = AccountName::admin();
        // Which stored hash already matches `password`: if the job finds that same hash, the
        // password is unchanged.
        let matching_hash = match self.account_record(&admin)? {
            Some(record) if self.verify_password(&admin, &record.password_hash, password)? => {
                Some(record.password_hash)
            }
            _ => None,
        };
        let new_hash = self.hash_password(password);
        let now_ms = self.now_ms();
        let administrator = PolicyName::parse(BuiltinPolicy::ADMINISTRATOR_ACCESS.name)?;
        self.meta()
            .write_blocking(move |ctx| -> Result<AdminBootstrap, AccountError> {
                let key = admin.as_str().as_bytes();
                let Some(mut record) = ctx.get_json::<AccountRecord>(CF_ACCOUNTS, key)? else {
                    ctx.put_json(
                        CF_ACCOUNTS,
                        key,
                        &AccountRecord {
                            id: uuid::Uuid::new_v4().to_string(),
                            created_at_ms: now_ms,
                            updated_at_ms: now_ms,
                            password_hash: new_hash,
                            policies: vec![administrator.clone()],
                        },
                    );
                    ctx.put_raw(
                        CF_POLICY_HOLDERS,
                        &pair_key(administrator.as_str(), ADMIN_ACCOUNT),
                        b"",
                    );
                    return Ok(AdminBootstrap::Created);
                };
                let password_changed = matching_hash.as_ref() != Some(&record.password_hash);
                if password_changed {
                    record.password_hash = new_hash;
                }
                let administrator_access_restored = !record.policies.contains(&administrator);
                if administrator_access_restored {
                    ctx.put_raw(
                        CF_POLICY_HOLDERS,
                        &pair_key(administrator.as_str(), ADMIN_ACCOUNT),
                        b"",
                    );
                    record.policies.push(administrator);
                }
                if !password_changed && !administrator_access_restored {
                    return Ok(AdminBootstrap::Unchanged);
                }
                record.updated_at_ms = now_ms;
                ctx.put_json(CF_ACCOUNTS, key, &record);
                Ok(AdminBootstrap::Updated {
                    password_changed,
                    administrator_access_restored,
                })
            })
    }

    // -----------------------------------------------------------------------------------------
    // Authentication
    // -----------------------------------------------------------------------------------------

    /// The principal `name` authenticates as with `password`, or None if they do not match.
    ///
    /// Names starting with [`TEMPORARY_USERNAME_PREFIX`] are temporary credentials. For users,
    /// a wrong password and an unknown name cost the same argon2 verification, so the time
    /// taken does not tell whether the user exists.
    pub fn authenticate(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<Principal>, AccountError> {
        if name.starts_with(TEMPORARY_USERNAME_PREFIX) {
            return self.authenticate_temporary(name, password);
        }
        // No stored password has such a length, and refusing one says nothing about the user.
        let chars = password.chars().count();
        if !(PASSWORD_CHARS_MIN..=PASSWORD_CHARS_MAX).contains(&chars) {
            return Ok(None);
        }
        let found = match AccountName::parse(name) {
            Ok(account) => self.account_record(&account)?.map(|r| (account, r)),
            Err(_) => None,
        };
        let Some((account, record)) = found else {
            self.verify_dummy(password);
            return Ok(None);
        };
        if !self.verify_password(&account, &record.password_hash, password)? {
            return Ok(None);
        }
        Ok(Some(Principal {
            name: account.to_string(),
            policies: record.policies.iter().map(|p| p.to_string()).collect(),
            temporary: false,
            expires_at_ms: None,
        }))
    }

    fn hash_password(&self, password: &str) -> String {
        let salt = SaltString::generate(&mut OsRng);
        match self.shared.argon2.hash_password(password.as_bytes(), &salt) {
            Ok(hash) => hash.to_string(),
            // argon2 fails only on parameters, which `new` checked, and on passwords longer
            // than 2^32 bytes, which `check_password` refused.
            Err(e) => panic!("argon2 hashing with checked parameters failed: {e}"),
        }
    }

    /// Whether `password` matches `hash` (a PHC string, verified with the parameters it
    /// names). A hash that does not parse is a corrupted record of `account`.
    fn verify_password(
        &self,
        account: &AccountName,
        hash: &str,
        password: &str,
    ) -> Result<bool, AccountError> {
        let corrupted = |reason: String| {
            AccountError::Meta(MetaError::Corrupted {
                key: format!("{CF_ACCOUNTS}/{account}"),
                reason,
            })
        };
        let parsed = PasswordHash::new(hash)
            .map_err(|e| corrupted(format!("password hash does not parse: {e}")))?;
        match self
            .shared
            .argon2
            .verify_password(password.as_bytes(), &parsed)
        {
            Ok(()) => Ok(true),
            Err(password_hash::Error::Password) => Ok(false),
            Err(e) => Err(corrupted(format!("password hash is unusable: {e}"))),
        }
    }

    /// Spends the time of a verification against a hash made with the current parameters.
    fn verify_dummy(&self, password: &str) {
        let dummy = self
            .shared
            .dummy_hash
            .get_or_init(|| self.hash_password("no one's password"));
        if let Ok(parsed) = PasswordHash::new(dummy) {
            let _ = self
                .shared
                .argon2
                .verify_password(password.as_bytes(), &parsed);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Instance secrets
    // -----------------------------------------------------------------------------------------

    /// The key bearer tokens are signed with: 32 random bytes made on first use and kept in the
    /// metadata store. Concurrent first calls agree, because the key is created in a writer job
    /// only if absent. Blocking when it has to create the key (one WAL fsync): meant for
    /// start-up.
    pub fn token_signing_key(&self) -> Result<Vec<u8>, AccountError> {
        if let Some(key) = self.meta().get_raw(CF_INSTANCE, SIGNING_KEY_KEY)? {
            return checked_signing_key(key);
        }
        let mut fresh = vec![0u8; SIGNING_KEY_BYTES];
        OsRng.fill_bytes(&mut fresh);
        self.meta()
            .write_blocking(move |ctx| -> Result<Vec<u8>, AccountError> {
                match ctx.get_raw(CF_INSTANCE, SIGNING_KEY_KEY)? {
                    Some(existing) => checked_signing_key(existing),
                    None => {
                        ctx.put_raw(CF_INSTANCE, SIGNING_KEY_KEY, &fresh);
                        Ok(fresh)
                    }
                }
            })
    }
}

fn checked_signing_key(key: Vec<u8>) -> Result<Vec<u8>, AccountError> {
    if key.len() == SIGNING_KEY_BYTES {
        Ok(key)
    } else {
        Err(AccountError::Meta(MetaError::Corrupted {
            key: format!("{CF_INSTANCE}/token-signing-key"),
            reason: format!("the key is {} bytes, not {SIGNING_KEY_BYTES}", key.len()),
        }))
    }
}

fn check_password(password: &str) -> Result<(), AccountError> {
    let chars = password.chars().count();
    if chars < PASSWORD_CHARS_MIN {
        return Err(AccountError::PasswordInvalid {
            reason: format!("a password has at least {PASSWORD_CHARS_MIN} characters"),
        });
    }
    if chars > PASSWORD_CHARS_MAX {
        return Err(AccountError::PasswordInvalid {
            reason: format!("a password has at most {PASSWORD_CHARS_MAX} characters"),
        });
    }
    Ok(())
}

/// The account a `CF_ACCOUNTS` key names; a key that is not a valid name is corruption.
fn account_from_key(key: &[u8]) -> Result<AccountName, AccountError> {
    std::str::from_utf8(key)
        .ok()
        .and_then(|name| AccountName::parse(name).ok())
        .ok_or_else(|| {
            AccountError::Meta(MetaError::Corrupted {
                key: format!("{CF_ACCOUNTS}/{}", String::from_utf8_lossy(key)),
                reason: "the key is not an account name".into(),
            })
        })
}
