//! Tags lists: order and pagination, and the page limit.

use super::*;

#[test]
fn tags_list_order_and_pagination() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let repo = "paged/app";
    let manifest = image(&d, repo, 100, 1, Format::Oci);
    // Lowercase only here, so byte order and case-insensitive order agree (see
    // `tags_list_is_in_case_insensitive_order` for mixed case).
    let mut all: Vec<String> = [
        "v2", "latest", "1.0", "v10", "_x", "a-b", "a.b", "a_b", "v1", "0", "zz", "v1.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A repository with blobs but no tags lists nothing (and is not unknown).
    assert_eq!(tags(&d, repo), Vec::<String>::new());
    for tag in &all {
        push(&d, repo, tag, OCI_MANIFEST, &manifest);
    }
    all.sort();
    assert_eq!(tags(&d, repo), all, "lexical order");

    // Every page size: the Link pages visit each tag once, in order, and only pages that
    // have a successor carry a Link.
    for n in 1..=all.len() + 1 {
        let first = format!("/v2/{repo}/tags/list?n={n}");
        let pages = pages(&d, &first, "tags");
        for (i, page) in pages.iter().enumerate() {
            let last_page = i + 1 == pages.len();
            if !last_page {
                assert_eq!(page.len(), n, "n={n}: a page before the last is full");
            } else {
                assert!(!page.is_empty() || all.is_empty(), "n={n}: empty last page");
            }
        }
        let flat: Vec<String> = pages.into_iter().flatten().collect();
        assert_eq!(flat, all, "n={n}");
    }
    // The Link header's exact shape.
    let r = call(&d, "GET", &format!("/v2/{repo}/tags/list?n=3"), &[], b"");
    assert_eq!(strings(&r.json()["tags"]), all[..3].to_vec());
    assert_eq!(
        r.header("Link"),
        Some(format!("</v2/{repo}/tags/list?n=3&last={}>; rel=\"next\"", all[2]).as_str())
    );
    // A page that ends exactly at the last tag has no Link.
    let r = call(
        &d,
        "GET",
        &format!("/v2/{repo}/tags/list?n=2&last={}", all[all.len() - 3]),
        &[],
        b"",
    );
    assert_eq!(strings(&r.json()["tags"]), all[all.len() - 2..].to_vec());
    assert!(r.header("Link").is_none(), "{:?}", r.header("Link"));

    // n=0: an empty list and no Link.
    let r = call(&d, "GET", &format!("/v2/{repo}/tags/list?n=0"), &[], b"");
    expect_status(&r, 200);
    assert_eq!(strings(&r.json()["tags"]), Vec::<String>::new());
    assert!(r.header("Link").is_none());
    // last alone: everything after it. last between tags, or before all, or past the end.
    let r = call(
        &d,
        "GET",
        &format!("/v2/{repo}/tags/list?last=v1"),
        &[],
        b"",
    );
    let after: Vec<String> = all.iter().filter(|t| t.as_str() > "v1").cloned().collect();
    assert_eq!(strings(&r.json()["tags"]), after);
    let r = call(
        &d,
        "GET",
        &format!("/v2/{repo}/tags/list?n=2&last=b"),
        &[],
        b"",
    );
    let after: Vec<String> = all
        .iter()
        .filter(|t| t.as_str() > "b")
        .take(2)
        .cloned()
        .collect();
    assert_eq!(strings(&r.json()["tags"]), after);
    let r = call(
        &d,
        "GET",
        &format!("/v2/{repo}/tags/list?n=100&last=."),
        &[],
        b"",
    );
    assert_eq!(strings(&r.json()["tags"]), all);
    assert!(r.header("Link").is_none());
    for last in ["zz", "zzz"] {
        let r = call(
            &d,
            "GET",
            &format!("/v2/{repo}/tags/list?last={last}"),
            &[],
            b"",
        );
        expect_status(&r, 200);
        assert_eq!(strings(&r.json()["tags"]), Vec::<String>::new());
        assert!(r.header("Link").is_none());
    }
    // n that is not a number: 400.
    for n in ["abc", "-1"] {
        let r = call(&d, "GET", &format!("/v2/{repo}/tags/list?n={n}"), &[], b"");
        assert_eq!(r.status, 400, "n={n}: {}", text(&r));
    }

    // Unknown repository.
    let r = call(&d, "GET", "/v2/no/such/repo/tags/list", &[], b"");
    expect_error(&r, 404, "NAME_UNKNOWN");
    let r = call(&d, "GET", "/v2/paged/tags/list", &[], b"");
    expect_error(&r, 404, "NAME_UNKNOWN");
    d.stop();
}

/// Distribution spec, listing tags: "the tags MUST be in lexical order (i.e. case-insensitive
/// alphanumeric order)".
#[test]
fn tags_list_is_in_case_insensitive_order() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let repo = "mixed/case";
    let manifest = image(&d, repo, 110, 1, Format::Oci);
    for tag in ["beta", "Alpha", "gamma", "Delta", "epsilon", "Zeta"] {
        push(&d, repo, tag, OCI_MANIFEST, &manifest);
    }
    let listed = tags(&d, repo);
    assert_eq!(listed.len(), 6);
    let lowered: Vec<String> = listed.iter().map(|t| t.to_lowercase()).collect();
    let mut sorted = lowered.clone();
    sorted.sort();
    assert_eq!(
        lowered, sorted,
        "tags are not in case-insensitive order: {listed:?}"
    );
    d.stop();
}

/// `limits.list_page_max` is an operator limit on response size, and a deliberate difference
/// from the spec's "the response MUST include `<int>` results" (docs/api.md): an `n` above the
/// limit gets a page of the limit's size and a `Link` to the next page, so a client that
/// follows Links (as the spec requires for partial results) still sees every tag exactly once.
#[test]
fn tags_list_caps_n_at_the_page_limit_and_links_on() {
    let mut d = Daemon::start_open_with_config(NOT_ABOUT_ACCESS, "[limits]\nlist_page_max = 3\n");
    let manifest = image(&d, "app", 160, 1, Format::Oci);
    let all: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    for tag in &all {
        push(&d, "app", tag, OCI_MANIFEST, &manifest);
    }
    // Without n the registry paginates at the limit; the Links visit every tag once.
    let pages = pages(&d, "/v2/app/tags/list", "tags");
    assert_eq!(pages.concat(), all);
    assert!(
        pages.iter().all(|p| p.len() <= 3),
        "a page exceeded the limit"
    );
    // With n above the limit: a full page of the limit's size and a Link onwards.
    let r = call(&d, "GET", "/v2/app/tags/list?n=5", &[], b"");
    expect_status(&r, 200);
    assert_eq!(strings(&r.json()["tags"]), all[..3].to_vec());
    let link = r.header("link").expect("a capped page links on");
    assert!(link.contains("last=t2"), "{link}");
    // n within the limit is honoured exactly.
    let r = call(&d, "GET", "/v2/app/tags/list?n=2", &[], b"");
    assert_eq!(strings(&r.json()["tags"]), all[..2].to_vec());
    d.stop();
}
