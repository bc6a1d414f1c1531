//! Hostile input to the ECS event parser (`parse_ecs_event`): arbitrary JSON and mutations of the
//! real sample events (fields removed, types changed, strings replaced, huge numbers, deep
//! nesting). The parser never panics; it answers `Ok` (a signal for a configured gateway, or
//! ignored) or an error that names the field at fault.

mod fuzz_support;

use clawkeeper_core::Config;
use clawkeeper_core::watch::{Parsed, SignalError, parse_ecs_event};
use fuzz_support::*;
use proptest::prelude::*;
use serde_json::Value;

fn config() -> Config {
    clawkeeper_tests::config(
        r#"[{"id":"home","cluster":"openclaw","service":"openclaw-gateway"},
            {"id":"lab","cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/openclaw","task_family":"lab"}]"#,
    )
    .expect("config")
}

/// The contract: a signal names a configured gateway; an error names a field and says what is
/// wrong, in a message short enough for a log line even when the input is huge.
fn check(event: &Value, config: &Config) -> Result<(), TestCaseError> {
    match parse_ecs_event(event, &config.gateways) {
        Ok(Parsed::Signal { gateway, .. }) => {
            prop_assert!(config.gateway(&gateway).is_some(), "unknown gateway {gateway}");
        }
        Ok(Parsed::Ignored { reason }) => prop_assert!(!reason.is_empty()),
        Err(SignalError {
            event: name,
            field,
            problem,
        }) => {
            prop_assert!(!field.is_empty() && !problem.is_empty() && !name.is_empty());
            let message = SignalError {
                event: name,
                field: field.clone(),
                problem,
            }
            .to_string();
            prop_assert!(message.contains(&format!("`{field}`")), "{message}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzz_support::config(1500))]

    #[test]
    fn arbitrary_json_never_panics(event in arbitrary_json()) {
        check(&event, &config())?;
    }

    #[test]
    fn arbitrary_ecs_shaped_events_never_panic(
        detail in arbitrary_json(),
        detail_type in prop::sample::select(vec![
            "ECS Task State Change", "ECS Service Action", "ECS Deployment State Change",
        ]),
        resources in arbitrary_json(),
        id in arbitrary_json(),
    ) {
        // Past the source and detail-type gates, so the detail readers see the arbitrary input.
        let event = serde_json::json!({
            "source": "aws.ecs", "detail-type": detail_type, "id": id,
            "resources": resources, "detail": detail,
        });
        check(&event, &config())?;
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), mutation()), 1..6),
    ) {
        let fixtures: Vec<(String, Value)> =
            fixtures().into_iter().filter(|(name, _)| !name.starts_with("logs-")).collect();
        let (_, fixture) = &fixtures[which.index(fixtures.len())];
        let event = mutate(fixture.clone(), &mutations);
        check(&event, &config())?;
    }
}

#[test]
fn every_fixture_still_parses_for_the_fuzz_config() {
    // The mutations start from events the parser accepts, so they probe its edges.
    let config = config();
    let mut signals = 0;
    for (name, event) in fixtures().into_iter().filter(|(name, _)| !name.starts_with("logs-")) {
        match parse_ecs_event(&event, &config.gateways) {
            Ok(Parsed::Signal { .. }) => signals += 1,
            Ok(Parsed::Ignored { .. }) => {}
            Err(e) => panic!("{name}: {e}"),
        }
    }
    assert!(signals >= 8, "{signals}");
}

#[test]
fn deep_nesting_and_huge_numbers_in_known_fields_are_errors_naming_them() {
    let config = config();
    let mut event = fixtures()
        .into_iter()
        .find(|(n, _)| n == "task-stopped-crash.json")
        .expect("fixture")
        .1;
    let mut nested = Value::from(1);
    // Deeper than serde_json parses (128 levels): what Lambda hands over is never this deep.
    for _ in 0..300 {
        nested = Value::Array(vec![nested]);
    }
    event["detail"]["containers"][0]["exitCode"] = nested;
    let e = parse_ecs_event(&event, &config.gateways).expect_err("nested exit code");
    assert_eq!(e.field, "detail.containers[0].exitCode");
    event["detail"]["version"] = Value::from(-1);
    event["detail"]["containers"] = Value::Array(vec![]);
    let e = parse_ecs_event(&event, &config.gateways).expect_err("negative version");
    assert_eq!(e.field, "detail.version");
    event["detail"]["version"] = serde_json::Number::from_f64(1e308).map_or(Value::Null, Value::Number);
    let e = parse_ecs_event(&event, &config.gateways).expect_err("float version");
    assert_eq!(e.field, "detail.version");
}
