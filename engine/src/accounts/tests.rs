//! Tests of the accounts store against a real RocksDB in a temporary directory, with the
//! smallest argon2 costs and a manual clock.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::block_on;

use super::*;
use crate::access::{Operation, Resource};
use crate::clock::ManualClock;
use crate::meta::schema::{CF_AUDIT, CF_TEMP_CREDENTIALS};
use crate::meta::MetaOptions;

const START_MS: u64 = 1_700_000_000_000;
const ALICE_PASSWORD: &str = "correct horse battery";

struct Fixture {
    dir: tempfile::TempDir,
    clock: ManualClock,
    accounts: Accounts,
}

fn open(dir: &Path, clock: &ManualClock) -> Accounts {
    let meta = Meta::open(&dir.join("meta"), &MetaOptions::default()).expect("open meta");
    Accounts::new(meta, Arc::new(clock.clone()), AccountOptions::for_tests())
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(START_MS);
    let accounts = open(dir.path(), &clock);
    Fixture {
        dir,
        clock,
        accounts,
    }
}

/// Closes `accounts`' store and opens it again. The close watch fires when the last handle
/// is gone, which can be a moment before RocksDB has released its lock file, so opening is
/// retried for a while.
fn reopen(accounts: Accounts, dir: &Path, clock: &ManualClock) -> Accounts {
    let watch = accounts.meta().close_watch();
    drop(accounts);
    assert!(watch.wait(Duration::from_secs(10)), "metadata store closed");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let meta = loop {
        match Meta::open(&dir.join("meta"), &MetaOptions::default()) {
            Ok(meta) => break meta,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("reopen meta: {e}"),
        }
    };
    Accounts::new(meta, Arc::new(clock.clone()), AccountOptions::for_tests())
}

fn account(name: &str) -> AccountName {
    AccountName::parse(name).expect("valid account name")
}

fn policy(name: &str) -> PolicyName {
    PolicyName::parse(name).expect("valid policy name")
}

impl Fixture {
    fn with_alice(self) -> Self {
        self.accounts
            .add_user(&account("alice"), ALICE_PASSWORD)
            .expect("add alice");
        self
    }

    fn login(&self, name: &str, password: &str) -> Option<Principal> {
        self.accounts
            .authenticate(name, password)
            .expect("authenticate")
    }

    fn alice(&self) -> Principal {
        self.login("alice", ALICE_PASSWORD).expect("alice logs in")
    }

    fn attach(&self, user: &str, name: &str) {
        block_on(self.accounts.attach(&account(user), &policy(name))).expect("attach");
    }

    /// Whether `principal`'s policies allow `operation` on repository `ns/app` (or on the
    /// instance for instance-scoped operations).
    fn allows(&self, principal: &Principal, operation: Operation) -> bool {
        let set = self.accounts.policy_set(principal).expect("policy set");
        let resource = match operation.scope() {
            crate::access::Scope::Instance => Resource::any(),
            crate::access::Scope::Namespace => Resource::namespace("local", "berth", "ns"),
            crate::access::Scope::Repository => Resource::repository("local", "berth", "ns", "app"),
        };
        set.allows(operation.action().as_str(), resource.as_str())
    }

    fn stored_account(&self, name: &str) -> AccountRecord {
        self.accounts
            .account_record(&account(name))
            .expect("read")
            .expect("account exists")
    }
}

// --- Names ------------------------------------------------------------------------------

#[test]
fn names_are_validated_with_reasons() {
    let long = "a".repeat(65);
    let longest = "a".repeat(64);
    let accounts: &[(&str, Option<&str>)] = &[
        ("admin", None),
        ("a", None),
        ("0ps.team_b-c", None),
        (&longest, None),
        ("", Some("must not be empty")),
        (&long, Some("at most 64 characters, this one is 65")),
        (
            "Alice",
            Some("starts with a lowercase letter or a digit, not 'A'"),
        ),
        (
            "-a",
            Some("starts with a lowercase letter or a digit, not '-'"),
        ),
        ("al ice", Some("not ' '")),
        ("aLice", Some("not 'L'")),
        (
            "tmp-0123456789abcdef",
            Some("reserved for temporary credentials"),
        ),
    ];
    for (input, expected) in accounts {
        match (AccountName::parse(input), expected) {
            (Ok(name), None) => assert_eq!(name.as_str(), *input),
            (Err(AccountError::NameInvalid { reason, .. }), Some(part)) => {
                assert!(reason.contains(part), "{input:?}: {reason}")
            }
            (other, _) => panic!("{input:?}: unexpected {other:?}"),
        }
    }
    let policies: &[(&str, bool)] = &[
        ("My-Policy_1", true),
        ("FullAccess", true),
        (&longest, true),
        ("", false),
        (&long, false),
        ("a.b", false),
        ("a b", false),
        ("ü", false),
    ];
    for (input, valid) in policies {
        assert_eq!(PolicyName::parse(input).is_ok(), *valid, "{input:?}");
    }
    assert!(policy("fullACCESS").is_reserved());
    assert!(policy("fullACCESS").builtin().is_none());
    assert!(policy("FullAccess").builtin().is_some());
}

#[test]
fn options_are_validated() {
    AccountOptions::default().validate().expect("defaults");
    AccountOptions::for_tests()
        .validate()
        .expect("test options");
    let zero_memory = AccountOptions {
        argon2_memory_kib: 0,
        ..AccountOptions::default()
    };
    assert!(matches!(
        zero_memory.validate(),
        Err(AccountError::OptionsInvalid { .. })
    ));
    let no_accounts = AccountOptions {
        accounts_max: 0,
        ..AccountOptions::default()
    };
    match no_accounts.validate() {
        Err(AccountError::OptionsInvalid { reason }) => {
            assert_eq!(reason, "accounts_max must be at least 1")
        }
        other => panic!("unexpected {other:?}"),
    }
}

// --- Users and authentication -------------------------------------------------------------

#[test]
fn users_authenticate_only_with_their_password() {
    let f = fixture().with_alice();
    assert_eq!(
        f.alice(),
        Principal {
            name: "alice".into(),
            policies: vec![],
            temporary: false,
            expires_at_ms: None,
        }
    );
    assert_eq!(f.login("alice", "correct horse battery!"), None);
    assert_eq!(f.login("alice", "short"), None);
    assert_eq!(f.login("bob", ALICE_PASSWORD), None);
    assert_eq!(f.login("Alice", ALICE_PASSWORD), None);
    assert_eq!(f.login("", ALICE_PASSWORD), None);

    let stored = f.stored_account("alice");
    assert!(stored.password_hash.starts_with("$argon2id$v=19$"));
    assert!(!format!("{stored:?}").contains("argon2"));
    let listed = f.accounts.list_users().expect("list");
    assert_eq!(
        listed,
        vec![UserInfo {
            name: account("alice"),
            created_at_ms: START_MS,
            policies: vec![],
        }]
    );
    // Nothing of the hash is in the listed value (the server's JSON is built from it).
    assert!(!format!("{listed:?}").contains("argon2"));
    assert_eq!(
        f.accounts.user(&account("alice")).expect("user"),
        listed.into_iter().next()
    );
    assert_eq!(f.accounts.user(&account("bob")).expect("user"), None);
}

#[test]
fn add_user_refuses_duplicates_bad_passwords_and_admin() {
    let f = fixture().with_alice();
    let add = |name: &str, password: &str| f.accounts.add_user(&account(name), password);
    assert!(matches!(
        add("alice", "another password"),
        Err(AccountError::AccountExists { account }) if account.as_str() == "alice"
    ));
    let too_long = "x".repeat(PASSWORD_CHARS_MAX + 1);
    for password in ["", "1234567", too_long.as_str()] {
        assert!(
            matches!(
                add("bob", password),
                Err(AccountError::PasswordInvalid { .. })
            ),
            "{} chars",
            password.len()
        );
    }
    // The boundaries are accepted, counted in characters.
    add("bob", "12345678").expect("8 characters");
    add("carol", &"é".repeat(PASSWORD_CHARS_MAX)).expect("256 characters");
    assert!(f.login("carol", &"é".repeat(PASSWORD_CHARS_MAX)).is_some());
    assert!(matches!(
        add("admin", "admin password"),
        Err(AccountError::AdminProtected { .. })
    ));
    let names: Vec<String> = f
        .accounts
        .list_users()
        .expect("list")
        .into_iter()
        .map(|u| u.name.to_string())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
}

#[test]
fn set_password_replaces_the_old_one() {
    let f = fixture().with_alice();
    f.accounts
        .set_password(&account("alice"), "a new password")
        .expect("set");
    assert_eq!(f.login("alice", ALICE_PASSWORD), None);
    assert!(f.login("alice", "a new password").is_some());
    assert!(matches!(
        f.accounts.set_password(&account("bob"), "a new password"),
        Err(AccountError::AccountUnknown { .. })
    ));
    assert!(matches!(
        f.accounts.set_password(&account("alice"), "short"),
        Err(AccountError::PasswordInvalid { .. })
    ));
    assert!(matches!(
        f.accounts.set_password(&account("admin"), "a new password"),
        Err(AccountError::AdminProtected { .. })
    ));
}

#[test]
fn delete_user_removes_it_but_never_admin() {
    let f = fixture().with_alice();
    f.accounts.ensure_admin("admin password").expect("admin");
    block_on(f.accounts.delete_user(&account("alice"))).expect("delete");
    assert_eq!(f.login("alice", ALICE_PASSWORD), None);
    assert_eq!(f.accounts.user(&account("alice")).expect("user"), None);
    assert!(matches!(
        block_on(f.accounts.delete_user(&account("alice"))),
        Err(AccountError::AccountUnknown { .. })
    ));
    let refused = block_on(f.accounts.delete_user(&account("admin")));
    assert!(matches!(refused, Err(AccountError::AdminProtected { .. })));
    assert!(f.login("admin", "admin password").is_some());
}

#[test]
fn ensure_admin_creates_rotates_and_repairs() {
    let f = fixture();
    let ensure = |password: &str| f.accounts.ensure_admin(password).expect("ensure");
    assert_eq!(ensure("first admin password"), AdminBootstrap::Created);
    assert_eq!(ensure("first admin password"), AdminBootstrap::Unchanged);
    let admin = f.login("admin", "first admin password").expect("admin");
    assert_eq!(admin.policies, ["AdministratorAccess"]);
    assert!(f.allows(&admin, Operation::CreateUser));
    assert!(f.allows(&admin, Operation::GetAuditLog));

    // The configuration changed the password: the stored one follows.
    assert_eq!(
        ensure("second admin password"),
        AdminBootstrap::Updated {
            password_changed: true,
            administrator_access_restored: false
        }
    );
    assert_eq!(f.login("admin", "first admin password"), None);
    assert!(f.login("admin", "second admin password").is_some());
    assert_eq!(ensure("second admin password"), AdminBootstrap::Unchanged);
    assert!(matches!(
        f.accounts.ensure_admin("short"),
        Err(AccountError::PasswordInvalid { .. })
    ));

    // AdministratorAccess cannot be detached; a record that lost it anyway is repaired.
    assert!(matches!(
        block_on(
            f.accounts
                .detach(&account("admin"), &policy("AdministratorAccess"))
        ),
        Err(AccountError::AdminProtected { .. })
    ));
    let mut record = f.stored_account("admin");
    record.policies.clear();
    f.accounts
        .meta()
        .write_blocking(move |ctx| -> Result<(), AccountError> {
            ctx.put_json(CF_ACCOUNTS, b"admin", &record);
            Ok(())
        })
        .expect("strip admin");
    assert_eq!(
        ensure("second admin password"),
        AdminBootstrap::Updated {
            password_changed: false,
            administrator_access_restored: true
        }
    );
    assert_eq!(
        f.login("admin", "second admin password")
            .expect("admin")
            .policies,
        ["AdministratorAccess"]
    );
}

// --- Policies ---------------------------------------------------------------------------

const PUSH_NS: &str = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["cr:PushRepository","cr:PullRepository"],"Resource":["acs:cr:*:*:repository/ns/*"]}]}"#;
const PUSH_OTHER: &str = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["cr:PushRepository"],"Resource":["acs:cr:*:*:repository/other/*"]}]}"#;

#[test]
fn invalid_documents_and_builtin_names_are_refused() {
    let f = fixture();
    let bad = r#"{"Version":"1","Statement":[{"Effect":"allow","Action":"cr:*","Resource":"*"}]}"#;
    match block_on(f.accounts.create_policy(&policy("pushers"), bad)) {
        Err(AccountError::PolicyInvalid { policy, reason }) => {
            assert_eq!(policy.as_str(), "pushers");
            assert_eq!(
                reason,
                r#"Statement[0].Effect: expected "Allow" or "Deny", got "allow""#
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    for name in ["FullAccess", "readonlyaccess", "ADMINISTRATORACCESS"] {
        assert!(matches!(
            block_on(f.accounts.create_policy(&policy(name), PUSH_NS)),
            Err(AccountError::PolicyBuiltin { .. })
        ));
    }
    assert!(matches!(
        block_on(f.accounts.update_policy(&policy("ReadOnlyAccess"), PUSH_NS)),
        Err(AccountError::PolicyBuiltin { .. })
    ));
    assert!(matches!(
        block_on(f.accounts.delete_policy(&policy("FullAccess"))),
        Err(AccountError::PolicyBuiltin { .. })
    ));
    assert!(matches!(
        block_on(f.accounts.update_policy(&policy("pushers"), PUSH_NS)),
        Err(AccountError::PolicyUnknown { .. })
    ));
    assert_eq!(f.accounts.list_policies().expect("list").len(), 3);
}

#[test]
fn policies_are_listed_attached_detached_and_deleted_only_when_unused() {
    let f = fixture().with_alice();
    let pushers = policy("pushers");
    block_on(f.accounts.create_policy(&pushers, PUSH_NS)).expect("create");
    assert!(matches!(
        block_on(f.accounts.create_policy(&pushers, PUSH_NS)),
        Err(AccountError::PolicyExists { .. })
    ));

    let listed = f.accounts.list_policies().expect("list");
    let summary: Vec<(&str, bool)> = listed
        .iter()
        .map(|p| (p.name.as_str(), p.builtin))
        .collect();
    assert_eq!(
        summary,
        [
            ("FullAccess", true),
            ("ReadOnlyAccess", true),
            ("AdministratorAccess", true),
            ("pushers", false)
        ]
    );
    assert_eq!(listed[3].document, PUSH_NS);
    assert_eq!(listed[1].document, BuiltinPolicy::READ_ONLY_ACCESS.document);

    // Unknown user or policy.
    assert!(matches!(
        block_on(f.accounts.attach(&account("bob"), &pushers)),
        Err(AccountError::AccountUnknown { .. })
    ));
    assert!(matches!(
        block_on(f.accounts.attach(&account("alice"), &policy("nobody"))),
        Err(AccountError::PolicyUnknown { .. })
    ));
    assert!(matches!(
        block_on(f.accounts.detach(&account("alice"), &policy("nobody"))),
        Err(AccountError::PolicyUnknown { .. })
    ));
    // A case variant of a built-in is not that built-in.
    assert!(matches!(
        block_on(f.accounts.attach(&account("alice"), &policy("fullaccess"))),
        Err(AccountError::PolicyUnknown { .. })
    ));

    // Attach is idempotent.
    f.attach("alice", "pushers");
    f.attach("alice", "pushers");
    f.attach("alice", "ReadOnlyAccess");
    assert_eq!(f.alice().policies, ["pushers", "ReadOnlyAccess"]);

    // Deleting an attached policy is refused and names the users.
    f.accounts
        .add_user(&account("bob"), "bob's password")
        .expect("bob");
    f.attach("bob", "pushers");
    match block_on(f.accounts.delete_policy(&pushers)) {
        Err(e @ AccountError::PolicyAttached { .. }) => {
            assert_eq!(
                e.to_string(),
                "policy pushers is attached to alice, bob; detach it first"
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    for user in ["alice", "bob"] {
        block_on(f.accounts.detach(&account(user), &pushers)).expect("detach");
    }
    // Detaching what is not attached changes nothing.
    block_on(f.accounts.detach(&account("alice"), &pushers)).expect("detach again");
    assert_eq!(f.alice().policies, ["ReadOnlyAccess"]);
    block_on(f.accounts.delete_policy(&pushers)).expect("delete");
    assert!(matches!(
        block_on(f.accounts.delete_policy(&pushers)),
        Err(AccountError::PolicyUnknown { .. })
    ));
    assert_eq!(f.accounts.list_policies().expect("list").len(), 3);
}

#[test]
fn attachments_per_account_are_limited() {
    let f = fixture().with_alice();
    let max = f.accounts.options().policies_per_account_max;
    for n in 0..max {
        let name = policy(&format!("p{n}"));
        block_on(f.accounts.create_policy(&name, PUSH_NS)).expect("create");
        block_on(f.accounts.attach(&account("alice"), &name)).expect("attach");
    }
    assert!(matches!(
        block_on(f.accounts.attach(&account("alice"), &policy("FullAccess"))),
        Err(AccountError::AttachLimitReached { policies_max, .. }) if policies_max == max
    ));
    // Re-attaching one already attached is still fine.
    block_on(f.accounts.attach(&account("alice"), &policy("p0"))).expect("idempotent");
}

#[test]
fn policy_sets_follow_attachments_and_document_updates() {
    let f = fixture().with_alice();
    assert!(
        !f.allows(&f.alice(), Operation::Pull),
        "no policy, no access"
    );

    f.attach("alice", "ReadOnlyAccess");
    let alice = f.alice();
    assert!(f.allows(&alice, Operation::Pull));
    assert!(f.allows(&alice, Operation::ListTags));
    assert!(!f.allows(&alice, Operation::Push));
    assert!(!f.allows(&alice, Operation::CreateUser));

    let pushers = policy("pushers");
    block_on(f.accounts.create_policy(&pushers, PUSH_NS)).expect("create");
    f.attach("alice", "pushers");
    let alice = f.alice();
    assert!(f.allows(&alice, Operation::Push));

    // The stored document's current version applies, even to a principal authenticated
    // before the update (the cache is keyed by version).
    block_on(f.accounts.update_policy(&pushers, PUSH_OTHER)).expect("update");
    assert!(!f.allows(&alice, Operation::Push));

    // Delete and re-create under the same name: a new version, not the cached old one.
    block_on(f.accounts.detach(&account("alice"), &pushers)).expect("detach");
    block_on(f.accounts.delete_policy(&pushers)).expect("delete");
    assert!(
        !f.allows(&alice, Operation::Push),
        "deleted policy grants nothing"
    );
    block_on(f.accounts.create_policy(&pushers, PUSH_NS)).expect("re-create");
    f.attach("alice", "pushers");
    assert!(f.allows(&f.alice(), Operation::Push));
    // A clone has its own cache and sees the same documents.
    let set = f.accounts.clone().policy_set(&f.alice()).expect("set");
    let resource = Resource::repository("local", "berth", "ns", "app");
    assert!(set.allows(Operation::Push.action().as_str(), resource.as_str()));
}

// --- Temporary credentials --------------------------------------------------------------

#[test]
fn temporary_credentials_act_for_their_issuer_until_they_expire() {
    let f = fixture().with_alice();
    f.attach("alice", "ReadOnlyAccess");
    let issued = block_on(f.accounts.issue_temporary(&f.alice(), 60_000)).expect("issue");
    assert!(issued.username.starts_with("tmp-") && issued.username.len() == 20);
    assert_eq!(issued.password.len(), 64);
    assert_eq!(issued.expires_at_ms, START_MS + 60_000);
    assert!(!format!("{issued:?}").contains(&issued.password));

    let temporary = f
        .login(&issued.username, &issued.password)
        .expect("temporary login");
    assert_eq!(
        temporary,
        Principal {
            name: "alice".into(),
            policies: vec!["ReadOnlyAccess".into()],
            temporary: true,
            expires_at_ms: Some(START_MS + 60_000),
        }
    );
    assert!(f.allows(&temporary, Operation::Pull));
    assert!(!f.allows(&temporary, Operation::Push));
    assert_eq!(f.login(&issued.username, "wrong password"), None);
    assert_eq!(f.login(&issued.username, ALICE_PASSWORD), None);
    assert_eq!(f.login("tmp-0000000000000000", &issued.password), None);
    assert_eq!(f.login("tmp-x", &issued.password), None);

    // The issuer's policies are read when the credential is used.
    f.attach("alice", "FullAccess");
    let temporary = f
        .login(&issued.username, &issued.password)
        .expect("temporary login");
    assert_eq!(temporary.policies, ["ReadOnlyAccess", "FullAccess"]);
    assert!(f.allows(&temporary, Operation::Push));

    // No credentials from credentials.
    assert!(matches!(
        block_on(f.accounts.issue_temporary(&temporary, 1000)),
        Err(AccountError::TemporaryNotAllowed)
    ));
    let ttl_max = f.accounts.options().temporary_ttl_ms_max;
    for ttl_ms in [0, ttl_max + 1] {
        assert!(matches!(
            block_on(f.accounts.issue_temporary(&f.alice(), ttl_ms)),
            Err(AccountError::TtlInvalid { .. })
        ));
    }

    // Expiry: a second, longer-lived credential survives the sweep.
    let longer = block_on(f.accounts.issue_temporary(&f.alice(), 120_000)).expect("issue");
    f.clock.advance_ms(59_999);
    assert!(f.login(&issued.username, &issued.password).is_some());
    f.clock.advance_ms(1);
    assert_eq!(f.login(&issued.username, &issued.password), None);
    assert_eq!(block_on(f.accounts.expire_temporary()).expect("expire"), 1);
    assert_eq!(block_on(f.accounts.expire_temporary()).expect("expire"), 0);
    assert!(f.login(&longer.username, &longer.password).is_some());
}

#[test]
fn temporary_credentials_die_with_their_account() {
    let f = fixture().with_alice();
    let issued = block_on(f.accounts.issue_temporary(&f.alice(), 60_000)).expect("issue");
    block_on(f.accounts.delete_user(&account("alice"))).expect("delete");
    assert_eq!(f.login(&issued.username, &issued.password), None);
    assert!(f
        .accounts
        .meta()
        .scan_prefix(CF_TEMP_CREDENTIALS, b"", None, 10)
        .expect("scan")
        .is_empty());
    // An unknown issuer cannot issue.
    assert!(matches!(
        block_on(f.accounts.issue_temporary(
            &Principal {
                name: "alice".into(),
                policies: vec![],
                temporary: false,
                expires_at_ms: None
            },
            1000
        )),
        Err(AccountError::AccountUnknown { .. })
    ));

    // A row left behind (revocation interrupted) does not carry over to a new account of
    // the same name.
    let f = f.with_alice();
    let issued = block_on(f.accounts.issue_temporary(&f.alice(), 60_000)).expect("issue");
    let row: super::temporary::TempCredentialRecord = f
        .accounts
        .meta()
        .get_json(CF_TEMP_CREDENTIALS, issued.username.as_bytes())
        .expect("read")
        .expect("row");
    block_on(f.accounts.delete_user(&account("alice"))).expect("delete");
    let f = f.with_alice();
    let username = issued.username.clone();
    f.accounts
        .meta()
        .write_blocking(move |ctx| -> Result<(), AccountError> {
            ctx.put_json(CF_TEMP_CREDENTIALS, username.as_bytes(), &row);
            Ok(())
        })
        .expect("restore row");
    assert_eq!(f.login(&issued.username, &issued.password), None);
}

// --- Token signing key ------------------------------------------------------------------

#[test]
fn signing_key_is_made_once_and_survives_reopening() {
    let f = fixture();
    // Concurrent first calls agree.
    let keys: Vec<Vec<u8>> = (0..8)
        .map(|_| {
            let accounts = f.accounts.clone();
            std::thread::spawn(move || accounts.token_signing_key().expect("key"))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    assert_eq!(keys[0].len(), SIGNING_KEY_BYTES);
    assert!(keys.iter().all(|k| *k == keys[0]));
    assert_ne!(keys[0], vec![0u8; SIGNING_KEY_BYTES]);

    let Fixture {
        dir,
        clock,
        accounts,
    } = f;
    let reopened = reopen(accounts, dir.path(), &clock);
    assert_eq!(reopened.token_signing_key().expect("key"), keys[0]);
}

// --- Audit log --------------------------------------------------------------------------

fn audit(
    at_ms: u64,
    account: Option<&str>,
    repository: &str,
    operation: &str,
    result: &str,
) -> AuditRecord {
    AuditRecord {
        at_ms,
        account: account.map(str::to_owned),
        source: "127.0.0.1:40000".into(),
        operation: operation.into(),
        repository: Some(repository.into()),
        reference: Some("latest".into()),
        result: result.into(),
        detail: None,
    }
}

/// Every record matching `filter`, paging `limit` at a time; also returns the page count.
fn query_all(accounts: &Accounts, filter: &AuditFilter, limit: usize) -> (Vec<AuditRecord>, usize) {
    let mut records = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = accounts
            .query_audit(filter, after.as_deref(), limit)
            .expect("query");
        pages += 1;
        assert!(page.records.len() <= limit);
        records.extend(page.records);
        match page.next {
            Some(next) => after = Some(next),
            None => return (records, pages),
        }
        assert!(pages < 1000, "paging does not end");
    }
}

#[test]
fn audit_records_page_oldest_first_and_filter() {
    let f = fixture();
    // 30 records over 6 milliseconds, 5 in each; all of one millisecond in one append or
    // spread over several appends.
    let mut expected = Vec::new();
    for ms in 0..6u64 {
        for i in 0..5u64 {
            let who = if i % 2 == 0 { Some("alice") } else { None };
            let result = if i == 4 { "denied" } else { "ok" };
            let repository = if ms % 2 == 0 { "ns/app" } else { "ns/db" };
            expected.push(audit(1000 + ms, who, repository, "Pull", result));
        }
    }
    block_on(f.accounts.append_audit(expected[..12].to_vec())).expect("append");
    for record in &expected[12..20] {
        block_on(f.accounts.append_audit(vec![record.clone()])).expect("append");
    }
    block_on(f.accounts.append_audit(expected[20..].to_vec())).expect("append");

    let (all, pages) = query_all(&f.accounts, &AuditFilter::default(), 7);
    assert_eq!(
        all, expected,
        "oldest first, same-millisecond records in append order"
    );
    assert_eq!(pages, 5);

    type Keep = Box<dyn Fn(&AuditRecord) -> bool>;
    let cases: Vec<(AuditFilter, Keep)> = vec![
        (
            AuditFilter {
                account: Some("alice".into()),
                ..AuditFilter::default()
            },
            Box::new(|r| r.account.as_deref() == Some("alice")),
        ),
        (
            AuditFilter {
                result: Some("denied".into()),
                ..AuditFilter::default()
            },
            Box::new(|r| r.result == "denied"),
        ),
        (
            AuditFilter {
                repository: Some("ns/db".into()),
                operation: Some("Pull".into()),
                ..AuditFilter::default()
            },
            Box::new(|r| r.repository.as_deref() == Some("ns/db")),
        ),
        (
            AuditFilter {
                operation: Some("Push".into()),
                ..AuditFilter::default()
            },
            Box::new(|_| false),
        ),
        (
            AuditFilter {
                since_ms: Some(1002),
                until_ms: Some(1004),
                ..AuditFilter::default()
            },
            Box::new(|r| (1002..1004).contains(&r.at_ms)),
        ),
        (
            AuditFilter {
                since_ms: Some(1003),
                account: Some("alice".into()),
                result: Some("denied".into()),
                ..AuditFilter::default()
            },
            Box::new(|r| r.at_ms >= 1003 && r.account.is_some() && r.result == "denied"),
        ),
    ];
    for (filter, keep) in &cases {
        let wanted: Vec<AuditRecord> = expected.iter().filter(|r| keep(r)).cloned().collect();
        for limit in [1, 3, 100] {
            assert_eq!(
                query_all(&f.accounts, filter, limit).0,
                wanted,
                "{filter:?} by {limit}"
            );
        }
    }

    // A cursor before `since` does not reach back past it.
    let first = f
        .accounts
        .query_audit(&AuditFilter::default(), None, 1)
        .expect("query");
    let later = AuditFilter {
        since_ms: Some(1005),
        ..AuditFilter::default()
    };
    let page = f
        .accounts
        .query_audit(&later, first.next.as_deref(), 100)
        .expect("query");
    assert_eq!(page.records, expected[25..]);

    for cursor in [
        "zz",
        "00",
        hex::encode(b"0000000000000001x00000000").as_str(),
    ] {
        assert!(matches!(
            f.accounts
                .query_audit(&AuditFilter::default(), Some(cursor), 10),
            Err(AccountError::CursorInvalid)
        ));
    }
}

#[test]
fn audit_records_are_never_overwritten_and_fields_are_bounded() {
    let f = fixture();
    let mut long = audit(5, Some("alice"), "ns/app", "Push", "ok");
    long.detail = Some("é".repeat(AUDIT_DETAIL_BYTES_MAX));
    long.source = "s".repeat(AUDIT_FIELD_BYTES_MAX + 1);
    block_on(f.accounts.append_audit(vec![long])).expect("append");
    // Another store handle on the same metadata starts its sequence at 0 again, as after a
    // restart; its same-millisecond record must not replace the first.
    let second = Accounts::new(
        f.accounts.meta().clone(),
        Arc::new(f.clock.clone()),
        AccountOptions::for_tests(),
    );
    block_on(second.append_audit(vec![audit(5, None, "ns/app", "Pull", "ok")])).expect("append");

    let page = f
        .accounts
        .query_audit(&AuditFilter::default(), None, 10)
        .expect("query");
    assert_eq!(page.records.len(), 2);
    assert_eq!(page.next, None);
    let stored = &page.records[0];
    let detail = stored.detail.as_deref().expect("detail");
    assert!(detail.len() <= AUDIT_DETAIL_BYTES_MAX && detail.ends_with('…'));
    assert!(stored.source.len() <= AUDIT_FIELD_BYTES_MAX && stored.source.ends_with('…'));
    assert_eq!(page.records[1].operation, "Pull");
}

#[test]
fn audit_expiry_removes_older_records_only() {
    let f = fixture();
    let records: Vec<AuditRecord> = (0..2500u64)
        .map(|n| audit(10_000 + n / 10, Some("alice"), "ns/app", "Pull", "ok"))
        .collect();
    block_on(f.accounts.append_audit(records.clone())).expect("append");
    // Records at ms 10_000..10_200 (2000 of them) are older than the cutoff.
    assert_eq!(
        block_on(f.accounts.expire_audit(10_200)).expect("expire"),
        2000
    );
    assert_eq!(
        block_on(f.accounts.expire_audit(10_200)).expect("expire"),
        0
    );
    let (rest, _) = query_all(&f.accounts, &AuditFilter::default(), 1000);
    assert_eq!(rest, records[2000..]);
    assert_eq!(
        block_on(f.accounts.expire_audit(u64::MAX)).expect("expire"),
        500
    );
    assert!(f
        .accounts
        .meta()
        .scan_prefix(CF_AUDIT, b"", None, 1)
        .expect("scan")
        .is_empty());
}
