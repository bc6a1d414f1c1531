//! The environment table of `docs/ARCHITECTURE.md` matches the code.
//!
//! Every environment variable the product reads (the functions, the crates they are built from
//! and the CLI) must be named in the doc's environment section, and every `CLAWKEEPER_*` variable
//! the doc names must really be read somewhere: by the product, or by the test and benchmark
//! harness (its own table in the doc). The template may only set variables the product reads.
//!
//! "Read" means found in the Rust sources by plain scanning, wherever the read happens:
//! - a string literal that is exactly a `CLAWKEEPER_*` name (a `vars::` constant, a `from_lookup`
//!   match arm, a `const NAME_VAR: &str = "..."`, a literal passed to `std::env::var`...);
//! - any other upper-case literal passed to `env::var(` / `env::var_os(` (or `var(` / `var_os(`
//!   after an import), directly or through a `const` of the scanned files;
//! - the value of a `const` inside a `mod vars { ... }` (the product's home for the names of the
//!   variables a `from_lookup` reads, whatever their prefix);
//! - the few library calls that read the environment on our behalf ([`INDIRECT`]).
//!
//! Comments are skipped (a name mentioned in a doc comment is not a read). `env!` and
//! `option_env!` are compile-time and not reads of the running program.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The product: every `.rs` file below these folders of the workspace.
const PRODUCT_DIRS: &[&str] = &["crates", "functions", "cli"];
/// Folders never scanned as product code: build output, and test-only or bench-only code.
const SKIPPED_DIRS: &[&str] = &["target", "tests", "benches", "node_modules", ".git"];
/// The harness (tests, benchmarks, demo, build scripts): may read variables of its own, which the
/// doc lists in a separate table; they only count for the "no stale row" check.
const HARNESS_RUST_DIRS: &[&str] = &["tests/src", "tests/tests"];
const HARNESS_TEXT_FILES: &[&str] = &["Makefile"];
const HARNESS_TEXT_DIRS: &[&str] = &["scripts", "tests/iam", "tests/template"];

/// Variables read by test-only code inside product source files (`#[cfg(test)]` modules, which a
/// plain scan cannot tell apart), with the reason they are not part of the product's contract.
const TEST_ONLY: &[(&str, &str)] = &[(
    "PROPTEST_CASES",
    "case count of the proptest fuzzing in `#[cfg(test)] mod fuzz` of functions/control/src/request.rs; \
     a test knob, listed with the harness variables",
)];

/// Library calls in our code that read variables for us.
const INDIRECT: &[(&str, &[&str])] = &[
    // std::env::temp_dir(): the scratch dir of snapshot and restore.
    ("temp_dir(", &["TMPDIR"]),
    // The functions' credentials (crates/aws/src/sdk.rs), read when a first call signs.
    (
        "EnvironmentVariableCredentialsProvider::new(",
        &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"],
    ),
];

const DOC: &str = "docs/ARCHITECTURE.md";
const PREFIX: &str = "CLAWKEEPER_";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_path_buf()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// Every file below `dir` (recursively) whose name ends with one of `suffixes` (all when empty),
/// skipping [`SKIPPED_DIRS`] when `skip_test_dirs`.
fn files_below(dir: &Path, suffixes: &[&str], skip_test_dirs: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            let skipped = if skip_test_dirs {
                SKIPPED_DIRS.contains(&name)
            } else {
                matches!(name, "target" | "node_modules" | ".git" | "__pycache__")
            };
            if !skipped {
                files_below(&path, suffixes, skip_test_dirs, out);
            }
        } else if suffixes.is_empty() || suffixes.iter().any(|s| name.ends_with(s)) {
            out.push(path);
        }
    }
}

// ---------------------------------------------------------------- a small Rust lexer

/// A Rust source with comments and string contents blanked out (`code`, same length in chars),
/// and the string literals found: (index of the opening quote in `code`, contents).
struct Lexed {
    code: Vec<char>,
    literals: Vec<(usize, String)>,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn lex(source: &str) -> Lexed {
    let s: Vec<char> = source.chars().collect();
    let mut code = s.clone();
    let mut literals = Vec::new();
    let blank = |code: &mut Vec<char>, from: usize, to: usize| {
        for c in code.iter_mut().take(to.min(s.len())).skip(from) {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            let end = s[i..].iter().position(|&c| c == '\n').map_or(s.len(), |p| i + p);
            blank(&mut code, i, end);
            i = end;
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let (mut depth, mut j) = (1, i + 2);
            while j < s.len() && depth > 0 {
                if s[j] == '/' && s.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if s[j] == '*' && s.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut code, i, j);
            i = j;
        } else if c == 'r' && (i == 0 || !is_ident(s[i - 1]) || s[i - 1] == 'b') && matches!(next, Some('"' | '#')) {
            // A raw string r"..." / r#"..."# (also after b); `r#ident` is a raw identifier.
            let hashes = s[i + 1..].iter().take_while(|&&c| c == '#').count();
            let quote = i + 1 + hashes;
            if s.get(quote) != Some(&'"') {
                i += 1;
                continue;
            }
            let closing: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let mut j = quote + 1;
            while j < s.len() && !s[j..].starts_with(&closing) {
                j += 1;
            }
            literals.push((quote, s[quote + 1..j.min(s.len())].iter().collect()));
            blank(&mut code, quote + 1, j);
            i = j + closing.len();
        } else if c == '"' {
            let mut content = String::new();
            let mut j = i + 1;
            while j < s.len() && s[j] != '"' {
                if s[j] == '\\' {
                    content.push(s[j]);
                    j += 1;
                }
                if j < s.len() {
                    content.push(s[j]);
                }
                j += 1;
            }
            literals.push((i, content));
            blank(&mut code, i + 1, j);
            i = j + 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}', '"') or a lifetime ('a).
            if next == Some('\\') {
                // Skip the backslash and the escaped char, then find the closing quote.
                let end = s.get(i + 3..).and_then(|rest| rest.iter().position(|&c| c == '\''));
                let end = end.map_or(s.len(), |p| i + 3 + p + 1);
                blank(&mut code, i + 1, end.saturating_sub(1));
                i = end;
            } else if s.get(i + 2) == Some(&'\'') {
                blank(&mut code, i + 1, i + 2);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    Lexed { code, literals }
}

/// The code before index `at`, without trailing whitespace and a raw-string prefix (`r#`, `b`).
fn code_before(code: &[char], at: usize) -> String {
    let mut end = at;
    while end > 0 && (code[end - 1].is_whitespace() || code[end - 1] == '#') {
        end -= 1;
    }
    if end > 0 && code[end - 1] == 'r' {
        end -= 1;
    }
    if end > 0 && code[end - 1] == 'b' {
        end -= 1;
    }
    let start = end.saturating_sub(200);
    code[start..end].iter().collect::<String>().trim_end().to_string()
}

/// `var(` or `var_os(` as a whole word (`env::var(`, `std::env::var_os(`, `var(` after an import).
fn is_env_call(before: &str) -> bool {
    ["var(", "var_os("].iter().any(|call| {
        before
            .strip_suffix(call)
            .is_some_and(|rest| !rest.chars().last().is_some_and(is_ident))
    })
}

fn is_env_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn is_clawkeeper_name(name: &str) -> bool {
    name.len() > PREFIX.len() && name.starts_with(PREFIX) && is_env_name(name)
}

/// Variable name -> files reading it.
type Reads = BTreeMap<String, BTreeSet<String>>;

/// The variables read by these Rust files.
fn rust_reads(files: &[PathBuf]) -> Reads {
    let lexed: Vec<(String, Lexed)> = files
        .iter()
        .map(|path| {
            let source = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (relative(path), lex(&source))
        })
        .collect();
    // `const NAME: &str = "VALUE";` of every file, to resolve `env::var(NAME)`.
    let mut consts: BTreeMap<String, String> = BTreeMap::new();
    let mut reads = Reads::new();
    let mut add = |name: &str, file: &str| {
        reads.entry(name.to_string()).or_default().insert(file.to_string());
    };
    for (path, file) in &lexed {
        let vars_blocks = mod_blocks(&file.code, "vars");
        for (at, content) in &file.literals {
            let before = code_before(&file.code, *at);
            let Some(decl) = before
                .strip_suffix('=')
                .map(str::trim_end)
                .and_then(|d| d.strip_suffix("&str").or_else(|| d.strip_suffix("&'static str")))
                .map(str::trim_end)
                .and_then(|d| d.strip_suffix(':'))
                .map(str::trim_end)
            else {
                continue;
            };
            let ident: String = decl.chars().rev().take_while(|&c| is_ident(c)).collect();
            let ident: String = ident.chars().rev().collect();
            if decl[..decl.len() - ident.len()].trim_end().ends_with("const") {
                if is_env_name(content) && vars_blocks.iter().any(|block| block.contains(at)) {
                    add(content, path);
                }
                consts.insert(ident, content.clone());
            }
        }
    }
    for (file, lexed) in &lexed {
        for (at, content) in &lexed.literals {
            if is_clawkeeper_name(content) || (is_env_name(content) && is_env_call(&code_before(&lexed.code, *at))) {
                add(content, file);
            }
        }
        let code: String = lexed.code.iter().collect();
        // `env::var(SOME_CONST)` / `env::var(vars::SOME_CONST)`.
        for call in ["var(", "var_os("] {
            for (pos, _) in code.match_indices(call) {
                if code[..pos].chars().last().is_some_and(is_ident) {
                    continue;
                }
                let arg: String = code[pos + call.len()..]
                    .chars()
                    .take_while(|&c| is_ident(c) || c == ':')
                    .collect();
                if let Some(value) = arg.rsplit("::").next().and_then(|ident| consts.get(ident))
                    && is_env_name(value)
                {
                    add(value, file);
                }
            }
        }
        for (call, names) in INDIRECT {
            if code.contains(call) {
                for name in *names {
                    add(name, file);
                }
            }
        }
    }
    reads
}

/// The spans (from `mod` to the closing brace) of every `mod <name> { ... }` in `code`, whose
/// comments and string contents are blanked, so every brace left is Rust's.
fn mod_blocks(code: &[char], name: &str) -> Vec<std::ops::Range<usize>> {
    let text: String = code.iter().collect();
    let mut blocks = Vec::new();
    let pattern = format!("mod {name}");
    for (byte_pos, _) in text.match_indices(&pattern) {
        let start = text[..byte_pos].chars().count();
        let after = start + pattern.chars().count();
        if code.get(start.wrapping_sub(1)).is_some_and(|&c| is_ident(c))
            || code.get(after).is_some_and(|&c| is_ident(c))
        {
            continue;
        }
        let Some(open) = code[after..]
            .iter()
            .position(|&c| !c.is_whitespace())
            .map(|p| after + p)
        else {
            continue;
        };
        if code[open] != '{' {
            continue; // `mod vars;`: its file is scanned on its own.
        }
        let mut depth = 0usize;
        for (i, &c) in code.iter().enumerate().skip(open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        blocks.push(start..i + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    blocks
}

/// `CLAWKEEPER_*` names anywhere in a text (a doc, a template, a shell script).
fn clawkeeper_tokens(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (pos, _) in text.match_indices(PREFIX) {
        if text[..pos].chars().last().is_some_and(is_ident) {
            continue;
        }
        let name: String = text[pos..].chars().take_while(|&c| is_ident(c)).collect();
        if is_clawkeeper_name(&name) {
            names.insert(name);
        }
    }
    names
}

fn product_reads() -> Reads {
    let mut files = Vec::new();
    for dir in PRODUCT_DIRS {
        files_below(&root().join(dir), &[".rs"], true, &mut files);
    }
    assert!(
        files.len() > 20,
        "found only {} product sources below {PRODUCT_DIRS:?}: is the scan looking in the right place?",
        files.len()
    );
    rust_reads(&files)
}

/// Names the harness reads: its Rust code, and `CLAWKEEPER_*` names in its scripts.
fn harness_reads() -> BTreeSet<String> {
    let mut rust = Vec::new();
    for dir in HARNESS_RUST_DIRS {
        files_below(&root().join(dir), &[".rs"], false, &mut rust);
    }
    let mut names: BTreeSet<String> = rust_reads(&rust).into_keys().collect();
    let mut text = Vec::new();
    for dir in HARNESS_TEXT_DIRS {
        files_below(&root().join(dir), &[".sh", ".py", ".mjs"], false, &mut text);
    }
    text.extend(HARNESS_TEXT_FILES.iter().map(|f| root().join(f)));
    for path in text {
        names.extend(clawkeeper_tokens(&fs::read_to_string(&path).unwrap_or_default()));
    }
    names
}

/// The doc's environment section: from the first `## ` heading that mentions the environment
/// to the next `## ` heading.
fn environment_section(doc: &str) -> String {
    let mut section = Vec::new();
    let mut inside = false;
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            if inside {
                break;
            }
            inside = heading.to_ascii_lowercase().contains("environment");
            continue;
        }
        if inside {
            section.push(line);
        }
    }
    assert!(
        !section.is_empty(),
        "{DOC} has no `## ...environment...` section: the variables of the code must be documented there"
    );
    section.join("\n")
}

/// The part of the environment section under a `### ` heading that mentions standard variables.
fn standard_subsection(section: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for line in section.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            inside = heading.to_ascii_lowercase().contains("standard");
            continue;
        }
        if inside {
            out.push(line);
        }
    }
    out.join("\n")
}

/// Backquoted names (`NAME`) in a text.
fn quoted_names(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| is_env_name(t))
        .map(str::to_string)
        .collect()
}

/// Names in the first cell of the table rows of a text.
fn table_row_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix('|'))
        .filter_map(|l| l.split('|').next())
        .flat_map(|cell| quoted_names(&format!(" {cell} ")))
        .collect()
}

fn read_doc() -> String {
    fs::read_to_string(root().join(DOC)).unwrap_or_else(|e| panic!("cannot read {DOC}: {e}"))
}

fn listing(names: &BTreeMap<&String, &BTreeSet<String>>) -> String {
    names
        .iter()
        .map(|(name, files)| {
            format!(
                "  {name} (read in {})",
                files.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_variable_the_code_reads_is_in_the_environment_table() {
    let reads = product_reads();
    let doc = read_doc();
    let section = environment_section(&doc);
    let documented = quoted_names(&section);
    let rows = table_row_names(&section);
    let standard = quoted_names(&standard_subsection(&section));

    let test_only: BTreeSet<&str> = TEST_ONLY.iter().map(|(name, _)| *name).collect();
    for (name, reason) in TEST_ONLY {
        assert!(
            reads.contains_key(*name),
            "{name} is allow-listed as test-only ({reason}) but no longer read: remove it from TEST_ONLY"
        );
    }
    let product: BTreeMap<&String, &BTreeSet<String>> = reads
        .iter()
        .filter(|(name, _)| !test_only.contains(name.as_str()))
        .collect();
    assert!(
        product.keys().any(|n| n.as_str() == "CLAWKEEPER_TABLE"),
        "the scan found no read of CLAWKEEPER_TABLE: the scanner is broken, not the doc"
    );
    assert!(
        product.keys().any(|n| n.as_str() == "AWS_USE_FIPS_ENDPOINT"),
        "the scan found no read of AWS_USE_FIPS_ENDPOINT (a `vars` constant of crates/aws/src/sdk.rs \
         read through `from_lookup`): the scanner is broken, not the doc"
    );

    // CLAWKEEPER_* variables: a row of a table of the section each.
    let missing_rows: BTreeMap<_, _> = product
        .iter()
        .filter(|(name, _)| name.starts_with(PREFIX) && !rows.contains(name.as_str()))
        .map(|(n, f)| (*n, *f))
        .collect();
    // AWS_* variables: in the section's "standard" subsection.
    let missing_standard: BTreeMap<_, _> = product
        .iter()
        .filter(|(name, _)| name.starts_with("AWS_") && !standard.contains(name.as_str()))
        .map(|(n, f)| (*n, *f))
        .collect();
    // Anything else (USER, TMPDIR, RUST_LOG...): named somewhere in the section.
    let missing_other: BTreeMap<_, _> = product
        .iter()
        .filter(|(name, _)| {
            !name.starts_with(PREFIX) && !name.starts_with("AWS_") && !documented.contains(name.as_str())
        })
        .map(|(n, f)| (*n, *f))
        .collect();

    let mut problems = Vec::new();
    if !missing_rows.is_empty() {
        problems.push(format!(
            "CLAWKEEPER_* variables read by the code without a row in {DOC}'s environment tables:\n{}",
            listing(&missing_rows)
        ));
    }
    if !missing_standard.is_empty() {
        problems.push(format!(
            "standard AWS variables read by the code but not listed under the environment section's \
             `### ... standard ...` heading of {DOC}:\n{}",
            listing(&missing_standard)
        ));
    }
    if !missing_other.is_empty() {
        problems.push(format!(
            "other variables read by the code but not named in {DOC}'s environment section:\n{}",
            listing(&missing_other)
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn every_clawkeeper_variable_the_doc_names_is_read() {
    let doc = read_doc();
    let product: BTreeSet<String> = product_reads().into_keys().collect();
    let harness = harness_reads();
    let stale: Vec<String> = clawkeeper_tokens(&doc)
        .into_iter()
        .filter(|name| !product.contains(name) && !harness.contains(name))
        .collect();
    assert!(
        stale.is_empty(),
        "{DOC} names variables that neither the product nor the test harness reads (stale rows?): {}",
        stale.join(", ")
    );
}

#[test]
fn every_clawkeeper_variable_the_template_sets_is_read() {
    let template = fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let product: BTreeSet<String> = product_reads().into_keys().collect();
    let unread: Vec<String> = clawkeeper_tokens(&template)
        .into_iter()
        .filter(|name| !product.contains(name))
        .collect();
    assert!(
        unread.is_empty(),
        "template.yaml sets variables no function reads: {}",
        unread.join(", ")
    );
}

// ---------------------------------------------------------------- the scanner itself

#[test]
fn the_scanner_finds_reads_and_skips_comments_and_compile_time_env() {
    let source = r####"
        //! `CLAWKEEPER_IN_A_DOC_COMMENT` is not read.
        /* "CLAWKEEPER_IN_A_BLOCK_COMMENT" /* nested */ still a comment */
        const STALE: &str = "CLAWKEEPER_VIA_CONST";
        const OTHER_VAR: &'static str = "OTHER_VIA_CONST";
        fn f() {
            let a = std::env::var("PLAIN_CALL");
            let b = env::var_os( "WITH_SPACE" );
            let c = std::env::var(OTHER_VAR);
            let d = lookup(vars::STALE);
            let e = env!("CARGO_MANIFEST_DIR");
            let g = option_env!("COMPILE_TIME");
            let h = format!("not a call: {}", "LOUD_WORD");
            let i = '"'; let j = "CLAWKEEPER_AFTER_A_QUOTE_CHAR";
            let k = (r#"{"json":"CLAWKEEPER_IN_JSON"}"#, r#"CLAWKEEPER_RAW"#, '\'', "CLAWKEEPER_AFTER_ESCAPE");
            let l = my_var("NOT_ENV");
            let m: &'static str = "x"; let n = std::env::temp_dir();
        }
    "####;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sample.rs");
    fs::write(&path, source).expect("write sample");
    let reads: BTreeSet<String> = rust_reads(&[path]).into_keys().collect();
    // Built at run time, so this file itself reads none of them (it is scanned as harness code).
    let expected: BTreeSet<String> = ["VIA_CONST", "AFTER_A_QUOTE_CHAR", "RAW", "AFTER_ESCAPE"]
        .iter()
        .map(|suffix| format!("{PREFIX}{suffix}"))
        .chain(["OTHER_VIA_CONST", "PLAIN_CALL", "WITH_SPACE", "TMPDIR"].map(str::to_string))
        .collect();
    assert_eq!(reads, expected);
}
