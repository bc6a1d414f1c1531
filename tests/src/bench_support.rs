//! What the benchmark programs measure a function process with: its CPU time and memory from
//! `/proc`, the AWS requests it made (counted by the proxy in front of moto, named by service and
//! operation), and the machine the figures come from.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fault_proxy::FaultProxy;
use crate::{FunctionProcess, Invocation};

/// Requests by service, then by operation.
pub type CallCounts = BTreeMap<String, BTreeMap<String, u64>>;

/// CPU time a process has used so far: the sum over its threads of `/proc/<pid>/task/*/schedstat`
/// (nanoseconds on CPU); tokio runs handlers on worker threads, not the main one.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// Minor page faults a process has taken so far (all its threads): `/proc/<pid>/stat`. At a
/// function's first poll they count the pages the loader and init touched for the first time.
pub fn minor_faults(pid: u32) -> Option<u64> {
    minor_faults_from_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `minflt`, the tenth field of a `/proc/<pid>/stat` line. The second field, the command name in
/// parentheses, may itself hold spaces and parentheses, so fields are counted after the last `)`.
fn minor_faults_from_stat(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(7)?.parse().ok()
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:` for the peak over the process's life).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One invocation measured behind the counting proxy.
#[derive(Debug)]
pub struct Measurement {
    pub outcome: Invocation,
    /// The requests it made, as the proxy names them.
    pub calls: Vec<String>,
    /// The function process's CPU time for it.
    pub cpu_ms: f64,
    /// The invocation's wall time, as the caller waited for it.
    pub wall_ms: f64,
}

/// Invokes `function` with `event` behind `proxy`, waiting up to `timeout`, and measures it.
pub fn measure_invocation(
    function: &mut FunctionProcess,
    proxy: &FaultProxy,
    event: &Value,
    timeout: Duration,
) -> Measurement {
    let before = proxy.forwarded().len();
    let cpu0 = cpu_ns(function.pid()).unwrap_or(0);
    let started = Instant::now();
    let outcome = function.invoke_within(event, timeout);
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let cpu_ms = cpu_ns(function.pid()).unwrap_or(0).saturating_sub(cpu0) as f64 / 1e6;
    Measurement {
        outcome,
        calls: proxy.forwarded()[before..].to_vec(),
        cpu_ms,
        wall_ms,
    }
}

/// One AWS-calls-and-CPU figure for a function invocation behind the counting proxy: the requests
/// it made, its CPU milliseconds and the invocation's wall milliseconds.
pub fn measured(function: &mut FunctionProcess, proxy: &FaultProxy, event: &Value) -> (Vec<String>, f64, f64) {
    let m = measure_invocation(function, proxy, event, Duration::from_secs(60));
    (m.calls, m.cpu_ms, m.wall_ms)
}

/// The output of a command, trimmed (`?` when it cannot run).
pub fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

/// The CPU model of `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// `<CPU model> (<n> cores), <kernel> <arch>`: where the figures were measured.
pub fn machine() -> String {
    format!(
        "{} ({} cores), {}",
        cpu_model(),
        command_output("nproc", &[]),
        command_output("uname", &["-srm"])
    )
}

/// The JSON-protocol and query-protocol operations the functions call, by service.
const SERVICES: &[(&str, &[&str])] = &[
    (
        "dynamodb",
        &[
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "Scan",
            "BatchGetItem",
            "BatchWriteItem",
            "TransactGetItems",
            "TransactWriteItems",
        ],
    ),
    (
        "ecs",
        &[
            "DescribeServices",
            "ListTasks",
            "DescribeTasks",
            "UpdateService",
            "StopTask",
            "RunTask",
            "DescribeTaskDefinition",
        ],
    ),
    ("sns", &["Publish", "ListSubscriptionsByTopic"]),
    ("secretsmanager", &["GetSecretValue"]),
    ("sqs", &["GetQueueAttributes", "SendMessage"]),
    (
        "cloudwatch",
        &["DescribeAlarms", "GetMetricStatistics", "PutMetricData"],
    ),
];

/// (service, operation) of one request as the proxy names it: the `X-Amz-Target` or `Action=`
/// operation, or `METHOD /path?query` of the REST protocols (S3, Lambda's Invoke), which carries
/// object keys and upload ids and is reduced here to the operation it is. An operation it does not
/// know is `("unknown", <request>)`: the call-count test refuses it, a benchmark shows it.
pub fn classify(request: &str) -> (String, String) {
    let Some((method, target)) = request.split_once(' ') else {
        let service = SERVICES
            .iter()
            .find(|(_, ops)| ops.contains(&request))
            .map_or("unknown", |(s, _)| *s);
        return (service.to_string(), request.to_string());
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path.starts_with("/2015-03-31/functions/") && path.ends_with("/invocations") {
        return ("lambda".into(), "Invoke".into());
    }
    let params: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let has = |name: &str| params.iter().any(|(k, _)| *k == name);
    // The Rust SDK names most S3 operations in the query (`x-id=GetObject`).
    if let Some((_, id)) = params.iter().find(|(k, _)| *k == "x-id") {
        return ("s3".into(), (*id).to_string());
    }
    // Path-style requests: /<bucket> or /<bucket>/<key>.
    let has_key = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    let operation = match method {
        "GET" if has("list-type") => "ListObjectsV2",
        "GET" if has("uploads") => "ListMultipartUploads",
        "GET" if has("uploadId") => "ListParts",
        "GET" if has_key => "GetObject",
        "GET" => "ListObjects",
        "HEAD" if has_key => "HeadObject",
        "HEAD" => "HeadBucket",
        "PUT" if has("partNumber") => "UploadPart",
        "PUT" => "PutObject",
        "POST" if has("uploads") => "CreateMultipartUpload",
        "POST" if has("uploadId") => "CompleteMultipartUpload",
        "POST" if has("delete") => "DeleteObjects",
        "DELETE" if has("uploadId") => "AbortMultipartUpload",
        "DELETE" => "DeleteObject",
        _ => return ("unknown".into(), request.to_string()),
    };
    ("s3".into(), operation.into())
}

/// `requests` counted by service and operation.
pub fn count_calls(requests: &[String]) -> CallCounts {
    let mut counts = CallCounts::new();
    for request in requests {
        let (service, operation) = classify(request);
        *counts.entry(service).or_default().entry(operation).or_default() += 1;
    }
    counts
}

/// Requests of one service in `counts`.
pub fn service_total(counts: &CallCounts, service: &str) -> u64 {
    counts.get(service).map_or(0, |ops| ops.values().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_by_service_and_operation() {
        let requests: Vec<String> = [
            "BatchGetItem",
            "DescribeServices",
            "Publish",
            "GET /bucket?list-type=2&prefix=home%2F",
            "GET /bucket/home/snapshots/_status/last-failure.json?x-id=GetObject",
            "Frobnicate",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let counts = count_calls(&requests);
        assert_eq!(counts["dynamodb"]["BatchGetItem"], 1);
        assert_eq!(counts["ecs"]["DescribeServices"], 1);
        assert_eq!(counts["sns"]["Publish"], 1);
        assert_eq!(counts["s3"]["ListObjectsV2"], 1);
        assert_eq!(counts["s3"]["GetObject"], 1);
        assert_eq!(counts["unknown"]["Frobnicate"], 1);
        assert_eq!(service_total(&counts, "s3"), 2);
        assert_eq!(service_total(&counts, "lambda"), 0);
    }

    #[test]
    fn minor_faults_are_counted_after_the_command_name() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1234 0 5 0 7 3 0 0 20 0 3 0 99";
        assert_eq!(minor_faults_from_stat(stat), Some(1234));
        assert_eq!(minor_faults_from_stat("4242 (truncated"), None);
        assert_eq!(minor_faults_from_stat("4242 (x) S 1 2"), None);
        let own = minor_faults(std::process::id()).expect("this process's own stat");
        assert!(own > 0, "a running test process has faulted in some pages");
    }
}
