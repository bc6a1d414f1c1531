//! What a snapshot leaves out, following OpenClaw's own backup rules (checked against
//! `openclaw@2026.9.6`, `backup-shared`): regenerable managed roots, live-mutation paths whose
//! content has durable equivalents, and transient names (sockets, pid and temp files). Pure
//! functions over paths relative to an asset root, so every rule is unit-tested.

/// Why a path is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// Rebuilt by OpenClaw or its installer (`tmp/`, `npm/`, `node_modules`...).
    Regenerable,
    /// Changes constantly and has no restore value (logs, sockets, queues, pid files).
    Volatile,
}

impl Exclusion {
    /// The reason word OpenClaw uses in its manifest.
    pub fn reason(self) -> &'static str {
        match self {
            Exclusion::Regenerable => "regenerable",
            Exclusion::Volatile => "volatile",
        }
    }
}

/// Top-level directories of the state dir that OpenClaw treats as managed, rebuildable roots.
const MANAGED_STATE_ROOTS: &[&str] = &["dev", "git", "npm", "npm-runtime", "tmp", "tools", "plugin-skills"];

/// Name of the marker file of a private update capture directory (always excluded).
pub const PRIVATE_CAPTURE_MARKER: &str = ".openclaw-private-update-capture";

/// True for names OpenClaw treats as transient anywhere: `*.sock`, `*.pid`, `*.tmp`, `*.tmp.*`.
pub fn is_transient_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let has_stem = |suffix: &str| lower.len() > suffix.len() && lower.ends_with(suffix);
    if has_stem(".sock") || has_stem(".pid") || has_stem(".tmp") {
        return true;
    }
    // `<name>.tmp.<anything>`, with a non-empty name before it.
    lower.find(".tmp.").is_some_and(|i| i > 0)
}

/// True for a SQLite sidecar (`-wal`, `-shm`, `-journal`) of a database named `*.sqlite`,
/// `*.sqlite3` or `*.db`: never archived, the database goes through the online backup API.
pub fn is_sqlite_sidecar(name: &str) -> bool {
    sqlite_sidecar_owner(name).is_some()
}

/// The database name a sidecar belongs to.
pub fn sqlite_sidecar_owner(name: &str) -> Option<&str> {
    ["-wal", "-shm", "-journal"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .filter(|db| is_sqlite_name(db))
}

/// True for names that may hold a SQLite database (confirmed by the file header).
pub fn is_sqlite_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".sqlite", ".sqlite3", ".db"]
        .iter()
        .any(|ext| lower.len() > ext.len() && lower.ends_with(ext))
}

fn has_ext(name: &str, exts: &[&str]) -> bool {
    let lower = name.to_ascii_lowercase();
    exts.iter().any(|ext| lower.ends_with(ext))
}

/// Whether a path of the state dir is left out. `parts` are the components relative to the
/// state dir; `is_dir` tells directories from files.
pub fn state_exclusion(parts: &[&str], is_dir: bool) -> Option<Exclusion> {
    let (Some(first), Some(name)) = (parts.first(), parts.last()) else {
        return None;
    };
    if parts.contains(&"node_modules") {
        return Some(Exclusion::Regenerable);
    }
    if parts.len() == 1 && is_dir && MANAGED_STATE_ROOTS.contains(first) {
        return Some(Exclusion::Regenerable);
    }
    if parts.len() >= 2 && *first == "cache" && parts[1] == "control-ui-assets" {
        return Some(Exclusion::Volatile);
    }
    if parts.len() >= 2 && *first == "sandbox" && parts[1] == "skills-workspaces" {
        return Some(Exclusion::Volatile);
    }
    // Agent-scoped temporary trees: agents/<id>/agent/**/{tmp,.tmp}/.
    if parts.len() >= 4
        && *first == "agents"
        && parts[2] == "agent"
        && parts[3..].iter().any(|p| *p == "tmp" || *p == ".tmp")
        && (is_dir || parts[3..parts.len() - 1].iter().any(|p| *p == "tmp" || *p == ".tmp"))
    {
        return Some(Exclusion::Regenerable);
    }
    if !is_dir {
        let log_like = has_ext(name, &[".jsonl", ".log"]);
        if log_like && (*first == "sessions" || *first == "logs") {
            return Some(Exclusion::Volatile);
        }
        if log_like && parts.len() >= 3 && *first == "cron" && parts[1] == "runs" {
            return Some(Exclusion::Volatile);
        }
        if log_like && parts.len() >= 4 && *first == "agents" && parts[2] == "sessions" {
            return Some(Exclusion::Volatile);
        }
        if (*first == "delivery-queue" || *first == "session-delivery-queue")
            && has_ext(name, &[".json", ".delivered", ".tmp"])
        {
            return Some(Exclusion::Volatile);
        }
        if parts.len() == 4
            && *first == "browser"
            && parts[2] == "user-data"
            && matches!(*name, "SingletonCookie" | "SingletonLock" | "SingletonSocket")
        {
            return Some(Exclusion::Volatile);
        }
        if is_transient_name(name) {
            return Some(Exclusion::Volatile);
        }
    }
    None
}

/// Whether a path of another asset (the auth-profile key dir) is left out: transient names only.
pub fn other_exclusion(parts: &[&str], is_dir: bool) -> Option<Exclusion> {
    if parts.contains(&"node_modules") {
        return Some(Exclusion::Regenerable);
    }
    match parts.last() {
        Some(name) if !is_dir && is_transient_name(name) => Some(Exclusion::Volatile),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(path: &str, is_dir: bool) -> Option<Exclusion> {
        let parts: Vec<&str> = path.split('/').collect();
        state_exclusion(&parts, is_dir)
    }

    #[test]
    fn managed_roots_and_caches_are_left_out() {
        for dir in ["tmp", "npm", "tools", "git", "dev", "npm-runtime", "plugin-skills"] {
            assert_eq!(state(dir, true), Some(Exclusion::Regenerable), "{dir}");
        }
        assert_eq!(state("tmp", false), None, "only the directory is a managed root");
        assert_eq!(state("cache/control-ui-assets", true), Some(Exclusion::Volatile));
        assert_eq!(state("cache/other", true), None);
        assert_eq!(state("extensions/x/node_modules", true), Some(Exclusion::Regenerable));
        assert_eq!(state("agents/main/agent/tmp", true), Some(Exclusion::Regenerable));
        assert_eq!(
            state("agents/main/agent/home/.tmp/x", false),
            Some(Exclusion::Regenerable)
        );
        assert_eq!(state("agents/main/agent/openclaw-agent.sqlite", false), None);
        assert_eq!(state("sandbox/skills-workspaces", true), Some(Exclusion::Volatile));
    }

    #[test]
    fn live_mutation_files_are_left_out() {
        assert_eq!(state("logs/gateway.log", false), Some(Exclusion::Volatile));
        assert_eq!(state("logs/config-health.json", false), None);
        assert_eq!(
            state("agents/main/sessions/abc.jsonl", false),
            Some(Exclusion::Volatile)
        );
        assert_eq!(state("cron/runs/job/1.log", false), Some(Exclusion::Volatile));
        assert_eq!(state("delivery-queue/42.json", false), Some(Exclusion::Volatile));
        assert_eq!(
            state("browser/p/user-data/SingletonLock", false),
            Some(Exclusion::Volatile)
        );
        assert_eq!(state("browser/p/user-data/Cookies", false), None);
        assert_eq!(state("gateway.pid", false), Some(Exclusion::Volatile));
        assert_eq!(state("credentials/x.sock", false), Some(Exclusion::Volatile));
        assert_eq!(state("openclaw.json.tmp.1234", false), Some(Exclusion::Volatile));
        assert_eq!(state("credentials/whatsapp/a/creds.json", false), None);
        assert_eq!(state("openclaw.json", false), None);
        assert_eq!(state(".tmp", false), None, "a bare dot-name is not a temp file");
    }

    #[test]
    fn sqlite_names_and_sidecars() {
        assert!(is_sqlite_name("openclaw.sqlite"));
        assert!(is_sqlite_name("x.DB"));
        assert!(!is_sqlite_name(".sqlite"));
        assert!(is_sqlite_sidecar("openclaw.sqlite-wal"));
        assert!(is_sqlite_sidecar("openclaw.sqlite-journal"));
        assert!(is_sqlite_sidecar("x.db-shm"));
        assert!(!is_sqlite_sidecar("notes-wal"));
        assert_eq!(sqlite_sidecar_owner("a.sqlite-wal"), Some("a.sqlite"));
    }

    #[test]
    fn other_assets_drop_transient_names_only() {
        assert_eq!(other_exclusion(&["auth.key"], false), None);
        assert_eq!(other_exclusion(&["x.tmp"], false), Some(Exclusion::Volatile));
        assert_eq!(other_exclusion(&["tmp"], true), None);
    }
}
