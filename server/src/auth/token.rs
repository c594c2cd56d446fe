//! The docker token service: `GET /token?service=&scope=repository:<name>:<actions>` with Basic
//! credentials (or none, for anonymous) returns a signed JWT whose `access` claims hold only
//! the actions the caller's policies allow.
//!
//! Tokens are HS256 JWTs signed with the instance key (generated at the first start and kept
//! in the metadata), audience = `auth.service`, lifetime `auth.token_ttl_s`.

use std::rc::Rc;

use berth_engine::access::Operation;
use berth_engine::oci::RepoName;
use http::{Request, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Auth;
use super::{decode_basic, now_ms, strip_scheme, Identity};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::{json_response, query, RequestBody, ResponseBody};

const ISSUER: &str = "berth";
/// Scopes one token request may ask for.
const SCOPES_MAX: usize = 32;

/// One entry of a token's `access` claim, as the docker token specification shapes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Access {
    pub fn grants(&self, repo: &str, action: &str) -> bool {
        self.kind == "repository"
            && self.name == repo
            && self.actions.iter().any(|a| a == action || a == "*")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Access>,
}

/// The token action an operation needs, for the operations tokens can carry.
pub fn action_of(operation: Operation) -> Option<&'static str> {
    match operation {
        Operation::Pull => Some("pull"),
        Operation::Push => Some("push"),
        Operation::DeleteTag => Some("delete"),
        _ => None,
    }
}

pub(super) struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

pub(super) struct CachedToken {
    subject: Option<String>,
    access: Rc<Vec<Access>>,
    pub(super) expires_at_ms: u64,
}

impl CachedToken {
    pub(super) fn identity(&self) -> Identity {
        Identity::Token {
            subject: self.subject.clone(),
            access: self.access.clone(),
        }
    }
}

impl Keys {
    pub(super) fn new(secret: &[u8], service: &str) -> Keys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[service]);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 5;
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub(super) fn verify(&self, token: &str) -> Option<CachedToken> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        let claims = data.claims;
        Some(CachedToken {
            subject: (!claims.sub.is_empty()).then_some(claims.sub),
            access: Rc::new(claims.access),
            expires_at_ms: claims.exp.saturating_mul(1000),
        })
    }

    fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| ApiError::internal("signing a token", &e))
    }
}

/// `GET /token`.
/// `who` receives the account asking (for the audit trail), also when its login fails.
pub async fn token_endpoint(
    auth: Option<&Auth>,
    req: &Request<RequestBody>,
    who: &std::cell::RefCell<Option<String>>,
) -> Result<http::Response<ResponseBody>, ApiError> {
    let Some(auth) = auth else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::Unsupported,
            "access control is off: no tokens are needed",
        ));
    };
    let header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let identity = match header.and_then(|h| strip_scheme(h, "basic")) {
        Some(encoded) => {
            let (name, password) = decode_basic(encoded)
                .ok_or_else(|| auth.unauthorized(req, None, "malformed Basic credentials"))?;
            *who.borrow_mut() = Some(name.clone());
            match auth.verify_password(&name, &password).await? {
                Some((principal, policies)) => Identity::Account {
                    principal,
                    policies,
                },
                None => return Err(auth.unauthorized(req, None, "invalid username or password")),
            }
        }
        None => match header {
            // A token may be exchanged for another (clients refresh with the one they hold).
            Some(_) => auth.identify(req).await?,
            None => Identity::Anonymous,
        },
    };
    *who.borrow_mut() = identity.account().map(str::to_owned);
    let pairs = query(req);
    let requested: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' '))
        .filter(|s| !s.is_empty())
        .take(SCOPES_MAX)
        .collect();
    let mut access = Vec::new();
    for scope in requested {
        if let Some(granted) = grant(auth, &identity, scope) {
            access.push(granted);
        }
    }
    let now = now_ms() / 1000;
    let ttl = auth.config().token_ttl_s.max(1);
    let claims = Claims {
        iss: ISSUER.into(),
        sub: identity.account().unwrap_or_default().to_owned(),
        aud: auth.config().service.clone(),
        exp: now + ttl,
        nbf: now.saturating_sub(1),
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        access,
    };
    let token = auth.keys.sign(&claims)?;
    let body = json!({
        "token": token,
        "access_token": token,
        "expires_in": ttl,
        "issued_at": crate::civil_time::rfc3339(now),
    });
    Ok(json_response(StatusCode::OK, body.to_string().into_bytes()))
}

/// What of `scope` (`repository:<name>:<actions>`) the identity may have; None for scopes
/// of other kinds or names that do not parse.
fn grant(auth: &super::Auth, identity: &Identity, scope: &str) -> Option<Access> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind != "repository" {
        return None;
    }
    let repo = RepoName::parse(name).ok()?;
    let namespace = repo.namespace().to_owned();
    let mut granted: Vec<String> = Vec::new();
    for action in actions.split(',') {
        let operations: &[(Operation, &str)] = match action {
            "pull" => &[(Operation::Pull, "pull")],
            "push" => &[(Operation::Push, "push")],
            "delete" => &[(Operation::DeleteTag, "delete")],
            "*" => &[
                (Operation::Pull, "pull"),
                (Operation::Push, "push"),
                (Operation::DeleteTag, "delete"),
            ],
            _ => &[],
        };
        for (operation, name) in operations {
            if auth.allows(identity, *operation, Some(&repo), &namespace)
                && !granted.iter().any(|g| g == name)
            {
                granted.push((*name).to_owned());
            }
        }
    }
    Some(Access {
        kind: "repository".into(),
        name: repo.to_string(),
        actions: granted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_grants_only_its_repository_and_actions() {
        let access = Access {
            kind: "repository".into(),
            name: "ns/app".into(),
            actions: vec!["pull".into()],
        };
        assert!(access.grants("ns/app", "pull"));
        assert!(!access.grants("ns/app", "push"));
        assert!(!access.grants("ns/app2", "pull"));
    }

    #[test]
    fn signed_tokens_verify_and_tampered_ones_do_not() {
        let keys = Keys::new(b"0123456789abcdef0123456789abcdef", "berth");
        let now = now_ms() / 1000;
        let claims = Claims {
            iss: ISSUER.into(),
            sub: "alice".into(),
            aud: "berth".into(),
            exp: now + 60,
            nbf: now,
            iat: now,
            jti: "x".into(),
            access: vec![],
        };
        let token = keys.sign(&claims).expect("sign");
        assert!(keys.verify(&token).is_some());
        let other = Keys::new(b"another key, another instance....", "berth");
        assert!(other.verify(&token).is_none());
        let expired = Claims {
            exp: now - 60,
            nbf: now - 120,
            ..claims
        };
        assert!(keys.verify(&keys.sign(&expired).expect("sign")).is_none());
    }
}
