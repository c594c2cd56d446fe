//! Access control: RAM-style policy documents, and the decision whether a policy set allows an
//! action on a resource.
//!
//! This module is the pure core of authorization. It knows the registry's vocabulary of
//! actions ([`Action`]), which action and which kind of resource each operation needs
//! ([`Operation`], [`Scope`]), how resource names are spelled ([`Resource`]), and how a set of
//! policy documents decides ([`PolicySet`]). Who the caller is, which policies are attached to
//! them, and where policies are stored belong to the server.
//!
//! # Policy documents
//!
//! ```text
//! {"Version":"1",
//!  "Statement":[{"Effect":"Allow",                         "Allow" | "Deny"
//!                "Action":["cr:Get*","cr:PullRepository"], a string or a list of strings
//!                "Resource":["acs:cr:*:*:repository/ns/*"]}]}   a string or a list of strings
//! ```
//!
//! [`PolicyDocument::parse`] accepts exactly this form. An action pattern is `*` or
//! `<service>:<Name>` with service `cr` or `ram` and a name of ASCII letters and `*`, and it
//! must match at least one known [`Action`]. A resource pattern is `*` or starts with `acs:cr:`.
//! Limits: [`POLICY_DOCUMENT_BYTES_MAX`], [`POLICY_STATEMENTS_MAX`],
//! [`POLICY_LIST_ENTRIES_MAX`], [`POLICY_PATTERN_BYTES_MAX`]. A rejected document's error names
//! the offending field, e.g. `Statement[1].Effect: expected "Allow" or "Deny", got "allow"`.
//!
//! # Resources
//!
//! ```text
//! *                                                   the instance (Scope::Instance)
//! acs:cr:<region>:<account>:repository/<ns>           a namespace  (Scope::Namespace)
//! acs:cr:<region>:<account>:repository/<ns>/<repo>    a repository (Scope::Repository);
//!                                                     <repo> may itself contain '/'
//! ```
//!
//! Operations on the instance (create or list namespaces, list repositories, temporary
//! credentials, account management) are checked against the literal resource string `*`. The
//! only accepted pattern that matches that string is `*` itself: `acs:cr:*` covers every
//! namespace and repository but not the instance, so granting instance-wide operations is
//! always an explicit `"Resource":"*"`.
//!
//! # Matching
//!
//! In both action and resource patterns `*` matches any run of characters, including `/`, `:`
//! and the empty run; every other character matches only itself, case-sensitively. So
//! `repository/ns/*` covers every repository in `ns` (also `ns/a/b`) but not the namespace
//! resource `repository/ns`, and not `repository/nsx/app`. Action names are case-sensitive too:
//! `cr:pullrepository` is not `cr:PullRepository`, and because it matches no known action the
//! parser rejects it instead of letting it silently grant nothing.
//!
//! # Account management is a separate service
//!
//! Managing users and policies and reading the audit log are `ram:` actions (`ram:CreateUser`,
//! `ram:AttachPolicy`, `ram:GetAuditLog`, ...), all on `*`. Registry actions are `cr:`. So
//! `cr:*` ([`BuiltinPolicy::FULL_ACCESS`]) and `cr:Get*` ([`BuiltinPolicy::READ_ONLY_ACCESS`])
//! can never grant a user the power to change their own permissions or read the audit trail,
//! without any Deny statement that would also override an administrator's Allow. Only `*` or
//! `ram:...` patterns ([`BuiltinPolicy::ADMINISTRATOR_ACCESS`]) grant them.
//!
//! # Evaluation
//!
//! [`PolicySet::evaluate`] over all statements of all attached documents: an explicit Deny that
//! matches wins ([`Decision::Deny`]); otherwise a matching Allow allows ([`Decision::Allow`]);
//! otherwise nothing matched ([`Decision::NoMatch`]), which callers treat as a refusal.
//!
//! **Invariant:** access is denied by default. Only a matching Allow with no matching Deny
//! allows; an empty policy set allows nothing.
//!
//! **Invariant:** a document never grants more than it reads as granting. Fields this engine
//! does not evaluate (`Condition`, `NotAction`, `Principal`, ...) are rejected, not ignored,
//! and so are duplicate fields and action patterns that match no known action.
//!
//! **Invariant:** evaluation does not allocate and runs no regex. Patterns are compiled once,
//! when a document is parsed, into literal segments split on `*`, and matched with a greedy
//! glob algorithm that is linear in the length of the subject.
//!
//! This module must not do I/O, know about HTTP, users or tokens, or log: it is a pure function
//! from policies × action × resource to a [`Decision`], so it can be tested exhaustively and
//! called from any shard.

pub mod policy;

pub use self::policy::{
    Action, BuiltinPolicy, Decision, Effect, FieldProblem, Operation, Pattern, PolicyDocument,
    PolicyError, PolicySet, Resource, Scope, Statement, POLICY_DOCUMENT_BYTES_MAX,
    POLICY_LIST_ENTRIES_MAX, POLICY_PATTERN_BYTES_MAX, POLICY_STATEMENTS_MAX,
};
