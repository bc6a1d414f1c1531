//! Kill at every step: a function process is killed with SIGKILL at each of its AWS calls (the
//! request lost, or carried out by AWS with its answer lost), then what AWS would run next runs in
//! a fresh process (Lambda's retry of the same invocation, the next scheduled run, the owner's
//! repeated command), and the end state is checked.
//!
//! A [`Scenario`] says how to set a fresh stack up, which function to run with which event, what
//! runs next, and what the end state must be. [`every_kill_point`] runs it once cleanly to learn
//! its calls, then once per kill point: every write both ways, each kind of read once (a read
//! that reached AWS changed nothing, so it is the same kill point as a lost one). The rows it
//! returns make the table in `docs/RELIABILITY.md` ([`check_doc_table`]).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fault_proxy::Delivery;
use crate::runtime_api::next_request_id;
use crate::{FunctionProcess, Invocation, Stack, workspace_root};

/// Where a process was killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillPoint {
    /// 1-based index among the invocation's AWS calls.
    pub call: usize,
    /// The operation called there (`TransactWriteItems`, `Publish`, `PUT /bucket/key`...).
    pub operation: String,
    pub delivery: Delivery,
    /// The invocation's calls up to and including this one, as the clean run made them.
    pub before: Vec<String>,
}

impl KillPoint {
    /// True when the call killed at is `operation` and AWS carried it out.
    pub fn delivered(&self, operation: &str) -> bool {
        self.delivery == Delivery::Delivered && self.operation.contains(operation)
    }

    /// True when the kill fell between a call of `effect` that AWS carried out and the state write
    /// that records it done (`confirm`): the one window where the retry repeats that effect.
    pub fn between_effect_and_confirmation(&self, effect: &str, confirm: &str) -> bool {
        let last = self.before.len().saturating_sub(1);
        let carried_out = |i: usize| i < last || self.delivery == Delivery::Delivered;
        let Some(effect_at) = self.before.iter().rposition(|op| op.contains(effect)) else {
            return false;
        };
        if !carried_out(effect_at) {
            return false;
        }
        // Recorded once a later `confirm` write reached AWS.
        !(effect_at + 1..self.before.len()).any(|i| self.before[i].contains(confirm) && carried_out(i))
    }
}

/// One kill point and what the next try made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub point: KillPoint,
    /// The end state in words (`1 gateway_down`, `desired 0`...).
    pub outcome: String,
}

/// A crash scenario of one function.
#[allow(async_fn_in_trait)]
pub trait Scenario {
    /// Its name in the table, e.g. `task-events: a crash event`.
    fn name(&self) -> &'static str;
    /// The function binary.
    fn function(&self) -> &'static str;
    /// A fresh stack with a fault proxy in front of moto, set up for one run.
    async fn start(&self) -> Stack;
    /// The event the function is invoked with.
    fn event(&self, stack: &Stack) -> Value;
    /// The Lambda deadline of the killed invocation, from when it starts: it bounds how long its
    /// outbox lease can hold up an invocation that is not its retry.
    fn runs_for(&self) -> Duration {
        Duration::from_secs(300)
    }
    /// Checks what the kill left, before anything runs again (a restore's state: old or new).
    async fn after_kill(&self, _stack: &Stack) -> Result<(), String> {
        Ok(())
    }
    /// What AWS runs after the kill; `request_id` is the killed invocation's.
    async fn next_try(&self, stack: &Stack, request_id: &str);
    /// Checks the end state after the clean run (`None`) or after a kill and the next try, and
    /// says what it found; `Err` names what does not hold.
    async fn check(&self, stack: &Stack, killed: Option<&KillPoint>) -> Result<String, String>;
}

/// How long one invocation may take in these tests.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Operations that change something in AWS; everything else only reads.
const WRITES: &[&str] = &[
    "TransactWriteItems",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "UpdateService",
    "StopTask",
    "RunTask",
    "Publish",
    "Invoke",
    "PutObject",
    "DeleteObject",
    "PUT ",
    "POST ",
    "DELETE ",
];

/// True when `operation` may change something.
pub fn is_write(operation: &str) -> bool {
    WRITES.iter().any(|w| operation.contains(w) || operation.starts_with(w))
}

/// The kill points of an invocation that made `calls`: each write lost and delivered, the first
/// call of each read operation lost.
pub fn kill_points(calls: &[String]) -> Vec<KillPoint> {
    let mut points = Vec::new();
    let mut reads_seen = std::collections::BTreeSet::new();
    for (i, operation) in calls.iter().enumerate() {
        let point = |delivery| KillPoint {
            call: i + 1,
            operation: operation.clone(),
            delivery,
            before: calls[..=i].to_vec(),
        };
        if is_write(operation) {
            points.push(point(Delivery::Lost));
            points.push(point(Delivery::Delivered));
        } else if reads_seen.insert(operation.clone()) {
            points.push(point(Delivery::Lost));
        }
    }
    points
}

/// An operation as the table names it: S3 keys' time stamps and upload ids left out, so a run
/// seconds later names the same calls the same way.
pub fn normalized(operation: &str) -> String {
    let mut out = String::with_capacity(operation.len());
    let mut rest = operation;
    while let Some(at) = rest.find("uploadId=") {
        out.push_str(&rest[..at + "uploadId=".len()]);
        out.push_str("<id>");
        rest = &rest[at + "uploadId=".len()..];
        rest = &rest[rest.find('&').unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    // `<yyyymmdd>T<hhmmss>Z` stamps of snapshot names.
    let bytes = out.as_bytes();
    let mut cleaned = String::with_capacity(out.len());
    let mut i = 0;
    while i < bytes.len() {
        let stamp = bytes.len() >= i + 16
            && bytes[i..i + 8].iter().all(u8::is_ascii_digit)
            && bytes[i + 8] == b'T'
            && bytes[i + 9..i + 15].iter().all(u8::is_ascii_digit)
            && bytes[i + 15] == b'Z';
        if stamp {
            cleaned.push_str("<stamp>");
            i += 16;
        } else {
            cleaned.push(char::from(bytes[i]));
            i += 1;
        }
    }
    cleaned
}

/// The state table of `stack`, read through the product's own adapter.
pub fn state_store(stack: &Stack) -> clawkeeper_aws::dynamodb::DynamoStore {
    clawkeeper_aws::dynamodb::DynamoStore::new(&stack.sdk, crate::consts::TABLE)
}

/// Runs `scenario` cleanly, then killed at each of its kill points, and returns one row per point.
/// Panics with the scenario, the kill point and the violation when an end state is wrong.
pub async fn every_kill_point<S: Scenario>(scenario: &S) -> Vec<Row> {
    let calls = {
        let stack = scenario.start().await;
        let mut process = FunctionProcess::spawn(scenario.function(), &stack.env);
        let before = stack.proxy().seen().len();
        let id = next_request_id();
        let answer = process.invoke_as(&id, &scenario.event(&stack), scenario.runs_for(), INVOCATION_TIMEOUT);
        assert!(
            matches!(answer, Invocation::Ok(_)),
            "{}: the clean run failed: {answer:?}\n{}",
            scenario.name(),
            process.logs()
        );
        if let Err(e) = scenario.check(&stack, None).await {
            panic!("{}: the clean run's end state: {e}", scenario.name());
        }
        stack.proxy().seen()[before..]
            .iter()
            .map(|op| normalized(op))
            .collect::<Vec<_>>()
    };
    assert!(!calls.is_empty(), "{}: no AWS call to kill at", scenario.name());
    let mut rows = Vec::new();
    for point in kill_points(&calls) {
        let started = Instant::now();
        let stack = scenario.start().await;
        let mut process = FunctionProcess::spawn(scenario.function(), &stack.env);
        stack.proxy().kill_at(point.call, point.delivery, process.pid());
        let id = next_request_id();
        let answer = process.invoke_as(&id, &scenario.event(&stack), scenario.runs_for(), INVOCATION_TIMEOUT);
        let where_ = format!(
            "{}: killed at call {} ({}, {})",
            scenario.name(),
            point.call,
            point.operation,
            point.delivery.as_str()
        );
        assert!(
            matches!(answer, Invocation::Exited { .. }),
            "{where_}: the process was not killed: {answer:?}\n{}",
            process.logs()
        );
        assert_eq!(
            stack.proxy().killed().map(|op| normalized(&op)).as_deref(),
            Some(point.operation.as_str()),
            "{where_}: the calls differ from the clean run's ({calls:?})"
        );
        drop(process);
        if let Err(e) = scenario.after_kill(&stack).await {
            panic!("{where_}: {e}");
        }
        scenario.next_try(&stack, &id).await;
        match scenario.check(&stack, Some(&point)).await {
            Ok(outcome) => rows.push(Row { point, outcome }),
            Err(e) => panic!("{where_}, then the next try: {e}"),
        }
        eprintln!("{where_}: converged in {:?}", started.elapsed());
    }
    rows
}

/// Invokes `function` in a fresh process with `event` under `request_id` and expects an answer.
pub fn invoke_fresh(stack: &Stack, function: &str, request_id: &str, event: &Value) -> Value {
    let mut process = FunctionProcess::spawn(function, &stack.env);
    match process.invoke_as(request_id, event, Duration::from_secs(300), INVOCATION_TIMEOUT) {
        Invocation::Ok(answer) => answer,
        other => panic!("{function} after the kill: {other:?}\n{}", process.logs()),
    }
}

/// Waits until no live invocation holds the gateway's outbox lease (the killed one's lapses),
/// as the next scheduled run or the owner's next command would find it.
pub async fn until_the_lease_lapses(stack: &Stack, gateway: &str) {
    use clawkeeper_core::ports::StateStore;
    let state = state_store(stack)
        .load::<Value>(gateway)
        .await
        .expect("the state table");
    let until = state
        .as_ref()
        .and_then(|s| s.state["outbox_lease"]["until"].as_i64())
        .unwrap_or(0);
    let now = crate::events::now();
    if until >= now {
        tokio::time::sleep(Duration::from_secs(u64::try_from(until - now + 1).unwrap_or(0))).await;
    }
}

/// The rows as the markdown table of `docs/RELIABILITY.md`.
pub fn table(scenario: &str, rows: &[Row]) -> String {
    let mut out = format!("| {scenario}: killed at call | request | end state after the next try |\n|---|---|---|\n");
    for row in rows {
        out.push_str(&format!(
            "| {} `{}` | {} | {} |\n",
            row.point.call,
            row.point.operation,
            row.point.delivery.as_str(),
            row.outcome
        ));
    }
    out
}

/// Checks that `docs/RELIABILITY.md` holds `table` between the markers of `key`, or, with
/// `CLAWKEEPER_WRITE_DOCS=1`, writes it there.
pub fn check_doc_table(key: &str, table: &str) {
    let path = workspace_root().join("docs/RELIABILITY.md");
    let doc = std::fs::read_to_string(&path).expect("docs/RELIABILITY.md");
    let (begin, end) = (
        format!("<!-- kill-points:{key}:begin -->\n"),
        format!("<!-- kill-points:{key}:end -->"),
    );
    let (Some(b), Some(e)) = (doc.find(&begin), doc.find(&end)) else {
        panic!("docs/RELIABILITY.md has no markers {begin:?} ... {end:?}");
    };
    let current = &doc[b + begin.len()..e];
    if current == table {
        return;
    }
    if std::env::var("CLAWKEEPER_WRITE_DOCS").is_ok_and(|v| v == "1") {
        let updated = format!("{}{table}{}", &doc[..b + begin.len()], &doc[e..]);
        std::fs::write(&path, updated).expect("write docs/RELIABILITY.md");
        return;
    }
    panic!(
        "the kill-point table of {key} in docs/RELIABILITY.md is stale; run the test with \
         CLAWKEEPER_WRITE_DOCS=1 to regenerate it. Measured:\n{table}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_killed_both_ways_and_each_read_once() {
        let calls: Vec<String> = [
            "GetItem",
            "TransactWriteItems",
            "Publish",
            "GetItem",
            "TransactWriteItems",
        ]
        .map(String::from)
        .to_vec();
        let points: Vec<(usize, &str)> = kill_points(&calls)
            .iter()
            .map(|p| (p.call, p.delivery.as_str()))
            .collect();
        assert_eq!(
            points,
            [
                (1, "lost"),
                (2, "lost"),
                (2, "delivered"),
                (3, "lost"),
                (3, "delivered"),
                (5, "lost"),
                (5, "delivered")
            ]
        );
        let points = kill_points(&calls);
        let window: Vec<bool> = points
            .iter()
            .map(|p| p.between_effect_and_confirmation("Publish", "TransactWriteItems"))
            .collect();
        // Only the publish that reached SNS, and the lost confirmation after it.
        assert_eq!(window, [false, false, false, false, true, true, false]);
        assert!(is_write("PUT /clawkeeper-test-snapshots/home/snapshots/x.json"));
        assert!(!is_write("GET /clawkeeper-test-snapshots"));
        assert_eq!(
            normalized(
                "PUT /b/home/snapshots/20261202T002723Z-scheduled.tar.gz?x-id=UploadPart&partNumber=1&uploadId=7UYE"
            ),
            "PUT /b/home/snapshots/<stamp>-scheduled.tar.gz?x-id=UploadPart&partNumber=1&uploadId=<id>"
        );
    }
}
