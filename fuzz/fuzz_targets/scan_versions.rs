//! Fuzz target: the scanner's version comparators (`berth_engine::scan::version`).
//!
//! Input: a scheme selector byte (`d` dpkg, `a` apk, `r` rpm; anything else checks all three),
//! then up to three versions separated by `\n`. Non-UTF-8 bytes become U+FFFD (the comparators
//! take `&str`). For example `d1.0~rc1\n1.0\n1:0.9`.
//!
//! Properties, for each scheme checked:
//! - `compare` never panics, is deterministic and reflexive (`compare(a, a)` is `Equal`).
//! - It is antisymmetric: `compare(a, b) == compare(b, a).reverse()`.
//! - It is transitive on the three versions, in every order: `a <= b <= c` implies `a <= c`,
//!   and equality is transitive.
//! - dpkg: when both versions parse, `compare` is `compare_parsed` of the parses; a version
//!   that does not parse sorts before every version that does.
#![no_main]

use std::cmp::Ordering;

use berth_engine::scan::version::{compare, dpkg, VersionScheme};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\n');
    let a = parts.next().unwrap_or("");
    let b = parts.next().unwrap_or("");
    let c = parts.next().unwrap_or("");
    let schemes: &[VersionScheme] = match selector {
        b'd' => &[VersionScheme::Dpkg],
        b'a' => &[VersionScheme::Apk],
        b'r' => &[VersionScheme::Rpm],
        _ => &[VersionScheme::Dpkg, VersionScheme::Apk, VersionScheme::Rpm],
    };
    for &scheme in schemes {
        check(scheme, a, b, c);
    }
    check_dpkg_parse(a, b);
});

fn check(scheme: VersionScheme, a: &str, b: &str, c: &str) {
    for v in [a, b, c] {
        assert_eq!(compare(scheme, v, v), Ordering::Equal, "{scheme:?}: {v:?}");
    }
    for (x, y) in [(a, b), (b, c), (a, c)] {
        let xy = compare(scheme, x, y);
        assert_eq!(xy, compare(scheme, x, y), "{scheme:?}: deterministic");
        assert_eq!(
            xy,
            compare(scheme, y, x).reverse(),
            "{scheme:?}: {x:?} vs {y:?} is not antisymmetric"
        );
    }
    for (x, y, z) in [
        (a, b, c),
        (a, c, b),
        (b, a, c),
        (b, c, a),
        (c, a, b),
        (c, b, a),
    ] {
        let (xy, yz, xz) = (
            compare(scheme, x, y),
            compare(scheme, y, z),
            compare(scheme, x, z),
        );
        if xy != Ordering::Greater && yz != Ordering::Greater {
            assert_ne!(xz, Ordering::Greater, "{scheme:?}: {x:?} <= {y:?} <= {z:?}");
        }
        if xy == Ordering::Equal && yz == Ordering::Equal {
            assert_eq!(xz, Ordering::Equal, "{scheme:?}: {x:?} = {y:?} = {z:?}");
        }
    }
}

fn check_dpkg_parse(a: &str, b: &str) {
    match (dpkg::parse(a), dpkg::parse(b)) {
        (Ok(pa), Ok(pb)) => assert_eq!(dpkg::compare(a, b), dpkg::compare_parsed(&pa, &pb)),
        (Err(_), Ok(_)) => assert_eq!(dpkg::compare(a, b), Ordering::Less),
        (Ok(_), Err(_)) => assert_eq!(dpkg::compare(a, b), Ordering::Greater),
        (Err(_), Err(_)) => {}
    }
}
