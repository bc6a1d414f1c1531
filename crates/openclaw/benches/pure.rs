//! Criterion benchmarks of the pure functions on every event's path: parsing an ECS event, the
//! policy's plan, decoding a CloudWatch Logs delivery, and classifying one line of each shape.
//! `make bench` runs them and copies the estimates into docs/BENCHMARKS.md.

use std::hint::black_box;

use clawkeeper_core::Config;
use clawkeeper_core::watch::{GatewayState, Input, Parsed, parse_ecs_event, plan};
use criterion::{Criterion, criterion_group, criterion_main};

const CRASH: &str = include_str!("../../../tests/fixtures/events/task-stopped-crash.json");
const RUNNING: &str = include_str!("../../../tests/fixtures/events/task-running.json");
const LOGS: &str = include_str!("../../../tests/fixtures/events/logs-whatsapp-logged-out.json");
/// One channel line per shape, as OpenClaw 2026.9.6 writes them (tests/fixtures/lines/generate.mjs).
const LINE_COMPACT: &str = include_str!("../tests/fixtures/lines/compact-whatsapp-conflict-440.log");
const LINE_JSON: &str = include_str!("../tests/fixtures/lines/json-whatsapp-conflict-440.log");
const LINE_TSLOG: &str = include_str!("../tests/fixtures/lines/tslog-web-reconnect-stop-440.log");

fn config() -> Config {
    Config::from_lookup(|name| {
        Some(
            match name {
                "CLAWKEEPER_TABLE" => "bench-table",
                "CLAWKEEPER_TOPIC_ARN" => "arn:aws:sns:us-east-1:123456789012:bench",
                "CLAWKEEPER_BUCKET" => "bench-bucket",
                "CLAWKEEPER_GATEWAYS" => {
                    r#"[{"id":"home","cluster":"openclaw","service":"openclaw-gateway","log_group":"/ecs/openclaw-gateway"}]"#
                }
                _ => return None,
            }
            .to_string(),
        )
    })
    .unwrap_or_else(|e| panic!("bench config: {e}"))
}

fn signal(config: &Config, text: &str) -> Input {
    let event: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    match parse_ecs_event(&event, &config.gateways) {
        Ok(Parsed::Signal { signal, .. }) => Input::Signal(signal),
        other => panic!("not a signal: {other:?}"),
    }
}

fn benches(c: &mut Criterion) {
    let config = config();
    let gateway = &config.gateways[0];
    let crash_event: serde_json::Value = serde_json::from_str(CRASH).unwrap_or_default();
    c.bench_function("parse_ecs_event (task stopped)", |b| {
        b.iter(|| parse_ecs_event(black_box(&crash_event), &config.gateways))
    });
    let crash = signal(&config, CRASH);
    let running = signal(&config, RUNNING);
    let now = 1_795_161_800;
    let healthy = plan(&GatewayState::default(), &running, now, &config.policy, gateway).state;
    c.bench_function("plan (crash of a healthy gateway)", |b| {
        b.iter(|| plan(black_box(&healthy), &crash, now, &config.policy, gateway))
    });
    let down = plan(&healthy, &crash, now, &config.policy, gateway).state;
    c.bench_function("plan (tick of a down gateway)", |b| {
        b.iter(|| plan(black_box(&down), &Input::Tick, now + 30, &config.policy, gateway))
    });
    let delivery: serde_json::Value = serde_json::from_str(LOGS).unwrap_or_default();
    c.bench_function("decode logs delivery (2 lines)", |b| {
        b.iter(|| clawkeeper_openclaw::channel_log::decode_subscription(black_box(&delivery)))
    });
    for (name, line) in [
        ("classify_line (compact 440)", LINE_COMPACT),
        ("classify_line (JSON console 440)", LINE_JSON),
        ("classify_line (tslog record 440)", LINE_TSLOG),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| clawkeeper_openclaw::channel_log::classify_line(black_box(line)))
        });
    }
}

criterion_group!(pure, benches);
criterion_main!(pure);
