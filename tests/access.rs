//! Access control against the real daemon over HTTP: the docker token flow, Basic credentials,
//! policies (Deny beats Allow, `cr:Get*` is not pull), temporary credentials and their expiry,
//! namespace rules (per-account limit, `auto_create_repo` off, delete refused while non-empty),
//! and that no password or token ever reaches the log. The real clients (skopeo) are in
//! `tests/clients.rs`.

mod support;

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use support::{random_bytes, send, sha256_digest, wait_until, Daemon, Resp};

const ADMIN_PASSWORD: &str = "admin-secret-pw-1";

fn config(extra: &str) -> String {
    format!(
        "[auth]\nenabled = true\nadmin_password = \"{ADMIN_PASSWORD}\"\ntoken_ttl_s = 60\n\
         temporary_credentials_ttl_s = 3600\nnamespaces_per_account_max = 2\n{extra}"
    )
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A request with `Authorization: <auth>` (or none) and a JSON body (or none).
fn call(d: &Daemon, method: &str, path: &str, auth: Option<&str>, body: Option<Value>) -> Resp {
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(auth) = auth {
        headers.push(("Authorization", auth));
    }
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    if !bytes.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    send(method, &d.url(path), &headers, &bytes)
}

fn ok(r: Resp, what: &str) -> Resp {
    assert!(
        (200..300).contains(&r.status),
        "{what}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r
}

fn admin() -> String {
    basic("admin", ADMIN_PASSWORD)
}

fn namespace(d: &Daemon, name: &str, visibility: &str, auto_create: bool) {
    ok(
        call(
            d,
            "POST",
            "/api/v1/namespaces",
            Some(&admin()),
            Some(
                json!({"name": name, "default_visibility": visibility, "auto_create_repo": auto_create}),
            ),
        ),
        "create namespace",
    );
}

fn user(d: &Daemon, name: &str, password: &str, policies: &[&str]) {
    ok(
        call(
            d,
            "POST",
            "/api/v1/users",
            Some(&admin()),
            Some(json!({"name": name, "password": password})),
        ),
        "create user",
    );
    for policy in policies {
        ok(
            call(
                d,
                "PUT",
                &format!("/api/v1/users/{name}/policies/{policy}"),
                Some(&admin()),
                None,
            ),
            "attach policy",
        );
    }
}

fn policy(d: &Daemon, name: &str, document: Value) {
    ok(
        call(
            d,
            "POST",
            "/api/v1/policies",
            Some(&admin()),
            Some(json!({"name": name, "document": document})),
        ),
        "create policy",
    );
}

/// Pushes a blob with `auth`; returns the status.
fn push_blob_as(d: &Daemon, repo: &str, auth: Option<&str>, bytes: &[u8]) -> Resp {
    let digest = sha256_digest(bytes);
    let mut headers = Vec::new();
    if let Some(auth) = auth {
        headers.push(("Authorization", auth));
    }
    send(
        "POST",
        &d.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")),
        &headers,
        bytes,
    )
}

/// Pushes a one-layer image tagged `tag` with `auth`; returns the manifest digest.
fn push_image_as(d: &Daemon, repo: &str, tag: &str, auth: &str) -> String {
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer = random_bytes(tag.len() as u64 * 31 + repo.len() as u64, 2048);
    for blob in [&config, &layer] {
        ok(push_blob_as(d, repo, Some(auth), blob), "push blob");
    }
    let manifest = support::image_manifest(
        (&sha256_digest(&config), config.len()),
        &[(&sha256_digest(&layer), layer.len())],
    );
    ok(
        send(
            "PUT",
            &d.url(&format!("/v2/{repo}/manifests/{tag}")),
            &[
                ("Authorization", auth),
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
            ],
            &manifest,
        ),
        "push manifest",
    );
    sha256_digest(&manifest)
}

fn get_manifest(d: &Daemon, repo: &str, tag: &str, auth: Option<&str>) -> Resp {
    call(d, "GET", &format!("/v2/{repo}/manifests/{tag}"), auth, None)
}

/// Asks the token service for `scope` with `auth`; returns the token and its access claims.
fn token(d: &Daemon, scope: &str, auth: Option<&str>) -> (String, Value) {
    let r = ok(
        call(
            d,
            "GET",
            &format!("/token?service=berth&scope={scope}"),
            auth,
            None,
        ),
        "token",
    );
    let body = r.json();
    let token = body["token"].as_str().expect("token").to_owned();
    assert_eq!(body["access_token"], body["token"]);
    assert!(
        body["expires_in"].as_u64().is_some_and(|s| s == 60),
        "{body}"
    );
    assert!(body["issued_at"].as_str().is_some_and(|s| s.ends_with('Z')));
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("claims json");
    (token, claims["access"].clone())
}

fn actions(access: &Value) -> Vec<String> {
    access[0]["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The challenge and token flow a docker client walks, and what tokens carry.
#[test]
fn token_flow_grants_only_what_policies_allow() {
    let mut d = Daemon::start_with_config(&config(""));
    namespace(&d, "team", "PRIVATE", true);
    namespace(&d, "open", "PUBLIC", true);
    push_image_as(&d, "team/app", "v1", &admin());
    push_image_as(&d, "open/app", "v1", &admin());
    user(&d, "reader", "reader-secret-pw", &["ReadOnlyAccess"]);
    let reader = basic("reader", "reader-secret-pw");

    // /v2/ challenges anonymous callers; with credentials it answers 200.
    let r = call(&d, "GET", "/v2/", None, None);
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").expect("challenge").to_owned();
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"http://{}/token\",service=\"berth\"",
            d.host()
        )
    );
    assert_eq!(
        ok(call(&d, "GET", "/v2/", Some(&reader), None), "v2").status,
        200
    );

    // A repository request names its scope in the challenge.
    let r = get_manifest(&d, "team/app", "v1", None);
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "UNAUTHORIZED");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|c| c.ends_with(",scope=\"repository:team/app:pull\"")),
        "{:?}",
        r.header("www-authenticate")
    );

    // Tokens carry exactly what the caller may do.
    let (admin_token, access) = token(&d, "repository:team/app:pull,push", Some(&admin()));
    assert_eq!(actions(&access), ["pull", "push"]);
    let (reader_token, access) = token(&d, "repository:team/app:pull,push", Some(&reader));
    assert_eq!(actions(&access), ["pull"]);
    let (anonymous_private, access) = token(&d, "repository:team/app:pull", None);
    assert!(actions(&access).is_empty(), "{access}");
    let (anonymous_public, access) = token(&d, "repository:open/app:pull,push", None);
    assert_eq!(actions(&access), ["pull"]);

    // And they work as bearer tokens, for that access only.
    let bearer = |t: &str| format!("Bearer {t}");
    ok(
        get_manifest(&d, "team/app", "v1", Some(&bearer(&admin_token))),
        "admin pull",
    );
    ok(
        get_manifest(&d, "team/app", "v1", Some(&bearer(&reader_token))),
        "reader pull",
    );
    // A token without push is told so in the challenge, with the scope to ask for.
    let r = push_blob_as(&d, "team/app", Some(&bearer(&reader_token)), b"x");
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate").is_some_and(|c| c
            .ends_with(",scope=\"repository:team/app:pull,push\",error=\"insufficient_scope\"")),
        "{:?}",
        r.header("www-authenticate")
    );
    assert_eq!(
        get_manifest(&d, "team/app", "v1", Some(&bearer(&anonymous_private))).status,
        401
    );
    ok(
        get_manifest(&d, "open/app", "v1", Some(&bearer(&anonymous_public))),
        "public pull",
    );
    // Public repositories need no token at all.
    ok(
        get_manifest(&d, "open/app", "v1", None),
        "anonymous public pull",
    );
    // A token for one repository is not one for another.
    assert_eq!(
        get_manifest(&d, "open/other", "v1", Some(&bearer(&reader_token))).status,
        401
    );
    // Forged or garbage tokens are refused.
    let forged = format!("{}x", admin_token);
    assert_eq!(
        get_manifest(&d, "team/app", "v1", Some(&bearer(&forged))).status,
        401
    );

    // Basic credentials straight to /v2/ work too; wrong ones are 401.
    ok(
        get_manifest(&d, "team/app", "v1", Some(&reader)),
        "basic pull",
    );
    assert_eq!(
        get_manifest(
            &d,
            "team/app",
            "v1",
            Some(&basic("reader", "wrong-password"))
        )
        .status,
        401
    );
    // An account without the right gets 403 DENIED.
    let r = push_blob_as(&d, "team/app", Some(&reader), b"not allowed");
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_code(), "DENIED");

    // The catalog lists only what the caller may pull.
    let listed = |auth: Option<&str>| -> Vec<String> {
        let r = ok(call(&d, "GET", "/v2/_catalog", auth, None), "catalog");
        serde_json::from_value(r.json()["repositories"].clone()).expect("names")
    };
    assert_eq!(listed(Some(&admin())), ["open/app", "team/app"]);
    assert_eq!(
        listed(Some(&basic("reader", "reader-secret-pw"))),
        ["open/app", "team/app"]
    );
    user(&d, "nobody", "nobody-secret-pw", &[]);
    assert_eq!(
        listed(Some(&basic("nobody", "nobody-secret-pw"))),
        ["open/app"]
    );
    // Paged: a page whose names are all hidden is empty but still links past them.
    push_image_as(&d, "team/a0", "v1", &admin());
    let nobody = basic("nobody", "nobody-secret-pw");
    let page = |path: &str| {
        let r = ok(call(&d, "GET", path, Some(&nobody), None), "catalog page");
        (
            r.json()["repositories"].clone(),
            r.header("link").map(str::to_owned),
        )
    };
    assert_eq!(
        page("/v2/_catalog?n=1&last=open/app"),
        (
            json!([]),
            Some("</v2/_catalog?n=1&last=team%2Fa0>; rel=\"next\"".to_owned())
        )
    );
    assert_eq!(page("/v2/_catalog?n=1&last=team/a0"), (json!([]), None));

    // The audit trail has the reader's login and pull, and the refused push. Records are
    // written in batches, so poll.
    let kept = |operation: &str, result: &str| -> usize {
        let r = ok(
            call(
                &d,
                "GET",
                &format!("/api/v1/audit?account=reader&operation={operation}&result={result}"),
                Some(&admin()),
                None,
            ),
            "audit",
        );
        r.json()["records"].as_array().map_or(0, Vec::len)
    };
    // Both of the reader's pulls of team/app (the token's, then the Basic one): shards flush
    // their records independently, so until both are in, an older record may be missing.
    wait_until(
        "the audit trail to hold the reader's login and both of its pulls",
        Duration::from_secs(10),
        || kept("login", "ok") >= 1 && kept("pull", "ok") >= 2,
    );
    let r = ok(
        call(
            &d,
            "GET",
            "/api/v1/audit?account=reader&operation=pull",
            Some(&admin()),
            None,
        ),
        "audit",
    );
    let record = &r.json()["records"][0];
    assert_eq!(record["repository"], "team/app", "{record}");
    assert_eq!(record["reference"], "v1", "{record}");
    assert_eq!(record["source"], "127.0.0.1", "{record}");
    let secrets = [
        ADMIN_PASSWORD,
        "reader-secret-pw",
        "nobody-secret-pw",
        &admin_token,
        &reader_token,
    ];
    d.stop();
    assert_no_secrets_in_log(&d, &secrets);
}

/// Explicit Deny beats Allow; `cr:Get*` does not grant pull; `repository/ns/*` covers the
/// repositories, not the namespace.
#[test]
fn policies_decide_per_operation() {
    let mut d = Daemon::start_with_config(&config(""));
    namespace(&d, "ns", "PRIVATE", true);
    policy(
        &d,
        "AllButSecret",
        json!({"Version":"1","Statement":[
            {"Effect":"Allow","Action":["cr:*"],"Resource":["acs:cr:*:*:repository/ns/*"]},
            {"Effect":"Deny","Action":"cr:PushRepository","Resource":"acs:cr:*:*:repository/ns/secret"}]}),
    );
    policy(
        &d,
        "GetOnly",
        json!({"Version":"1","Statement":[{"Effect":"Allow","Action":["cr:Get*"],"Resource":["*","acs:cr:*:*:repository/ns/*"]}]}),
    );
    user(&d, "dev", "dev-secret-pw-1", &["AllButSecret"]);
    user(&d, "getter", "getter-secret-pw", &["GetOnly"]);
    let dev = basic("dev", "dev-secret-pw-1");
    let getter = basic("getter", "getter-secret-pw");
    push_image_as(&d, "ns/app", "v1", &dev);
    let r = push_blob_as(&d, "ns/secret", Some(&dev), b"denied");
    assert_eq!((r.status, r.error_code()), (403, "DENIED".to_owned()));
    // dev may not touch the namespace itself: repository/ns/* does not cover repository/ns.
    let r = call(&d, "GET", "/api/v1/namespaces/ns", Some(&dev), None);
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    // cr:Get* is not cr:PullRepository.
    let r = get_manifest(&d, "ns/app", "v1", Some(&getter));
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    ok(
        call(
            &d,
            "GET",
            "/api/v1/repositories/ns/app",
            Some(&getter),
            None,
        ),
        "GetRepository",
    );
    // Invalid documents are refused with the offending field named.
    let r = call(
        &d,
        "POST",
        "/api/v1/policies",
        Some(&admin()),
        Some(
            json!({"name":"Bad","document":{"Version":"1","Statement":[{"Effect":"allow","Action":"cr:*","Resource":"*"}]}}),
        ),
    );
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("Statement[0].Effect"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    d.stop();
    assert_no_secrets_in_log(&d, &[ADMIN_PASSWORD, "dev-secret-pw-1", "getter-secret-pw"]);
}

/// Temporary credentials act as their account, for a while.
#[test]
fn temporary_credentials_work_then_expire() {
    let mut d = Daemon::options().config(&config("")).test_clock().start();
    namespace(&d, "tmp", "PRIVATE", true);
    push_image_as(&d, "tmp/app", "v1", &admin());
    user(&d, "reader", "reader-secret-pw", &["ReadOnlyAccess"]);
    let r = ok(
        call(
            &d,
            "POST",
            "/api/v1/tokens",
            Some(&basic("reader", "reader-secret-pw")),
            None,
        ),
        "temporary credentials",
    );
    let creds = r.json();
    let (name, password) = (
        creds["username"].as_str().expect("username").to_owned(),
        creds["password"].as_str().expect("password").to_owned(),
    );
    let temporary = basic(&name, &password);
    ok(
        get_manifest(&d, "tmp/app", "v1", Some(&temporary)),
        "pull with temporary creds",
    );
    let (_, access) = token(&d, "repository:tmp/app:pull,push", Some(&temporary));
    assert_eq!(actions(&access), ["pull"], "exactly the reader's rights");
    assert_eq!(
        push_blob_as(&d, "tmp/app", Some(&temporary), b"no").status,
        403
    );
    // Useless after expiry (an hour here), on the daemon's clock — also when the shard
    // still has the credential in its cache — and the expiry sweep then removes the record.
    d.advance_clock(Duration::from_secs(3599));
    ok(
        call(&d, "GET", "/v2/", Some(&temporary), None),
        "a second before expiry",
    );
    d.advance_clock(Duration::from_secs(2));
    assert_eq!(
        call(&d, "GET", "/v2/", Some(&temporary), None).status,
        401,
        "temporary credentials outlived their expiry"
    );
    let r = ok(
        call(&d, "POST", "/api/v1/admin/expire", Some(&admin()), None),
        "expiry sweep",
    );
    assert_eq!(r.json()["temporary_credentials"], 1, "{}", r.json());
    d.stop();
    assert_no_secrets_in_log(&d, &[ADMIN_PASSWORD, "reader-secret-pw", &password]);
}

/// The namespace limit per account, `auto_create_repo` off, and deleting a non-empty
/// namespace.
#[test]
fn namespace_rules() {
    let mut d = Daemon::start_with_config(&config(""));
    user(&d, "owner", "owner-secret-pw", &["FullAccess"]);
    let owner = basic("owner", "owner-secret-pw");
    for ns in ["one", "two"] {
        ok(
            call(
                &d,
                "POST",
                "/api/v1/namespaces",
                Some(&owner),
                Some(json!({"name": ns})),
            ),
            "namespace within the limit",
        );
    }
    let r = call(
        &d,
        "POST",
        "/api/v1/namespaces",
        Some(&owner),
        Some(json!({"name": "three"})),
    );
    assert_eq!(
        (r.status, r.error_code()),
        (403, "LIMIT_EXCEEDED".to_owned())
    );

    // A push into a namespace that does not exist fails clearly.
    let r = push_blob_as(&d, "nowhere/app", Some(&admin()), b"bytes");
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("namespace nowhere does not exist"));

    // auto_create_repo off: no repository springs into being on push…
    namespace(&d, "strict", "PRIVATE", false);
    let r = push_blob_as(&d, "strict/app", Some(&admin()), b"bytes");
    assert_eq!((r.status, r.error_code()), (404, "NAME_UNKNOWN".to_owned()));
    assert!(
        String::from_utf8_lossy(&r.body).contains("does not create repositories on push"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // …until it is created.
    ok(
        call(
            &d,
            "POST",
            "/api/v1/repositories",
            Some(&admin()),
            Some(json!({"namespace": "strict", "name": "app"})),
        ),
        "create repository",
    );
    ok(
        push_blob_as(&d, "strict/app", Some(&admin()), b"bytes"),
        "push after create",
    );

    // A namespace with repositories is not deleted unless forced.
    let r = call(
        &d,
        "DELETE",
        "/api/v1/namespaces/strict",
        Some(&admin()),
        None,
    );
    assert_eq!((r.status, r.error_code()), (409, "CONFLICT".to_owned()));
    ok(
        call(
            &d,
            "DELETE",
            "/api/v1/namespaces/strict?force=true",
            Some(&admin()),
            None,
        ),
        "forced delete",
    );
    let r = call(&d, "GET", "/api/v1/namespaces/strict", Some(&admin()), None);
    assert_eq!(r.status, 404);
    d.stop();
}

/// Passwords and tokens never reach the log, whatever the request did.
fn assert_no_secrets_in_log(d: &Daemon, secrets: &[&str]) {
    let log = d.log();
    assert!(log.contains("berth is listening"), "not the daemon's log");
    for secret in secrets {
        assert!(!log.contains(secret), "the log holds a secret: {secret}");
    }
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"));
    assert!(!log.contains(&encoded), "the log holds Basic credentials");
}

/// `berth user …` and `berth policy …` manage accounts on a stopped registry, and what they
/// write is what the daemon then enforces.
#[test]
fn offline_account_commands() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut d = Daemon::start_with_config(&config(""));
    namespace(&d, "cli", "PRIVATE", true);
    push_image_as(&d, "cli/app", "v1", &admin());
    d.stop();
    let data_dir = d.data_dir.to_string_lossy().into_owned();
    let berth = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(support::BERTH)
            .args(args)
            .args(["--data-dir", &data_dir])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("berth");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "berth {args:?}: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    berth(
        &["user", "add", "carol", "--password-stdin"],
        Some("carol-secret-pw\n"),
    );
    let policy_file = d.data_dir.parent().expect("tmp").join("pull-cli.json");
    std::fs::write(
        &policy_file,
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"cr:PullRepository","Resource":"acs:cr:*:*:repository/cli/*"}]}"#,
    )
    .expect("policy file");
    berth(
        &[
            "policy",
            "create",
            "PullCli",
            &policy_file.to_string_lossy(),
        ],
        None,
    );
    berth(&["policy", "attach", "carol", "PullCli"], None);
    let users = berth(&["user", "list"], None);
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("carol") && l.contains("PullCli")),
        "{users}"
    );
    assert!(berth(&["policy", "list"], None).contains("PullCli (custom)"));
    // An invalid document is refused with the field named.
    std::fs::write(&policy_file, r#"{"Version":"2","Statement":[]}"#).expect("write");
    let out = Command::new(support::BERTH)
        .args([
            "policy",
            "create",
            "Bad",
            &policy_file.to_string_lossy(),
            "--data-dir",
            &data_dir,
        ])
        .output()
        .expect("berth");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Version"),
        "{out:?}"
    );

    d.start_again();
    let carol = basic("carol", "carol-secret-pw");
    ok(
        get_manifest(&d, "cli/app", "v1", Some(&carol)),
        "carol pulls",
    );
    assert_eq!(push_blob_as(&d, "cli/app", Some(&carol), b"no").status, 403);
    d.stop();

    berth(
        &["user", "passwd", "carol", "--password-stdin"],
        Some("carol-new-pw-2\n"),
    );
    berth(&["policy", "detach", "carol", "PullCli"], None);
    d.start_again();
    assert_eq!(get_manifest(&d, "cli/app", "v1", Some(&carol)).status, 401);
    let carol = basic("carol", "carol-new-pw-2");
    assert_eq!(get_manifest(&d, "cli/app", "v1", Some(&carol)).status, 403);
    d.stop();
    berth(&["user", "delete", "carol"], None);
    assert!(!berth(&["user", "list"], None).contains("carol"));
    assert_no_secrets_in_log(&d, &[ADMIN_PASSWORD, "carol-secret-pw", "carol-new-pw-2"]);
}
