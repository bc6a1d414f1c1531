//! Real-shaped ECS events for scripted scenarios, derived from the sample events in
//! `tests/fixtures/events` with a chosen task, version and times.

use std::io::Write;

use base64::Engine;
use serde_json::{Value, json};

use crate::aws_setup::fixture;
use crate::consts::LOG_GROUP;

const TASK_PREFIX: &str = "arn:aws:ecs:us-east-1:123456789012:task/openclaw/";

/// Epoch seconds now.
pub fn now() -> i64 {
    clawkeeper_core::watch::time::now_secs()
}

/// RFC 3339 UTC with milliseconds, as ECS writes it.
pub fn rfc3339(epoch: i64) -> String {
    let secs = epoch.rem_euclid(86_400);
    let (year, month, day) = clawkeeper_core::watch::time::civil_from_days(epoch.div_euclid(86_400));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A task ARN of the sample cluster.
pub fn task_arn(task_id: &str) -> String {
    format!("{TASK_PREFIX}{task_id}")
}

fn retarget(mut event: Value, task_id: &str, version: u64, at: i64) -> Value {
    let arn = task_arn(task_id);
    event["id"] = json!(format!(
        "evt-{task_id}-{version}-{}",
        event["detail"]["lastStatus"].as_str().unwrap_or("")
    ));
    event["time"] = json!(rfc3339(at));
    event["resources"] = json!([arn]);
    event["detail"]["taskArn"] = json!(arn);
    event["detail"]["version"] = json!(version);
    event["detail"]["updatedAt"] = json!(rfc3339(at));
    if let Some(containers) = event["detail"]["containers"].as_array_mut() {
        for c in containers {
            c["taskArn"] = json!(arn);
        }
    }
    event
}

/// `ECS Task State Change` to RUNNING, started at `started_at`.
pub fn task_running(task_id: &str, version: u64, started_at: i64) -> Value {
    let mut event = retarget(fixture("task-running"), task_id, version, started_at);
    event["detail"]["startedAt"] = json!(rfc3339(started_at));
    event["detail"]["createdAt"] = json!(rfc3339(started_at - 30));
    event
}

/// `ECS Task State Change` to STOPPED from the sample `template` (e.g. `task-stopped-crash`),
/// after running from `started_at` to `stopped_at`.
pub fn task_stopped(template: &str, task_id: &str, version: u64, started_at: i64, stopped_at: i64) -> Value {
    let mut event = retarget(fixture(template), task_id, version, stopped_at);
    let detail = &mut event["detail"];
    detail["createdAt"] = json!(rfc3339(started_at - 30));
    if detail.get("startedAt").is_some() {
        detail["startedAt"] = json!(rfc3339(started_at));
    }
    for field in ["stoppingAt", "stoppedAt", "executionStoppedAt"] {
        if detail.get(field).is_some() {
            detail[field] = json!(rfc3339(stopped_at));
        }
    }
    event
}

/// A CloudWatch Logs subscription delivery of the document `data`, as Logs sends it: gzip, then
/// base64, under `awslogs.data`.
pub fn awslogs(data: &Value) -> Value {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data.to_string().as_bytes()).expect("gzip");
    let bytes = gz.finish().expect("gzip");
    json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(bytes)}})
}

/// A subscription delivery of `lines` from the gateway's log group, logged now.
pub fn log_lines(lines: &[&str]) -> Value {
    let t = now() * 1000;
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| json!({"id": format!("{t}{i:04}"), "timestamp": t, "message": line}))
        .collect();
    awslogs(&json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": LOG_GROUP,
        "logStream": "gateway/openclaw-gateway/1", "subscriptionFilters": ["clawkeeper"], "logEvents": events,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_161_792), "2026-11-20T08:03:12.000Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00.000Z");
    }
}
