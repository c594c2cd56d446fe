//! Tidy: the rules of ARCHITECTURE.md and the house style that a machine can check, checked over
//! the whole repository by an ordinary test (rust-analyzer's `tidy.rs` habit). Std only, no
//! daemon, well under a second.
//!
//! Rules (the `RULES` table; each has a unit test below that makes it fire):
//! - `architecture-path`: every repository path ARCHITECTURE.md names exists. Anywhere in the
//!   file (prose, diagrams, parentheses), a token whose first component is a top-level
//!   directory of the repository is a path from the root. In the code map, so is every
//!   backticked span that looks like a path (no spaces, and a `/` or a file extension); one that
//!   does not start with a top-level directory is resolved against the innermost bullet it is
//!   written in (`oci/` under `engine/` is `engine/src/oci/`: a crate's bullet means its
//!   `src/`). Relative paths outside the code map are not checked (there `blobs/` is the data
//!   directory's). There is no fallback: a path that is not where the rule puts it fails.
//! - `module-header`: every `.rs` file opens with a `//!` header.
//! - `safety-comment`: every `unsafe` (block, fn, impl) has a `// SAFETY:` comment (or a
//!   `# Safety` doc section) directly above it, or above the statement it is part of.
//! - `glommio-file-api`: only `engine/src/blob/` names glommio's file API.
//! - `rocksdb`: only `engine/src/meta/` names the `rocksdb` crate.
//! - `layering`: a module does not name (`crate::x`) a layer above it ([`LAYERS`]).
//! - `route-literal`: in `server/src`, string literals starting with a route prefix appear only
//!   in the route table (`ROUTE_TABLE_FILES`) or in test code.
//! - `debug-macro`: no `dbg!(` or `todo!(` outside test code.
//!
//! Rules about code see it with comments and string contents blanked out (`mask`), so a comment
//! that mentions `DmaFile` does not fire and a route prefix fires only as a string literal.
//! Test code is `tests/`, a module declared under `#[cfg(test)]`, and the item after a
//! `#[cfg(test)]` or `#[test]` attribute.
//!
//! Violations that exist today are listed in `KNOWN_VIOLATIONS`; the test also fails when an
//! entry there no longer matches anything, so the list can only shrink.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Violations tolerated for now: (file, rule), each with a comment saying why and until when.
/// Empty since #9's restructuring; the test fails when an entry goes stale.
const KNOWN_VIOLATIONS: &[(&str, &str)] = &[];

/// The route table: the only files of `server/src` whose code may spell a route.
const ROUTE_TABLE_FILES: &[&str] = &["server/src/http/router.rs", "server/src/http/routes.rs"];
/// What a route literal starts with.
const ROUTE_PREFIXES: &[&str] = &["/v2", "/api/v1", "/token"];
/// The one module that may touch glommio's file API.
const GLOMMIO_FILE_API_DIR: &str = "engine/src/blob/";
/// glommio's file types (any path to them, `glommio::io::…` or a re-import, names one of these).
const GLOMMIO_FILE_TYPES: &[&str] = &[
    "DmaFile",
    "BufferedFile",
    "DmaStreamReader",
    "DmaStreamReaderBuilder",
    "DmaStreamWriter",
    "DmaStreamWriterBuilder",
    "ImmutableFile",
    "ImmutableFileBuilder",
    "StreamReaderBuilder",
    "StreamWriterBuilder",
];
/// The one module that may call RocksDB.
const ROCKSDB_DIR: &str = "engine/src/meta/";
/// Directories the walk never enters (besides hidden ones).
const SKIPPED_DIRS: &[&str] = &["target", "corpus", "artifacts"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    path: String,
    line: usize,
    rule: &'static str,
    what: String,
}

/// A Rust file as the rules see it.
struct Source<'a> {
    /// Relative to the repository root, `/`-separated.
    path: &'a str,
    /// The file as written, by line.
    raw: Vec<&'a str>,
    /// Code with comments and the contents of string and char literals blanked, by line.
    code: Vec<String>,
    /// Comment text only (everything else blanked), by line.
    comments: Vec<String>,
    /// String literals: (line of the opening quote, contents).
    strings: Vec<(usize, String)>,
    /// Per line (0-based): is it test code?
    test: Vec<bool>,
}

type Rule = (&'static str, fn(&Source, &mut Vec<(usize, String)>));

/// Every rule on Rust files: (name, check). A check pushes (1-based line, what).
const RULES: &[Rule] = &[
    ("module-header", module_header),
    ("safety-comment", safety_comment),
    ("glommio-file-api", glommio_file_api),
    ("rocksdb", rocksdb),
    ("route-literal", route_literal),
    ("debug-macro", debug_macro),
    ("layering", layering),
];

/// Modules and the modules above them that they must not name (`crate::<name>`): the server's
/// layers (`http` ← `auth` ← `api` ← `shard`) and the engine's one-way `upload → registry`
/// and storage-under-registry order. ARCHITECTURE.md draws them.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "server/src/http/",
        &["auth", "api", "state", "shard", "maintenance", "ops"],
    ),
    ("server/src/auth/", &["api", "state", "shard", "ops"]),
    ("server/src/state.rs", &["api", "shard", "ops"]),
    ("server/src/api/", &["shard"]),
    // Background shards get work handed to them; they never reach into request handling.
    ("server/src/workers/", &["api", "shard", "state"]),
    ("engine/src/registry/", &["upload", "engine", "maintenance"]),
    (
        "engine/src/meta/",
        &["registry", "upload", "accounts", "maintenance", "engine"],
    ),
    (
        "engine/src/blob/",
        &[
            "registry",
            "upload",
            "accounts",
            "maintenance",
            "engine",
            "meta",
        ],
    ),
];

#[test]
fn tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the server crate lives in the workspace root")
        .to_path_buf();
    let mut violations = Vec::new();

    let architecture =
        fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md is readable");
    violations.extend(architecture_paths(
        "ARCHITECTURE.md",
        &architecture,
        &|rel| exists(&root, rel),
    ));

    let mut files = Vec::new();
    rust_files(&root, &root, &mut files);
    files.sort();
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|rel| {
            let text = fs::read_to_string(root.join(rel))
                .unwrap_or_else(|e| panic!("{rel} is readable: {e}"));
            (rel.clone(), text)
        })
        .collect();
    let test_files = test_module_files(&texts);
    for (rel, text) in &texts {
        violations.extend(check(rel, text, test_files.contains(rel)));
    }

    let report = unknown_or_stale(&violations, KNOWN_VIOLATIONS);
    assert!(report.is_empty(), "tidy found:\n{report}");
}

/// The report: violations not in `known`, and entries of `known` that match no violation.
fn unknown_or_stale(violations: &[Violation], known: &[(&str, &str)]) -> String {
    let mut unexpected = Vec::new();
    let mut matched = BTreeSet::new();
    for v in violations {
        match known
            .iter()
            .position(|&(path, rule)| path == v.path && rule == v.rule)
        {
            Some(i) => {
                matched.insert(i);
            }
            None => unexpected.push(v),
        }
    }
    let mut report = String::new();
    for v in &unexpected {
        report += &format!("{}:{}: {}: {}\n", v.path, v.line, v.rule, v.what);
    }
    for (i, (path, rule)) in known.iter().enumerate() {
        if !matched.contains(&i) {
            report += &format!(
                "KNOWN_VIOLATIONS: ({path:?}, {rule:?}) no longer matches anything; remove it\n"
            );
        }
    }
    report
}

/// All rules on one file. `test_file` says the whole file is test code (a `#[cfg(test)]`
/// module); files under `tests/` always are.
fn check(path: &str, text: &str, test_file: bool) -> Vec<Violation> {
    let masked = mask(text);
    let code: Vec<String> = masked.code.lines().map(str::to_owned).collect();
    let mut test = test_lines(&masked.code);
    if test_file || path.starts_with("tests/") {
        test.iter_mut().for_each(|t| *t = true);
    }
    let source = Source {
        path,
        raw: text.lines().collect(),
        comments: masked.comments.lines().map(str::to_owned).collect(),
        code,
        strings: masked.strings,
        test,
    };
    let mut violations = Vec::new();
    for &(rule, check_rule) in RULES {
        let mut found = Vec::new();
        check_rule(&source, &mut found);
        violations.extend(found.into_iter().map(|(line, what)| Violation {
            path: path.to_owned(),
            line,
            rule,
            what,
        }));
    }
    violations.sort();
    violations.dedup_by(|a, b| a.line == b.line && a.rule == b.rule);
    violations
}

fn module_header(source: &Source, found: &mut Vec<(usize, String)>) {
    let first = source.raw.iter().position(|line| !line.trim().is_empty());
    match first {
        Some(i) if source.raw[i].trim_start().starts_with("//!") => {}
        _ => found.push((1, "the file does not open with a `//!` header".to_owned())),
    }
}

fn safety_comment(source: &Source, found: &mut Vec<(usize, String)>) {
    for (i, line) in source.code.iter().enumerate() {
        if !words(line).any(|w| w == "unsafe") {
            continue;
        }
        if !has_safety_comment(source, i) && !is_trait_method(source, i) {
            found.push((
                i + 1,
                "`unsafe` without a `// SAFETY:` comment directly above".to_owned(),
            ));
        }
    }
}

/// Walks up from line `i`: over comments and attributes, and over lines of the same statement
/// (code lines that do not end one with `;`, `{` or `}`), looking for the SAFETY comment.
fn has_safety_comment(source: &Source, i: usize) -> bool {
    for j in (0..i).rev() {
        let code = source.code[j].trim();
        let comment = source.comments[j].trim();
        if code.is_empty() {
            if comment.is_empty() {
                return false;
            }
            if comment.contains("SAFETY:") || comment.contains("# Safety") {
                return true;
            }
            continue;
        }
        if code.starts_with("#[") {
            continue;
        }
        if code.ends_with(';') || code.ends_with('{') || code.ends_with('}') {
            return false;
        }
    }
    false
}

/// Is line `i` an `unsafe fn` of a trait impl? Its contract is the trait's, documented there
/// (the `unsafe impl` itself still needs its comment). The enclosing item is the nearest line
/// above that is indented less (the tree is rustfmt-formatted).
fn is_trait_method(source: &Source, i: usize) -> bool {
    let line = &source.code[i];
    let indent = line.len() - line.trim_start().len();
    let is_fn = words(line)
        .skip_while(|&w| w != "unsafe")
        .nth(1)
        .is_some_and(|w| w == "fn");
    if !is_fn || indent == 0 {
        return false;
    }
    let enclosing = source.code[..i]
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty() && l.len() - l.trim_start().len() < indent);
    enclosing.is_some_and(|l| {
        let mut w = words(l);
        w.any(|w| w == "impl") && w.any(|w| w == "for")
    })
}

fn glommio_file_api(source: &Source, found: &mut Vec<(usize, String)>) {
    if source.path.starts_with(GLOMMIO_FILE_API_DIR) {
        return;
    }
    for (i, line) in source.code.iter().enumerate() {
        let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        let named = if compact.contains("glommio::io") {
            Some("glommio::io")
        } else {
            words(line).find(|w| GLOMMIO_FILE_TYPES.contains(w))
        };
        if let Some(name) = named {
            found.push((
                i + 1,
                format!("`{name}`: glommio's file API belongs to {GLOMMIO_FILE_API_DIR}"),
            ));
        }
    }
}

fn rocksdb(source: &Source, found: &mut Vec<(usize, String)>) {
    if source.path.starts_with(ROCKSDB_DIR) {
        return;
    }
    for (i, line) in source.code.iter().enumerate() {
        let named = word_positions(line, "rocksdb").any(|at| {
            let before = line[..at].trim_end();
            line[at + "rocksdb".len()..].trim_start().starts_with("::")
                || word_positions(before, "use").any(|w| w + 3 == before.len())
                || word_positions(before, "crate").any(|w| w + 5 == before.len())
        });
        if named {
            found.push((
                i + 1,
                format!("names `rocksdb`: RocksDB belongs to {ROCKSDB_DIR}"),
            ));
        }
    }
}

fn layering(source: &Source, found: &mut Vec<(usize, String)>) {
    for (dir, above) in LAYERS {
        if !source.path.starts_with(dir) {
            continue;
        }
        for (i, line) in source.code.iter().enumerate() {
            if source.test[i] {
                continue;
            }
            for module in *above {
                let named = word_positions(line, "crate").any(|at| {
                    let rest = &line[at + "crate".len()..];
                    rest.strip_prefix("::")
                        .and_then(|r| r.strip_prefix(module))
                        .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
                });
                if named {
                    found.push((
                        i + 1,
                        format!("names `crate::{module}`, a layer above {dir}"),
                    ));
                }
            }
        }
    }
}

fn route_literal(source: &Source, found: &mut Vec<(usize, String)>) {
    if !source.path.starts_with("server/src/") || ROUTE_TABLE_FILES.contains(&source.path) {
        return;
    }
    for (line, literal) in &source.strings {
        if source.test[line - 1] {
            continue;
        }
        if ROUTE_PREFIXES.iter().any(|p| literal.starts_with(p)) {
            found.push((
                *line,
                format!(
                    "route literal {literal:?} outside the route table ({})",
                    ROUTE_TABLE_FILES.join(", ")
                ),
            ));
        }
    }
}

fn debug_macro(source: &Source, found: &mut Vec<(usize, String)>) {
    for (i, line) in source.code.iter().enumerate() {
        if source.test[i] {
            continue;
        }
        for name in ["dbg", "todo"] {
            let called = word_positions(line, name).any(|at| {
                let rest = line[at + name.len()..].trim_start();
                rest.strip_prefix('!')
                    .is_some_and(|r| r.trim_start().starts_with('('))
            });
            if called {
                found.push((i + 1, format!("`{name}!(` in non-test code")));
            }
        }
    }
}

/// ARCHITECTURE.md's paths that do not exist (see the module header for the rule). `exists`
/// answers for a root-relative path; one ending in `/` must be a directory.
fn architecture_paths(doc: &str, text: &str, exists: &dyn Fn(&str) -> bool) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut report = |line: usize, written: &str, resolved: &str| {
        if !exists(resolved) {
            let what = if written == resolved {
                format!("`{written}` does not exist")
            } else {
                format!("`{written}` (read as `{resolved}`) does not exist")
            };
            violations.push(Violation {
                path: doc.to_owned(),
                line,
                rule: "architecture-path",
                what,
            });
        }
    };
    let top_level = |path: &str| match path.split_once('/') {
        Some((first, _)) => !first.is_empty() && exists(&format!("{first}/")),
        None => false,
    };
    let mut in_code_map = false;
    let mut in_fence = false;
    // Code-map bullets enclosing the current line: (indent, directory their paths resolve in).
    let mut scopes: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.starts_with("## ") {
            in_code_map = line.trim() == "## Code map";
            scopes.clear();
        }
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        let mut seen = BTreeSet::new();
        // Paths from the root, wherever they are written (prose, diagrams, parentheses).
        for token in line.split(|c: char| !(c.is_alphanumeric() || "_-./".contains(c))) {
            let token = token.trim_end_matches('.');
            if top_level(token) && seen.insert(token.to_owned()) {
                report(n, token, token);
            }
        }
        // Relative paths are checked only in the code map, where a bullet says what they are
        // relative to (elsewhere `blobs/` is the data directory's).
        if in_fence || !in_code_map {
            continue;
        }
        let resolve = |span: &str, base: &str| {
            if top_level(span) {
                span.to_owned()
            } else {
                format!("{base}{span}")
            }
        };
        let spans = backticked(line);
        let indent = line.len() - line.trim_start().len();
        let mut lead = None;
        if line.trim_start().starts_with("- ") {
            while scopes.last().is_some_and(|&(at, _)| at >= indent) {
                scopes.pop();
            }
            let parent = scopes
                .last()
                .map(|(_, dir)| dir.clone())
                .unwrap_or_default();
            let mut dir = parent.clone();
            if let Some(&span) = spans.first() {
                if looks_like_path(span) && line.trim_start().starts_with(&format!("- `{span}`")) {
                    let resolved = resolve(span, &parent);
                    if let Some(path) = resolved.strip_suffix('/') {
                        let is_crate = exists(&format!("{path}/Cargo.toml"))
                            && exists(&format!("{path}/src/"));
                        dir = if is_crate {
                            format!("{path}/src/")
                        } else {
                            resolved.clone()
                        };
                    }
                    lead = Some((span, resolved));
                }
            }
            scopes.push((indent, dir));
        }
        let base = scopes
            .last()
            .map(|(_, dir)| dir.clone())
            .unwrap_or_default();
        for (k, &span) in spans.iter().enumerate() {
            if !looks_like_path(span) || seen.contains(span) {
                continue;
            }
            let resolved = match &lead {
                Some((_, resolved)) if k == 0 => resolved.clone(),
                _ => resolve(span, &base),
            };
            report(n, span, &resolved);
            seen.insert(span.to_owned());
        }
    }
    violations
}

/// `a`, `b` of "x `a` y `b`".
fn backticked(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// A backticked span that is a repository path rather than a type, a URL path or a command.
fn looks_like_path(span: &str) -> bool {
    const EXTENSIONS: &[&str] = &[".rs", ".md", ".toml", ".sh", ".json", ".yml", ".yaml"];
    !span.is_empty()
        && !span.starts_with('/')
        && span
            .chars()
            .all(|c| c.is_alphanumeric() || "_-./".contains(c))
        && (span.contains('/') || EXTENSIONS.iter().any(|e| span.ends_with(e)))
}

fn exists(root: &Path, rel: &str) -> bool {
    let path = root.join(rel);
    if rel.ends_with('/') {
        path.is_dir()
    } else {
        path.exists()
    }
}

/// Every `.rs` file under `dir`, relative to `root`, skipping hidden and build directories.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("{} is listable: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry is readable");
        let path: PathBuf = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let file_type = entry.file_type().expect("a file type is readable");
        if file_type.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) {
                rust_files(root, &path, out);
            }
        } else if name.ends_with(".rs") {
            let rel = path.strip_prefix(root).expect("walked from the root");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Files that are modules declared under `#[cfg(test)]` (`#[cfg(test)] mod tests;`), and their
/// submodules.
fn test_module_files(files: &[(String, String)]) -> BTreeSet<String> {
    let mut test_files = BTreeSet::new();
    loop {
        let before = test_files.len();
        for (path, text) in files {
            let masked = mask(text).code;
            let whole = test_files.contains(path);
            for (name, test) in declared_modules(&masked) {
                if !(test || whole) {
                    continue;
                }
                let dir = match path.rsplit_once('/') {
                    Some((dir, file)) if ["mod.rs", "lib.rs", "main.rs"].contains(&file) => {
                        dir.to_owned()
                    }
                    _ => path.trim_end_matches(".rs").to_owned(),
                };
                test_files.insert(format!("{dir}/{name}.rs"));
                test_files.insert(format!("{dir}/{name}/mod.rs"));
            }
        }
        if test_files.len() == before {
            return test_files;
        }
    }
}

/// `mod name;` declarations in masked code: (name, is it under a test attribute).
fn declared_modules(code: &str) -> Vec<(String, bool)> {
    let test = test_lines(code);
    let mut out = Vec::new();
    for (i, line) in code.lines().enumerate() {
        let line = line.trim();
        let line = line.strip_prefix("pub ").unwrap_or(line);
        if let Some(name) = line.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            out.push((name.trim().to_owned(), test[i]));
        }
    }
    out
}

/// Per line of masked code: is it inside an item marked `#[cfg(test)]` or `#[test]`?
fn test_lines(code: &str) -> Vec<bool> {
    let chars: Vec<char> = code.chars().collect();
    let line_of: Vec<usize> = {
        let mut line = 0;
        chars
            .iter()
            .map(|&c| {
                let at = line;
                if c == '\n' {
                    line += 1;
                }
                at
            })
            .collect()
    };
    let mut test = vec![false; code.lines().count().max(1)];
    let text: String = chars.iter().collect();
    for marker in ["#[cfg(test)]", "#[test]"] {
        for (byte, _) in text.match_indices(marker) {
            let start = text[..byte].chars().count();
            let mut k = start + marker.chars().count();
            // The item ends at its first `;` or at the brace matching its first `{`.
            while k < chars.len() && chars[k] != ';' && chars[k] != '{' {
                k += 1;
            }
            if k < chars.len() && chars[k] == '{' {
                let mut depth = 0usize;
                while k < chars.len() {
                    match chars[k] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    k += 1;
                }
            }
            let end = line_of[k.min(chars.len().saturating_sub(1))];
            for t in test.iter_mut().take(end + 1).skip(line_of[start]) {
                *t = true;
            }
        }
    }
    test
}

/// Identifiers (and keywords) of a line of code.
fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// Byte offsets where `word` occurs in `text` not as part of a longer identifier.
fn word_positions<'a>(text: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(word)
        .map(|(at, _)| at)
        .filter(move |&at| {
            let before = text[..at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        })
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

struct Masked {
    /// The source with comments and literal contents replaced by spaces (newlines kept).
    code: String,
    /// The comments only, everything else replaced by spaces (newlines kept).
    comments: String,
    /// String literals (plain, byte, C and raw): (1-based line of the opening quote, contents).
    strings: Vec<(usize, String)>,
}

/// Separates code, comments and string literals, keeping every line where it was. Handles line,
/// doc and (nested) block comments, escapes, raw strings with any number of `#`, and char
/// literals versus lifetimes.
fn mask(text: &str) -> Masked {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Masked {
        code: String::with_capacity(text.len()),
        comments: String::with_capacity(text.len()),
        strings: Vec::new(),
    };
    let mut line = 1;
    let mut i = 0;
    // Each char goes to exactly one of code / comment / blank; newlines go to both.
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.comments.push(chars[i]);
                out.code.push(' ');
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < chars.len() {
                let pair = (chars[i], chars.get(i + 1).copied());
                let step = match pair {
                    ('/', Some('*')) => {
                        depth += 1;
                        2
                    }
                    ('*', Some('/')) => {
                        depth -= 1;
                        2
                    }
                    _ => 1,
                };
                for &ch in &chars[i..i + step] {
                    if ch == '\n' {
                        line += 1;
                    }
                    out.comments.push(ch);
                    out.code.push(blank(ch));
                }
                i += step;
                if depth == 0 {
                    break;
                }
            }
            continue;
        }
        if let Some(hashes) = raw_string_start(&chars, i) {
            // r##"…"##: the prefix and the opening stay code, the contents are blanked.
            let open = 1 + hashes + 1;
            for &ch in &chars[i..i + open] {
                out.code.push(ch);
                out.comments.push(' ');
            }
            i += open;
            let start_line = line;
            let mut contents = String::new();
            while i < chars.len() {
                let closes = chars[i] == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes;
                if closes {
                    break;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                contents.push(chars[i]);
                out.code.push(blank(chars[i]));
                out.comments.push(blank(chars[i]));
                i += 1;
            }
            for &ch in chars.iter().skip(i).take(1 + hashes) {
                out.code.push(ch);
                out.comments.push(' ');
            }
            i += 1 + hashes;
            out.strings.push((start_line, contents));
            continue;
        }
        if c == '"' {
            out.code.push('"');
            out.comments.push(' ');
            i += 1;
            let start_line = line;
            let mut contents = String::new();
            while i < chars.len() && chars[i] != '"' {
                let step = if chars[i] == '\\' { 2 } else { 1 };
                for &ch in chars.iter().skip(i).take(step) {
                    if ch == '\n' {
                        line += 1;
                    }
                    contents.push(ch);
                    out.code.push(blank(ch));
                    out.comments.push(blank(ch));
                }
                i += step;
            }
            if i < chars.len() {
                out.code.push('"');
                out.comments.push(' ');
                i += 1;
            }
            out.strings.push((start_line, contents));
            continue;
        }
        if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') is blanked; a lifetime ('a) is code.
            let end = if next == Some('\\') {
                chars
                    .get(i + 3..)
                    .and_then(|rest| rest.iter().position(|&ch| ch == '\''))
                    .map(|p| i + 3 + p)
            } else if chars.get(i + 2) == Some(&'\'') && next != Some('\n') {
                Some(i + 2)
            } else {
                None
            };
            if let Some(end) = end {
                out.code.push('\'');
                out.comments.push(' ');
                for _ in i + 1..end {
                    out.code.push(' ');
                    out.comments.push(' ');
                }
                out.code.push('\'');
                out.comments.push(' ');
                i = end + 1;
                continue;
            }
        }
        if c == '\n' {
            line += 1;
        }
        out.code.push(c);
        out.comments.push(blank(c));
        i += 1;
    }
    out
}

/// At `i`, does a raw string start (`r"`, `r#"`, `br"`, `cr##"`)? Returns its number of `#`.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    if chars[i] != 'r' {
        return None;
    }
    // The `r` starts a token, or follows a `b`/`c` prefix that does.
    let start = match i.checked_sub(1).map(|p| chars[p]) {
        Some('b' | 'c') => i - 1,
        _ => i,
    };
    if start > 0 && is_ident(chars[start - 1]) {
        return None;
    }
    let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
    (chars.get(i + 1 + hashes) == Some(&'"')).then_some(hashes)
}

#[cfg(test)]
mod scanner {
    use super::*;

    /// Runs every rule on `text` as the file `path` and compares (line, rule) of what fired.
    fn check_fires(path: &str, text: &str, expected: &[(usize, &str)]) {
        let fired: Vec<(usize, &str)> = check(path, text, false)
            .iter()
            .map(|v| (v.line, v.rule))
            .collect();
        assert_eq!(fired, expected, "in {path}:\n{text}");
    }

    #[test]
    fn module_header_is_required() {
        check_fires("engine/src/x.rs", "//! Owns x.\nfn f() {}\n", &[]);
        check_fires("engine/src/x.rs", "\n//! Owns x.\n", &[]);
        check_fires("engine/src/x.rs", "use std::io;\n", &[(1, "module-header")]);
        check_fires(
            "engine/src/x.rs",
            "/// Not a module doc.\nfn f() {}\n",
            &[(1, "module-header")],
        );
    }

    #[test]
    fn unsafe_needs_a_safety_comment() {
        let bare = "//! x\nfn f() {\n    let n = unsafe { g() };\n}\n";
        check_fires("engine/src/x.rs", bare, &[(3, "safety-comment")]);
        let above = "//! x\nfn f() {\n    // SAFETY: g has no preconditions.\n    let n = unsafe { g() };\n}\n";
        check_fires("engine/src/x.rs", above, &[]);
        let statement =
            "//! x\n// SAFETY: both are fine.\nlet n = h(\n    1,\n    unsafe { g() },\n);\n";
        check_fires("engine/src/x.rs", statement, &[]);
        let previous_statement = "//! x\n// SAFETY: for a.\nlet a = 1;\nlet n = unsafe { g() };\n";
        check_fires(
            "engine/src/x.rs",
            previous_statement,
            &[(4, "safety-comment")],
        );
        let gap = "//! x\n// SAFETY: far away.\n\nunsafe impl Send for X {}\n";
        check_fires("engine/src/x.rs", gap, &[(4, "safety-comment")]);
        let function = "//! x\n/// Reads.\n///\n/// # Safety\n/// p is valid.\n#[inline]\npub unsafe fn f(p: *const u8) {}\n";
        check_fires("engine/src/x.rs", function, &[]);
        let trait_impl = "//! x\n// SAFETY: forwards to System.\nunsafe impl GlobalAlloc for A {\n    unsafe fn alloc(&self, l: Layout) -> *mut u8 {\n        // SAFETY: the caller upholds alloc's contract.\n        unsafe { System.alloc(l) }\n    }\n}\n";
        check_fires("fuzz/src/lib.rs", trait_impl, &[]);
        let inherent = "//! x\nimpl A {\n    pub unsafe fn f() {}\n}\n";
        check_fires("engine/src/x.rs", inherent, &[(3, "safety-comment")]);
        let mentions = "//! x\n#![deny(unsafe_op_in_unsafe_fn)]\n// unsafe is fine in comments\nconst S: &str = \"unsafe\";\n";
        check_fires("engine/src/x.rs", mentions, &[]);
    }

    #[test]
    fn glommio_file_api_only_in_the_blob_store() {
        let named = "//! x\nuse glommio::io::DmaFile;\nlet f = DmaFile::open(p);\nlet g = glommio :: io :: BufferedFile::open(p);\n";
        check_fires(
            "engine/src/upload/mod.rs",
            named,
            &[
                (2, "glommio-file-api"),
                (3, "glommio-file-api"),
                (4, "glommio-file-api"),
            ],
        );
        check_fires("engine/src/blob/read.rs", named, &[]);
        let mentioned = "//! Uses no `DmaFile`.\n// glommio::io is the blob store's.\nlet s = \"DmaFile\";\nlet o = std::fs::OpenOptions::new();\nstruct MyDmaFile;\n";
        check_fires("server/src/x.rs", mentioned, &[]);
    }

    #[test]
    fn rocksdb_only_in_meta() {
        let named = "//! x\nuse rocksdb::DB;\nuse rocksdb;\nlet d = ::rocksdb::DB::open(p);\n";
        check_fires(
            "engine/src/registry/mod.rs",
            named,
            &[(2, "rocksdb"), (3, "rocksdb"), (4, "rocksdb")],
        );
        check_fires("engine/src/meta/writer.rs", named, &[]);
        let mentioned = "//! Not rocksdb:: here.\n/* use rocksdb::DB; */\nlet s = r#\"rocksdb::DB\"#;\nlet rocksdb_dir = 1;\nmeta.rocksdb();\n";
        check_fires("server/src/x.rs", mentioned, &[]);
    }

    #[test]
    fn lower_layers_do_not_name_upper_ones() {
        let upward = "//! x\nuse crate::api::ShardState;\nlet q = crate::auth::now_ms();\n";
        check_fires(
            "server/src/http/mod.rs",
            upward,
            &[(2, "layering"), (3, "layering")],
        );
        check_fires("server/src/api/mod.rs", upward, &[]);
        check_fires(
            "engine/src/registry/mod.rs",
            "//! x\nuse crate::upload::Uploads;\nuse crate::uploads_x::Y;\n",
            &[(2, "layering")],
        );
        let in_tests = "//! x\n#[cfg(test)]\nmod tests {\n    use crate::api::x;\n}\n";
        check_fires("server/src/http/mod.rs", in_tests, &[]);
    }

    #[test]
    fn route_literals_only_in_the_route_table() {
        let routes = "//! x\nif path == \"/token\" {}\nlet l = format!(\"/v2/{repo}/tags/list\");\nlet r = r\"/api/v1/audit\";\n";
        check_fires(
            "server/src/api/x.rs",
            routes,
            &[
                (2, "route-literal"),
                (3, "route-literal"),
                (4, "route-literal"),
            ],
        );
        for table in ROUTE_TABLE_FILES {
            check_fires(table, routes, &[]);
        }
        check_fires("engine/src/x.rs", routes, &[]);
        let not_literals = "//! Serves `/v2/`.\n// GET /v2/<name>/tags/list\nlet s = \"see /v2\";\nlet t = \"\\\"/v2\";\n";
        check_fires("server/src/api/x.rs", not_literals, &[]);
        let in_tests =
            "//! x\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() { f(\"/v2/\"); }\n}\n";
        check_fires("server/src/api/x.rs", in_tests, &[]);
    }

    #[test]
    fn debug_macros_only_in_tests() {
        let code = "//! x\nfn f() {\n    dbg!(1);\n    todo!();\n}\n";
        check_fires(
            "bench/src/x.rs",
            code,
            &[(3, "debug-macro"), (4, "debug-macro")],
        );
        check_fires("tests/x.rs", code, &[]);
        let in_tests = "//! x\nfn f() {}\n#[cfg(test)]\nmod tests {\n    fn g() { dbg!(1); }\n}\nfn h() { todo!() }\n";
        check_fires("engine/src/x.rs", in_tests, &[(7, "debug-macro")]);
        let mentioned = "//! Never dbg!(x).\nlet s = \"todo!()\";\nmy_dbg!(1);\n";
        check_fires("engine/src/x.rs", mentioned, &[]);
    }

    #[test]
    fn test_modules_declared_elsewhere_are_test_code() {
        let files = vec![
            (
                "engine/src/accounts/mod.rs".to_owned(),
                "//! x\nmod names;\n#[cfg(test)]\nmod tests;\n".to_owned(),
            ),
            (
                "engine/src/maintenance.rs".to_owned(),
                "//! x\n#[cfg(test)]\npub mod scenarios;\n".to_owned(),
            ),
        ];
        let test_files = test_module_files(&files);
        assert!(test_files.contains("engine/src/accounts/tests.rs"));
        assert!(test_files.contains("engine/src/maintenance/scenarios.rs"));
        assert!(!test_files.contains("engine/src/accounts/names.rs"));
        let in_test_file = check(
            "engine/src/accounts/tests.rs",
            "//! x\nfn f() { dbg!(1); }\n",
            true,
        );
        assert!(in_test_file.is_empty(), "{in_test_file:?}");
    }

    #[test]
    fn the_allow_list_only_shrinks() {
        let found = check("engine/src/x.rs", "fn f() { dbg!(1); }\n", false);
        assert_eq!(found.len(), 2);
        let known = [
            ("engine/src/x.rs", "module-header"),
            ("engine/src/x.rs", "debug-macro"),
        ];
        assert_eq!(unknown_or_stale(&found, &known), "");
        let report = unknown_or_stale(&found, &known[..1]);
        assert_eq!(
            report,
            "engine/src/x.rs:1: debug-macro: `dbg!(` in non-test code\n"
        );
        let stale = [known[0], known[1], ("engine/src/y.rs", "rocksdb")];
        assert_eq!(
            unknown_or_stale(&found, &stale),
            "KNOWN_VIOLATIONS: (\"engine/src/y.rs\", \"rocksdb\") no longer matches anything; remove it\n"
        );
    }

    #[test]
    fn masking_keeps_lines_and_separates_literals() {
        let text = "a /* b\n /* nested */ c */ d\n'\"' 'x' '\\'' f<'a>(x: &'a str)\nr##\"q \"# \"## \"s\\\"t\" // e\n";
        let masked = mask(text);
        assert_eq!(masked.code.lines().count(), text.lines().count());
        assert_eq!(masked.code.chars().count(), text.chars().count());
        let code: Vec<&str> = masked.code.lines().collect();
        assert_eq!(code[0].trim(), "a");
        assert_eq!(code[1].trim(), "d");
        assert_eq!(code[2], "' ' ' ' '  ' f<'a>(x: &'a str)");
        assert_eq!(code[3].trim_end(), "r##\"     \"## \"    \"");
        assert!(masked
            .comments
            .lines()
            .nth(3)
            .is_some_and(|c| c.trim() == "// e"));
        let strings: Vec<(usize, &str)> = masked
            .strings
            .iter()
            .map(|(l, s)| (*l, s.as_str()))
            .collect();
        assert_eq!(strings, [(4, "q \"# "), (4, "s\\\"t")]);
        // A raw identifier is not a raw string.
        assert_eq!(mask("r#type = \"x\"").strings, [(1, "x".to_owned())]);
    }

    #[test]
    fn architecture_paths_resolve_by_code_map_section() {
        let tree = [
            "engine/",
            "engine/Cargo.toml",
            "engine/src/",
            "engine/src/oci/",
            "engine/src/oci/upload_protocol.rs",
            "engine/src/clock.rs",
            "tests/",
            "tests/support/",
            "scripts/",
            "scripts/compare.sh",
            "docs/",
            "docs/design/storage.md",
        ];
        let exists = |rel: &str| tree.contains(&rel);
        let doc = "# Architecture\n\
            See `docs/design/storage.md` and (engine/src/oci/, engine/src/gone.rs).\n\
            ```text\n\
            shard (engine/src/blob/)\n\
            ```\n\
            ## Code map\n\
            - `engine/` — the engine.\n\
            \x20 - `oci/` — types (`upload_protocol.rs`: rules; `Digest`, `a b/c`, `/token`).\n\
            \x20 - `clock.rs` — time; see `oci/upload_protocol.rs`.\n\
            \x20 - `meta/` — missing, and so is `schema.rs` under it.\n\
            - `tests/` — `support/` on `127.0.0.1:0`; `scripts/compare.sh`; `upload_protocol.rs`.\n\
            ## Invariants\n\
            - `clock.rs` and `blobs/` are not checked outside the code map.\n";
        let found: Vec<(usize, String)> = architecture_paths("ARCHITECTURE.md", doc, &exists)
            .into_iter()
            .map(|v| (v.line, v.what))
            .collect();
        assert_eq!(
            found,
            [
                (2, "`engine/src/gone.rs` does not exist".to_owned()),
                (4, "`engine/src/blob/` does not exist".to_owned()),
                (
                    10,
                    "`meta/` (read as `engine/src/meta/`) does not exist".to_owned()
                ),
                (
                    10,
                    "`schema.rs` (read as `engine/src/meta/schema.rs`) does not exist".to_owned()
                ),
                (
                    11,
                    "`upload_protocol.rs` (read as `tests/upload_protocol.rs`) does not exist"
                        .to_owned()
                ),
            ]
        );
    }
}
