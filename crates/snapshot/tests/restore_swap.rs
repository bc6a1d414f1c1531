//! A restore stopped at any point of its swap (after the journal is written, after each rename,
//! after the last one) is recovered to the state before it or the restored one, never a mix of
//! the two, for the state dir and the auth-profile key dir together. Stopped twice over: in
//! process (the swap's step hook panics, so nothing after it runs, as after a kill) and by a
//! real SIGKILL of a child process running the restore. Also: the deadline, and recovery on
//! its own.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use clawkeeper_snapshot::SnapshotError;
use clawkeeper_snapshot::restore::{
    JOURNAL_NAME, RecoverRequest, RecoveryAction, RestoreOptions, STAGING_PREFIX, recover_gateway,
    recover_interrupted_swap, restore_snapshot_with,
};
use support::{
    MemStore, capture_snapshot, gateway_view, put_snapshot, request, root_names, tree, write_keys, write_state,
};

const STAMP: &str = "20261125T214721Z";

/// What the restored root holds before the restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// A state dir and a key dir: 4 renames (each moved aside, each staged one in).
    Both,
    /// A state dir only: 3 renames.
    StateOnly,
    /// Nothing: 2 renames.
    Nothing,
}

impl Before {
    const ALL: [Before; 3] = [Before::Both, Before::StateOnly, Before::Nothing];

    fn renames(self) -> usize {
        match self {
            Before::Both => 4,
            Before::StateOnly => 3,
            Before::Nothing => 2,
        }
    }
}

/// `<tmp>/src` (the snapshot's gateway, version "new"), `<tmp>/root` (the restored one, as
/// `before` says, version "old"), `<tmp>/scratch`.
fn lay_out(tmp: &Path, before: Before) -> (PathBuf, PathBuf, PathBuf) {
    let (src, root, scratch) = (tmp.join("src"), tmp.join("root"), tmp.join("scratch"));
    for dir in [&src, &root, &scratch] {
        std::fs::create_dir_all(dir).expect("dir");
    }
    write_state(&src, "new");
    match before {
        Before::Both => write_state(&root, "old"),
        Before::StateOnly => {
            write_state(&root, "old");
            std::fs::remove_dir_all(root.join(".config")).expect("no keys");
        }
        Before::Nothing => {}
    }
    (src, root, scratch)
}

fn store_with_snapshot(src: &Path, scratch: &Path) -> (MemStore, String) {
    let store = MemStore::default();
    let snapshot = capture_snapshot(src, scratch, STAMP);
    put_snapshot(&store, &snapshot.key, snapshot.archive, Some(&snapshot.sidecar));
    (store, snapshot.key)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// After the recovery of a swap stopped after `k` of its renames: the old state when it was
/// rolled back, the new one when it was rolled forward, and nothing of the restore's own left.
fn check_recovered(root: &Path, src: &Path, before: Before, k: usize, old_view: &support::Views) {
    assert!(
        root.join(JOURNAL_NAME).exists(),
        "k={k}: the journal is there after the stop"
    );
    let recovery = recover_interrupted_swap(root)
        .expect("recovers")
        .expect("a journal was found");
    let n = before.renames();
    let view = gateway_view(root);
    if k == n {
        assert_eq!(recovery.action, RecoveryAction::RolledForward, "{before:?} k={k}");
        assert_eq!(view, gateway_view(src), "{before:?} k={k}: the restored state, whole");
    } else {
        assert_eq!(recovery.action, RecoveryAction::RolledBack, "{before:?} k={k}");
        assert_eq!(recovery.undone.len(), k, "{before:?} k={k}: {recovery:?}");
        assert_eq!(&view, old_view, "{before:?} k={k}: the state from before, whole");
    }
    let names = root_names(root);
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with(STAGING_PREFIX) || n.starts_with(".clawkeeper")),
        "{before:?} k={k}: {names:?}"
    );
    let kept = names.iter().filter(|n| n.contains(".pre-restore-")).count();
    let kept_keys = root_names(&root.join(".config"))
        .into_iter()
        .filter(|n| n.contains(".pre-restore-"))
        .count();
    match (k == n, before) {
        (true, Before::Both) => assert_eq!((kept, kept_keys), (1, 1), "{names:?}"),
        (true, Before::StateOnly) => assert_eq!((kept, kept_keys), (1, 0)),
        _ => assert_eq!(
            (kept, kept_keys),
            (0, 0),
            "{before:?} k={k}: rolled back, nothing kept aside"
        ),
    }
    // Nothing left to recover, and a second recovery is a no-op.
    assert!(recover_interrupted_swap(root).expect("again").is_none());
}

#[test]
fn a_swap_stopped_after_any_rename_recovers_to_the_old_or_the_new_state_never_a_mix() {
    let rt = runtime();
    for before in Before::ALL {
        // Uninterrupted first: the swap has exactly the renames counted here.
        {
            let tmp = tempfile::tempdir().expect("tempdir");
            let (src, root, scratch) = lay_out(tmp.path(), before);
            let (store, key) = store_with_snapshot(&src, &scratch);
            let steps = Arc::new(AtomicUsize::new(0));
            let seen = steps.clone();
            let options = RestoreOptions {
                on_swap_step: Some(Arc::new(move |k| {
                    seen.store(k, Ordering::SeqCst);
                })),
                ..RestoreOptions::default()
            };
            rt.block_on(restore_snapshot_with(&store, request(&root, &scratch, &key), options))
                .expect("restores");
            assert_eq!(steps.load(Ordering::SeqCst), before.renames(), "{before:?}");
            assert_eq!(gateway_view(&root), gateway_view(&src));
            assert!(!root.join(JOURNAL_NAME).exists());
            assert!(recover_interrupted_swap(&root).expect("nothing").is_none());
        }
        for k in 0..=before.renames() {
            let tmp = tempfile::tempdir().expect("tempdir");
            let (src, root, scratch) = lay_out(tmp.path(), before);
            let old_view = gateway_view(&root);
            let (store, key) = store_with_snapshot(&src, &scratch);
            // The hook panics at step k: nothing of the restore after it runs (no roll-back,
            // no journal removal, no staging cleanup), as after a kill.
            let options = RestoreOptions {
                on_swap_step: Some(Arc::new(move |step| {
                    if step == k {
                        panic!("stopped after {step} renames");
                    }
                })),
                ..RestoreOptions::default()
            };
            let err = rt
                .block_on(restore_snapshot_with(&store, request(&root, &scratch, &key), options))
                .expect_err("stopped");
            assert_eq!(err.error_type(), "Internal", "{err}");
            check_recovered(&root, &src, before, k, &old_view);
        }
    }
}

const CHILD_DIR: &str = "CLAWKEEPER_TEST_KILL_CHILD_DIR";
const CHILD_AT: &str = "CLAWKEEPER_TEST_KILL_CHILD_AT";
const STOPPED: &str = "SWAP-STOPPED";

/// Not a test on its own: the restore a child process runs for the SIGKILL test (returns at
/// once otherwise). It stops at step `CHILD_AT` of the swap, says so, and waits to be killed.
#[test]
fn kill_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let at: usize = std::env::var(CHILD_AT).expect("at").parse().expect("number");
    let dir = PathBuf::from(dir);
    let (src, root, scratch) = (dir.join("src"), dir.join("root"), dir.join("scratch"));
    let (store, key) = store_with_snapshot(&src, &scratch);
    let options = RestoreOptions {
        on_swap_step: Some(Arc::new(move |step| {
            if step == at {
                println!("{STOPPED} {step}");
                std::io::stdout().flush().expect("flush");
                std::thread::sleep(Duration::from_secs(300));
                std::process::exit(3);
            }
        })),
        ..RestoreOptions::default()
    };
    let result = runtime().block_on(restore_snapshot_with(&store, request(&root, &scratch, &key), options));
    panic!("the swap did not reach step {at}: {result:?}");
}

#[test]
fn a_restore_killed_by_sigkill_at_any_point_of_its_swap_is_recovered() {
    let exe = std::env::current_exe().expect("test binary");
    for before in [Before::Both, Before::StateOnly] {
        for k in 0..=before.renames() {
            let tmp = tempfile::tempdir().expect("tempdir");
            let (src, root, _) = lay_out(tmp.path(), before);
            let old_view = gateway_view(&root);
            let mut child = Command::new(&exe)
                .args(["--exact", "kill_child", "--nocapture", "--test-threads=1"])
                .env(CHILD_DIR, tmp.path())
                .env(CHILD_AT, k.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("child");
            let stdout = child.stdout.take().expect("stdout");
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                // libtest writes `test kill_child ... ` before it, on the same line.
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(at) = line.find(STOPPED) {
                        let _ = tx.send(line[at..].to_string());
                        return;
                    }
                }
            });
            let stopped = rx.recv_timeout(Duration::from_secs(120));
            // SIGKILL: no unwinding, no destructor, no cleanup of any kind, as a Lambda timeout.
            child.kill().expect("kill");
            let status = child.wait().expect("wait");
            assert_eq!(
                stopped.as_deref(),
                Ok(format!("{STOPPED} {k}").as_str()),
                "{before:?} k={k}"
            );
            assert!(!status.success(), "killed");
            check_recovered(&root, &src, before, k, &old_view);
        }
    }
}

#[test]
fn a_restore_after_a_killed_swap_recovers_first_and_says_so() {
    let rt = runtime();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (src, root, scratch) = lay_out(tmp.path(), Before::Both);
    let old_view = gateway_view(&root);
    let (store, key) = store_with_snapshot(&src, &scratch);
    // Stopped after the first rename: no `.openclaw` at all.
    let options = RestoreOptions {
        on_swap_step: Some(Arc::new(|step| {
            if step == 1 {
                panic!("stopped");
            }
        })),
        ..RestoreOptions::default()
    };
    rt.block_on(restore_snapshot_with(&store, request(&root, &scratch, &key), options))
        .expect_err("stopped");
    assert!(!root.join(".openclaw").exists());
    // The next restore puts the old state back first, then restores over it.
    let report = rt
        .block_on(restore_snapshot_with(
            &store,
            request(&root, &scratch, &key),
            RestoreOptions::default(),
        ))
        .expect("restores");
    assert!(
        report.warnings[0].contains("was interrupted during its swap and was rolled back"),
        "{:?}",
        report.warnings
    );
    assert_eq!(gateway_view(&root), gateway_view(&src));
    let previous = PathBuf::from(report.previous_state.expect("kept"));
    assert_eq!(
        tree(&previous),
        old_view.0,
        "the state kept aside is the one from before, whole"
    );
    assert!(!root.join(JOURNAL_NAME).exists());
}

#[test]
fn a_swap_that_fits_no_point_of_its_journal_is_refused_and_nothing_is_touched() {
    let rt = runtime();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (src, root, scratch) = lay_out(tmp.path(), Before::Both);
    let (store, key) = store_with_snapshot(&src, &scratch);
    let options = RestoreOptions {
        on_swap_step: Some(Arc::new(|step| {
            if step == 1 {
                panic!("stopped");
            }
        })),
        ..RestoreOptions::default()
    };
    rt.block_on(restore_snapshot_with(&store, request(&root, &scratch, &key), options))
        .expect_err("stopped");
    // Someone removes the state moved aside: both ends of the first rename are gone.
    let aside = root_names(&root)
        .into_iter()
        .find(|n| n.starts_with(".openclaw.pre-restore-"))
        .expect("moved aside");
    std::fs::remove_dir_all(root.join(&aside)).expect("removed by hand");
    let before = tree(&root);
    let err = recover_interrupted_swap(&root).expect_err("inconsistent");
    assert_eq!(err.error_type(), "InterruptedSwapUnresolved", "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("neither .openclaw nor {aside} exists")),
        "{message}"
    );
    assert!(message.contains("delete the journal and restore again"), "{message}");
    assert_eq!(tree(&root), before, "nothing touched");
    // A restore refuses the same way, before anything else.
    let err = rt
        .block_on(restore_snapshot_with(
            &store,
            request(&root, &scratch, &key),
            RestoreOptions::default(),
        ))
        .expect_err("refused");
    assert_eq!(err.error_type(), "InterruptedSwapUnresolved");
    assert_eq!(store.downloads(), 1, "only the stopped restore downloaded");
    assert_eq!(tree(&root), before);
    // An unreadable journal is refused too, naming it.
    std::fs::write(root.join(JOURNAL_NAME), b"{not json").expect("garbage");
    let err = recover_interrupted_swap(&root).expect_err("unreadable");
    assert!(err.to_string().contains("cannot be read"), "{err}");
}

#[test]
fn recovery_on_its_own_reports_what_it_did() {
    let rt = runtime();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (src, root, scratch) = lay_out(tmp.path(), Before::Both);
    let old_view = gateway_view(&root);
    let recover = |confirm_stopped: bool, deadline: Option<SystemTime>| RecoverRequest {
        gateway: "home".into(),
        state_root: root.clone(),
        confirm_stopped,
        deadline,
    };
    let report = rt.block_on(recover_gateway(recover(true, None))).expect("nothing");
    assert_eq!(
        (report.result.as_str(), report.recovery.is_none()),
        ("nothing_to_recover", true)
    );
    let err = rt
        .block_on(recover_gateway(recover(false, None)))
        .expect_err("not confirmed");
    assert_eq!(err.error_type(), "NotConfirmedStopped");

    let (store, key) = store_with_snapshot(&src, &scratch);
    let options = RestoreOptions {
        on_swap_step: Some(Arc::new(|step| {
            if step == 3 {
                panic!("stopped");
            }
        })),
        ..RestoreOptions::default()
    };
    rt.block_on(restore_snapshot_with(&store, request(&root, &scratch, &key), options))
        .expect_err("stopped");
    // Too close to the deadline: the half-done swap is left for a try with time.
    let err = rt
        .block_on(recover_gateway(recover(
            true,
            Some(SystemTime::now() + Duration::from_secs(2)),
        )))
        .expect_err("too close");
    assert!(
        matches!(err, SnapshotError::DeadlineTooClose { step: "recovery", .. }),
        "{err}"
    );
    assert!(root.join(JOURNAL_NAME).exists());

    let report = rt.block_on(recover_gateway(recover(true, None))).expect("recovers");
    assert_eq!(report.result, "recovered");
    let recovery = report.recovery.as_ref().expect("recovery");
    assert_eq!(recovery.action, RecoveryAction::RolledBack);
    assert_eq!(recovery.undone.len(), 3);
    assert_eq!(recovery.snapshot_key, key);
    assert!(report.warnings[0].contains("rolled back"), "{:?}", report.warnings);
    assert_eq!(gateway_view(&root), old_view);
    // The answer is JSON for the restore function.
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["recovery"]["action"], "rolled_back");
}

#[test]
fn a_deadline_already_passed_refuses_and_changes_nothing() {
    let rt = runtime();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (src, root, scratch) = lay_out(tmp.path(), Before::Both);
    let (store, key) = store_with_snapshot(&src, &scratch);
    let before = tree(&root);
    for deadline in [
        SystemTime::now() - Duration::from_secs(1),
        SystemTime::now() + Duration::from_secs(20),
    ] {
        let options = RestoreOptions {
            deadline: Some(deadline),
            ..RestoreOptions::default()
        };
        let err = rt
            .block_on(restore_snapshot_with(&store, request(&root, &scratch, &key), options))
            .expect_err("too late");
        assert_eq!(err.error_type(), "DeadlineTooClose", "{err}");
        assert!(err.to_string().contains("not starting the restore"), "{err}");
        assert!(err.to_string().contains("the state in place is unchanged"), "{err}");
    }
    assert_eq!(store.downloads(), 0);
    assert_eq!(tree(&root), before);
    assert!(std::fs::read_dir(&scratch).expect("scratch").next().is_none());
    // With time enough, the same restore goes through.
    let options = RestoreOptions {
        deadline: Some(SystemTime::now() + Duration::from_secs(600)),
        ..RestoreOptions::default()
    };
    rt.block_on(restore_snapshot_with(&store, request(&root, &scratch, &key), options))
        .expect("restores");
    assert_eq!(gateway_view(&root), gateway_view(&src));
}

#[test]
fn recovery_only_touches_paths_below_the_root() {
    // A journal naming a path through a symbolic link is refused (the root is writable by the
    // gateway, so a journal is not trusted further than it).
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("victim")).expect("outside");
    std::fs::create_dir_all(&root).expect("root");
    write_keys(&root, "old");
    std::os::unix::fs::symlink(&outside, root.join("link")).expect("link");
    let journal = serde_json::json!({
        "format": "clawkeeper-restore-journal/1", "snapshot_key": "k", "stamp": "s",
        "written_at": "t", "staging": ".clawkeeper-restore-s",
        "renames": [{"from": "link/victim", "to": "taken"}]
    });
    std::fs::write(root.join(JOURNAL_NAME), journal.to_string()).expect("journal");
    let err = recover_interrupted_swap(&root).expect_err("through a link");
    assert!(err.to_string().contains("is a symbolic link"), "{err}");
    assert!(outside.join("victim").exists());
}
