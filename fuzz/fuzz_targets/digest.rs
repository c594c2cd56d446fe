//! Fuzz target: digest parsing and the resumable hasher's saved state.
//!
//! Input: any bytes. As text (when UTF-8) they are parsed as a digest; as bytes they are handed
//! to `DigestHasher::restore` as a saved state (which comes back from disk, so it is untrusted)
//! and hashed in two halves across a save and restore.
//!
//! Properties:
//! - `Digest::parse` accepts exactly `sha256:<64 lowercase hex>` and `sha512:<128 lowercase
//!   hex>` (a reference predicate written as plain string checks), keeps the text verbatim,
//!   prints and re-parses to an equal value, and round-trips through serde.
//! - Rejections are deterministic and their messages are bounded.
//! - `restore` never panics on any bytes, and hashing resumed from a saved state equals hashing
//!   at once.
#![no_main]

use berth_engine::oci::{Algorithm, Digest, DigestHasher};
use berth_fuzz::{assert_bounded_error, hex_lower};
use libfuzzer_sys::fuzz_target;
use sha2::Digest as _;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_parse(text);
    }
    check_restore(data);
    check_resume(data);
});

/// The OCI digest grammar as Berth restricts it, stated as directly as possible.
fn is_accepted_digest(text: &str) -> bool {
    let lower_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match text.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64 && lower_hex(hex),
        Some(("sha512", hex)) => hex.len() == 128 && lower_hex(hex),
        _ => false,
    }
}

fn check_parse(text: &str) {
    let parsed = Digest::parse(text);
    assert_eq!(parsed, Digest::parse(text), "parsing is deterministic");
    assert_eq!(
        parsed.is_ok(),
        is_accepted_digest(text),
        "accepted {:?}: {parsed:?}",
        text
    );
    match parsed {
        Ok(digest) => {
            assert_eq!(digest.as_str(), text, "a valid digest is kept verbatim");
            assert_eq!(digest.to_string(), text);
            assert_eq!(format!("{}:{}", digest.algorithm(), digest.encoded()), text);
            assert_eq!(digest.encoded().len(), digest.algorithm().encoded_len());
            assert_eq!(Digest::parse(digest.as_ref()).as_ref(), Ok(&digest));
            let json = serde_json::to_string(&digest).expect("a digest serializes");
            let back: Digest = serde_json::from_str(&json).expect("a digest deserializes");
            assert_eq!(back, digest);
        }
        Err(e) => {
            assert_bounded_error(&e.to_string(), text.len());
            // serde must reject what parse rejects.
            let json = serde_json::to_string(text).expect("a string serializes");
            assert!(
                serde_json::from_str::<Digest>(&json).is_err(),
                "serde accepted {text:?}"
            );
        }
    }
}

fn check_restore(data: &[u8]) {
    for algorithm in Algorithm::ALL {
        match DigestHasher::restore(algorithm, data) {
            Ok(mut hasher) => {
                assert_eq!(hasher.algorithm(), algorithm);
                // A restored state must save to the bytes it came from and keep working.
                assert_eq!(
                    hasher.save_state(),
                    data,
                    "restore then save is the identity"
                );
                hasher.update(b"more");
                let digest = hasher.finish();
                assert_eq!(digest.algorithm(), algorithm);
            }
            Err(e) => assert_bounded_error(&e.to_string(), data.len()),
        }
    }
}

fn check_resume(data: &[u8]) {
    // The first byte picks where to save and restore; the rest is the content.
    let Some((&split_seed, content)) = data.split_first() else {
        return;
    };
    let split = usize::from(split_seed) % (content.len() + 1);
    for algorithm in Algorithm::ALL {
        let mut first = DigestHasher::new(algorithm);
        first.update(&content[..split]);
        let saved = first.save_state();
        let mut resumed = DigestHasher::restore(algorithm, &saved).expect("a fresh state restores");
        resumed.update(&content[split..]);
        let expected = match algorithm {
            Algorithm::Sha256 => format!("sha256:{}", hex_lower(&sha2::Sha256::digest(content))),
            Algorithm::Sha512 => format!("sha512:{}", hex_lower(&sha2::Sha512::digest(content))),
        };
        assert_eq!(resumed.finish().as_str(), expected, "split at {split}");
    }
}
