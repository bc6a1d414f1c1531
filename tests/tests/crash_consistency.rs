//! Killed at any step, converged by the next try: each function killed with SIGKILL at each of its
//! AWS calls (the request lost, or carried out with its answer lost), then what AWS runs next
//! (`clawkeeper_tests::crash`). The end state: incidents and ECS changes once, no notice lost, a
//! duplicate notice only when the killed publish had reached SNS, no partial snapshot visible, a
//! restored state complete. The tables of `docs/RELIABILITY.md` section 3 are these runs.

use std::time::Duration;

use clawkeeper_tests::aws_setup::{Delivered, fixture, kinds};
use clawkeeper_tests::consts::{GATEWAY, LOG_GROUP, POLICY_HUNG_AFTER_TWO, POLICY_NOTIFY_AT_ONCE};
use clawkeeper_tests::crash::{
    KillPoint, Scenario, check_doc_table, every_kill_point, invoke_fresh, state_store, table, until_the_lease_lapses,
};
use clawkeeper_tests::events::{now, task_stopped};
use clawkeeper_tests::runtime_api::next_request_id;
use clawkeeper_tests::{Stack, s3};
use serde_json::{Value, json};

/// A deadline close enough that a killed invocation's outbox lease lapses within seconds, for the
/// scenarios whose next try is another invocation (a tick, the owner's next command).
const SHORT_INVOCATION: Duration = Duration::from_secs(2);

/// How many notices of `kind` a kill at `killed` may leave: exactly one, or two when the kill fell
/// after SNS took the publish and before the state recorded it sent.
fn notices_allowed(killed: Option<&KillPoint>) -> std::ops::RangeInclusive<usize> {
    match killed {
        Some(point) if point.between_effect_and_confirmation("Publish", "TransactWriteItems") => 1..=2,
        _ => 1..=1,
    }
}

/// Checks the notices of `kind` the inbox holds and nothing else; says how many there were.
fn notices(got: &[Delivered], kind: &str, killed: Option<&KillPoint>) -> Result<String, String> {
    let kinds = kinds(got);
    let n = kinds.iter().filter(|k| **k == kind).count();
    if kinds.iter().any(|k| *k != kind) {
        return Err(format!("unexpected notices: {kinds:?}"));
    }
    if !notices_allowed(killed).contains(&n) {
        return Err(format!("{n} {kind} notice(s), expected {:?}", notices_allowed(killed)));
    }
    Ok(format!("{n} `{kind}`"))
}

/// Incident records of the gateway in the table.
async fn incidents(stack: &Stack) -> usize {
    use clawkeeper_core::ports::StateStore;
    state_store(stack).incidents(GATEWAY, 0).await.expect("incidents").len()
}

/// The ECS changes moto carried out, from the proxy's log.
fn ecs_changes(stack: &Stack) -> Vec<String> {
    stack
        .proxy()
        .forwarded()
        .into_iter()
        .filter(|op| ["UpdateService", "StopTask", "RunTask"].iter().any(|w| op.contains(w)))
        .collect()
}

struct TaskEventsCrash;

impl Scenario for TaskEventsCrash {
    fn name(&self) -> &'static str {
        "task-events: a crash event"
    }
    fn function(&self) -> &'static str {
        "task-events"
    }
    async fn start(&self) -> Stack {
        Stack::builder()
            .policy(POLICY_NOTIFY_AT_ONCE)
            .with_service()
            .with_fault_proxy()
            .start()
            .await
    }
    fn event(&self, _: &Stack) -> Value {
        let t = now();
        task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t - 1)
    }
    async fn next_try(&self, stack: &Stack, request_id: &str) {
        // Lambda retries the same event under the same request id.
        invoke_fresh(stack, self.function(), request_id, &self.event(stack));
    }
    async fn check(&self, stack: &Stack, killed: Option<&KillPoint>) -> Result<String, String> {
        let got = stack.inbox().settle_and_drain().await;
        let told = notices(&got, "gateway_down", killed)?;
        let opened = incidents(stack).await;
        if opened != 1 {
            return Err(format!("{opened} incident records"));
        }
        let changes = ecs_changes(stack);
        if !changes.is_empty() {
            return Err(format!("ECS changed: {changes:?} (ECS replaces a crashed task itself)"));
        }
        Ok(format!("{told}, 1 incident, no ECS change"))
    }
}

struct LogAlertsLogout;

impl Scenario for LogAlertsLogout {
    fn name(&self) -> &'static str {
        "log-alerts: a WhatsApp logout line"
    }
    fn function(&self) -> &'static str {
        "log-alerts"
    }
    async fn start(&self) -> Stack {
        Stack::builder()
            .gateway(json!({"log_group": LOG_GROUP}))
            .policy(POLICY_HUNG_AFTER_TWO)
            .with_fault_proxy()
            .start()
            .await
    }
    fn event(&self, _: &Stack) -> Value {
        fixture("logs-whatsapp-logged-out")
    }
    async fn next_try(&self, stack: &Stack, request_id: &str) {
        invoke_fresh(stack, self.function(), request_id, &self.event(stack));
    }
    async fn check(&self, stack: &Stack, killed: Option<&KillPoint>) -> Result<String, String> {
        let got = stack.inbox().settle_and_drain().await;
        notices(&got, "relink_needed", killed)
    }
}

struct ReconcilerMissedStop;

impl Scenario for ReconcilerMissedStop {
    fn name(&self) -> &'static str {
        "reconciler: a gateway with no task"
    }
    fn function(&self) -> &'static str {
        "reconciler"
    }
    async fn start(&self) -> Stack {
        Stack::builder()
            .gateway(json!({"log_group": LOG_GROUP}))
            .policy(POLICY_HUNG_AFTER_TWO)
            .with_service()
            .with_fault_proxy()
            .start()
            .await
    }
    fn event(&self, _: &Stack) -> Value {
        json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"})
    }
    fn runs_for(&self) -> Duration {
        SHORT_INVOCATION
    }
    async fn next_try(&self, stack: &Stack, _: &str) {
        // The next scheduled tick: a new invocation, once the killed one's lease has lapsed.
        until_the_lease_lapses(stack, GATEWAY).await;
        invoke_fresh(stack, self.function(), &next_request_id(), &self.event(stack));
    }
    async fn check(&self, stack: &Stack, killed: Option<&KillPoint>) -> Result<String, String> {
        let got = stack.inbox().settle_and_drain().await;
        let told = notices(&got, "gateway_down", killed)?;
        let opened = incidents(stack).await;
        if opened != 1 {
            return Err(format!("{opened} incident records"));
        }
        Ok(format!("{told}, 1 incident"))
    }
}

struct ControlPause;

impl Scenario for ControlPause {
    fn name(&self) -> &'static str {
        "control: the owner pauses the gateway"
    }
    fn function(&self) -> &'static str {
        "control"
    }
    async fn start(&self) -> Stack {
        Stack::builder()
            .policy(POLICY_NOTIFY_AT_ONCE)
            .with_service()
            .with_fault_proxy()
            .start()
            .await
    }
    fn event(&self, _: &Stack) -> Value {
        json!({"action": "pause", "gateway": GATEWAY})
    }
    fn runs_for(&self) -> Duration {
        SHORT_INVOCATION
    }
    async fn next_try(&self, stack: &Stack, _: &str) {
        // The owner runs the command again (the CLI saw no answer): a new invocation.
        until_the_lease_lapses(stack, GATEWAY).await;
        invoke_fresh(stack, self.function(), &next_request_id(), &self.event(stack));
    }
    async fn check(&self, stack: &Stack, _: Option<&KillPoint>) -> Result<String, String> {
        let desired = stack.desired_count().await;
        if desired != 0 {
            return Err(format!("desired count {desired}, not paused"));
        }
        // Setting desired 0 again is the same state: a repeated command may repeat the call, never
        // another kind of change.
        let changes = ecs_changes(stack);
        if changes.is_empty() || changes.iter().any(|c| !c.contains("UpdateService")) {
            return Err(format!("ECS changes: {changes:?}"));
        }
        let got = stack.inbox().settle_and_drain().await;
        if !got.is_empty() {
            return Err(format!("notices on a pause: {:?}", kinds(&got)));
        }
        Ok(format!("desired 0 ({} `UpdateService` to 0 in all)", changes.len()))
    }
}

struct SnapshotScheduled;

impl Scenario for SnapshotScheduled {
    fn name(&self) -> &'static str {
        "snapshot: a scheduled snapshot"
    }
    fn function(&self) -> &'static str {
        "snapshot"
    }
    async fn start(&self) -> Stack {
        Stack::builder()
            .with_bucket()
            .with_small_home()
            .with_fault_proxy()
            // The next run cleans what a killed one left at once, whatever its age.
            .env("CLAWKEEPER_SNAPSHOT_STALE_UPLOAD_SECS", "0")
            .start()
            .await
    }
    fn event(&self, _: &Stack) -> Value {
        json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"})
    }
    async fn next_try(&self, stack: &Stack, _: &str) {
        // The next scheduled snapshot.
        invoke_fresh(stack, self.function(), &next_request_id(), &self.event(stack));
    }
    async fn check(&self, stack: &Stack, _: Option<&KillPoint>) -> Result<String, String> {
        let keys = s3::keys(&stack.s3(), "").await;
        let sidecars: Vec<&String> = keys
            .iter()
            .filter(|k| k.ends_with(".json") && !k.contains("/_status/"))
            .collect();
        for sidecar in &sidecars {
            let archive = format!("{}.tar.gz", sidecar.trim_end_matches(".json"));
            if !keys.contains(&archive) {
                return Err(format!("{sidecar} lists an archive that does not exist"));
            }
        }
        if sidecars.is_empty() {
            return Err(format!("no complete snapshot after the next run: {keys:?}"));
        }
        let pending = s3::open_uploads(&stack.s3()).await;
        if !pending.is_empty() {
            return Err(format!("multipart uploads left open: {pending:?}"));
        }
        Ok(format!("{} complete snapshot(s), no upload left open", sidecars.len()))
    }
}

struct RestoreLatest;

/// Written into the state after the snapshot was taken: gone once the snapshot is restored.
const AFTER_SNAPSHOT: &str = "written-after-the-snapshot.txt";

/// Every path under `root`, relative.
fn paths(root: &std::path::Path) -> std::collections::BTreeSet<std::path::PathBuf> {
    let mut out = std::collections::BTreeSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path.clone());
            }
            out.insert(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    out
}

impl Scenario for RestoreLatest {
    fn name(&self) -> &'static str {
        "restore: the latest snapshot"
    }
    fn function(&self) -> &'static str {
        "restore"
    }
    async fn start(&self) -> Stack {
        // The table holds the stop permit control writes before it invokes the restore function.
        let stack = Stack::builder()
            .without_inbox()
            .with_bucket()
            .with_small_home()
            .with_fault_proxy()
            .env("CLAWKEEPER_RESTORE_SETTLE_SECS", "1")
            .start()
            .await;
        stack.issue_stop_permit(GATEWAY, "latest").await;
        invoke_fresh(
            &stack,
            "snapshot",
            &next_request_id(),
            &json!({"gateway": GATEWAY, "trigger": "manual"}),
        );
        std::fs::write(stack.state_dir().join(AFTER_SNAPSHOT), "newer than the snapshot").expect("write");
        stack
    }
    fn event(&self, _: &Stack) -> Value {
        json!({"gateway": GATEWAY, "snapshot": "latest"})
    }
    async fn after_kill(&self, stack: &Stack) -> Result<(), String> {
        // Killed before the swap: the state as it was, every file of it.
        let state = paths(&stack.state_dir());
        let old = [
            "openclaw.json",
            "credentials/whatsapp/default/creds.json",
            AFTER_SNAPSHOT,
        ];
        match old.iter().find(|p| !state.contains(std::path::Path::new(p))) {
            None => Ok(()),
            Some(missing) => Err(format!(
                "the state is neither old nor new: {missing} is missing: {state:?}"
            )),
        }
    }
    async fn next_try(&self, stack: &Stack, _: &str) {
        // The owner's restore runs again: control sees the service stopped, issues a new permit
        // (the killed run may have taken the first) and invokes the restore function anew.
        stack.issue_stop_permit(GATEWAY, "latest").await;
        invoke_fresh(stack, self.function(), &next_request_id(), &self.event(stack));
    }
    async fn check(&self, stack: &Stack, _: Option<&KillPoint>) -> Result<String, String> {
        let state = paths(&stack.state_dir());
        if state.contains(std::path::Path::new(AFTER_SNAPSHOT)) {
            return Err(format!("the state is not the snapshot's: {state:?}"));
        }
        let expected = ["openclaw.json", "credentials/whatsapp/default/creds.json"];
        if let Some(missing) = expected.iter().find(|p| !state.contains(std::path::Path::new(p))) {
            return Err(format!("the restored state lacks {missing}: {state:?}"));
        }
        let staging = std::fs::read_dir(stack.state_root())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".clawkeeper-restore-"))
            .count();
        if staging > 0 {
            return Err(format!("{staging} staging dir(s) left beside the state"));
        }
        Ok(format!(
            "the snapshot's state, complete ({} paths), no staging left",
            state.len()
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_killed_at_any_call_leaves_a_complete_state_and_the_next_try_restores() {
    let rows = every_kill_point(&RestoreLatest).await;
    check_doc_table("restore", &table(RestoreLatest.name(), &rows));
}

#[tokio::test(flavor = "multi_thread")]
async fn task_events_killed_at_any_call_converges_on_lambdas_retry() {
    let rows = every_kill_point(&TaskEventsCrash).await;
    check_doc_table("task-events", &table(TaskEventsCrash.name(), &rows));
}

#[tokio::test(flavor = "multi_thread")]
async fn log_alerts_killed_at_any_call_converges_on_lambdas_retry() {
    let rows = every_kill_point(&LogAlertsLogout).await;
    check_doc_table("log-alerts", &table(LogAlertsLogout.name(), &rows));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reconciler_killed_at_any_call_converges_on_the_next_tick() {
    let rows = every_kill_point(&ReconcilerMissedStop).await;
    check_doc_table("reconciler", &table(ReconcilerMissedStop.name(), &rows));
}

#[tokio::test(flavor = "multi_thread")]
async fn control_killed_at_any_call_converges_when_the_owner_asks_again() {
    let rows = every_kill_point(&ControlPause).await;
    check_doc_table("control", &table(ControlPause.name(), &rows));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_killed_at_any_call_leaves_nothing_partial_and_the_next_one_completes() {
    let rows = every_kill_point(&SnapshotScheduled).await;
    check_doc_table("snapshot", &table(SnapshotScheduled.name(), &rows));
}
