//! Webhook triggers against the real daemon and a receiver on 127.0.0.1
//! (`support/receiver.rs`): filters and their UNTRIGGERED records, the payloads, Standard
//! Webhooks signatures checked with the test's own HMAC, CloudEvents, URL rules, private
//! destinations, policies, retries, failure, redelivery and a receiver that never answers.
//! Every call goes through the OpenAPI-checking client; the first test also checks that every
//! documented trigger operation answered a success.

use std::time::Duration;

use super::*;
use crate::support::receiver::{Answer, Receiver};

/// Webhooks as tests need them: loopback receivers allowed, quick retries.
const WEBHOOKS_TOML: &str = "[webhooks]\nallow_private_destinations = true\n\
    retry_initial_ms = 200\nretry_max_ms = 400\nattempts_max = 3\n\
    connect_timeout_ms = 500\nrequest_timeout_ms = 1500\n";

fn start() -> Daemon {
    Daemon::start_with_config(&format!("{AUTH_TOML}{WEBHOOKS_TOML}"))
}

fn repo_with_namespace(admin: &Client<'_>) -> &'static str {
    admin.expect("POST", "/api/v1/namespaces", json!({"name": "team"}), 201);
    admin.expect(
        "POST",
        "/api/v1/repositories",
        json!({"namespace": "team", "name": "app"}),
        201,
    );
    "team/app"
}

fn triggers_path(repo: &str) -> String {
    format!("/api/v1/repositories/{repo}/triggers")
}

fn create(admin: &Client<'_>, repo: &str, body: Value) -> String {
    let t = admin.expect("POST", &triggers_path(repo), body, 201);
    t["id"].as_str().expect("id").to_owned()
}

fn records(admin: &Client<'_>, repo: &str, id: &str) -> Vec<Value> {
    let page = admin.expect(
        "GET",
        &format!("{}/{id}/records", triggers_path(repo)),
        Value::Null,
        200,
    );
    page["records"].as_array().expect("records").clone()
}

/// Waits until the trigger's newest record has left PENDING/RETRYING, and returns it.
fn settled(admin: &Client<'_>, repo: &str, id: &str, tag: &str) -> Value {
    wait_for(
        &format!("the {tag} record of trigger {id} to settle"),
        Duration::from_secs(30),
        || {
            records(admin, repo, id)
                .into_iter()
                .find(|r| r["tag"] == tag)
                .filter(|r| !matches!(r["status"].as_str(), Some("PENDING" | "RETRYING")))
        },
    )
}

/// HMAC-SHA256 written out from RFC 2104, so the daemon's signing is checked by independent
/// code.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let mut h = Sha256::new();
    h.update(&inner);
    h.update(message);
    let inner_hash = h.finalize();
    let mut h = Sha256::new();
    h.update(&outer);
    h.update(inner_hash);
    h.finalize().to_vec()
}

/// `YYYY-MM-DD HH:MM:SS`.
fn is_model_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn filters_payloads_signatures_and_records() {
    let mut d = start();
    let spec = Spec::load();
    let admin = Client::admin(&d, &spec);
    let repo = repo_with_namespace(&admin);
    let receiver = Receiver::start(Answer::Status(200));
    let secret = "a-shared-secret";
    let all = create(
        &admin,
        repo,
        json!({"name": "all", "url": receiver.url("/all"), "trigger_type": "ALL",
               "secret": secret}),
    );
    let regex = create(
        &admin,
        repo,
        json!({"name": "releases", "url": receiver.url("/releases"), "trigger_type": "REGEX",
               "expression": "release-v.*"}),
    );
    let tags = create(
        &admin,
        repo,
        json!({"name": "exact", "url": receiver.url("/exact"), "trigger_type": "TAGS",
               "tags": ["latest", "stable"]}),
    );
    let cloud = create(
        &admin,
        repo,
        json!({"name": "cloud", "url": receiver.url("/cloud"), "trigger_type": "ALL",
               "format": "cloudevents"}),
    );
    // The secret is never shown.
    let shown = admin.expect(
        "GET",
        &format!("{}/{all}", triggers_path(repo)),
        Value::Null,
        200,
    );
    assert_eq!(shown["has_secret"], json!(true));
    assert!(!shown.to_string().contains(secret));
    let list = admin.expect("GET", &triggers_path(repo), Value::Null, 200);
    assert_eq!(list["triggers"].as_array().map(Vec::len), Some(4));

    let v1 = push_image(&admin, repo, "v1");
    let release = push_image(&admin, repo, "release-v2");
    let got = wait_for("5 deliveries", Duration::from_secs(30), || {
        let got = receiver.received();
        (got.len() >= 5).then_some(got)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        receiver.received().len(),
        5,
        "no delivery for UNTRIGGERED records"
    );
    let to = |path: &str| -> Vec<&crate::support::receiver::Received> {
        got.iter().filter(|r| r.path == path).collect()
    };
    assert_eq!(to("/all").len(), 2);
    assert_eq!(to("/releases").len(), 1);
    assert_eq!(to("/exact").len(), 0);
    assert_eq!(to("/cloud").len(), 2);

    // The model's payload, field by field.
    let first = to("/all")
        .into_iter()
        .find(|r| r.json()["push_data"]["tag"] == "v1")
        .expect("the v1 delivery");
    assert_eq!(first.method, "POST");
    assert_eq!(first.header("content-type"), Some("application/json"));
    let body = first.json();
    assert_eq!(body["push_data"]["digest"], json!(v1.manifest_digest));
    assert!(is_model_time(
        body["push_data"]["pushed_at"].as_str().unwrap_or("")
    ));
    let repository = &body["repository"];
    assert_eq!(repository["namespace"], "team");
    assert_eq!(repository["name"], "app");
    assert_eq!(repository["repo_full_name"], "team/app");
    assert_eq!(repository["region"], "local");
    assert_eq!(repository["repo_type"], "PRIVATE");
    assert_eq!(repository["repo_authentication_type"], "NO_CERTIFIED");
    assert_eq!(repository["repo_origin_type"], "NO_CERTIFIED");
    assert!(is_model_time(
        repository["date_created"].as_str().unwrap_or("")
    ));

    // Standard Webhooks: v1,<base64 HMAC-SHA256 of id.timestamp.body>, checked here.
    let id = first.header("webhook-id").expect("webhook-id");
    let timestamp = first
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(&first.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret.as_bytes(), &signed))
    );
    assert_eq!(first.header("webhook-signature"), Some(expected.as_str()));
    // Unsigned triggers still carry the id and timestamp.
    let release_delivery = to("/releases")[0];
    assert!(release_delivery.header("webhook-signature").is_none());
    assert!(release_delivery.header("webhook-id").is_some());

    // CloudEvents 1.0, structured.
    let event = to("/cloud")
        .into_iter()
        .find(|r| r.json()["data"]["tag"] == "release-v2")
        .expect("the cloudevents delivery")
        .clone();
    assert!(event
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/cloudevents+json")));
    let ce = event.json();
    assert_eq!(ce["specversion"], "1.0");
    assert_eq!(ce["type"], "io.berth.image.push");
    assert_eq!(ce["data"]["digest"], json!(release.manifest_digest));
    assert_eq!(ce["id"].as_str(), event.header("webhook-id"));

    // Records: the filter's verdict, newest first.
    let regex_records = records(&admin, repo, &regex);
    assert_eq!(regex_records[0]["tag"], "release-v2");
    assert_eq!(regex_records[0]["status"], "DELIVERED");
    assert_eq!(regex_records[0]["http_status"], 200);
    assert!(regex_records[0]["request_body"]
        .as_str()
        .is_some_and(|b| b.contains("release-v2")));
    assert_eq!(regex_records[1]["status"], "UNTRIGGERED");
    assert_eq!(
        regex_records[1]["reason"],
        "tag v1 does not match release-v.*"
    );
    let tag_records = records(&admin, repo, &tags);
    assert!(tag_records.iter().all(|r| r["status"] == "UNTRIGGERED"));
    assert_eq!(tag_records.len(), 2);
    let delivered = settled(&admin, repo, &cloud, "v1");
    assert_eq!(delivered["status"], "DELIVERED");

    // The URL rules, each refusal naming its rule.
    for (url, says) in [
        ("http://127.0.0.1:8/x", "port"),
        ("https://127.0.0.1:8443/x", "443"),
        ("ftp://127.0.0.1/x", "http or https"),
    ] {
        let detail = admin.expect_error(
            "POST",
            &triggers_path(repo),
            json!({"name": "bad", "url": url, "trigger_type": "ALL"}),
            400,
            "UNSUPPORTED",
        );
        assert!(detail.contains(says), "{url}: {detail}");
    }
    let detail = admin.expect_error(
        "POST",
        &triggers_path(repo),
        json!({"name": "bad", "url": receiver.url("/"), "trigger_type": "TAGS",
               "tags": ["a","b","c","d","e","f","g","h","i","j","k"]}),
        400,
        "UNSUPPORTED",
    );
    assert!(detail.contains("1 to 10"), "{detail}");

    // Replace (the secret kept when left out), then delete.
    let replaced = admin.expect(
        "PUT",
        &format!("{}/{all}", triggers_path(repo)),
        json!({"name": "everything", "url": receiver.url("/all"), "trigger_type": "ALL",
               "events": ["push", "delete"]}),
        200,
    );
    assert_eq!(replaced["has_secret"], json!(true));
    assert_eq!(replaced["events"], json!(["push", "delete"]));
    // A delete event now reaches it.
    admin.expect(
        "DELETE",
        &format!("/api/v1/repositories/{repo}/tags/v1"),
        Value::Null,
        204,
    );
    wait_until("the delete event", Duration::from_secs(30), || {
        receiver
            .received()
            .iter()
            .any(|r| r.path == "/all" && r.json().get("delete_data").is_some())
    });
    // A delivered record can be sent again, with its event id.
    let record = settled(&admin, repo, &regex, "release-v2");
    let event_id = record["event_id"].as_str().expect("event id").to_owned();
    let again = admin.expect(
        "POST",
        &format!(
            "{}/{regex}/records/{event_id}/redeliver",
            triggers_path(repo)
        ),
        Value::Null,
        202,
    );
    assert_eq!(again["status"], "PENDING");
    wait_until("the redelivery", Duration::from_secs(30), || {
        receiver
            .received()
            .iter()
            .filter(|r| r.header("webhook-id") == Some(event_id.as_str()))
            .count()
            == 2
    });
    admin.expect(
        "DELETE",
        &format!("{}/{tags}", triggers_path(repo)),
        Value::Null,
        204,
    );
    admin.expect_error(
        "GET",
        &format!("{}/{tags}", triggers_path(repo)),
        Value::Null,
        404,
        "NAME_UNKNOWN",
    );

    let missing: Vec<String> = spec
        .operations()
        .difference(&spec.succeeded.borrow())
        .filter(|(path, _)| path.contains("/triggers"))
        .map(|(path, method)| format!("{method} {path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "trigger operations never seen to succeed: {missing:?}"
    );
    d.stop();
}

/// Server-side request forgery: loopback, private and link-local destinations are refused
/// unless the operator allows them, and so is `localhost`.
#[test]
fn private_destinations_are_refused_by_default() {
    let mut d = Daemon::start_with_config(AUTH_TOML);
    let spec = Spec::load();
    let admin = Client::admin(&d, &spec);
    let repo = repo_with_namespace(&admin);
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10:8080/",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:9000/",
        "http://[::1]:9000/",
    ] {
        let detail = admin.expect_error(
            "POST",
            &triggers_path(repo),
            json!({"name": "internal", "url": url, "trigger_type": "ALL"}),
            400,
            "UNSUPPORTED",
        );
        assert!(
            detail.contains("allow_private_destinations"),
            "{url}: {detail}"
        );
    }
    // A public destination is accepted (nothing is sent: no push happens).
    create(
        &admin,
        repo,
        json!({"name": "public", "url": "https://hooks.example.com/berth", "trigger_type": "ALL"}),
    );
    d.stop();
}

/// The five trigger actions are checked by policy on the repository.
#[test]
fn trigger_operations_are_checked_by_policy() {
    let mut d = start();
    let spec = Spec::load();
    let admin = Client::admin(&d, &spec);
    let repo = repo_with_namespace(&admin);
    let receiver = Receiver::start(Answer::Status(200));
    let id = create(
        &admin,
        repo,
        json!({"name": "hook", "url": receiver.url("/"), "trigger_type": "ALL"}),
    );
    admin.expect(
        "POST",
        "/api/v1/policies",
        json!({"name": "TriggerReaders", "document": {
            "Version": "1",
            "Statement": [{"Effect": "Allow",
                           "Action": ["cr:ListRepositoryTrigger", "cr:GetRepositoryTrigger"],
                           "Resource": ["acs:cr:*:*:repository/team/*"]}]}}),
        201,
    );
    admin.expect(
        "POST",
        "/api/v1/users",
        json!({"name": "watcher", "password": "watcher-password-1"}),
        201,
    );
    admin.expect(
        "PUT",
        "/api/v1/users/watcher/policies/TriggerReaders",
        Value::Null,
        200,
    );
    let watcher = Client::basic(&d, &spec, "watcher", "watcher-password-1");
    watcher.expect("GET", &triggers_path(repo), Value::Null, 200);
    watcher.expect(
        "GET",
        &format!("{}/{id}", triggers_path(repo)),
        Value::Null,
        200,
    );
    watcher.expect(
        "GET",
        &format!("{}/{id}/records", triggers_path(repo)),
        Value::Null,
        200,
    );
    for (method, path, body) in [
        (
            "POST",
            triggers_path(repo),
            json!({"name": "mine", "url": receiver.url("/"), "trigger_type": "ALL"}),
        ),
        (
            "PUT",
            format!("{}/{id}", triggers_path(repo)),
            json!({"name": "hook", "url": receiver.url("/x"), "trigger_type": "ALL"}),
        ),
        (
            "DELETE",
            format!("{}/{id}", triggers_path(repo)),
            Value::Null,
        ),
    ] {
        watcher.expect_error(method, &path, body, 403, "DENIED");
    }
    let anonymous = Client::anonymous(&d, &spec);
    let r = anonymous.call("GET", &triggers_path(repo), Value::Null);
    assert_eq!(r.status, 401);
    d.stop();
}

/// A receiver answering 500 gets every attempt and then the record is FAILED; once it
/// answers again a redelivery gets through. A receiver that is down gets the event when it
/// comes back. A receiver that never answers times out without holding up the others.
#[test]
fn retries_failure_redelivery_and_receivers_that_are_down_or_hang() {
    let mut d = start();
    d.expected_log
        .push("webhook delivery failed after its last attempt".into());
    d.expected_log.push("circuit open".into());
    let spec = Spec::load();
    let admin = Client::admin(&d, &spec);
    let repo = repo_with_namespace(&admin);

    let failing = Receiver::start(Answer::Status(500));
    let id = create(
        &admin,
        repo,
        json!({"name": "failing", "url": failing.url("/"), "trigger_type": "ALL"}),
    );
    push_image(&admin, repo, "v1");
    let failed = settled(&admin, repo, &id, "v1");
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["attempts"], 3);
    assert_eq!(failed["http_status"], 500);
    assert!(failed["response_head"]
        .as_str()
        .is_some_and(|h| h.contains("500")));
    assert_eq!(failing.received().len(), 3);
    let ids: std::collections::BTreeSet<String> = failing
        .received()
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 1, "every attempt carries the same webhook-id");
    failing.set_answer(Answer::Status(204));
    let event = failed["event_id"].as_str().expect("event id");
    admin.expect(
        "POST",
        &format!("{}/{id}/records/{event}/redeliver", triggers_path(repo)),
        Value::Null,
        202,
    );
    let delivered = settled(&admin, repo, &id, "v1");
    assert_eq!(delivered["status"], "DELIVERED");
    assert_eq!(delivered["attempts"], 4);
    admin.expect(
        "DELETE",
        &format!("{}/{id}", triggers_path(repo)),
        Value::Null,
        204,
    );

    // Down: a port nothing listens on, until a receiver takes it.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let down = create(
        &admin,
        repo,
        json!({"name": "down", "url": format!("http://127.0.0.1:{port}/"), "trigger_type": "ALL",
               "events": ["push"]}),
    );
    // A hanging receiver, and a fast one beside it.
    let hanging = Receiver::start(Answer::Hang);
    let hang = create(
        &admin,
        repo,
        json!({"name": "hang", "url": hanging.url("/"), "trigger_type": "ALL"}),
    );
    let fast = Receiver::start(Answer::Status(200));
    create(
        &admin,
        repo,
        json!({"name": "fast", "url": fast.url("/"), "trigger_type": "ALL"}),
    );
    let pushed = std::time::Instant::now();
    push_image(&admin, repo, "v2");
    wait_until("the fast receiver", Duration::from_secs(10), || {
        !fast.received().is_empty()
    });
    assert!(
        pushed.elapsed() < Duration::from_millis(1400),
        "the fast receiver waited for the hanging one: {:?}",
        pushed.elapsed()
    );
    wait_until(
        "a failed attempt to the down receiver",
        Duration::from_secs(10),
        || {
            records(&admin, repo, &down)
                .first()
                .is_some_and(|r| r["status"] == "RETRYING")
        },
    );
    let back = Receiver::start_on(port, Answer::Status(200));
    let record = settled(&admin, repo, &down, "v2");
    assert_eq!(record["status"], "DELIVERED", "{record}");
    assert_eq!(back.received().len(), 1);
    let timed_out = settled(&admin, repo, &hang, "v2");
    assert_eq!(timed_out["status"], "FAILED");
    assert!(
        timed_out["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no complete answer within")),
        "{timed_out}"
    );
    d.stop();
}
