//! [`SnapshotStatusStore`] over the state table: one item per gateway beside its state
//! (`pk = GW#<id>`, `sk = SNAPSHOT`), with `saved_at` (ms) and, while snapshot runs fail,
//! `failure` (the failure record as JSON). Written with `UpdateItem` so a failure keeps when the
//! state was saved and a success drops the failure in one request; read with `GetItem` or, for
//! the reconciler's fleet, the store's batched reads.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use clawkeeper_core::aws_error::{AwsError, Retry};
use clawkeeper_core::ports::{SnapshotStatus, SnapshotStatusStore};
use clawkeeper_core::store::StoreError;
use clawkeeper_core::watch::time::now_secs;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::dynamodb::{DynamoStore, Item, gateway_of_pk, key, number_attr, string_attr};

/// Sort key of a gateway's snapshot status item.
const SNAPSHOT_SK: &str = "SNAPSHOT";

fn status_key(gateway: &str) -> Item {
    key(gateway, SNAPSHOT_SK.to_string())
}

fn decode<F: DeserializeOwned>(gateway: &str, item: &Item) -> Result<SnapshotStatus<F>, StoreError> {
    let failure = string_attr(item, "failure")
        .map(|json| StoreError::parse_stored(gateway, "snapshot failure record", json))
        .transpose()?;
    Ok(SnapshotStatus {
        saved_at_millis: number_attr(item, "saved_at"),
        failure,
    })
}

impl SnapshotStatusStore for DynamoStore {
    async fn record_saved(&self, gateway: &str, saved_at_millis: i64) -> Result<(), StoreError> {
        let written = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(status_key(gateway)))
            .update_expression("SET saved_at = :saved, updated_at = :now REMOVE failure")
            .condition_expression("attribute_not_exists(saved_at) OR saved_at <= :saved")
            .expression_attribute_values(":saved", AttributeValue::N(saved_at_millis.to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now_secs().to_string()))
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            // A later run already recorded a later save: nothing to do.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.error("UpdateItem", e)),
        }
    }

    async fn record_failure<F: Serialize + Sync>(&self, gateway: &str, failure: &F) -> Result<(), StoreError> {
        let json = serde_json::to_string(failure).map_err(|e| {
            StoreError::Aws(AwsError {
                service: "dynamodb",
                operation: "UpdateItem",
                code: None,
                retry: Retry::Permanent,
                message: format!("snapshot failure record: {e}"),
            })
        })?;
        self.client
            .update_item()
            .table_name(self.table())
            .set_key(Some(status_key(gateway)))
            .update_expression("SET failure = :failure, updated_at = :now")
            .expression_attribute_values(":failure", AttributeValue::S(json))
            .expression_attribute_values(":now", AttributeValue::N(now_secs().to_string()))
            .send()
            .await
            .map_err(|e| self.error("UpdateItem", e))?;
        Ok(())
    }

    async fn snapshot_status<F: DeserializeOwned + Send>(
        &self,
        gateway: &str,
    ) -> Result<Option<SnapshotStatus<F>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(status_key(gateway)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", e))?;
        out.item().map(|item| decode(gateway, item)).transpose()
    }

    async fn snapshot_statuses<F: DeserializeOwned + Send>(
        &self,
        gateways: &[String],
    ) -> Result<HashMap<String, Result<SnapshotStatus<F>, StoreError>>, StoreError> {
        let keys: Vec<Item> = gateways.iter().map(|g| status_key(g)).collect();
        Ok(self
            .batch_get(keys)
            .await?
            .iter()
            .filter_map(|item| {
                let gateway = string_attr(item, "pk").and_then(gateway_of_pk)?;
                Some((gateway.to_string(), decode(gateway, item)))
            })
            .collect())
    }
}
