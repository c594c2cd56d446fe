//! Who is asking, and may they: authentication (Basic credentials, bearer tokens, anonymous),
//! the docker token service (`GET /token`), and the authorisation of every request against
//! the operation table of `berth_engine::access` (docs/access.md).
//!
//! ```text
//!  request ──▶ identify ──▶ Anonymous | Account(principal, policies) | Token(access claims)
//!                               │
//!  endpoint ──▶ Operation + resource ──▶ allowed? ──▶ handler
//!                                          └──▶ 401 + WWW-Authenticate (anonymous, token)
//!                                               403 DENIED (an account without the right)
//! ```
//!
//! Invariants:
//! - Passwords and tokens are never logged; a credential is kept only as a hash in the
//!   shard's cache.
//! - Policy evaluation on the pull path allocates nothing per request: the principal's
//!   compiled policy set is cached per shard with its credential (argon2 runs once per
//!   credential and minute, on a blocking thread, never on the reactor).
//! - A PUBLIC repository may be pulled by anyone; everything else needs a policy that allows
//!   exactly the operation's action on exactly its resource.

pub mod audit;
mod token;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use berth_engine::access::{Operation, PolicySet, Resource, Scope};
use berth_engine::oci::RepoName;
use berth_engine::{AccountError, Accounts, Clock, Principal, Registry, Visibility};
use http::{header, HeaderValue, Request, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::config::AuthConfig;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::{router, RequestBody};

pub use token::{token_endpoint, Access};

/// How long a verified credential is trusted without running argon2 again.
const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(60);
/// Entries in a shard's credential and token caches before they are cleared.
const CACHE_ENTRIES_MAX: usize = 10_000;
/// Password verifications (argon2: ~19 MiB and tens of ms each) running at once per shard.
/// Bounds memory whatever number of connections present new credentials at the same moment.
const VERIFICATIONS_MAX: u64 = 2;

/// Who is asking.
#[derive(Clone)]
pub enum Identity {
    /// Access control is off: everything is allowed.
    Open,
    Anonymous,
    Account {
        principal: Rc<Principal>,
        policies: Rc<PolicySet>,
    },
    /// A bearer token from `/token`: exactly the access its claims list.
    Token {
        subject: Option<String>,
        access: Rc<Vec<Access>>,
    },
}

impl Identity {
    /// The account name for logs and the audit trail; None when anonymous.
    pub fn account(&self) -> Option<&str> {
        match self {
            Identity::Open | Identity::Anonymous => None,
            Identity::Account { principal, .. } => Some(&principal.name),
            Identity::Token { subject, .. } => subject.as_deref(),
        }
    }
}

struct CachedCredential {
    principal: Rc<Principal>,
    policies: Rc<PolicySet>,
    until: Instant,
    /// A temporary credential's expiry, on the engine's clock: the cache never outlives it.
    expires_at_ms: Option<u64>,
}

/// A shard's access control. Shard-local (its caches are `RefCell`s).
pub struct Auth {
    config: AuthConfig,
    accounts: Accounts,
    registry: Registry,
    keys: token::Keys,
    credentials: RefCell<HashMap<[u8; 32], CachedCredential>>,
    tokens: RefCell<HashMap<[u8; 32], token::CachedToken>>,
    verifications: glommio::sync::Semaphore,
    /// The engine's clock, for temporary credentials' expiry.
    clock: std::sync::Arc<dyn Clock>,
}

impl Auth {
    pub fn new(
        config: AuthConfig,
        accounts: Accounts,
        registry: Registry,
        signing_key: &[u8],
        clock: std::sync::Arc<dyn Clock>,
    ) -> Auth {
        Auth {
            clock,
            keys: token::Keys::new(signing_key, &config.service),
            config,
            accounts,
            registry,
            credentials: RefCell::default(),
            tokens: RefCell::default(),
            verifications: glommio::sync::Semaphore::new(VERIFICATIONS_MAX),
        }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Reads the request's credentials. Wrong credentials are an error (401), no credentials
    /// are the anonymous identity.
    pub async fn identify(&self, req: &Request<RequestBody>) -> Result<Identity, ApiError> {
        let Some(value) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(Identity::Anonymous);
        };
        if let Some(encoded) = strip_scheme(value, "basic") {
            let (name, password) = decode_basic(encoded)
                .ok_or_else(|| self.unauthorized(req, None, "malformed Basic credentials"))?;
            return match self.verify_password(&name, &password).await? {
                Some((principal, policies)) => Ok(Identity::Account {
                    principal,
                    policies,
                }),
                None => Err(self.unauthorized(req, None, "invalid username or password")),
            };
        }
        if let Some(token) = strip_scheme(value, "bearer") {
            return match self.verify_token(token.trim()) {
                Some(identity) => Ok(identity),
                None => Err(self.unauthorized(req, None, "invalid or expired token")),
            };
        }
        Err(self.unauthorized(req, None, "unsupported Authorization scheme"))
    }

    /// Verifies a name and password (argon2 on a blocking thread), with a per-shard cache.
    pub async fn verify_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<(Rc<Principal>, Rc<PolicySet>)>, ApiError> {
        let key: [u8; 32] = Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update([0u8])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if let Some(hit) = self.cached_credential(&key) {
            return Ok(Some(hit));
        }
        let _permit = self
            .verifications
            .acquire_permit(1)
            .await
            .map_err(|e| ApiError::internal("waiting to verify credentials", &e))?;
        // Whoever held the permit before may have verified this very credential (the 32
        // connections of one client log in at once): one argon2 run serves them all.
        if let Some(hit) = self.cached_credential(&key) {
            return Ok(Some(hit));
        }
        let now = Instant::now();
        let accounts = self.accounts.clone();
        let (name, password) = (name.to_owned(), password.to_owned());
        let verified = glommio::executor()
            .spawn_blocking(move || -> Result<_, AccountError> {
                match accounts.authenticate(&name, &password)? {
                    None => Ok(None),
                    Some(principal) => {
                        let policies = accounts.policy_set(&principal)?;
                        Ok(Some((principal, policies)))
                    }
                }
            })
            .await
            .map_err(|e| ApiError::internal("verifying credentials", &e))?;
        let Some((principal, policies)) = verified else {
            return Ok(None);
        };
        let until = principal
            .expires_at_ms
            .map(|at| {
                let left = at.saturating_sub(self.clock.now_ms());
                now + Duration::from_millis(left).min(CREDENTIAL_CACHE_TTL)
            })
            .unwrap_or(now + CREDENTIAL_CACHE_TTL);
        let (principal, policies) = (Rc::new(principal), Rc::new(policies));
        let mut cache = self.credentials.borrow_mut();
        if cache.len() >= CACHE_ENTRIES_MAX {
            cache.clear();
        }
        cache.insert(
            key,
            CachedCredential {
                principal: principal.clone(),
                policies: policies.clone(),
                until,
                expires_at_ms: principal.expires_at_ms,
            },
        );
        Ok(Some((principal, policies)))
    }

    fn cached_credential(&self, key: &[u8; 32]) -> Option<(Rc<Principal>, Rc<PolicySet>)> {
        let cache = self.credentials.borrow();
        let cached = cache.get(key)?;
        let live = cached.until > Instant::now()
            && cached
                .expires_at_ms
                .is_none_or(|at| self.clock.now_ms() < at);
        live.then(|| (cached.principal.clone(), cached.policies.clone()))
    }

    fn verify_token(&self, token: &str) -> Option<Identity> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = now_ms();
        if let Some(cached) = self.tokens.borrow().get(&key) {
            return (cached.expires_at_ms > now).then(|| cached.identity());
        }
        let cached = self.keys.verify(token)?;
        let identity = cached.identity();
        let mut cache = self.tokens.borrow_mut();
        if cache.len() >= CACHE_ENTRIES_MAX {
            cache.clear();
        }
        cache.insert(key, cached);
        Some(identity)
    }

    /// The policy resource of an operation on `repo` (or on its namespace, or the instance).
    pub fn resource(&self, scope: Scope, repo: Option<&RepoName>, namespace: &str) -> Resource {
        let (region, account) = (&self.config.region_id, &self.config.account_id);
        match (scope, repo) {
            (Scope::Instance, _) => Resource::any(),
            (Scope::Namespace, _) => Resource::namespace(region, account, namespace),
            (Scope::Repository, Some(repo)) => {
                let ns = repo.namespace();
                let rest = repo.as_str()[ns.len()..].trim_start_matches('/');
                Resource::repository(region, account, ns, rest)
            }
            (Scope::Repository, None) => Resource::namespace(region, account, namespace),
        }
    }

    /// Whether `identity` may perform `operation` on `repo` (or namespace `namespace`).
    pub fn allows(
        &self,
        identity: &Identity,
        operation: Operation,
        repo: Option<&RepoName>,
        namespace: &str,
    ) -> bool {
        match identity {
            Identity::Open => true,
            Identity::Anonymous => self.public_pull(operation, repo),
            Identity::Account { policies, .. } => {
                if operation.scope() == Scope::Repository && repo.is_some_and(single_component) {
                    // `repository/<ns>/<repo>` has no form for a one-component name.
                    return false;
                }
                let resource = self.resource(operation.scope(), repo, namespace);
                policies.allows(operation.action().as_str(), resource.as_str())
                    || self.public_pull(operation, repo)
            }
            Identity::Token { access, .. } => {
                let granted = repo.is_some_and(|repo| {
                    token::action_of(operation).is_some_and(|action| {
                        access.iter().any(|a| a.grants(repo.as_str(), action))
                    })
                });
                granted || self.public_pull(operation, repo)
            }
        }
    }

    fn public_pull(&self, operation: Operation, repo: Option<&RepoName>) -> bool {
        operation == Operation::Pull
            && repo.is_some_and(|repo| {
                matches!(self.registry.visibility(repo), Ok(Some(Visibility::Public)))
            })
    }

    /// Refuses unless allowed: 401 with a challenge for anonymous and token callers (a client
    /// then fetches a token for the scope), 403 DENIED for an account that lacks the right.
    pub fn require(
        &self,
        req: &Request<RequestBody>,
        identity: &Identity,
        operation: Operation,
        repo: Option<&RepoName>,
        namespace: &str,
    ) -> Result<(), ApiError> {
        if self.allows(identity, operation, repo, namespace) {
            return Ok(());
        }
        match identity {
            Identity::Anonymous | Identity::Token { .. } => {
                let scope = repo.and_then(|repo| {
                    token::action_of(operation).map(|action| {
                        let actions = if action == "pull" {
                            "pull"
                        } else {
                            "pull,push"
                        };
                        format!("repository:{repo}:{actions}")
                    })
                });
                // A valid token that lacks the access is told so, as the token spec does.
                let (error, detail) = match identity {
                    Identity::Token { .. } => (
                        Some("insufficient_scope"),
                        "the token does not grant this access",
                    ),
                    _ => (None, "authentication required"),
                };
                Err(self.challenge(req, scope.as_deref(), error, detail))
            }
            _ => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Denied,
                format!("{} is not allowed here", operation.action().as_str()),
            )),
        }
    }

    /// 401 UNAUTHORIZED with the token challenge.
    pub fn unauthorized(
        &self,
        req: &Request<RequestBody>,
        scope: Option<&str>,
        detail: &str,
    ) -> ApiError {
        self.challenge(req, scope, None, detail)
    }

    /// 401 with `WWW-Authenticate: Bearer realm=…,service=…[,scope=…][,error=…]`.
    fn challenge(
        &self,
        req: &Request<RequestBody>,
        scope: Option<&str>,
        error: Option<&str>,
        detail: &str,
    ) -> ApiError {
        let mut challenge = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            router::token_realm(&self.base_url(req)),
            self.config.service
        );
        if let Some(scope) = scope {
            challenge.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Some(error) = error {
            challenge.push_str(&format!(",error=\"{error}\""));
        }
        let error = ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, detail);
        match HeaderValue::from_str(&challenge) {
            Ok(value) => error.with_header(header::WWW_AUTHENTICATE, value),
            Err(_) => error,
        }
    }

    fn base_url(&self, req: &Request<RequestBody>) -> String {
        if !self.config.external_url.is_empty() {
            return self.config.external_url.trim_end_matches('/').to_owned();
        }
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    }
}

fn single_component(repo: &RepoName) -> bool {
    !repo.as_str().contains('/')
}

fn strip_scheme<'v>(value: &'v str, scheme: &str) -> Option<&'v str> {
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// `base64(name:password)` → (name, password).
fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode_and_passwords_may_hold_colons() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:pa:ss");
        assert_eq!(
            decode_basic(&encoded),
            Some(("alice".to_owned(), "pa:ss".to_owned()))
        );
        assert_eq!(decode_basic("!!!"), None);
        assert_eq!(strip_scheme("BASIC abc", "basic"), Some("abc"));
        assert_eq!(strip_scheme("Bearer t", "basic"), None);
    }
}
