//! Every file path the docs cite exists: a doc that points a reader to a moved or deleted file
//! fails here, with the doc and the path.

use std::fs;
use std::path::Path;

/// The docs a user or engineer reads.
const DOCS: &[&str] = &[
    "README.md",
    "docs/ARCHITECTURE.md",
    "docs/RELIABILITY.md",
    "docs/BENCHMARKS.md",
    "docs/NOTICES.md",
];
/// Extensions of the files docs cite.
const EXTENSIONS: &[&str] = &[".rs", ".py", ".mjs", ".sh", ".yaml", ".md", ".toml", ".json"];

/// Paths in backticks with at least one `/` and a known extension (globs skipped).
fn cited_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.contains('/') && !s.contains(['*', ' ', '<', '{']) && !s.starts_with("http"))
        .filter(|s| EXTENSIONS.iter().any(|e| s.ends_with(e)))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_path_a_doc_cites_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in DOCS {
        let text = fs::read_to_string(root.join(doc)).unwrap_or_else(|e| panic!("{doc}: {e}"));
        for path in cited_paths(&text) {
            checked += 1;
            if !root.join(&path).exists() {
                missing.push(format!("{doc} cites {path}"));
            }
        }
    }
    assert!(
        checked > 20,
        "the docs cite files ({checked} found): the scan still sees them"
    );
    assert!(missing.is_empty(), "paths that do not exist:\n{}", missing.join("\n"));
}

#[test]
fn the_scan_finds_a_cited_path_and_skips_globs() {
    let text = "see `crates/core/src/engine.rs` and `functions/*/src/main.rs`, not `x.rs` or `a b/c.rs`";
    assert_eq!(cited_paths(text), ["crates/core/src/engine.rs"]);
}
