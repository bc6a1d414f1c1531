//! [`StateStore`] over `aws-sdk-dynamodb`: one table, key `pk`/`sk`, TTL attribute `expires_at`
//! (ARCHITECTURE.md section 3).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use clawkeeper_core::aws_error::{AwsError, Retry};
use clawkeeper_core::ports::StateStore;
use clawkeeper_core::store::{SaveRequest, StoreError, Versioned};
use clawkeeper_core::watch::time::now_secs;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::debug;

use super::FromSdk;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The DynamoDB state store.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    table: String,
}

impl DynamoStore {
    /// Builds the client from the shared SDK configuration, for the table `table` (`CLAWKEEPER_TABLE`).
    pub fn new(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self {
            client: Client::new(sdk),
            table: table.into(),
        }
    }

    /// The table this store writes to.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Maps an SDK error, naming the table when it does not exist.
    pub(crate) fn error<E>(&self, operation: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let source = AwsError::from_sdk("dynamodb", operation, err);
        if source.code.as_deref() == Some("ResourceNotFoundException") {
            StoreError::TableNotFound {
                table: self.table.clone(),
                source,
            }
        } else {
            StoreError::Aws(source)
        }
    }

    fn put(
        &self,
        item: Item,
        condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some((expression, values)) = condition {
            put = put.condition_expression(expression);
            for (name, value) in values {
                put = put.expression_attribute_values(name, value);
            }
        }
        let put = put.build().map_err(|e| {
            // Cannot happen (table and item are always set), but the builder says it may.
            StoreError::Aws(AwsError {
                service: "dynamodb",
                operation: "TransactWriteItems",
                code: None,
                retry: Retry::Permanent,
                message: DisplayErrorContext(&e).to_string(),
            })
        })?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn key(gateway: &str, sk: String) -> Item {
    HashMap::from([("pk".to_string(), s(gateway_pk(gateway))), ("sk".to_string(), s(sk))])
}

/// A token unique to one `save` call. The SDK resends the same token when it retries the call (after a
/// timeout, say), so DynamoDB applies the transaction once instead of answering the retry of a
/// transaction that already succeeded with a spurious conflict.
fn client_request_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        // Truncating to 64 bits keeps the low, fast-changing bits: all uniqueness needs.
        .map_or(0, |d| d.as_nanos() as u64);
    format!("ck-{nanos:016x}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn corrupt(gateway: &str, what: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        gateway: gateway.to_string(),
        what,
        reason: reason.into(),
        source: None,
    }
}

pub(crate) fn string_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(crate) fn number_attr<N: std::str::FromStr>(item: &Item, name: &str) -> Option<N> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn decode_state<T: DeserializeOwned>(gateway: &str, item: &Item) -> Result<Versioned<T>, StoreError> {
    let rev = number_attr(item, "rev").ok_or_else(|| corrupt(gateway, "state", "no numeric `rev`"))?;
    let json = string_attr(item, "state").ok_or_else(|| corrupt(gateway, "state", "no string `state`"))?;
    let state = StoreError::parse_stored(gateway, "state", json)?;
    Ok(Versioned {
        rev,
        phase: string_attr(item, "phase").unwrap_or_default().to_string(),
        updated_at: number_attr(item, "updated_at").unwrap_or_default(),
        state,
    })
}

/// What a cancelled transaction means, from DynamoDB's per-item cancellation reasons (in request order).
fn cancelled(
    request_gateway: &str,
    expected_rev: Option<u64>,
    seen_key: Option<&str>,
    codes: &[Option<&str>],
    message: String,
) -> StoreError {
    let failed = |index: usize, code: &str| codes.get(index).copied().flatten() == Some(code);
    // The marker is item 1 when present. A handled event wins over a moved state: the caller then
    // drops the event instead of planning it again.
    if let Some(key) = seen_key
        && failed(1, "ConditionalCheckFailed")
    {
        return StoreError::AlreadySeen {
            gateway: request_gateway.to_string(),
            key: key.to_string(),
        };
    }
    // `TransactionConflict`: another transaction was writing the same item at that moment. Like a
    // revision mismatch, reloading and planning again is the cure.
    if failed(0, "ConditionalCheckFailed") || codes.contains(&Some("TransactionConflict")) {
        return StoreError::Conflict {
            gateway: request_gateway.to_string(),
            expected_rev,
        };
    }
    let transient = codes.iter().flatten().any(|c| {
        matches!(
            *c,
            "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded" | "InternalError"
        )
    });
    StoreError::Aws(AwsError {
        service: "dynamodb",
        operation: "TransactWriteItems",
        code: Some("TransactionCanceledException".to_string()),
        retry: if transient { Retry::Transient } else { Retry::Permanent },
        message,
    })
}

impl StateStore for DynamoStore {
    async fn load<T: DeserializeOwned>(&self, gateway: &str) -> Result<Option<Versioned<T>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(gateway, STATE_SK.to_string())))
            // The revision read here conditions the next save: a stale read only costs a conflict,
            // but a strong read avoids most of them.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", e))?;
        out.item().map(|item| decode_state(gateway, item)).transpose()
    }

    async fn save<T: Serialize + Sync>(&self, request: SaveRequest<'_, T>) -> Result<u64, StoreError> {
        let gateway = request.gateway;
        let json = serde_json::to_string(request.state).map_err(|source| StoreError::Encode {
            gateway: gateway.to_string(),
            source,
        })?;
        let rev = request.expected_rev.map_or(1, |r| r + 1);
        let now = now_secs();

        let mut state = key(gateway, STATE_SK.to_string());
        state.insert("state".into(), s(json));
        state.insert("rev".into(), n(rev));
        state.insert("phase".into(), s(request.phase));
        state.insert("updated_at".into(), n(now));
        let condition = match request.expected_rev {
            Some(expected) => ("rev = :expected", vec![(":expected", n(expected))]),
            None => ("attribute_not_exists(pk)", Vec::new()),
        };
        let mut items = vec![self.put(state, Some(condition))?];

        // Order matters: `cancelled` reads the marker's reason at index 1.
        if let Some(marker) = &request.seen_marker {
            let mut seen = key(gateway, seen_sk(&marker.key));
            seen.insert("seen_at".into(), n(now));
            seen.insert("expires_at".into(), n(marker.expires_at));
            items.push(self.put(seen, Some(("attribute_not_exists(pk)", Vec::new())))?);
        }
        if let Some(incident) = &request.incident {
            let mut record = key(gateway, incident_sk(incident.opened_at));
            record.insert("opened_at".into(), n(incident.opened_at));
            record.insert("body".into(), s(incident.body.to_string()));
            record.insert("updated_at".into(), n(now));
            record.insert("expires_at".into(), n(incident.expires_at));
            // Unconditional: each save of an open incident rewrites its record with the latest story.
            items.push(self.put(record, None)?);
        }

        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(client_request_token())
            .send()
            .await;
        match result {
            Ok(_) => {
                debug!(table = %self.table, gateway = %gateway, rev, phase = %request.phase, "state saved");
                Ok(rev)
            }
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(c)) = err.as_service_error() {
                    let codes: Vec<Option<&str>> = c.cancellation_reasons().iter().map(|r| r.code()).collect();
                    let error = cancelled(
                        gateway,
                        request.expected_rev,
                        request.seen_marker.as_ref().map(|m| m.key.as_str()),
                        &codes,
                        DisplayErrorContext(&err).to_string(),
                    );
                    debug!(table = %self.table, gateway = %gateway, reasons = ?codes, error = %error, "save cancelled");
                    return Err(error);
                }
                if let Some(TransactWriteItemsError::IdempotentParameterMismatchException(_)) = err.as_service_error() {
                    // Two different saves drew the same token (practically never): treat it like any
                    // other concurrent write, the caller reloads and plans again.
                    return Err(StoreError::Conflict {
                        gateway: gateway.to_string(),
                        expected_rev: request.expected_rev,
                    });
                }
                Err(self.error("TransactWriteItems", err))
            }
        }
    }

    async fn incidents(&self, gateway: &str, since: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(gateway_pk(gateway)))
            .expression_attribute_values(":from", s(incident_sk(since)))
            .expression_attribute_values(":to", s(INCIDENT_SK_END))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| self.error("Query", e))?;
        items
            .iter()
            .map(|item| {
                let body = string_attr(item, "body").ok_or_else(|| corrupt(gateway, "incident", "no string `body`"))?;
                StoreError::parse_stored(gateway, "incident", body)
            })
            .collect()
    }

    async fn seen(&self, gateway: &str, key_name: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(gateway, seen_sk(key_name))))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", e))?;
        Ok(out.item().is_some())
    }

    async fn load_many<T: DeserializeOwned + Send>(
        &self,
        gateways: &[String],
    ) -> Result<HashMap<String, Versioned<T>>, StoreError> {
        let keys: Vec<Item> = gateways.iter().map(|g| key(g, STATE_SK.to_string())).collect();
        let items = self.batch_get(keys).await?;
        items
            .iter()
            .filter_map(|item| {
                let gateway = string_attr(item, "pk").and_then(gateway_of_pk)?;
                Some(decode_state(gateway, item).map(|state| (gateway.to_string(), state)))
            })
            .collect()
    }
}

/// Most keys one `BatchGetItem` takes.
const BATCH_GET_KEYS: usize = 100;
/// Rounds of unprocessed keys retried before the read fails (DynamoDB hands back keys it had no
/// capacity for; on-demand tables rarely do).
const BATCH_GET_ROUNDS: usize = 8;

impl DynamoStore {
    /// Reads the items of `keys`, 100 keys per `BatchGetItem`, strongly consistent (a state read
    /// here conditions the next save, like [`StateStore::load`]); keys DynamoDB leaves unprocessed
    /// are asked again with a short backoff. Items that do not exist are absent.
    pub(crate) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_KEYS) {
            let mut pending = chunk.to_vec();
            for round in 0..BATCH_GET_ROUNDS {
                if pending.is_empty() {
                    break;
                }
                if round > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << round.min(5))).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| {
                        StoreError::Aws(AwsError {
                            service: "dynamodb",
                            operation: "BatchGetItem",
                            code: None,
                            retry: Retry::Permanent,
                            message: DisplayErrorContext(&e).to_string(),
                        })
                    })?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| self.error("BatchGetItem", e))?;
                if let Some(mut responses) = out.responses
                    && let Some(items) = responses.remove(&self.table)
                {
                    found.extend(items);
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(&self.table))
                    .map(|left| left.keys)
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::Aws(AwsError {
                    service: "dynamodb",
                    operation: "BatchGetItem",
                    code: Some("UnprocessedKeys".into()),
                    retry: Retry::Transient,
                    message: format!(
                        "{} keys still unprocessed after {BATCH_GET_ROUNDS} rounds",
                        pending.len()
                    ),
                }));
            }
        }
        Ok(found)
    }
}

// ---- The table's key layout: one partition per gateway, sort keys by item kind.

/// Partition key of a gateway's items.
fn gateway_pk(gateway: &str) -> String {
    format!("GW#{gateway}")
}

/// The gateway id of a partition key written by [`gateway_pk`].
pub(crate) fn gateway_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix("GW#")
}

/// Sort key of the state item.
const STATE_SK: &str = "STATE";

/// Sort key of a dedupe marker.
fn seen_sk(key: &str) -> String {
    format!("SEEN#{key}")
}

/// Sort key of an incident record. Zero-padded to the width of `i64::MAX` so that the string order of
/// the keys is the order of the times, which the range query of [`StateStore::incidents`](clawkeeper_core::store::StateStore::incidents) relies on.
/// Times before 1970 are not expected and sort as 1970.
fn incident_sk(opened_at: i64) -> String {
    format!("INCIDENT#{:019}", opened_at.max(0))
}

/// Upper bound of the incident sort keys: `~` sorts after every digit.
const INCIDENT_SK_END: &str = "INCIDENT#~";
