//! os-release(5): which distribution and release an image is, from `etc/os-release` or
//! `usr/lib/os-release`.
//!
//! ```text
//! # comment                         KEY=value lines; a value is unquoted, "double-quoted"
//! ID=debian                         (backslash escapes $ ` " \ and a newline) or
//! VERSION_ID="12"                   'single-quoted' (no escapes), or a shell-style mix of
//! PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"   them; a later assignment wins
//! ID_LIKE="rhel centos fedora"
//! ```
//!
//! Parsing is lenient, as os-release readers are (systemd's included): a line that is not a
//! well-formed assignment is skipped rather than failing the scan, bytes that are not UTF-8
//! become U+FFFD, and a missing `ID` means `linux`, as the specification says. The only
//! error is an input larger than [`OS_RELEASE_BYTES_MAX`].

/// The largest os-release file accepted, in bytes (real ones are a few hundred bytes).
pub const OS_RELEASE_BYTES_MAX: usize = 64 << 10;

/// The fields of os-release the scanner uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsRelease {
    /// `ID`: `debian`, `ubuntu`, `alpine`, `rhel`, `rocky`, …; `linux` when absent.
    pub id: String,
    /// `VERSION_ID`: `12`, `22.04`, `3.19.1`, `9.3`.
    pub version_id: Option<String>,
    /// `VERSION_CODENAME`: `bookworm`, `jammy`.
    pub version_codename: Option<String>,
    /// `ID_LIKE`, split on white space: `["rhel", "centos", "fedora"]`.
    pub id_like: Vec<String>,
    /// `PRETTY_NAME`: `Debian GNU/Linux 12 (bookworm)`.
    pub pretty_name: Option<String>,
}

/// Why an os-release file was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsReleaseError {
    /// The file is larger than [`OS_RELEASE_BYTES_MAX`].
    #[error("os-release is {bytes} bytes, more than the {bytes_max} accepted")]
    TooLarge { bytes: usize, bytes_max: usize },
}

/// Parses an os-release file.
pub fn parse_os_release(bytes: &[u8]) -> Result<OsRelease, OsReleaseError> {
    if bytes.len() > OS_RELEASE_BYTES_MAX {
        return Err(OsReleaseError::TooLarge {
            bytes: bytes.len(),
            bytes_max: OS_RELEASE_BYTES_MAX,
        });
    }
    let text = String::from_utf8_lossy(bytes);
    let mut release = OsRelease::default();
    let mut id = None;
    let mut id_like = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, rest)) = line.split_once('=') else {
            continue;
        };
        if !is_key(key) {
            continue;
        }
        // A double-quoted value may go on over an escaped newline; take following lines as
        // long as it is unterminated (bounded by the input).
        let mut raw = rest.to_owned();
        let value = loop {
            match unquote(&raw) {
                Value::Complete(value) => break Some(value),
                Value::Invalid => break None,
                Value::Unterminated => match lines.next() {
                    Some(next) => {
                        raw.push('\n');
                        raw.push_str(next);
                    }
                    None => break None,
                },
            }
        };
        let Some(value) = value else {
            continue;
        };
        let value = (!value.is_empty()).then_some(value);
        match key {
            "ID" => id = value,
            "VERSION_ID" => release.version_id = value,
            "VERSION_CODENAME" => release.version_codename = value,
            "PRETTY_NAME" => release.pretty_name = value,
            "ID_LIKE" => id_like = value,
            _ => {}
        }
    }
    release.id = id.unwrap_or_else(|| "linux".to_owned());
    release.id_like = id_like
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(release)
}

/// A shell variable name.
fn is_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

enum Value {
    Complete(String),
    /// A quote is still open at the end of the text.
    Unterminated,
    /// Something after the value that is not a comment.
    Invalid,
}

/// One shell word: unquoted parts (a backslash escapes the next character), double-quoted
/// parts (a backslash escapes only `$`, `` ` ``, `"`, `\` and a newline, which it removes) and
/// single-quoted parts (literal). Unquoted white space ends the word; only a comment may
/// follow it.
fn unquote(raw: &str) -> Value {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(escaped) => out.push(escaped),
                None => return Value::Unterminated,
            },
            '"' => loop {
                match chars.next() {
                    None => return Value::Unterminated,
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        None => return Value::Unterminated,
                        Some('\n') => {}
                        Some(e @ ('$' | '`' | '"' | '\\')) => out.push(e),
                        Some(other) => {
                            out.push('\\');
                            out.push(other);
                        }
                    },
                    Some(other) => out.push(other),
                }
            },
            '\'' => loop {
                match chars.next() {
                    None => return Value::Unterminated,
                    Some('\'') => break,
                    Some(other) => out.push(other),
                }
            },
            c if c.is_whitespace() => {
                let rest: String = chars.collect();
                let rest = rest.trim_start();
                return if rest.is_empty() || rest.starts_with('#') {
                    Value::Complete(out)
                } else {
                    Value::Invalid
                };
            }
            other => out.push(other),
        }
    }
    Value::Complete(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: OsRelease) {
        assert_eq!(
            parse_os_release(input.as_bytes()),
            Ok(expected),
            "{input:?}"
        );
    }

    fn release(id: &str) -> OsRelease {
        OsRelease {
            id: id.into(),
            ..OsRelease::default()
        }
    }

    /// This machine's `/usr/lib/os-release` (Debian 12).
    #[test]
    fn debian_12() {
        let bytes = include_bytes!("../../../../tests/data/scan/os-release/debian-12");
        assert_eq!(
            parse_os_release(bytes),
            Ok(OsRelease {
                id: "debian".into(),
                version_id: Some("12".into()),
                version_codename: Some("bookworm".into()),
                id_like: vec![],
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            })
        );
    }

    #[test]
    fn quoting_table() {
        let pretty = |p: &str| OsRelease {
            pretty_name: Some(p.into()),
            ..release("linux")
        };
        check("PRETTY_NAME=plain", pretty("plain"));
        check("PRETTY_NAME=\"a b\"", pretty("a b"));
        check("PRETTY_NAME='a \"b\" $c'", pretty("a \"b\" $c"));
        check(
            r#"PRETTY_NAME="a \"b\" \$c \\ \x""#,
            pretty(r#"a "b" $c \ \x"#),
        );
        check(r"PRETTY_NAME=a\ b", pretty("a b"));
        check("PRETTY_NAME=\"a\"'b'c", pretty("abc"));
        check("PRETTY_NAME=\"x\"  # comment", pretty("x"));
        check("PRETTY_NAME=\"one\\\ntwo\"", pretty("onetwo"));
        check("PRETTY_NAME=\"one\ntwo\"", pretty("one\ntwo"));
        // Later assignments win; empty is absent.
        check("PRETTY_NAME=a\nPRETTY_NAME=b", pretty("b"));
        check("PRETTY_NAME=a\nPRETTY_NAME=", release("linux"));
    }

    #[test]
    fn lenient_table() {
        // Comments, blank lines, indentation, CRLF-free junk, invalid lines: skipped.
        check(
            "  # c\n\n  ID=alpine\nnot an assignment\n1BAD=x\nVERSION_ID=3.19 trailing junk\nVERSION_ID=3.19.1\nPRETTY_NAME=\"unterminated",
            OsRelease {
                version_id: Some("3.19.1".into()),
                ..release("alpine")
            },
        );
        check(
            "ID=rocky\nID_LIKE=\"rhel centos  fedora\"\nVERSION_ID=\"9.3\"\n",
            OsRelease {
                version_id: Some("9.3".into()),
                id_like: vec!["rhel".into(), "centos".into(), "fedora".into()],
                ..release("rocky")
            },
        );
        check("", release("linux"));
        assert_eq!(
            parse_os_release(b"ID=\xffx\nVERSION_CODENAME=jammy\n"),
            Ok(OsRelease {
                version_codename: Some("jammy".into()),
                ..release("\u{fffd}x")
            })
        );
    }

    #[test]
    fn too_large() {
        let big = vec![b'#'; OS_RELEASE_BYTES_MAX + 1];
        assert_eq!(
            parse_os_release(&big),
            Err(OsReleaseError::TooLarge {
                bytes: OS_RELEASE_BYTES_MAX + 1,
                bytes_max: OS_RELEASE_BYTES_MAX
            })
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse_os_release(&bytes);
        }

        /// A value written the way a shell's `printf %q`-like quoting would is read back.
        #[test]
        fn double_quoted_round_trip(value in "[ -~]{0,40}") {
            let mut quoted = String::from("PRETTY_NAME=\"");
            for c in value.chars() {
                if matches!(c, '$' | '`' | '"' | '\\') {
                    quoted.push('\\');
                }
                quoted.push(c);
            }
            quoted.push('"');
            let parsed = parse_os_release(quoted.as_bytes()).unwrap();
            proptest::prop_assert_eq!(parsed.pretty_name, (!value.is_empty()).then_some(value));
        }
    }
}
