//! Fuzz target: RAM policy documents, their glob patterns and the evaluation of a policy set
//! (`berth_engine::access`).
//!
//! Input: any bytes; non-UTF-8 input is skipped (documents arrive as text). The whole input is
//! parsed as a policy document. Its first line is also a glob pattern and the rest a subject
//! (each at most [`GLOB_BYTES_MAX`] bytes), tried as a resource and as an action pattern inside
//! a one-statement document, since patterns are only built by the parser.
//!
//! Properties:
//! - `PolicyDocument::parse` never panics and is deterministic; error messages are bounded.
//! - An accepted document has 1..=100 statements with 1..=100 action and resource patterns
//!   each, every one of them within the grammar (a reference predicate: `*`, `cr:`/`ram:` and
//!   letters and `*` matching a known action; `*` or `acs:cr:` without whitespace or control
//!   characters), and keeps the input's effects and pattern strings verbatim (compared with
//!   the input read by `serde_json::Value`).
//! - `to_json` re-parses to an equal document and is a fixed point.
//! - `Pattern::matches` agrees with a reference glob (the textbook dynamic programme over
//!   pattern × subject bytes), on fuzzed subjects and on subjects built from the pattern so
//!   that matches are common; a single pattern is accepted exactly when the grammar says so.
//! - `PolicySet::evaluate` (and `allows`, `Statement::matches`) agree with a reference
//!   decision over the statements: a matching Deny wins, else a matching Allow, else NoMatch.
//!   It is deterministic, independent of document order (with `FullAccess` attached too), and
//!   does not allocate (counted by this binary's global allocator).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use berth_engine::access::{
    Action, BuiltinPolicy, Decision, Effect, PolicyDocument, PolicySet, Statement,
    POLICY_LIST_ENTRIES_MAX, POLICY_PATTERN_BYTES_MAX, POLICY_STATEMENTS_MAX,
};
use berth_fuzz::{assert_bounded_error, split_first_line};
use libfuzzer_sys::fuzz_target;

/// The longest glob pattern and subject taken from the input's first line and the rest.
const GLOB_BYTES_MAX: usize = 64;

/// Resource patterns of an accepted document that subjects are built from (the first ones).
const DERIVED_PATTERNS_MAX: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_document(text);
    let (pattern, subject) = split_first_line(data);
    if pattern.len() <= GLOB_BYTES_MAX && subject.len() <= GLOB_BYTES_MAX {
        // Both halves of valid UTF-8 split at a '\n' are valid UTF-8.
        if let (Ok(pattern), Ok(subject)) =
            (std::str::from_utf8(pattern), std::str::from_utf8(subject))
        {
            check_glob(pattern, subject);
        }
    }
});

// ---------------------------------------------------------------------------------------------
// Allocation counting, for "evaluation does not allocate"
// ---------------------------------------------------------------------------------------------

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_allocation() {
    // A const-initialised Cell has no destructor, so this never fails; `try_with` anyway.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

/// The system allocator, counting allocations per thread.
struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to `System`.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// ---------------------------------------------------------------------------------------------
// Reference models
// ---------------------------------------------------------------------------------------------

/// Whether the whole of `subject` matches `pattern`, where `*` matches any run of bytes and
/// every other byte only itself. Bytes are enough: both are UTF-8 and `*` is ASCII, so a
/// literal can only match at character boundaries.
///
/// The textbook table: `row[j]` is whether the pattern's first `i` bytes match the subject's
/// first `j`, for `i` from 0 up, one row at a time. O(pattern × subject).
fn reference_glob(pattern: &str, subject: &str) -> bool {
    let (pattern, subject) = (pattern.as_bytes(), subject.as_bytes());
    // Every literal byte consumes a subject byte: a quick, obviously sound rejection that keeps
    // long patterns against short subjects cheap.
    if pattern.iter().filter(|&&b| b != b'*').count() > subject.len() {
        return false;
    }
    let mut row = vec![false; subject.len() + 1];
    let mut next = vec![false; subject.len() + 1];
    row[0] = true;
    for &p in pattern {
        for j in 0..=subject.len() {
            next[j] = if p == b'*' {
                // The star matches nothing (row[j]) or one more byte (next[j - 1]).
                row[j] || (j > 0 && next[j - 1])
            } else {
                j > 0 && row[j - 1] && subject[j - 1] == p
            };
        }
        std::mem::swap(&mut row, &mut next);
    }
    row[subject.len()]
}

/// The action grammar: `*`, or `cr:` / `ram:` then one or more ASCII letters or `*`, matching
/// at least one known action (by the reference glob).
fn is_accepted_action(text: &str) -> bool {
    let well_formed = text == "*"
        || ["cr:", "ram:"].iter().any(|service| {
            text.strip_prefix(service).is_some_and(|name| {
                !name.is_empty() && name.chars().all(|c| c == '*' || c.is_ascii_alphabetic())
            })
        });
    text.len() <= POLICY_PATTERN_BYTES_MAX
        && well_formed
        && Action::ALL
            .iter()
            .any(|action| reference_glob(text, action.as_str()))
}

/// The resource grammar: `*`, or `acs:cr:` then anything but whitespace and control characters.
fn is_accepted_resource(text: &str) -> bool {
    let well_formed = text == "*"
        || (text.starts_with("acs:cr:")
            && text.chars().all(|c| !c.is_whitespace() && !c.is_control()));
    text.len() <= POLICY_PATTERN_BYTES_MAX && well_formed
}

/// Whether `statement` applies to `action` on `resource`, by the reference glob.
fn reference_statement(statement: &Statement, action: &str, resource: &str) -> bool {
    statement
        .actions()
        .iter()
        .any(|p| reference_glob(p.as_str(), action))
        && statement
            .resources()
            .iter()
            .any(|p| reference_glob(p.as_str(), resource))
}

/// The decision of a policy set holding exactly `statements`: any matching Deny wins, else any
/// matching Allow, else nothing matched.
fn reference_decision(statements: &[&Statement], action: &str, resource: &str) -> Decision {
    let matching = |effect: Effect| {
        statements
            .iter()
            .any(|s| s.effect() == effect && reference_statement(s, action, resource))
    };
    if matching(Effect::Deny) {
        Decision::Deny
    } else if matching(Effect::Allow) {
        Decision::Allow
    } else {
        Decision::NoMatch
    }
}

/// `pattern` with every `*` replaced by `fill`: a subject the pattern must match.
fn instance_of(pattern: &str, fill: &str) -> String {
    pattern.replace('*', fill)
}

// ---------------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------------

fn check_document(text: &str) {
    let parsed = PolicyDocument::parse(text);
    assert_eq!(
        parsed,
        PolicyDocument::parse(text),
        "parsing is deterministic"
    );
    match parsed {
        Err(e) => {
            let message = e.to_string();
            assert_bounded_error(&message, text.len());
            assert_eq!(
                message,
                PolicyDocument::parse(text).unwrap_err().to_string(),
                "error messages are deterministic"
            );
        }
        Ok(document) => {
            check_accepted_shape(text, &document);
            check_round_trip(&document);
            check_evaluation(&document);
        }
    }
}

/// An accepted document is within the limits and the grammar, and keeps the input verbatim.
fn check_accepted_shape(text: &str, document: &PolicyDocument) {
    let statements = document.statements();
    assert!((1..=POLICY_STATEMENTS_MAX).contains(&statements.len()));
    // Accepted documents have no duplicate keys, so a plain JSON reader sees the same fields.
    let value: serde_json::Value =
        serde_json::from_str(text).expect("an accepted document is JSON");
    let object = value
        .as_object()
        .expect("an accepted document is an object");
    assert_eq!(object.len(), 2, "only Version and Statement: {text:?}");
    assert_eq!(object["Version"], "1");
    let items = object["Statement"]
        .as_array()
        .expect("Statement is an array");
    assert_eq!(items.len(), statements.len());
    for (statement, item) in statements.iter().zip(items) {
        let item = item.as_object().expect("a statement is an object");
        assert_eq!(item.len(), 3, "only Effect, Action and Resource: {item:?}");
        assert_eq!(item["Effect"], statement.effect().as_str());
        let as_list = |value: &serde_json::Value| -> Vec<String> {
            match value {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().expect("a pattern is a string").to_owned())
                    .collect(),
                other => panic!("accepted a pattern list that is {other:?}"),
            }
        };
        let actions: Vec<&str> = statement.actions().iter().map(|p| p.as_str()).collect();
        let resources: Vec<&str> = statement.resources().iter().map(|p| p.as_str()).collect();
        assert_eq!(as_list(&item["Action"]), actions);
        assert_eq!(as_list(&item["Resource"]), resources);
        assert!((1..=POLICY_LIST_ENTRIES_MAX).contains(&actions.len()));
        assert!((1..=POLICY_LIST_ENTRIES_MAX).contains(&resources.len()));
        for action in actions {
            assert!(is_accepted_action(action), "accepted action {action:?}");
        }
        for resource in resources {
            assert!(
                is_accepted_resource(resource),
                "accepted resource {resource:?}"
            );
        }
    }
}

/// The canonical form reads back to an equal document and prints the same again.
fn check_round_trip(document: &PolicyDocument) {
    let printed = document.to_json();
    let again = PolicyDocument::parse(&printed)
        .unwrap_or_else(|e| panic!("to_json output {printed:?} is rejected: {e}"));
    assert_eq!(&again, document, "to_json re-parses to an equal document");
    assert_eq!(again.statements(), document.statements());
    assert_eq!(again.to_json(), printed, "to_json is a fixed point");
}

/// The action and resource subjects a document is evaluated on.
fn subjects(document: &PolicyDocument) -> (Vec<String>, Vec<String>) {
    let mut actions: Vec<String> = Action::ALL.iter().map(|a| a.as_str().to_owned()).collect();
    actions.extend(["", "*", "cr:", "cr:*", "ram:*", "oss:GetObject"].map(String::from));
    let mut resources: Vec<String> = [
        "*",
        "",
        "acs:cr:",
        "acs:cr:cn-hangzhou:1234567890:repository/ns",
        "acs:cr:cn-hangzhou:1234567890:repository/ns/app",
        "acs:cr:cn-hangzhou:1234567890:repository/ns/team/app",
        "acs:cr:cn-hangzhou:1234567890:repository/nsx/app",
    ]
    .map(String::from)
    .to_vec();
    let patterns = document
        .statements()
        .iter()
        .flat_map(|s| s.resources())
        .map(|p| p.as_str())
        .filter(|p| p.len() <= GLOB_BYTES_MAX)
        .take(DERIVED_PATTERNS_MAX);
    for pattern in patterns {
        resources.push(pattern.to_owned());
        resources.push(instance_of(pattern, ""));
        resources.push(instance_of(pattern, "r:a:repository/ns/app"));
    }
    let action_patterns = document
        .statements()
        .iter()
        .flat_map(|s| s.actions())
        .map(|p| p.as_str())
        .filter(|p| p.len() <= GLOB_BYTES_MAX)
        .take(DERIVED_PATTERNS_MAX);
    for pattern in action_patterns {
        actions.push(pattern.to_owned());
        actions.push(instance_of(pattern, ""));
    }
    (actions, resources)
}

fn check_evaluation(document: &PolicyDocument) {
    let full_access = BuiltinPolicy::FULL_ACCESS.parse();
    let alone = PolicySet::new([document]);
    let with_full = PolicySet::new([document, &full_access]);
    let full_first = PolicySet::new([&full_access, document]);
    let twice = PolicySet::new([document, document]);
    let empty = PolicySet::new([]);
    assert!(!alone.is_empty());
    assert!(empty.is_empty());

    let own: Vec<&Statement> = document.statements().iter().collect();
    let combined: Vec<&Statement> = own
        .iter()
        .copied()
        .chain(full_access.statements())
        .collect();
    let (actions, resources) = subjects(document);
    for action in &actions {
        for resource in &resources {
            let (action, resource) = (action.as_str(), resource.as_str());
            let expected = reference_decision(&own, action, resource);

            let before = allocations();
            let decision = alone.evaluate(action, resource);
            let repeated = alone.evaluate(action, resource);
            let allows = alone.allows(action, resource);
            let decision_twice = twice.evaluate(action, resource);
            let decision_with_full = with_full.evaluate(action, resource);
            let decision_full_first = full_first.evaluate(action, resource);
            let decision_empty = empty.evaluate(action, resource);
            let allocated = allocations() - before;

            assert_eq!(
                decision,
                expected,
                "evaluate({action:?}, {resource:?}) on {}",
                document.to_json()
            );
            assert_eq!(repeated, decision, "evaluation is deterministic");
            assert_eq!(allows, decision == Decision::Allow);
            assert_eq!(decision_twice, decision, "attaching a document twice");
            assert_eq!(
                decision_with_full,
                reference_decision(&combined, action, resource),
                "with FullAccess: evaluate({action:?}, {resource:?}) on {}",
                document.to_json()
            );
            assert_eq!(decision_full_first, decision_with_full, "document order");
            assert_eq!(decision_empty, Decision::NoMatch);
            assert_eq!(allocated, 0, "evaluation allocated {allocated} times");

            for statement in document.statements() {
                assert_eq!(
                    statement.matches(action, resource),
                    reference_statement(statement, action, resource),
                    "Statement::matches({action:?}, {resource:?}) on {statement:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Glob matching through one-statement documents
// ---------------------------------------------------------------------------------------------

/// A one-statement document with one action and one resource pattern, each quoted by
/// serde_json so that any text makes valid JSON.
fn one_statement(effect: Effect, action: &str, resource: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string serializes");
    format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"{}","Action":{},"Resource":{}}}]}}"#,
        effect.as_str(),
        quote(action),
        quote(resource)
    )
}

fn check_glob(pattern: &str, subject: &str) {
    // As a resource pattern: as written, and behind the required "acs:cr:" prefix.
    for text in [pattern.to_owned(), format!("acs:cr:{pattern}")] {
        let parsed = PolicyDocument::parse(&one_statement(Effect::Deny, "*", &text));
        assert_eq!(
            parsed.is_ok(),
            is_accepted_resource(&text),
            "resource pattern {text:?}: {parsed:?}"
        );
        if let Ok(document) = parsed {
            let compiled = &document.statements()[0].resources()[0];
            assert_eq!(compiled.as_str(), text);
            let subjects = [
                subject.to_owned(),
                format!("acs:cr:{subject}"),
                text.clone(),
                instance_of(&text, ""),
                instance_of(&text, subject),
                format!("{}{subject}", instance_of(&text, subject)),
            ];
            for candidate in &subjects {
                assert_eq!(
                    compiled.matches(candidate),
                    reference_glob(&text, candidate),
                    "resource pattern {text:?} on {candidate:?}"
                );
            }
            // Deny on every action: the decision is Deny exactly where the pattern matches.
            let set = PolicySet::new([&document]);
            for candidate in &subjects {
                let expected = if reference_glob(&text, candidate) {
                    Decision::Deny
                } else {
                    Decision::NoMatch
                };
                assert_eq!(set.evaluate("cr:PullRepository", candidate), expected);
            }
        }
    }

    // As an action pattern: as written, and behind "cr:" and "ram:".
    for text in [
        pattern.to_owned(),
        format!("cr:{pattern}"),
        format!("ram:{pattern}"),
    ] {
        let parsed = PolicyDocument::parse(&one_statement(Effect::Allow, &text, "*"));
        assert_eq!(
            parsed.is_ok(),
            is_accepted_action(&text),
            "action pattern {text:?}: {parsed:?}"
        );
        if let Ok(document) = parsed {
            let compiled = &document.statements()[0].actions()[0];
            assert_eq!(compiled.as_str(), text);
            let fuzzed = [
                subject.to_owned(),
                format!("cr:{subject}"),
                instance_of(&text, subject),
            ];
            let known = Action::ALL.iter().map(|a| a.as_str().to_owned());
            for candidate in fuzzed.into_iter().chain(known) {
                assert_eq!(
                    compiled.matches(&candidate),
                    reference_glob(&text, &candidate),
                    "action pattern {text:?} on {candidate:?}"
                );
            }
        }
    }
}
