//! Fuzz target: the scanner's package-database parsers (`berth_engine::scan::packages`).
//!
//! Input: a parser selector byte, then the file's bytes:
//! `o` os-release, `s` dpkg `status`, `d` a dpkg `status.d` file, `a` apk `installed`,
//! `h` one rpm header blob, `q` an rpm database (`rpmdb.sqlite`, BerkeleyDB, NDB); any other
//! byte runs every parser on the rest.
//!
//! Properties:
//! - No parser panics on any input; each is deterministic.
//! - Output is bounded: no more packages than `packages_max` (small here, so the limit path
//!   is exercised) nor than the input has lines (text databases), no kept field longer than
//!   `field_bytes_max`, no empty name or version.
//! - Errors are bounded in size.
#![no_main]

use berth_engine::scan::packages::{
    apk, dpkg, os_release, rpm, InstalledPackage, PackageDbError, PackageDbLimits,
};
use berth_fuzz::assert_bounded_error;
use libfuzzer_sys::fuzz_target;

const LIMITS: PackageDbLimits = PackageDbLimits {
    input_bytes_max: 1 << 20,
    packages_max: 64,
    field_bytes_max: 256,
    rpm_header_bytes_max: 1 << 20,
    sqlite_steps_max: 5_000_000,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let all = !b"osdahq".contains(&selector);
    if all || selector == b'o' {
        check_os_release(bytes);
    }
    let lines = bytes.split(|&b| b == b'\n').count();
    type Parser = fn(&[u8], &PackageDbLimits) -> Result<Vec<InstalledPackage>, PackageDbError>;
    let text_parsers: [(u8, Parser); 3] = [
        (b's', dpkg::parse_dpkg_status),
        (b'd', dpkg::parse_dpkg_status_d),
        (b'a', apk::parse_apk_installed),
    ];
    for (key, parse) in text_parsers {
        if all || selector == key {
            let result = parse(bytes, &LIMITS);
            assert_eq!(result, parse(bytes, &LIMITS), "deterministic");
            if let Ok(packages) = &result {
                assert!(
                    packages.len() <= lines,
                    "{} packages from {lines} lines",
                    packages.len()
                );
            }
            check_result(result, bytes.len());
        }
    }
    if all || selector == b'h' {
        let result = rpm::parse_rpm_header(bytes, 0, &LIMITS);
        assert_eq!(
            result,
            rpm::parse_rpm_header(bytes, 0, &LIMITS),
            "deterministic"
        );
        check_result(result.map(|p| vec![p]), bytes.len());
    }
    if all || selector == b'q' {
        check_result(rpm::parse_rpm_database(bytes, &LIMITS), bytes.len());
    }
});

fn check_os_release(bytes: &[u8]) {
    match os_release::parse_os_release(bytes) {
        Ok(release) => {
            assert!(!release.id.is_empty(), "a missing or empty ID is `linux`");
            for field in [
                &release.version_id,
                &release.version_codename,
                &release.pretty_name,
            ] {
                if let Some(value) = field {
                    assert!(!value.is_empty(), "an empty value is None");
                    // Unescaping only shrinks a value; U+FFFD replaces at most 1 byte with 3.
                    assert!(value.len() <= bytes.len() * 3);
                }
            }
        }
        Err(e) => assert_bounded_error(&e.to_string(), bytes.len()),
    }
}

fn check_result(result: Result<Vec<InstalledPackage>, PackageDbError>, input_bytes: usize) {
    match result {
        Ok(packages) => {
            assert!(packages.len() <= LIMITS.packages_max);
            for p in &packages {
                assert!(!p.name.is_empty() && !p.version.is_empty(), "{p:?}");
                for field in [&p.name, &p.source_name] {
                    assert!(field.len() <= LIMITS.field_bytes_max, "{p:?}");
                }
                // rpm versions join epoch, version and release: at most two fields and
                // an epoch's ten digits.
                let version_max = 2 * LIMITS.field_bytes_max + 12;
                for field in [&p.version, &p.source_version] {
                    assert!(field.len() <= version_max, "{p:?}");
                }
                if let Some(arch) = &p.arch {
                    assert!(arch.len() <= LIMITS.field_bytes_max, "{p:?}");
                }
            }
        }
        Err(e) => assert_bounded_error(&e.to_string(), input_bytes),
    }
}
