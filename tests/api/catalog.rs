//! The catalog: order and pagination.

use super::*;

#[test]
fn catalog_order_and_pagination() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let r = call(&d, "GET", "/v2/_catalog", &[], b"");
    expect_status(&r, 200);
    assert_eq!(strings(&r.json()["repositories"]), Vec::<String>::new());

    let names = [
        "zeta",
        "alpha/beta",
        "alpha",
        "alpha-1",
        "alpha/beta/gamma",
        "b",
        "a0",
        "alpha.x",
        "alpha_y",
    ];
    for (i, name) in names.iter().enumerate() {
        // Half get a manifest, half only a blob.
        if i % 2 == 0 {
            push_image(&d, name, "latest", 120 + i as u64, 1);
        } else {
            push_blob(&d, name, format!("blob of {name}").as_bytes());
        }
    }
    let mut all: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    all.sort();
    let r = call(&d, "GET", "/v2/_catalog", &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(strings(&r.json()["repositories"]), all);
    assert!(r.header("Link").is_none());

    for n in 1..=all.len() + 1 {
        let pages = pages(&d, &format!("/v2/_catalog?n={n}"), "repositories");
        for page in &pages[..pages.len() - 1] {
            assert_eq!(page.len(), n);
        }
        assert_eq!(pages.concat(), all, "n={n}");
    }
    let r = call(&d, "GET", "/v2/_catalog?n=2", &[], b"");
    let link = next_link(&r).expect("Link");
    assert!(
        link.starts_with("/v2/_catalog?n=2&last="),
        "catalog Link {link:?}"
    );
    let r = call(&d, "GET", "/v2/_catalog?n=0", &[], b"");
    assert_eq!(strings(&r.json()["repositories"]), Vec::<String>::new());
    assert!(r.header("Link").is_none());
    let r = call(&d, "GET", "/v2/_catalog?last=alpha%2Fbeta", &[], b"");
    let after: Vec<String> = all
        .iter()
        .filter(|s| s.as_str() > "alpha/beta")
        .cloned()
        .collect();
    assert_eq!(strings(&r.json()["repositories"]), after);
    let r = call(&d, "GET", "/v2/_catalog?last=zzz", &[], b"");
    assert_eq!(strings(&r.json()["repositories"]), Vec::<String>::new());
    assert!(r.header("Link").is_none());
    d.stop();
}
