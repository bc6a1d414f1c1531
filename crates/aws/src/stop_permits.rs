//! [`StopPermits`] over the state table: one item per gateway, `pk = PERMIT#<gateway>`,
//! `sk = STOP`, in a partition of its own so IAM can tell permits from the gateways' items
//! (`dynamodb:LeadingKeys`): only `control`'s role may write under `PERMIT#`, only the restore
//! function's may delete there, and every other role's grants stop at `GW#`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use clawkeeper_core::permit::StopPermit;
use clawkeeper_core::ports::StopPermits;
use clawkeeper_core::store::StoreError;

use crate::dynamodb::DynamoStore;

/// Partition key of a gateway's permit.
pub fn permit_pk(gateway: &str) -> String {
    format!("PERMIT#{gateway}")
}

/// The permit's one sort key.
const PERMIT_SK: &str = "STOP";

fn key(gateway: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(permit_pk(gateway))),
        ("sk".to_string(), AttributeValue::S(PERMIT_SK.to_string())),
    ])
}

impl StopPermits for DynamoStore {
    async fn issue(&self, permit: &StopPermit) -> Result<(), StoreError> {
        let body = serde_json::to_string(permit).map_err(|source| StoreError::Encode {
            gateway: permit.gateway.clone(),
            source,
        })?;
        let mut item = key(&permit.gateway);
        item.insert("permit".into(), AttributeValue::S(body));
        // The table's TTL sweeps a permit nobody took (its holder died before invoking restore).
        item.insert("expires_at".into(), AttributeValue::N(permit.expires_at.to_string()));
        self.client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.error("PutItem", e))?;
        Ok(())
    }

    async fn take(&self, gateway: &str) -> Result<Option<StopPermit>, StoreError> {
        // DeleteItem returning the old item is one atomic step: two restores cannot both take it.
        let out = self
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(gateway)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.error("DeleteItem", e))?;
        let Some(item) = out.attributes() else {
            return Ok(None);
        };
        let body = match item.get("permit") {
            Some(AttributeValue::S(body)) => body,
            _ => {
                return Err(StoreError::Corrupt {
                    gateway: gateway.to_string(),
                    what: "stop permit",
                    reason: "the item has no `permit` string".into(),
                    source: None,
                });
            }
        };
        StoreError::parse_stored(gateway, "stop permit", body).map(Some)
    }
}
