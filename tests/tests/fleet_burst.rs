//! A burst over a fleet, end to end: 1,000 ECS task-stopped events (two crashes of a task of each
//! of 200 registered gateways' services, and EventBridge's redeliveries of them) delivered through
//! three `task-events` processes at once, as Lambda scales out under a burst. One gateway's events
//! reach different processes at the same moment and meet only on that gateway's own state item,
//! where the conditional writes settle them; no two gateways share an item. Each gateway's owner
//! gets exactly one notice, each gateway has exactly one open incident, and no invocation fails.
//! The real binary through the Runtime API; DynamoDB, SNS, SQS and ECS in moto, which serves
//! one request at a time (`SerialProxy`: its transactions are not safe under concurrent requests).

use std::collections::BTreeMap;

use clawkeeper_aws::dynamodb::DynamoStore;
use clawkeeper_core::ports::StateStore;
use clawkeeper_core::watch::state::GatewayState;
use clawkeeper_tests::aws_setup::kinds;
use clawkeeper_tests::consts::{POLICY_NOTIFY_AT_ONCE, TABLE};
use clawkeeper_tests::fleet_load::{
    Burst, SerialProxy, crash_burst, create_services, deliver_round_robin, fleet_gateway, fleet_id, fleet_service,
    register,
};
use clawkeeper_tests::{Stack, set_env};
use serde_json::{Value, json};

const GATEWAYS: usize = 200;
/// Two crashes of two tasks and three redeliveries of them, per gateway.
const EVENTS_PER_GATEWAY: usize = 5;
/// `task-events` instances handling the burst at once.
const INSTANCES: usize = 3;

/// The fleet: 200 gateways registered at run time (no seeds), their services in moto's cluster;
/// the functions reach moto through the [`SerialProxy`] returned.
async fn fleet_stack() -> (Stack, SerialProxy, Vec<String>) {
    let mut stack = Stack::builder()
        .gateways(json!([]))
        .policy(POLICY_NOTIFY_AT_ONCE)
        .with_service()
        .start()
        .await;
    let ids: Vec<String> = (0..GATEWAYS).map(fleet_id).collect();
    let services: Vec<String> = ids.iter().map(|id| fleet_service(id)).collect();
    create_services(&stack.sdk, &services).await;
    let gateways: Vec<Value> = ids.iter().map(|id| fleet_gateway(id, None)).collect();
    register(&stack.sdk, TABLE, &gateways).await;
    let line = SerialProxy::start(&stack.moto.endpoint());
    set_env(&mut stack.env, "AWS_ENDPOINT_URL", line.endpoint());
    (stack, line, ids)
}

/// Every invocation answered, and each answer is of the gateway its event's service belongs to.
fn assert_all_handled_by_their_gateway(burst: &Burst, events: &[Value]) {
    let failures = burst.failures();
    assert!(
        failures.is_empty(),
        "{} of {} invocations failed, first: {:?}",
        failures.len(),
        events.len(),
        failures.first()
    );
    for (outcome, event) in burst.outcomes.iter().zip(events) {
        let clawkeeper_tests::Invocation::Ok(answer) = outcome else {
            unreachable!("checked above")
        };
        let service = event["detail"]["group"].as_str().unwrap_or_default();
        let expected = service
            .strip_prefix("service:")
            .and_then(|s| s.strip_suffix("-gateway"))
            .unwrap_or_default();
        assert_eq!(answer["gateway"], expected, "{answer} for {event}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_crashes_over_a_fleet_tells_each_owner_once_and_opens_one_incident_each() {
    let (stack, _line, ids) = fleet_stack().await;
    let events = crash_burst(&ids, EVENTS_PER_GATEWAY);
    assert_eq!(events.len(), 1_000);
    let mut instances: Vec<_> = (0..INSTANCES).map(|_| stack.spawn("task-events")).collect();

    // The deliveries block on the processes' answers: off the runtime's async workers.
    let burst = tokio::task::block_in_place(|| deliver_round_robin(&mut instances, &events));
    assert_all_handled_by_their_gateway(&burst, &events);

    // Exactly one notice per gateway, the "down" of its first crash, and none of any other.
    let delivered = stack.inbox().settle_and_drain().await;
    let mut by_gateway: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for notice in &delivered {
        by_gateway.entry(&notice.gateway).or_default().push(&notice.kind);
    }
    for id in &ids {
        assert_eq!(
            by_gateway.remove(id.as_str()).unwrap_or_default(),
            ["gateway_down"],
            "{id}: {:?}",
            kinds(&delivered)
        );
    }
    assert!(by_gateway.is_empty(), "notices of no fleet gateway: {by_gateway:?}");

    // Exactly one open incident per gateway, holding both crashes (each counted once).
    let store = DynamoStore::new(&stack.sdk, TABLE);
    for id in &ids {
        let state = store
            .load::<GatewayState>(id)
            .await
            .unwrap_or_else(|e| panic!("load {id}: {e}"))
            .unwrap_or_else(|| panic!("{id} has no state"))
            .state;
        let incident = state.incident.unwrap_or_else(|| panic!("{id} has no open incident"));
        assert_eq!(incident.stops, 2, "{id}: {incident:?}");
        assert!(incident.down_notified, "{id}: {incident:?}");
        let records = store.incidents(id, 0).await.expect("incident records");
        assert_eq!(records.len(), 1, "{id}: {records:?}");
    }
}
