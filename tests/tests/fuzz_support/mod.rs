//! Shared by the `fuzz_*` property tests: strategies for arbitrary JSON, mutations of real
//! fixtures, and the case budget that keeps `make test` fast.

#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Number, Value};

/// Cases per property: `PROPTEST_CASES` when set (longer runs by hand), else `default`. The
/// defaults are sized so every `fuzz_*` file together adds well under a minute on 2 cores.
pub fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // Failures are reported with the shrunk input; no regression files in the tree.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Strings an attacker or a new ECS release might send: the words the parsers look for, long
/// and odd text, and plain random text.
pub fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("aws.ecs".to_string()),
        Just("ECS Task State Change".to_string()),
        Just("ECS Service Action".to_string()),
        Just("ECS Deployment State Change".to_string()),
        Just("STOPPED".to_string()),
        Just("RUNNING".to_string()),
        Just("service:openclaw-gateway".to_string()),
        Just("arn:aws:ecs:us-east-1:123456789012:cluster/openclaw".to_string()),
        Just("arn:aws:ecs:us-east-1:123456789012:task/openclaw/abc".to_string()),
        Just("arn:aws:ecs:us-east-1:123456789012:service/openclaw/openclaw-gateway".to_string()),
        Just("2026-11-20T08:00:40.211Z".to_string()),
        Just("9999-12-31T23:59:60.999999999-23:59".to_string()),
        Just("0000-01-01T00:00:00+99:99".to_string()),
        Just("2026-11-20T08:00:40ZZZZZZ".to_string()),
        Just("EssentialContainerExited".to_string()),
        Just("ServiceSchedulerInitiated".to_string()),
        Just("SERVICE_DEPLOYMENT_FAILED".to_string()),
        Just("é€\u{0}\u{202e}😀".repeat(20)),
        Just("x".repeat(70_000)),
        ".{0,40}",
    ]
}

/// Numbers at the edges: huge, negative, fractional.
pub fn interesting_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from(u64::MAX)),
        Just(Value::from(i64::MIN)),
        Just(Value::from(-1)),
        Just(Value::from(0)),
        Just(Value::from(137)),
        Just(Number::from_f64(1e308).map_or(Value::Null, Value::Number)),
        Just(Number::from_f64(-0.5).map_or(Value::Null, Value::Number)),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
}

/// Keys the parsers read, and random ones.
pub fn interesting_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "source", "detail-type", "detail", "id", "time", "resources", "taskArn", "lastStatus",
            "desiredStatus", "group", "clusterArn", "version", "containers", "exitCode", "reason",
            "name", "stopCode", "stoppedReason", "startedAt", "stoppedAt", "attachments", "type",
            "details", "value", "eventName", "deploymentId", "createdAt", "updatedAt", "awslogs",
            "data", "action", "gateway", "minutes", "days", "limit", "snapshot", "force",
            "networkInterfaces", "privateIpv4Address",
        ])
        .prop_map(str::to_string),
        1 => ".{0,12}",
    ]
}

/// Any JSON value, up to a few levels deep.
pub fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        interesting_number(),
        interesting_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((interesting_key(), inner), 0..10)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// One change to a real document.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Remove the field (or array element).
    Remove,
    /// Replace the value with another JSON value (type change).
    Replace(Value),
    /// Replace a string with another string.
    ReplaceString(String),
    /// Replace with a huge or odd number.
    Number(Value),
    /// Wrap the value in this many arrays.
    Nest(usize),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => Just(Mutation::Remove),
        2 => arbitrary_json().prop_map(Mutation::Replace),
        3 => interesting_string().prop_map(Mutation::ReplaceString),
        2 => interesting_number().prop_map(Mutation::Number),
        // Deeper than serde_json's own parse limit (128), which a programmatic value can reach.
        1 => (1usize..300).prop_map(Mutation::Nest),
    ]
}

/// Every path (object keys and array indexes) in `value`, the root excluded.
pub fn paths(value: &Value) -> Vec<Vec<PathStep>> {
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

fn walk(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(PathStep::Key(k.clone()));
                out.push(prefix.clone());
                walk(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                out.push(prefix.clone());
                walk(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// Applies `mutation` at `path` (which must exist in `doc`).
pub fn apply(doc: &mut Value, path: &[PathStep], mutation: &Mutation) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut parent = doc;
    for step in parent_path {
        parent = match (step, parent) {
            (PathStep::Key(k), Value::Object(map)) => match map.get_mut(k) {
                Some(v) => v,
                None => return,
            },
            (PathStep::Index(i), Value::Array(items)) => match items.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    if let Mutation::Remove = mutation {
        match (last, parent) {
            (PathStep::Key(k), Value::Object(map)) => {
                map.remove(k);
            }
            (PathStep::Index(i), Value::Array(items)) if *i < items.len() => {
                items.remove(*i);
            }
            _ => {}
        }
        return;
    }
    let slot = match (last, parent) {
        (PathStep::Key(k), Value::Object(map)) => map.get_mut(k),
        (PathStep::Index(i), Value::Array(items)) => items.get_mut(*i),
        _ => None,
    };
    let Some(slot) = slot else { return };
    *slot = match mutation {
        Mutation::Remove => return,
        Mutation::Replace(v) | Mutation::Number(v) => v.clone(),
        Mutation::ReplaceString(s) => Value::String(s.clone()),
        Mutation::Nest(depth) => {
            let mut v = slot.take();
            for _ in 0..*depth {
                v = Value::Array(vec![v]);
            }
            v
        }
    };
}

/// Applies up to `mutations.len()` mutations, each at a path chosen by its index into the
/// document's paths at that moment.
pub fn mutate(mut doc: Value, mutations: &[(prop::sample::Index, Mutation)]) -> Value {
    for (index, mutation) in mutations {
        let paths = paths(&doc);
        if paths.is_empty() {
            break;
        }
        let path = &paths[index.index(paths.len())];
        apply(&mut doc, path, mutation);
    }
    doc
}

/// The sample events in `tests/fixtures/events` (name, JSON).
pub fn fixtures() -> Vec<(String, Value)> {
    let dir = clawkeeper_tests::workspace_root().join("tests/fixtures/events");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixture dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("fixture");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        out.push((name, serde_json::from_str(&text).expect("fixture is JSON")));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
