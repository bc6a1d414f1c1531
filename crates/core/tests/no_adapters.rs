//! The core stays free of adapters: no crate it depends on (directly or through others) is an AWS
//! SDK, an HTTP stack, an async runtime, SQLite or an archive format. Read from the workspace's
//! `Cargo.lock`, starting at the normal (non-dev) dependencies in this crate's `Cargo.toml`, so a
//! dependency added anywhere down the graph fails here with its path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Crate names (or name prefixes ending in `-`/`_`) that belong in an adapter crate, never here.
const FORBIDDEN: &[&str] = &[
    "aws-",
    "aws_",
    "lambda_runtime",
    "hyper",
    "http",
    "rustls",
    "tokio",
    "rusqlite",
    "libsqlite3-sys",
    "tar",
    "flate2",
];

fn forbidden(name: &str) -> bool {
    FORBIDDEN.iter().any(|f| {
        if f.ends_with('-') || f.ends_with('_') {
            name.starts_with(f)
        } else {
            name == *f || name.starts_with(&format!("{f}-")) || name.starts_with(&format!("{f}_"))
        }
    })
}

/// The names under `[dependencies]` of a Cargo.toml (`name = ...` or `name.workspace = true`).
fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if !in_deps || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split(['=', '.']).next().unwrap_or("").trim();
        if !name.is_empty() {
            names.push(name.to_string());
        }
    }
    names
}

/// `name -> dependency names` from Cargo.lock (versions dropped: one name, one node is enough to
/// find a forbidden crate).
fn lock_graph(lock: &str) -> BTreeMap<String, Vec<String>> {
    let mut graph = BTreeMap::new();
    for package in lock.split("[[package]]").skip(1) {
        let mut name = None;
        let mut deps = Vec::new();
        let mut in_deps = false;
        for line in package.lines().map(str::trim) {
            if let Some(value) = line.strip_prefix("name = ") {
                name = Some(value.trim_matches('"').to_string());
            } else if line.starts_with("dependencies = [") {
                in_deps = !line.ends_with(']');
            } else if in_deps {
                if line.starts_with(']') {
                    in_deps = false;
                } else {
                    let dep = line.trim_matches(|c| c == '"' || c == ',');
                    deps.push(dep.split_whitespace().next().unwrap_or("").to_string());
                }
            }
        }
        if let Some(name) = name {
            graph.entry(name).or_insert_with(Vec::new).extend(deps);
        }
    }
    graph
}

#[test]
fn the_core_depends_on_no_sdk_http_runtime_or_database() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(core.join("Cargo.toml")).expect("read Cargo.toml");
    let lock = std::fs::read_to_string(core.join("../../Cargo.lock")).expect("read the workspace's Cargo.lock");
    let graph = lock_graph(&lock);
    assert!(
        graph.contains_key("clawkeeper-core"),
        "Cargo.lock knows clawkeeper-core"
    );
    let direct = normal_dependencies(&manifest);
    assert!(
        direct.contains(&"serde".to_string()),
        "the manifest was read: {direct:?}"
    );

    // Breadth-first from the direct dependencies, remembering how each crate was reached.
    let mut via: BTreeMap<String, String> = BTreeMap::new();
    let mut queue: Vec<String> = direct.clone();
    for d in &direct {
        via.insert(d.clone(), "clawkeeper-core".into());
    }
    let mut seen = BTreeSet::new();
    let mut bad = Vec::new();
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if forbidden(&name) {
            let mut path = vec![name.clone()];
            let mut at = name.clone();
            while let Some(parent) = via.get(&at) {
                path.push(parent.clone());
                at = parent.clone();
            }
            path.reverse();
            bad.push(path.join(" -> "));
        }
        for dep in graph.get(&name).into_iter().flatten() {
            via.entry(dep.clone()).or_insert_with(|| name.clone());
            queue.push(dep.clone());
        }
    }
    assert!(seen.len() > direct.len(), "the walk went past the direct dependencies");
    assert!(
        bad.is_empty(),
        "the core must not depend on adapters:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_recognises_what_it_forbids() {
    for name in [
        "aws-sdk-ecs",
        "aws-smithy-types",
        "hyper",
        "hyper-util",
        "tokio",
        "rusqlite",
        "http-body",
    ] {
        assert!(forbidden(name), "{name}");
    }
    for name in ["serde", "serde_json", "thiserror", "tracing", "itoa", "tarpc-free-name"] {
        assert!(!forbidden(name), "{name}");
    }
}
