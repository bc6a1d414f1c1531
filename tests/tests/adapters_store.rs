//! The state store: one scenario, run on the DynamoDB adapter against moto and on the in-memory fake,
//! so the fake the core's tests use behaves like the real thing.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use clawkeeper_aws::dynamodb::DynamoStore;
use clawkeeper_core::fakes::MemoryStore;
use clawkeeper_core::ports::StateStore;
use clawkeeper_core::store::{IncidentRecord, SaveRequest, SeenMarker, StoreError, Versioned};
use clawkeeper_tests::Moto;
use clawkeeper_tests::aws_setup;
use clawkeeper_tests::consts::TABLE;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TestState {
    phase: String,
    restarts: Vec<i64>,
    note: Option<String>,
}

fn state(phase: &str, restarts: &[i64]) -> TestState {
    TestState {
        phase: phase.to_string(),
        restarts: restarts.to_vec(),
        note: Some("ünïcode \"quoted\"\nline".to_string()),
    }
}

fn marker(key: &str) -> Option<SeenMarker> {
    Some(SeenMarker {
        key: key.to_string(),
        expires_at: 1_900_000_000,
    })
}

fn incident(opened_at: i64, what: &str) -> Option<IncidentRecord> {
    Some(IncidentRecord {
        opened_at,
        body: json!({"opened_at": opened_at, "what": what}),
        expires_at: opened_at + 90 * 86_400,
    })
}

fn save<'a>(
    gateway: &'a str,
    state: &'a TestState,
    expected_rev: Option<u64>,
    seen_marker: Option<SeenMarker>,
    incident: Option<IncidentRecord>,
) -> SaveRequest<'a, TestState> {
    SaveRequest {
        gateway,
        state,
        phase: &state.phase,
        expected_rev,
        seen_marker,
        incident,
    }
}

async fn load<S: StateStore>(store: &S, gateway: &str) -> Option<Versioned<TestState>> {
    store.load(gateway).await.expect("load")
}

/// Everything the watchdog relies on, written once for any [`StateStore`].
async fn scenario<S: StateStore>(store: &S) {
    assert!(load(store, "home").await.is_none());
    assert!(!store.seen("home", "task#a#1").await.expect("seen"));
    assert!(store.incidents("home", 0).await.expect("incidents").is_empty());

    // A new state, with the marker of the event that created it.
    let healthy = state("healthy", &[]);
    let rev = store
        .save(save("home", &healthy, None, marker("task#a#1"), None))
        .await
        .expect("first save");
    assert_eq!(rev, 1);
    let loaded = load(store, "home").await.expect("state after the first save");
    assert_eq!((loaded.rev, loaded.phase.as_str()), (1, "healthy"));
    assert_eq!(loaded.state, healthy);
    assert!(loaded.updated_at > 1_700_000_000, "{loaded:?}");
    assert!(store.seen("home", "task#a#1").await.expect("seen"));

    // "Must not exist" when it does: a conflict.
    let err = store
        .save(save("home", &healthy, None, None, None))
        .await
        .expect_err("second create");
    assert!(
        matches!(err, StoreError::Conflict { expected_rev: None, .. }),
        "{err:?}"
    );

    // The right revision, with an incident.
    let down = state("down", &[1_000]);
    let rev = store
        .save(save(
            "home",
            &down,
            Some(1),
            marker("task#a#2"),
            incident(1_000, "crash"),
        ))
        .await
        .expect("save at rev 1");
    assert_eq!(rev, 2);

    // A stale revision: nothing of that transaction lands (not the marker, not the incident).
    let stale = state("crash_loop", &[1_000, 1_100]);
    let err = store
        .save(save(
            "home",
            &stale,
            Some(1),
            marker("task#a#3"),
            incident(1_100, "stale"),
        ))
        .await
        .expect_err("stale save");
    assert!(
        matches!(&err, StoreError::Conflict { gateway, expected_rev: Some(1) } if gateway == "home"),
        "{err:?}"
    );
    assert!(err.to_string().contains("home"), "{err}");
    assert!(!store.seen("home", "task#a#3").await.expect("seen"));
    assert_eq!(
        load(store, "home").await.map(|v| (v.rev, v.state)),
        Some((2, down.clone()))
    );

    // A marker that exists: AlreadySeen, and nothing applied either, though the revision is right.
    let err = store
        .save(save(
            "home",
            &stale,
            Some(2),
            marker("task#a#1"),
            incident(1_200, "duplicate"),
        ))
        .await
        .expect_err("duplicate event");
    assert!(
        matches!(&err, StoreError::AlreadySeen { gateway, key } if gateway == "home" && key == "task#a#1"),
        "{err:?}"
    );
    let loaded = load(store, "home").await.expect("state");
    assert_eq!((loaded.rev, loaded.phase.as_str(), &loaded.state), (2, "down", &down));
    assert_eq!(
        store.incidents("home", 0).await.expect("incidents"),
        vec![json!({"opened_at": 1_000, "what": "crash"})]
    );

    // The same incident is rewritten as it goes on; a later one adds a record.
    let recovered = state("healthy", &[1_000]);
    store
        .save(save(
            "home",
            &recovered,
            Some(2),
            marker("task#a#3"),
            incident(1_000, "crash, recovered"),
        ))
        .await
        .expect("save at rev 2");
    let rev = store
        .save(save("home", &down, Some(3), None, incident(20_000, "second")))
        .await
        .expect("save at rev 3");
    assert_eq!(rev, 4);
    assert_eq!(
        store.incidents("home", 0).await.expect("incidents"),
        vec![
            json!({"opened_at": 1_000, "what": "crash, recovered"}),
            json!({"opened_at": 20_000, "what": "second"})
        ],
        "oldest first, by opening time (not by string length of the time)"
    );
    assert_eq!(
        store.incidents("home", 1_001).await.expect("incidents"),
        vec![json!({"opened_at": 20_000, "what": "second"})]
    );
    assert_eq!(store.incidents("home", 20_000).await.expect("incidents").len(), 1);
    assert!(store.incidents("home", 20_001).await.expect("incidents").is_empty());

    // Gateways are independent: same marker key and incident time, other partition.
    let office = state("paused", &[]);
    store
        .save(save(
            "office",
            &office,
            None,
            marker("task#a#1"),
            incident(1_000, "office"),
        ))
        .await
        .expect("other gateway");
    assert_eq!(store.incidents("home", 0).await.expect("incidents").len(), 2);
    assert_eq!(store.incidents("office", 0).await.expect("incidents").len(), 1);
    assert!(!store.seen("nowhere", "task#a#1").await.expect("seen"));

    // A batched read gives the states asked for that exist; more than one batch of keys too.
    let mut ids: Vec<String> = (0..150).map(|i| format!("absent-{i}")).collect();
    ids.extend(["home".to_string(), "office".to_string()]);
    let found: std::collections::HashMap<String, Versioned<TestState>> = store.load_many(&ids).await.expect("batch");
    let mut all: Vec<(String, Versioned<TestState>)> = found.into_iter().collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let summary: Vec<(&str, u64, &str)> = all.iter().map(|(g, v)| (g.as_str(), v.rev, v.phase.as_str())).collect();
    assert_eq!(summary, vec![("home", 4, "down"), ("office", 1, "paused")]);
    assert_eq!(all[1].1.state, office);
}

/// The clawkeeper table in `moto`; a client of it.
async fn create_table(moto: &Moto) -> aws_sdk_dynamodb::Client {
    let sdk = moto.sdk_config().await;
    aws_setup::create_table(&sdk, TABLE).await;
    aws_sdk_dynamodb::Client::new(&sdk)
}

#[tokio::test]
async fn memory_store_passes_the_scenario() {
    scenario(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_store_passes_the_scenario() {
    let moto = Moto::start();
    create_table(&moto).await;
    let store = DynamoStore::new(&moto.sdk_config().await, TABLE);
    scenario(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_items_have_the_documented_shape() {
    let moto = Moto::start();
    let client = create_table(&moto).await;
    let store = DynamoStore::new(&moto.sdk_config().await, TABLE);
    let down = state("down", &[7]);
    store
        .save(save(
            "home",
            &down,
            None,
            marker("svc#deploy-1"),
            incident(1_767_225_600, "crash"),
        ))
        .await
        .expect("save");

    let get = |sk: &str| {
        let client = client.clone();
        let key = HashMap::from([
            ("pk".to_string(), AttributeValue::S("GW#home".to_string())),
            ("sk".to_string(), AttributeValue::S(sk.to_string())),
        ]);
        async move {
            client
                .get_item()
                .table_name(TABLE)
                .set_key(Some(key))
                .send()
                .await
                .expect("get item")
                .item
                .unwrap_or_else(|| panic!("no item"))
        }
    };
    let item = get("STATE").await;
    assert_eq!(item["rev"], AttributeValue::N("1".into()));
    assert_eq!(item["phase"], AttributeValue::S("down".into()));
    assert!(item["updated_at"].as_n().is_ok(), "{item:?}");
    let json = item["state"].as_s().expect("state is a JSON string");
    assert_eq!(serde_json::from_str::<TestState>(json).expect("state JSON"), down);
    assert!(
        !item.contains_key("expires_at"),
        "the state must never expire: {item:?}"
    );

    let item = get("SEEN#svc#deploy-1").await;
    assert_eq!(item["expires_at"], AttributeValue::N("1900000000".into()));

    let item = get("INCIDENT#0000000001767225600").await;
    assert_eq!(item["opened_at"], AttributeValue::N("1767225600".into()));
    assert_eq!(
        item["expires_at"],
        AttributeValue::N((1_767_225_600 + 90 * 86_400).to_string())
    );
    let body: serde_json::Value = serde_json::from_str(item["body"].as_s().expect("body")).expect("body JSON");
    assert_eq!(body["what"], "crash");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_table_is_an_error_naming_it() {
    let moto = Moto::start();
    let store = DynamoStore::new(&moto.sdk_config().await, "no-such-table");
    let healthy = state("healthy", &[]);

    let errors = [
        store.load::<TestState>("home").await.map(|_| ()).expect_err("load"),
        store
            .save(save("home", &healthy, None, marker("k"), None))
            .await
            .map(|_| ())
            .expect_err("save"),
        store.incidents("home", 0).await.map(|_| ()).expect_err("incidents"),
        store.seen("home", "k").await.map(|_| ()).expect_err("seen"),
        store
            .load_many::<TestState>(&["home".to_string()])
            .await
            .map(|_| ())
            .expect_err("batch"),
    ];
    for err in errors {
        assert!(
            matches!(&err, StoreError::TableNotFound { table, .. } if table == "no-such-table"),
            "{err:?}"
        );
        assert!(err.to_string().contains("no-such-table"), "{err}");
        assert!(!err.is_transient());
    }
}
