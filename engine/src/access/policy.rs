//! The policy engine: actions and operations, resource names, policy documents (parse,
//! validate, print), compiled patterns and the evaluation of a policy set.
//!
//! The document format, the matching rules and the invariants are described in the parent
//! module ([`crate::access`]); this file holds the mechanism.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;

/// The largest policy document accepted, in bytes of JSON.
pub const POLICY_DOCUMENT_BYTES_MAX: usize = 32 * 1024;

/// The most statements one policy document may hold.
pub const POLICY_STATEMENTS_MAX: usize = 100;

/// The most entries one `Action` or `Resource` list may hold.
pub const POLICY_LIST_ENTRIES_MAX: usize = 100;

/// The longest single action or resource pattern accepted, in bytes.
pub const POLICY_PATTERN_BYTES_MAX: usize = 1024;

/// How many characters of an offending input an error message quotes.
const EXCERPT_CHARS_MAX: usize = 100;

// ---------------------------------------------------------------------------------------------
// Actions, operations and resources
// ---------------------------------------------------------------------------------------------

/// Everything a policy can allow or deny. Registry actions are `cr:`; account management and
/// the audit log are `ram:`, so that `cr:*` never grants them (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Action {
    CreateNamespace,
    DeleteNamespace,
    UpdateNamespace,
    GetNamespace,
    ListNamespace,
    CreateRepository,
    DeleteRepository,
    UpdateRepository,
    GetRepository,
    ListRepository,
    ListRepositoryTag,
    DeleteRepositoryTag,
    GetRepositoryManifest,
    GetRepositoryLayers,
    CreateRepositoryTrigger,
    UpdateRepositoryTrigger,
    DeleteRepositoryTrigger,
    GetRepositoryTrigger,
    ListRepositoryTrigger,
    GetAuthorizationToken,
    PullRepository,
    PushRepository,
    CreateUser,
    DeleteUser,
    ListUser,
    UpdateUser,
    CreatePolicy,
    DeletePolicy,
    ListPolicy,
    AttachPolicy,
    DetachPolicy,
    GetAuditLog,
}

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; 32] = [
        Action::CreateNamespace,
        Action::DeleteNamespace,
        Action::UpdateNamespace,
        Action::GetNamespace,
        Action::ListNamespace,
        Action::CreateRepository,
        Action::DeleteRepository,
        Action::UpdateRepository,
        Action::GetRepository,
        Action::ListRepository,
        Action::ListRepositoryTag,
        Action::DeleteRepositoryTag,
        Action::GetRepositoryManifest,
        Action::GetRepositoryLayers,
        Action::CreateRepositoryTrigger,
        Action::UpdateRepositoryTrigger,
        Action::DeleteRepositoryTrigger,
        Action::GetRepositoryTrigger,
        Action::ListRepositoryTrigger,
        Action::GetAuthorizationToken,
        Action::PullRepository,
        Action::PushRepository,
        Action::CreateUser,
        Action::DeleteUser,
        Action::ListUser,
        Action::UpdateUser,
        Action::CreatePolicy,
        Action::DeletePolicy,
        Action::ListPolicy,
        Action::AttachPolicy,
        Action::DetachPolicy,
        Action::GetAuditLog,
    ];

    /// The action as policies spell it, e.g. `cr:PullRepository` or `ram:AttachPolicy`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::CreateNamespace => "cr:CreateNamespace",
            Action::DeleteNamespace => "cr:DeleteNamespace",
            Action::UpdateNamespace => "cr:UpdateNamespace",
            Action::GetNamespace => "cr:GetNamespace",
            Action::ListNamespace => "cr:ListNamespace",
            Action::CreateRepository => "cr:CreateRepository",
            Action::DeleteRepository => "cr:DeleteRepository",
            Action::UpdateRepository => "cr:UpdateRepository",
            Action::GetRepository => "cr:GetRepository",
            Action::ListRepository => "cr:ListRepository",
            Action::ListRepositoryTag => "cr:ListRepositoryTag",
            Action::DeleteRepositoryTag => "cr:DeleteRepositoryTag",
            Action::GetRepositoryManifest => "cr:GetRepositoryManifest",
            Action::GetRepositoryLayers => "cr:GetRepositoryLayers",
            Action::CreateRepositoryTrigger => "cr:CreateRepositoryTrigger",
            Action::UpdateRepositoryTrigger => "cr:UpdateRepositoryTrigger",
            Action::DeleteRepositoryTrigger => "cr:DeleteRepositoryTrigger",
            Action::GetRepositoryTrigger => "cr:GetRepositoryTrigger",
            Action::ListRepositoryTrigger => "cr:ListRepositoryTrigger",
            Action::GetAuthorizationToken => "cr:GetAuthorizationToken",
            Action::PullRepository => "cr:PullRepository",
            Action::PushRepository => "cr:PushRepository",
            Action::CreateUser => "ram:CreateUser",
            Action::DeleteUser => "ram:DeleteUser",
            Action::ListUser => "ram:ListUser",
            Action::UpdateUser => "ram:UpdateUser",
            Action::CreatePolicy => "ram:CreatePolicy",
            Action::DeletePolicy => "ram:DeletePolicy",
            Action::ListPolicy => "ram:ListPolicy",
            Action::AttachPolicy => "ram:AttachPolicy",
            Action::DetachPolicy => "ram:DetachPolicy",
            Action::GetAuditLog => "ram:GetAuditLog",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which resource an operation is checked against; the server builds it with [`Resource`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Scope {
    /// The whole instance: the literal resource `*` ([`Resource::any`]).
    Instance,
    /// One namespace ([`Resource::namespace`]).
    Namespace,
    /// One repository ([`Resource::repository`]).
    Repository,
}

/// Every operation the server authorizes: one variant per row of the access table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Operation {
    CreateNamespace,
    DeleteNamespace,
    UpdateNamespace,
    GetNamespace,
    ListNamespaces,
    CreateRepository,
    DeleteRepository,
    UpdateRepository,
    GetRepository,
    ListRepositories,
    ListTags,
    DeleteTag,
    /// Reading a manifest through the management API (a registry pull is [`Operation::Pull`]).
    GetManifest,
    GetLayers,
    CreateTrigger,
    /// Changing a trigger, and redelivering one of its records.
    UpdateTrigger,
    DeleteTrigger,
    /// Reading a trigger and its delivery records.
    GetTrigger,
    ListTriggers,
    /// Issuing temporary credentials.
    GetAuthorizationToken,
    Pull,
    Push,
    CreateUser,
    DeleteUser,
    ListUsers,
    UpdateUser,
    CreatePolicy,
    DeletePolicy,
    ListPolicies,
    AttachPolicy,
    DetachPolicy,
    GetAuditLog,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 32] = [
        Operation::CreateNamespace,
        Operation::DeleteNamespace,
        Operation::UpdateNamespace,
        Operation::GetNamespace,
        Operation::ListNamespaces,
        Operation::CreateRepository,
        Operation::DeleteRepository,
        Operation::UpdateRepository,
        Operation::GetRepository,
        Operation::ListRepositories,
        Operation::ListTags,
        Operation::DeleteTag,
        Operation::GetManifest,
        Operation::GetLayers,
        Operation::CreateTrigger,
        Operation::UpdateTrigger,
        Operation::DeleteTrigger,
        Operation::GetTrigger,
        Operation::ListTriggers,
        Operation::GetAuthorizationToken,
        Operation::Pull,
        Operation::Push,
        Operation::CreateUser,
        Operation::DeleteUser,
        Operation::ListUsers,
        Operation::UpdateUser,
        Operation::CreatePolicy,
        Operation::DeletePolicy,
        Operation::ListPolicies,
        Operation::AttachPolicy,
        Operation::DetachPolicy,
        Operation::GetAuditLog,
    ];

    /// The action a policy must allow for this operation.
    pub const fn action(self) -> Action {
        self.row().0
    }

    /// The resource this operation is checked against.
    pub const fn scope(self) -> Scope {
        self.row().1
    }

    /// The access table: operation → (action, scope).
    const fn row(self) -> (Action, Scope) {
        use Scope::{Instance, Namespace, Repository};
        match self {
            Operation::CreateNamespace => (Action::CreateNamespace, Instance),
            Operation::DeleteNamespace => (Action::DeleteNamespace, Namespace),
            Operation::UpdateNamespace => (Action::UpdateNamespace, Namespace),
            Operation::GetNamespace => (Action::GetNamespace, Namespace),
            Operation::ListNamespaces => (Action::ListNamespace, Instance),
            Operation::CreateRepository => (Action::CreateRepository, Namespace),
            Operation::DeleteRepository => (Action::DeleteRepository, Repository),
            Operation::UpdateRepository => (Action::UpdateRepository, Repository),
            Operation::GetRepository => (Action::GetRepository, Repository),
            Operation::ListRepositories => (Action::ListRepository, Instance),
            Operation::ListTags => (Action::ListRepositoryTag, Repository),
            Operation::DeleteTag => (Action::DeleteRepositoryTag, Repository),
            Operation::GetManifest => (Action::GetRepositoryManifest, Repository),
            Operation::GetLayers => (Action::GetRepositoryLayers, Repository),
            Operation::CreateTrigger => (Action::CreateRepositoryTrigger, Repository),
            Operation::UpdateTrigger => (Action::UpdateRepositoryTrigger, Repository),
            Operation::DeleteTrigger => (Action::DeleteRepositoryTrigger, Repository),
            Operation::GetTrigger => (Action::GetRepositoryTrigger, Repository),
            Operation::ListTriggers => (Action::ListRepositoryTrigger, Repository),
            Operation::GetAuthorizationToken => (Action::GetAuthorizationToken, Instance),
            Operation::Pull => (Action::PullRepository, Repository),
            Operation::Push => (Action::PushRepository, Repository),
            Operation::CreateUser => (Action::CreateUser, Instance),
            Operation::DeleteUser => (Action::DeleteUser, Instance),
            Operation::ListUsers => (Action::ListUser, Instance),
            Operation::UpdateUser => (Action::UpdateUser, Instance),
            Operation::CreatePolicy => (Action::CreatePolicy, Instance),
            Operation::DeletePolicy => (Action::DeletePolicy, Instance),
            Operation::ListPolicies => (Action::ListPolicy, Instance),
            Operation::AttachPolicy => (Action::AttachPolicy, Instance),
            Operation::DetachPolicy => (Action::DetachPolicy, Instance),
            Operation::GetAuditLog => (Action::GetAuditLog, Instance),
        }
    }
}

/// A resource name an operation is checked against, spelled exactly as policies match it.
///
/// The builders do not validate their arguments: the region and account come from the
/// configuration, the namespace and repository from a validated [`crate::oci::RepoName`].
/// **Precondition** (asserted in debug builds): region and account contain no `:`, the
/// namespace is not empty and contains no `/`, and the repository is not empty. A namespace
/// with a `/` would read as a repository of another namespace.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Resource(String);

impl Resource {
    /// The instance: the literal `*`, which only the pattern `*` matches.
    pub fn any() -> Resource {
        Resource("*".to_owned())
    }

    /// `acs:cr:<region>:<account>:repository/<namespace>`.
    pub fn namespace(region: &str, account: &str, namespace: &str) -> Resource {
        debug_assert_account(region, account);
        debug_assert!(
            !namespace.is_empty() && !namespace.contains('/'),
            "namespace {namespace:?} must be one non-empty path component"
        );
        Resource(format!("acs:cr:{region}:{account}:repository/{namespace}"))
    }

    /// `acs:cr:<region>:<account>:repository/<namespace>/<repository>`, where `repository` is
    /// the part of the repository name after the namespace (it may contain `/`).
    pub fn repository(region: &str, account: &str, namespace: &str, repository: &str) -> Resource {
        debug_assert_account(region, account);
        debug_assert!(
            !namespace.is_empty() && !namespace.contains('/'),
            "namespace {namespace:?} must be one non-empty path component"
        );
        debug_assert!(!repository.is_empty(), "repository must not be empty");
        Resource(format!(
            "acs:cr:{region}:{account}:repository/{namespace}/{repository}"
        ))
    }

    /// The resource as text, for [`PolicySet::evaluate`].
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn debug_assert_account(region: &str, account: &str) {
    debug_assert!(!region.contains(':'), "region {region:?} contains ':'");
    debug_assert!(!account.contains(':'), "account {account:?} contains ':'");
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Resource {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------------

/// An action or resource pattern, compiled once into the literal segments between its `*`s.
///
/// ```text
/// "acs:cr:*:*:repository/ns/*"  →  prefix "acs:cr:"  middle [":", ":repository/ns/"]  suffix ""
/// "a*b**c*d"                    →  prefix "a"        middle ["b", "c"]                 suffix "d"
/// "cr:PullRepository"           →  exact
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pattern {
    text: Box<str>,
    glob: Glob,
}

/// The compiled form of a pattern's text.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Glob {
    /// No `*`: the subject must equal the text.
    Exact,
    /// At least one `*`: the subject starts with `prefix`, ends with `suffix` (not overlapping
    /// the prefix), and holds the non-empty `middle` literals in order in between.
    Wild {
        prefix: Box<str>,
        middle: Box<[Box<str>]>,
        suffix: Box<str>,
    },
}

impl Pattern {
    /// Compiles `text`; every `*` is a wildcard, every other character is literal.
    fn compile(text: &str) -> Pattern {
        let mut literals: Vec<&str> = text.split('*').collect();
        let glob = if literals.len() == 1 {
            Glob::Exact
        } else {
            // `split` yields one more piece than there are stars, so at least two here.
            let suffix = literals.pop().unwrap_or_default();
            let prefix = literals.first().copied().unwrap_or_default();
            let middle = literals
                .iter()
                .skip(1)
                .filter(|literal| !literal.is_empty())
                .map(|literal| Box::from(*literal))
                .collect();
            Glob::Wild {
                prefix: prefix.into(),
                middle,
                suffix: suffix.into(),
            }
        };
        Pattern {
            text: text.into(),
            glob,
        }
    }

    /// The pattern as written in the policy.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the whole of `subject` matches. Allocation-free and linear in the subject's
    /// length: with only `*` wildcards, taking the leftmost occurrence of each middle literal
    /// is never worse than any later one, so no backtracking is needed.
    pub fn matches(&self, subject: &str) -> bool {
        match &self.glob {
            Glob::Exact => subject == &*self.text,
            Glob::Wild {
                prefix,
                middle,
                suffix,
            } => {
                let Some(rest) = subject.strip_prefix(&**prefix) else {
                    return false;
                };
                let Some(mut rest) = rest.strip_suffix(&**suffix) else {
                    return false;
                };
                for literal in middle.iter() {
                    match rest.split_once(&**literal) {
                        Some((_, after)) => rest = after,
                        None => return false,
                    }
                }
                true
            }
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

// ---------------------------------------------------------------------------------------------
// Documents and evaluation
// ---------------------------------------------------------------------------------------------

/// Whether a statement allows or denies what it matches.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    /// `Allow` or `Deny`, as documents spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// The outcome of evaluating a policy set.
#[must_use]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Decision {
    /// A statement allows it and none denies it.
    Allow,
    /// A statement explicitly denies it; no Allow can override this.
    Deny,
    /// No statement matches: refused by default.
    NoMatch,
}

impl Decision {
    /// Whether the request may proceed: only for [`Decision::Allow`].
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// One validated statement: an effect on every action matching one of `actions` performed on
/// every resource matching one of `resources`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Statement {
    effect: Effect,
    actions: Vec<Pattern>,
    resources: Vec<Pattern>,
}

impl Statement {
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// The action patterns; never empty.
    pub fn actions(&self) -> &[Pattern] {
        &self.actions
    }

    /// The resource patterns; never empty.
    pub fn resources(&self) -> &[Pattern] {
        &self.resources
    }

    /// Whether this statement applies to `action` on `resource` (whatever its effect).
    pub fn matches(&self, action: &str, resource: &str) -> bool {
        self.actions.iter().any(|pattern| pattern.matches(action))
            && self
                .resources
                .iter()
                .any(|pattern| pattern.matches(resource))
    }
}

/// A validated policy document; see the module documentation for its form.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PolicyDocument {
    statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Parses and validates a policy document. Errors name the offending field.
    pub fn parse(json: &str) -> Result<PolicyDocument, PolicyError> {
        if json.len() > POLICY_DOCUMENT_BYTES_MAX {
            return Err(PolicyError::TooLarge {
                bytes: json.len(),
                bytes_max: POLICY_DOCUMENT_BYTES_MAX,
            });
        }
        let tree: Json = serde_json::from_str(json).map_err(|e| PolicyError::NotJson {
            reason: e.to_string(),
        })?;
        document_from_json(tree)
    }

    /// The statements, in document order; never empty.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The document in canonical form: every `Action` and `Resource` a list, fields in the
    /// order `Version`, `Statement`, `Effect`, `Action`, `Resource`. [`PolicyDocument::parse`]
    /// reads it back to an equal document.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Document<'a> {
            #[serde(rename = "Version")]
            version: &'static str,
            #[serde(rename = "Statement")]
            statement: Vec<StatementOut<'a>>,
        }
        #[derive(Serialize)]
        struct StatementOut<'a> {
            #[serde(rename = "Effect")]
            effect: &'static str,
            #[serde(rename = "Action")]
            action: Vec<&'a str>,
            #[serde(rename = "Resource")]
            resource: Vec<&'a str>,
        }
        let document = Document {
            version: "1",
            statement: self
                .statements
                .iter()
                .map(|s| StatementOut {
                    effect: s.effect.as_str(),
                    action: s.actions.iter().map(Pattern::as_str).collect(),
                    resource: s.resources.iter().map(Pattern::as_str).collect(),
                })
                .collect(),
        };
        // Structs of strings always serialize; a failure here is a bug, not an input error.
        serde_json::to_string(&document).expect("a policy document serializes to JSON")
    }
}

/// The compiled union of the policy documents attached to one principal.
///
/// Deny statements are kept apart from Allow statements so that evaluation can stop at the
/// first matching Deny, and at the first matching Allow once no Deny matched.
#[derive(Clone, Default, Debug)]
pub struct PolicySet {
    deny: Vec<Statement>,
    allow: Vec<Statement>,
}

impl PolicySet {
    /// Combines `documents`; their order does not affect any decision.
    pub fn new<'a>(documents: impl IntoIterator<Item = &'a PolicyDocument>) -> PolicySet {
        let mut set = PolicySet::default();
        for statement in documents.into_iter().flat_map(|d| d.statements.iter()) {
            match statement.effect {
                Effect::Deny => set.deny.push(statement.clone()),
                Effect::Allow => set.allow.push(statement.clone()),
            }
        }
        set
    }

    /// Whether no statement is attached (so every decision is [`Decision::NoMatch`]).
    pub fn is_empty(&self) -> bool {
        self.deny.is_empty() && self.allow.is_empty()
    }

    /// Decides `action` (e.g. [`Action::as_str`]) on `resource` (e.g. [`Resource::as_str`]).
    /// Allocation-free.
    pub fn evaluate(&self, action: &str, resource: &str) -> Decision {
        if self.deny.iter().any(|s| s.matches(action, resource)) {
            Decision::Deny
        } else if self.allow.iter().any(|s| s.matches(action, resource)) {
            Decision::Allow
        } else {
            Decision::NoMatch
        }
    }

    /// Whether `action` on `resource` is allowed: a matching Allow and no matching Deny.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.evaluate(action, resource).is_allowed()
    }
}

/// A policy every installation has, by name and document text.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BuiltinPolicy {
    pub name: &'static str,
    pub document: &'static str,
}

impl BuiltinPolicy {
    /// Every registry action (`cr:*`) on everything; no account management, no audit log.
    pub const FULL_ACCESS: BuiltinPolicy = BuiltinPolicy {
        name: "FullAccess",
        document: r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["cr:*"],"Resource":["*"]}]}"#,
    };

    /// Reading and pulling everything, including temporary credentials
    /// (`cr:GetAuthorizationToken` is a `cr:Get*`) so that read-only users can pull.
    pub const READ_ONLY_ACCESS: BuiltinPolicy = BuiltinPolicy {
        name: "ReadOnlyAccess",
        document: r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["cr:Get*","cr:List*","cr:PullRepository"],"Resource":["*"]}]}"#,
    };

    /// Every action, account management and the audit log included.
    pub const ADMINISTRATOR_ACCESS: BuiltinPolicy = BuiltinPolicy {
        name: "AdministratorAccess",
        document: r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["*"],"Resource":["*"]}]}"#,
    };

    /// Every built-in policy.
    pub const ALL: [BuiltinPolicy; 3] = [
        BuiltinPolicy::FULL_ACCESS,
        BuiltinPolicy::READ_ONLY_ACCESS,
        BuiltinPolicy::ADMINISTRATOR_ACCESS,
    ];

    /// The parsed document. The texts are constants that a unit test parses, so a failure here
    /// is a bug and panics.
    pub fn parse(&self) -> PolicyDocument {
        match PolicyDocument::parse(self.document) {
            Ok(document) => document,
            Err(e) => panic!("built-in policy {} is invalid: {e}", self.name),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a policy document was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is longer than [`POLICY_DOCUMENT_BYTES_MAX`]; it was not parsed.
    #[error("policy document is {bytes} bytes; at most {bytes_max} are allowed")]
    TooLarge { bytes: usize, bytes_max: usize },
    /// The text is not JSON.
    #[error("policy document is not valid JSON: {reason}")]
    NotJson { reason: String },
    /// The JSON is not a valid policy document: `field` (e.g. `Statement[1].Effect`, or
    /// `document` for the top level) has `problem`.
    #[error("{field}: {problem}")]
    Invalid {
        field: String,
        problem: FieldProblem,
    },
}

/// What is wrong with one field of a policy document. Quoted input is a bounded excerpt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    #[error("required field is missing")]
    Missing,
    #[error("unknown field {name:?}; the fields are {fields}")]
    UnknownField { name: String, fields: &'static str },
    #[error("appears more than once")]
    Duplicate,
    #[error("expected {expected}, got {got}")]
    WrongType {
        expected: &'static str,
        got: &'static str,
    },
    #[error("expected \"1\", got {got:?}")]
    NotVersion { got: String },
    #[error("expected \"Allow\" or \"Deny\", got {got:?}")]
    NotEffect { got: String },
    #[error("must not be empty")]
    Empty,
    #[error("has {count} entries; at most {count_max} are allowed")]
    TooMany { count: usize, count_max: usize },
    #[error("is {bytes} bytes long; at most {bytes_max} are allowed")]
    TooLong { bytes: usize, bytes_max: usize },
    #[error(
        "expected \"*\", \"cr:<Name>\" or \"ram:<Name>\" where <Name> is letters and \"*\", \
         got {got:?}"
    )]
    NotAction { got: String },
    #[error("{got:?} matches no known action (action names are case-sensitive)")]
    UnknownAction { got: String },
    #[error(
        "expected \"*\" or a pattern starting with \"acs:cr:\" without whitespace or control \
         characters, got {got:?}"
    )]
    NotResource { got: String },
}

/// A bounded copy of `input` for error messages: at most [`EXCERPT_CHARS_MAX`] characters,
/// with `…` appended when something was cut.
fn excerpt(input: &str) -> String {
    match input.char_indices().nth(EXCERPT_CHARS_MAX) {
        None => input.to_owned(),
        Some((cut_at, _)) => format!("{}…", &input[..cut_at]),
    }
}

fn invalid(field: impl Into<String>, problem: FieldProblem) -> PolicyError {
    PolicyError::Invalid {
        field: field.into(),
        problem,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing: JSON text → a tree that keeps duplicate keys → a validated document
// ---------------------------------------------------------------------------------------------

/// A JSON value that keeps an object's keys in order and with duplicates, so that the
/// validator can reject `{"Effect":"Deny","Effect":"Allow"}` instead of silently keeping one.
/// Scalars other than strings keep only their kind: no field of a document may be one.
enum Json {
    Null,
    Bool,
    Number,
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The kind of value, for "expected …, got …" messages.
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "a boolean",
            Json::Number => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Bool)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Json>()? {
            entries.push(entry);
        }
        Ok(Json::Object(entries))
    }
}

/// The path of a field inside an object at `parent` (`""` for the top level).
fn field_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// Takes the fields `names` out of the object `value` at `path`, all of them required and
/// none other allowed. `listing` spells the names for the unknown-field message.
fn required_fields<const N: usize>(
    value: Json,
    path: &str,
    names: [&'static str; N],
    listing: &'static str,
) -> Result<[Json; N], PolicyError> {
    let object_path = if path.is_empty() { "document" } else { path };
    let entries = match value {
        Json::Object(entries) => entries,
        other => {
            return Err(invalid(
                object_path,
                FieldProblem::WrongType {
                    expected: "an object",
                    got: other.kind(),
                },
            ))
        }
    };
    let mut slots: [Option<Json>; N] = std::array::from_fn(|_| None);
    for (key, field) in entries {
        let Some(index) = names.iter().position(|name| *name == key) else {
            return Err(invalid(
                object_path,
                FieldProblem::UnknownField {
                    name: excerpt(&key),
                    fields: listing,
                },
            ));
        };
        if slots[index].is_some() {
            return Err(invalid(
                field_path(path, names[index]),
                FieldProblem::Duplicate,
            ));
        }
        slots[index] = Some(field);
    }
    if let Some(index) = slots.iter().position(Option::is_none) {
        return Err(invalid(
            field_path(path, names[index]),
            FieldProblem::Missing,
        ));
    }
    // Every slot was checked to be filled just above.
    Ok(slots.map(|slot| slot.unwrap_or(Json::Null)))
}

fn document_from_json(tree: Json) -> Result<PolicyDocument, PolicyError> {
    let [version, statement] = required_fields(
        tree,
        "",
        ["Version", "Statement"],
        "\"Version\" and \"Statement\"",
    )?;
    match version {
        Json::String(v) if v == "1" => {}
        Json::String(v) => {
            return Err(invalid(
                "Version",
                FieldProblem::NotVersion { got: excerpt(&v) },
            ))
        }
        other => {
            return Err(invalid(
                "Version",
                FieldProblem::WrongType {
                    expected: "the string \"1\"",
                    got: other.kind(),
                },
            ))
        }
    }
    let items = match statement {
        Json::Array(items) => items,
        other => {
            return Err(invalid(
                "Statement",
                FieldProblem::WrongType {
                    expected: "an array of statements",
                    got: other.kind(),
                },
            ))
        }
    };
    check_count("Statement", items.len(), POLICY_STATEMENTS_MAX)?;
    let statements = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| statement_from_json(item, &format!("Statement[{index}]")))
        .collect::<Result<_, _>>()?;
    Ok(PolicyDocument { statements })
}

fn statement_from_json(item: Json, path: &str) -> Result<Statement, PolicyError> {
    let [effect, action, resource] = required_fields(
        item,
        path,
        ["Effect", "Action", "Resource"],
        "\"Effect\", \"Action\" and \"Resource\"",
    )?;
    let effect_path = field_path(path, "Effect");
    let effect = match effect {
        Json::String(e) if e == "Allow" => Effect::Allow,
        Json::String(e) if e == "Deny" => Effect::Deny,
        Json::String(e) => {
            return Err(invalid(
                effect_path,
                FieldProblem::NotEffect { got: excerpt(&e) },
            ))
        }
        other => {
            return Err(invalid(
                effect_path,
                FieldProblem::WrongType {
                    expected: "\"Allow\" or \"Deny\"",
                    got: other.kind(),
                },
            ))
        }
    };
    Ok(Statement {
        effect,
        actions: patterns(action, &field_path(path, "Action"), action_pattern)?,
        resources: patterns(resource, &field_path(path, "Resource"), resource_pattern)?,
    })
}

fn check_count(path: &str, count: usize, count_max: usize) -> Result<(), PolicyError> {
    if count == 0 {
        Err(invalid(path, FieldProblem::Empty))
    } else if count > count_max {
        Err(invalid(path, FieldProblem::TooMany { count, count_max }))
    } else {
        Ok(())
    }
}

/// Reads a string or a non-empty list of strings at `path`, validating and compiling each with
/// `compile`. A single string's errors name the field, a list entry's name its index.
fn patterns(
    value: Json,
    path: &str,
    compile: fn(&str) -> Result<Pattern, FieldProblem>,
) -> Result<Vec<Pattern>, PolicyError> {
    match value {
        Json::String(text) => Ok(vec![compile(&text).map_err(|p| invalid(path, p))?]),
        Json::Array(items) => {
            check_count(path, items.len(), POLICY_LIST_ENTRIES_MAX)?;
            items
                .into_iter()
                .enumerate()
                .map(|(index, item)| {
                    let item_path = || format!("{path}[{index}]");
                    match item {
                        Json::String(text) => compile(&text).map_err(|p| invalid(item_path(), p)),
                        other => Err(invalid(
                            item_path(),
                            FieldProblem::WrongType {
                                expected: "a string",
                                got: other.kind(),
                            },
                        )),
                    }
                })
                .collect()
        }
        other => Err(invalid(
            path,
            FieldProblem::WrongType {
                expected: "a string or an array of strings",
                got: other.kind(),
            },
        )),
    }
}

fn check_pattern_length(text: &str) -> Result<(), FieldProblem> {
    if text.len() > POLICY_PATTERN_BYTES_MAX {
        Err(FieldProblem::TooLong {
            bytes: text.len(),
            bytes_max: POLICY_PATTERN_BYTES_MAX,
        })
    } else {
        Ok(())
    }
}

/// `*`, or `cr:<Name>` / `ram:<Name>` with a name of ASCII letters and `*`, matching at least
/// one known action.
fn action_pattern(text: &str) -> Result<Pattern, FieldProblem> {
    check_pattern_length(text)?;
    let well_formed = text == "*"
        || match text.split_once(':') {
            Some((service, name)) => {
                (service == "cr" || service == "ram")
                    && !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphabetic() || b == b'*')
            }
            None => false,
        };
    if !well_formed {
        return Err(FieldProblem::NotAction { got: excerpt(text) });
    }
    let pattern = Pattern::compile(text);
    if !Action::ALL.iter().any(|a| pattern.matches(a.as_str())) {
        return Err(FieldProblem::UnknownAction { got: excerpt(text) });
    }
    Ok(pattern)
}

/// `*`, or a pattern starting with `acs:cr:` without whitespace or control characters.
fn resource_pattern(text: &str) -> Result<Pattern, FieldProblem> {
    check_pattern_length(text)?;
    let well_formed = text == "*"
        || (text.starts_with("acs:cr:")
            && !text.chars().any(|c| c.is_whitespace() || c.is_control()));
    if !well_formed {
        return Err(FieldProblem::NotResource { got: excerpt(text) });
    }
    Ok(Pattern::compile(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REGION: &str = "cn-hangzhou";
    const ACCOUNT: &str = "1234567890";

    /// Parses each document (which must be valid) and combines them.
    fn set(documents: &[&str]) -> PolicySet {
        let parsed: Vec<PolicyDocument> = documents
            .iter()
            .map(|d| PolicyDocument::parse(d).unwrap_or_else(|e| panic!("{d}: {e}")))
            .collect();
        PolicySet::new(&parsed)
    }

    /// The resource `operation` is checked against for `target`, which is `ns/repo...` for a
    /// repository, `ns` for a namespace and ignored for the instance.
    fn resource(operation: Operation, target: &str) -> Resource {
        match operation.scope() {
            Scope::Instance => Resource::any(),
            Scope::Namespace => Resource::namespace(REGION, ACCOUNT, target),
            Scope::Repository => {
                let (namespace, repository) = target
                    .split_once('/')
                    .unwrap_or_else(|| panic!("{target:?} is not ns/repo"));
                Resource::repository(REGION, ACCOUNT, namespace, repository)
            }
        }
    }

    /// A target of the right shape for `operation`'s scope, in namespace `ns`.
    fn target_in_ns(operation: Operation) -> &'static str {
        match operation.scope() {
            Scope::Instance => "",
            Scope::Namespace => "ns",
            Scope::Repository => "ns/app",
        }
    }

    /// Evaluates every `(operation, target, expected)` case against `policies` and reports all
    /// mismatches at once.
    fn check(policies: &PolicySet, cases: &[(Operation, &str, Decision)]) {
        let mismatches: Vec<String> = cases
            .iter()
            .filter_map(|&(operation, target, expected)| {
                let resource = resource(operation, target);
                let actual = policies.evaluate(operation.action().as_str(), resource.as_str());
                assert_eq!(
                    policies.allows(operation.action().as_str(), resource.as_str()),
                    actual == Decision::Allow
                );
                (actual != expected).then(|| {
                    format!("{operation:?} {target}: expected {expected:?}, got {actual:?}")
                })
            })
            .collect();
        assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
    }

    use Decision::{Allow, Deny, NoMatch};
    use Operation as Op;

    fn statement(effect: &str, actions: &str, resources: &str) -> String {
        format!(r#"{{"Effect":"{effect}","Action":{actions},"Resource":{resources}}}"#)
    }

    fn document(statements: &[String]) -> String {
        format!(
            r#"{{"Version":"1","Statement":[{}]}}"#,
            statements.join(",")
        )
    }

    // --- 1. The example policies of an enterprise registry's documentation -----------------

    /// (a) Read-only on one namespace's repositories: the repository wildcard gives pull and
    /// every Get/List on repositories in `ns` (nested ones too), but nothing on the namespace
    /// itself, on other namespaces (including one that merely starts with `ns`), or on the
    /// instance.
    #[test]
    fn example_read_one_namespace() {
        let policies = set(&[
            r#"{"Version":"1","Statement":[{"Action":["cr:Get*","cr:List*","cr:PullRepository"],"Effect":"Allow","Resource":["acs:cr:*:*:repository/ns/*"]}]}"#,
        ]);
        check(
            &policies,
            &[
                (Op::Pull, "ns/app", Allow),
                (Op::GetRepository, "ns/app", Allow),
                (Op::ListTags, "ns/app", Allow),
                (Op::GetManifest, "ns/app", Allow),
                (Op::GetLayers, "ns/team/app", Allow),
                (Op::Pull, "ns/team/app", Allow),
                (Op::Push, "ns/app", NoMatch),
                (Op::DeleteRepository, "ns/app", NoMatch),
                (Op::DeleteTag, "ns/app", NoMatch),
                (Op::Pull, "other/app", NoMatch),
                (Op::Pull, "nsx/app", NoMatch),
                (Op::GetNamespace, "ns", NoMatch),
                (Op::CreateRepository, "ns", NoMatch),
                (Op::ListRepositories, "", NoMatch),
                (Op::GetAuthorizationToken, "", NoMatch),
            ],
        );
    }

    /// (b) Everything on one repository plus Get/List on its namespace: the exact repository
    /// pattern covers no sibling and no nested repository, and Get/List on the namespace does
    /// not extend to changing it.
    #[test]
    fn example_one_repository_and_its_namespace() {
        let policies = set(&[r#"{"Version":"1","Statement":[
            {"Action":["cr:*"],"Effect":"Allow","Resource":["acs:cr:*:*:repository/ns/app"]},
            {"Action":["cr:Get*","cr:List*"],"Effect":"Allow","Resource":["acs:cr:*:*:repository/ns"]}]}"#]);
        check(
            &policies,
            &[
                (Op::Push, "ns/app", Allow),
                (Op::Pull, "ns/app", Allow),
                (Op::DeleteRepository, "ns/app", Allow),
                (Op::UpdateRepository, "ns/app", Allow),
                (Op::DeleteTag, "ns/app", Allow),
                (Op::GetNamespace, "ns", Allow),
                (Op::Pull, "ns/other", NoMatch),
                (Op::Pull, "ns/app/sub", NoMatch),
                (Op::Push, "other/app", NoMatch),
                (Op::DeleteNamespace, "ns", NoMatch),
                (Op::UpdateNamespace, "ns", NoMatch),
                (Op::CreateRepository, "ns", NoMatch),
                (Op::GetNamespace, "other", NoMatch),
                (Op::ListNamespaces, "", NoMatch),
                (Op::CreateUser, "", NoMatch),
            ],
        );
    }

    /// (c) Everything on a namespace and everything in it: the two resource patterns together
    /// cover namespace operations and every repository, but nothing outside `ns` and nothing
    /// on the instance.
    #[test]
    fn example_namespace_and_everything_in_it() {
        let policies = set(&[
            r#"{"Version":"1","Statement":[{"Action":["cr:*"],"Effect":"Allow",
            "Resource":["acs:cr:*:*:repository/ns","acs:cr:*:*:repository/ns/*"]}]}"#,
        ]);
        check(
            &policies,
            &[
                (Op::GetNamespace, "ns", Allow),
                (Op::UpdateNamespace, "ns", Allow),
                (Op::DeleteNamespace, "ns", Allow),
                (Op::CreateRepository, "ns", Allow),
                (Op::Push, "ns/app", Allow),
                (Op::Pull, "ns/a/b", Allow),
                (Op::DeleteRepository, "ns/app", Allow),
                (Op::ListTags, "ns/app", Allow),
                (Op::Pull, "other/app", NoMatch),
                (Op::Push, "nsx/app", NoMatch),
                (Op::GetNamespace, "other", NoMatch),
                (Op::CreateNamespace, "", NoMatch),
                (Op::ListNamespaces, "", NoMatch),
                (Op::ListRepositories, "", NoMatch),
            ],
        );
    }

    // --- 2. Evaluation rules --------------------------------------------------------------

    /// An explicit Deny wins over an Allow in the same document, whichever comes first.
    #[test]
    fn deny_beats_allow_in_one_document() {
        let allow_all = statement("Allow", r#"["cr:*"]"#, r#"["*","acs:cr:*"]"#);
        let deny_push = statement(
            "Deny",
            r#""cr:PushRepository""#,
            r#""acs:cr:*:*:repository/ns/*""#,
        );
        for statements in [
            [allow_all.clone(), deny_push.clone()],
            [deny_push.clone(), allow_all.clone()],
        ] {
            check(
                &set(&[&document(&statements)]),
                &[
                    (Op::Push, "ns/app", Deny),
                    (Op::Push, "other/app", Allow),
                    (Op::Pull, "ns/app", Allow),
                    (Op::CreateNamespace, "", Allow),
                ],
            );
        }
    }

    /// A Deny in one attached document overrides an Allow in another, even
    /// AdministratorAccess, in either order.
    #[test]
    fn deny_beats_allow_across_documents() {
        let deny = document(&[statement(
            "Deny",
            r#"["cr:Delete*"]"#,
            r#"["acs:cr:*:*:repository/prod/*"]"#,
        )]);
        let admin = BuiltinPolicy::ADMINISTRATOR_ACCESS.document;
        for documents in [[admin, deny.as_str()], [deny.as_str(), admin]] {
            check(
                &set(&documents),
                &[
                    (Op::DeleteRepository, "prod/app", Deny),
                    (Op::DeleteTag, "prod/app", Deny),
                    (Op::DeleteRepository, "dev/app", Allow),
                    (Op::Push, "prod/app", Allow),
                    (Op::AttachPolicy, "", Allow),
                ],
            );
        }
    }

    /// Deny alone never allows: what it matches is Deny, everything else is NoMatch, and an
    /// empty set refuses everything.
    #[test]
    fn deny_alone_and_empty_sets_allow_nothing() {
        let deny_only = set(&[&document(&[statement("Deny", r#""cr:Push*""#, r#""*""#)])]);
        check(
            &deny_only,
            &[
                (Op::Push, "ns/app", Deny),
                (Op::Pull, "ns/app", NoMatch),
                (Op::CreateNamespace, "", NoMatch),
            ],
        );
        let empty = PolicySet::new(&[]);
        assert!(empty.is_empty() && !deny_only.is_empty());
        for operation in Operation::ALL {
            check(&empty, &[(operation, target_in_ns(operation), NoMatch)]);
        }
    }

    /// `cr:Get*` covers the Get actions only: pulling is `cr:PullRepository`, not a Get.
    #[test]
    fn get_star_does_not_grant_pull() {
        let policies = set(&[&document(&[statement("Allow", r#""cr:Get*""#, r#""*""#)])]);
        check(
            &policies,
            &[
                (Op::GetRepository, "ns/app", Allow),
                (Op::GetManifest, "ns/app", Allow),
                (Op::GetAuthorizationToken, "", Allow),
                (Op::Pull, "ns/app", NoMatch),
                (Op::ListTags, "ns/app", NoMatch),
            ],
        );
    }

    /// `repository/ns/*` requires at least the `/` after the namespace, so it never covers the
    /// namespace resource `repository/ns`, whatever the actions.
    #[test]
    fn repository_wildcard_does_not_grant_namespace_operations() {
        let policies = set(&[&document(&[statement(
            "Allow",
            r#""*""#,
            r#""acs:cr:*:*:repository/ns/*""#,
        )])]);
        let mut cases: Vec<(Operation, &str, Decision)> = Operation::ALL
            .iter()
            .filter(|op| op.scope() == Scope::Namespace)
            .map(|&op| (op, "ns", NoMatch))
            .collect();
        cases.push((Op::Push, "ns/app", Allow));
        check(&policies, &cases);
    }

    /// Instance operations are checked against the literal `*`, which `acs:cr:*` does not
    /// match: only the resource pattern `*` grants them.
    #[test]
    fn only_the_star_resource_covers_the_instance() {
        let acs = set(&[&document(&[statement(
            "Allow",
            r#""cr:*""#,
            r#""acs:cr:*""#,
        )])]);
        let star = set(&[&document(&[statement("Allow", r#""cr:*""#, r#""*""#)])]);
        for operation in [
            Op::CreateNamespace,
            Op::ListRepositories,
            Op::GetAuthorizationToken,
        ] {
            check(&acs, &[(operation, "", NoMatch)]);
            check(&star, &[(operation, "", Allow)]);
        }
        check(
            &acs,
            &[(Op::Push, "ns/app", Allow), (Op::GetNamespace, "ns", Allow)],
        );
    }

    /// Resources and actions match case-sensitively.
    #[test]
    fn matching_is_case_sensitive() {
        let policies = set(&[&document(&[statement(
            "Allow",
            r#""cr:Pull*""#,
            r#""acs:cr:*:*:repository/NS/*""#,
        )])]);
        check(&policies, &[(Op::Pull, "ns/app", NoMatch)]);
        assert!(policies.allows("cr:PullRepository", "acs:cr:r:a:repository/NS/app"));
        assert!(!policies.allows("cr:pullRepository", "acs:cr:r:a:repository/NS/app"));
    }

    // --- 3. Every row of the access table -------------------------------------------------

    /// The access table is a bijection: every action is used by exactly one operation, and the
    /// `ALL` arrays list every variant once, in declaration order.
    #[test]
    fn tables_are_complete_and_one_to_one() {
        assert_eq!(Action::ALL.len(), Action::GetAuditLog as usize + 1);
        assert_eq!(Operation::ALL.len(), Operation::GetAuditLog as usize + 1);
        for (index, action) in Action::ALL.iter().enumerate() {
            assert_eq!(*action as usize, index);
            let users: Vec<_> = Operation::ALL
                .iter()
                .filter(|op| op.action() == *action)
                .collect();
            assert_eq!(users.len(), 1, "{action} is used by {users:?}");
            // Every action's own name is a valid policy action that matches only itself.
            let pattern = action_pattern(action.as_str()).expect("valid action name");
            let matched: Vec<_> = Action::ALL
                .iter()
                .filter(|a| pattern.matches(a.as_str()))
                .collect();
            assert_eq!(matched, [action]);
        }
        for (index, operation) in Operation::ALL.iter().enumerate() {
            assert_eq!(*operation as usize, index);
        }
    }

    /// For every operation, a policy allowing exactly its action on exactly its resource allows
    /// it, refuses every other operation there, and (unless the resource is the instance)
    /// refuses the same operation elsewhere.
    #[test]
    fn each_operation_needs_exactly_its_action_and_resource() {
        for operation in Operation::ALL {
            let target = target_in_ns(operation);
            let policies = set(&[&document(&[statement(
                "Allow",
                &format!("{:?}", operation.action().as_str()),
                &format!("{:?}", resource(operation, target).as_str()),
            )])]);
            let mut cases = vec![(operation, target, Allow)];
            for other in Operation::ALL.iter().filter(|o| **o != operation) {
                cases.push((*other, target_in_ns(*other), NoMatch));
            }
            match operation.scope() {
                Scope::Instance => {}
                Scope::Namespace => cases.push((operation, "other", NoMatch)),
                Scope::Repository => {
                    cases.push((operation, "ns/other", NoMatch));
                    cases.push((operation, "other/app", NoMatch));
                }
            }
            check(&policies, &cases);
        }
    }

    /// The resource builders spell resources exactly as the policy examples expect.
    #[test]
    fn resource_strings() {
        assert_eq!(Resource::any().as_str(), "*");
        assert_eq!(
            Resource::namespace("cn-hangzhou", "42", "ns").to_string(),
            "acs:cr:cn-hangzhou:42:repository/ns"
        );
        assert_eq!(
            Resource::repository("cn-hangzhou", "42", "ns", "team/app").as_ref(),
            "acs:cr:cn-hangzhou:42:repository/ns/team/app"
        );
    }

    // --- 4. Invalid documents -------------------------------------------------------------

    /// Parses `input`, which must be rejected, and returns the error message.
    fn rejection(input: &str) -> String {
        match PolicyDocument::parse(input) {
            Ok(document) => panic!("accepted {input:?} as {document:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// A document with one statement built from the given raw JSON fields.
    fn with_fields(fields: &str) -> String {
        format!(r#"{{"Version":"1","Statement":[{{{fields}}}]}}"#)
    }

    const OK_FIELDS: &str = r#""Effect":"Allow","Action":"cr:*","Resource":"*""#;

    /// Every way a document can be invalid is rejected with a message naming the field.
    #[test]
    fn invalid_documents_name_the_field() {
        let ok_statement = format!("{{{OK_FIELDS}}}");
        let many_statements = vec![ok_statement.as_str(); POLICY_STATEMENTS_MAX + 1].join(",");
        let many_actions = vec![r#""cr:*""#; POLICY_LIST_ENTRIES_MAX + 1].join(",");
        let long_action = format!("cr:{}", "A".repeat(POLICY_PATTERN_BYTES_MAX));
        let cases: Vec<(String, &str)> = vec![
            // The document as a whole.
            ("[]".into(), "document: expected an object, got an array"),
            (
                format!(r#"{{"Version":"1","Statement":[{ok_statement}],"Id":"x"}}"#),
                r#"document: unknown field "Id"; the fields are "Version" and "Statement""#,
            ),
            // Version.
            (
                format!(r#"{{"Statement":[{ok_statement}]}}"#),
                "Version: required field is missing",
            ),
            (
                format!(r#"{{"Version":"2012-10-17","Statement":[{ok_statement}]}}"#),
                r#"Version: expected "1", got "2012-10-17""#,
            ),
            (
                format!(r#"{{"Version":1,"Statement":[{ok_statement}]}}"#),
                r#"Version: expected the string "1", got a number"#,
            ),
            (
                format!(r#"{{"Version":"1","Version":"1","Statement":[{ok_statement}]}}"#),
                "Version: appears more than once",
            ),
            // Statement.
            (
                r#"{"Version":"1"}"#.into(),
                "Statement: required field is missing",
            ),
            (
                r#"{"Version":"1","Statement":[]}"#.into(),
                "Statement: must not be empty",
            ),
            (
                format!(r#"{{"Version":"1","Statement":{ok_statement}}}"#),
                "Statement: expected an array of statements, got an object",
            ),
            (
                format!(r#"{{"Version":"1","Statement":[{many_statements}]}}"#),
                "Statement: has 101 entries; at most 100 are allowed",
            ),
            (
                format!(r#"{{"Version":"1","Statement":[{ok_statement},"x"]}}"#),
                "Statement[1]: expected an object, got a string",
            ),
            (
                with_fields(&format!(r#"{OK_FIELDS},"Condition":{{}}"#)),
                r#"Statement[0]: unknown field "Condition"; the fields are "Effect", "Action" and "Resource""#,
            ),
            (
                with_fields(r#""effect":"Allow","Action":"cr:*","Resource":"*""#),
                r#"Statement[0]: unknown field "effect"; the fields are "Effect", "Action" and "Resource""#,
            ),
            // Effect.
            (
                format!(
                    r#"{{"Version":"1","Statement":[{ok_statement},{{"Effect":"allow","Action":"cr:*","Resource":"*"}}]}}"#
                ),
                r#"Statement[1].Effect: expected "Allow" or "Deny", got "allow""#,
            ),
            (
                with_fields(r#""Effect":true,"Action":"cr:*","Resource":"*""#),
                r#"Statement[0].Effect: expected "Allow" or "Deny", got a boolean"#,
            ),
            (
                with_fields(r#""Action":"cr:*","Resource":"*""#),
                "Statement[0].Effect: required field is missing",
            ),
            (
                with_fields(&format!(r#"{OK_FIELDS},"Effect":"Deny""#)),
                "Statement[0].Effect: appears more than once",
            ),
            // Action.
            (
                with_fields(r#""Effect":"Allow","Resource":"*""#),
                "Statement[0].Action: required field is missing",
            ),
            (
                with_fields(r#""Effect":"Allow","Action":[],"Resource":"*""#),
                "Statement[0].Action: must not be empty",
            ),
            (
                with_fields(r#""Effect":"Allow","Action":7,"Resource":"*""#),
                "Statement[0].Action: expected a string or an array of strings, got a number",
            ),
            (
                with_fields(r#""Effect":"Allow","Action":["cr:*","cr:Get*",null],"Resource":"*""#),
                "Statement[0].Action[2]: expected a string, got null",
            ),
            (
                with_fields(
                    r#""Effect":"Allow","Action":["cr:*","cr:Get*","cr:Get-Thing"],"Resource":"*""#,
                ),
                r#"Statement[0].Action[2]: expected "*", "cr:<Name>" or "ram:<Name>" where <Name> is letters and "*", got "cr:Get-Thing""#,
            ),
            (
                with_fields(r#""Effect":"Allow","Action":"oss:GetObject","Resource":"*""#),
                r#"Statement[0].Action: expected "*", "cr:<Name>" or "ram:<Name>" where <Name> is letters and "*", got "oss:GetObject""#,
            ),
            (
                with_fields(r#""Effect":"Allow","Action":"cr:","Resource":"*""#),
                r#"Statement[0].Action: expected "*", "cr:<Name>" or "ram:<Name>" where <Name> is letters and "*", got "cr:""#,
            ),
            (
                with_fields(r#""Effect":"Allow","Action":["cr:PullRepo"],"Resource":"*""#),
                r#"Statement[0].Action[0]: "cr:PullRepo" matches no known action (action names are case-sensitive)"#,
            ),
            (
                with_fields(r#""Effect":"Allow","Action":["cr:pullrepository"],"Resource":"*""#),
                r#"Statement[0].Action[0]: "cr:pullrepository" matches no known action (action names are case-sensitive)"#,
            ),
            (
                with_fields(&format!(
                    r#""Effect":"Allow","Action":[{many_actions}],"Resource":"*""#
                )),
                "Statement[0].Action: has 101 entries; at most 100 are allowed",
            ),
            (
                with_fields(&format!(
                    r#""Effect":"Allow","Action":"{long_action}","Resource":"*""#
                )),
                "Statement[0].Action: is 1027 bytes long; at most 1024 are allowed",
            ),
            // Resource.
            (
                with_fields(r#""Effect":"Allow","Action":"cr:*""#),
                "Statement[0].Resource: required field is missing",
            ),
            (
                with_fields(r#""Effect":"Allow","Action":"cr:*","Resource":[]"#),
                "Statement[0].Resource: must not be empty",
            ),
            (
                with_fields(r#""Effect":"Allow","Action":"cr:*","Resource":"repository/ns/*""#),
                r#"Statement[0].Resource: expected "*" or a pattern starting with "acs:cr:" without whitespace or control characters, got "repository/ns/*""#,
            ),
            (
                with_fields(r#""Effect":"Allow","Action":"cr:*","Resource":["*","acs:*"]"#),
                r#"Statement[0].Resource[1]: expected "*" or a pattern starting with "acs:cr:" without whitespace or control characters, got "acs:*""#,
            ),
            (
                with_fields(
                    r#""Effect":"Allow","Action":"cr:*","Resource":["acs:cr:*:*:repository/ns/* "]"#,
                ),
                r#"Statement[0].Resource[0]: expected "*" or a pattern starting with "acs:cr:" without whitespace or control characters, got "acs:cr:*:*:repository/ns/* ""#,
            ),
            (
                with_fields(r#""Effect":"Allow","Action":"cr:*","Resource":{"a":1}"#),
                "Statement[0].Resource: expected a string or an array of strings, got an object",
            ),
        ];
        let mismatches: Vec<String> = cases
            .iter()
            .filter_map(|(input, expected)| {
                let actual = rejection(input);
                (actual != *expected).then(|| format!("expected: {expected}\n  actual: {actual}"))
            })
            .collect();
        assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
    }

    /// Size and syntax are checked before any field, and quoted input stays bounded.
    #[test]
    fn too_large_not_json_and_bounded_quotes() {
        let huge = " ".repeat(POLICY_DOCUMENT_BYTES_MAX + 1);
        assert_eq!(
            rejection(&huge),
            "policy document is 32769 bytes; at most 32768 are allowed"
        );
        // Exactly at the limit is parsed (and fails only because it is not JSON).
        assert!(rejection(&" ".repeat(POLICY_DOCUMENT_BYTES_MAX))
            .starts_with("policy document is not valid JSON: EOF while parsing"));
        assert!(rejection(r#"{"Version":"1","#)
            .starts_with("policy document is not valid JSON: EOF while parsing"));
        assert!(rejection(r#"{"Version":"1"} x"#)
            .starts_with("policy document is not valid JSON: trailing characters"));
        let long_resource = format!("x{}", "y".repeat(900));
        let message = rejection(&with_fields(&format!(
            r#""Effect":"Allow","Action":"cr:*","Resource":"{long_resource}""#
        )));
        assert!(message.len() < 300, "{message}");
        assert!(message.ends_with(&format!(r#"got "x{}…""#, "y".repeat(99))));
    }

    /// The canonical printed form reads back to an equal document, from any accepted spelling.
    #[test]
    fn to_json_round_trips() {
        let loose = r#"{"Statement":[{"Resource":"*","Action":"cr:Get*","Effect":"Deny"},
            {"Effect":"Allow","Action":["cr:*","ram:List*"],"Resource":["acs:cr:*:*:repository/ns/*","*"]}],
            "Version":"1"}"#;
        let document = PolicyDocument::parse(loose).expect("valid");
        let printed = document.to_json();
        assert_eq!(
            printed,
            r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":["cr:Get*"],"Resource":["*"]},{"Effect":"Allow","Action":["cr:*","ram:List*"],"Resource":["acs:cr:*:*:repository/ns/*","*"]}]}"#
        );
        assert_eq!(PolicyDocument::parse(&printed), Ok(document));
        for builtin in BuiltinPolicy::ALL {
            assert_eq!(builtin.parse().to_json(), builtin.document);
        }
    }

    // --- 5. The glob matcher against a regex reference -------------------------------------

    /// The reference semantics: literals escaped, each `*` → `.*`, anchored at both ends.
    fn reference(pattern: &str) -> regex::Regex {
        let literals: Vec<String> = pattern.split('*').map(regex::escape).collect();
        regex::Regex::new(&format!("(?s)^{}$", literals.join(".*"))).expect("escaped regex")
    }

    /// Spot checks of the compiled form on the cases that trip naive matchers.
    #[test]
    fn glob_edge_cases() {
        let cases = [
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("*", "", true),
            ("**", "*", true),
            ("", "", true),
            ("", "a", false),
            ("*ab*ab", "abab", true),
            ("*ab*ab", "aba", false),
            ("a*b*c", "abbbc", true),
            ("a*b*c", "acb", false),
            (
                "acs:cr:*:*:repository/ns/*",
                "acs:cr:r:a:repository/ns",
                false,
            ),
            (
                "acs:cr:*:*:repository/ns/*",
                "acs:cr:r:a:repository/ns/",
                true,
            ),
            ("ü*ß", "üxß", true),
        ];
        for (pattern, subject, expected) in cases {
            assert_eq!(
                Pattern::compile(pattern).matches(subject),
                expected,
                "{pattern:?} on {subject:?}"
            );
            assert_eq!(reference(pattern).is_match(subject), expected);
        }
    }

    /// `pattern` with its `n`th star replaced by `fills[n]`: a string the pattern must match.
    fn instance_of(pattern: &str, fills: &[String]) -> String {
        let mut out = String::new();
        for (index, literal) in pattern.split('*').enumerate() {
            if index > 0 {
                out.push_str(&fills[(index - 1) % fills.len()]);
            }
            out.push_str(literal);
        }
        out
    }

    proptest! {
        /// Arbitrary pattern/subject pairs over a small alphabet (so that literals recur).
        #[test]
        fn glob_agrees_with_regex(pattern in "[ab/:*]{0,10}", subject in "[ab/:*]{0,14}") {
            prop_assert_eq!(
                Pattern::compile(&pattern).matches(&subject),
                reference(&pattern).is_match(&subject)
            );
        }

        /// Subjects built from the pattern, so that matches are common rather than rare.
        #[test]
        fn glob_matches_its_instances(
            pattern in "[ab/:*]{0,10}",
            fills in proptest::collection::vec("[ab/:*]{0,4}", 1..4),
            tail in "[ab]{0,2}",
        ) {
            let subject = instance_of(&pattern, &fills);
            prop_assert!(Pattern::compile(&pattern).matches(&subject));
            prop_assert!(reference(&pattern).is_match(&subject));
            let longer = format!("{subject}{tail}");
            prop_assert_eq!(
                Pattern::compile(&pattern).matches(&longer),
                reference(&pattern).is_match(&longer)
            );
        }
    }

    // --- 6. Built-in policies -------------------------------------------------------------

    fn is_management(operation: Operation) -> bool {
        operation.action().as_str().starts_with("ram:")
    }

    /// The built-ins parse, and grant what their names say: ReadOnly reads and pulls,
    /// FullAccess does every registry operation but no account management, Administrator
    /// does everything.
    #[test]
    fn builtin_policies() {
        let names: Vec<_> = BuiltinPolicy::ALL.iter().map(|b| b.name).collect();
        assert_eq!(
            names,
            ["FullAccess", "ReadOnlyAccess", "AdministratorAccess"]
        );

        let read_only = PolicySet::new(&[BuiltinPolicy::READ_ONLY_ACCESS.parse()]);
        check(
            &read_only,
            &[
                (Op::Pull, "ns/app", Allow),
                (Op::GetAuthorizationToken, "", Allow),
                (Op::ListNamespaces, "", Allow),
                (Op::ListRepositories, "", Allow),
                (Op::ListTags, "ns/app", Allow),
                (Op::GetNamespace, "ns", Allow),
                (Op::Push, "ns/app", NoMatch),
                (Op::DeleteRepository, "ns/app", NoMatch),
                (Op::CreateNamespace, "", NoMatch),
                (Op::ListUsers, "", NoMatch),
                (Op::GetAuditLog, "", NoMatch),
            ],
        );

        let full = PolicySet::new(&[BuiltinPolicy::FULL_ACCESS.parse()]);
        let admin = PolicySet::new(&[BuiltinPolicy::ADMINISTRATOR_ACCESS.parse()]);
        for operation in Operation::ALL {
            let target = match operation.scope() {
                Scope::Instance => "",
                Scope::Namespace => "ns",
                Scope::Repository => "ns/team/app",
            };
            let full_expected = if is_management(operation) {
                NoMatch
            } else {
                Allow
            };
            check(&full, &[(operation, target, full_expected)]);
            check(&admin, &[(operation, target, Allow)]);
        }
        // Both attached: FullAccess takes nothing away from the administrator.
        let both = PolicySet::new(&[
            BuiltinPolicy::FULL_ACCESS.parse(),
            BuiltinPolicy::ADMINISTRATOR_ACCESS.parse(),
        ]);
        check(
            &both,
            &[(Op::AttachPolicy, "", Allow), (Op::GetAuditLog, "", Allow)],
        );
    }
}
