//! [`GatewayRegistry`] over the state table: the partition `pk = REGISTRY`, one item per
//! registered gateway (`sk = GW#<id>`) and per owner (`sk = OWNER#<email>`), read with one paged
//! `Query`. Its own partition lets IAM give every role a read (`dynamodb:LeadingKeys` REGISTRY)
//! and only `control` a write.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use clawkeeper_core::ports::GatewayRegistry;
use clawkeeper_core::registry::{OwnerRecord, Registration, RegistryContents};
use clawkeeper_core::store::StoreError;
use clawkeeper_core::watch::time::now_secs;

use crate::dynamodb::{DynamoStore, Item};

/// The registry's partition key.
pub const REGISTRY_PK: &str = "REGISTRY";
const GATEWAY_PREFIX: &str = "GW#";
const OWNER_PREFIX: &str = "OWNER#";

fn key(sk: String) -> Item {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(REGISTRY_PK.to_string())),
        ("sk".to_string(), AttributeValue::S(sk)),
    ])
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// One registration item. An item that is no gateway (edited by hand, say) is kept with what it
/// holds: the merge reports it as a problem of that one item, and the rest of the fleet is read.
fn registration(id: &str, item: &Item) -> Registration {
    let removed = item
        .get("removed")
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false);
    let gateway = match text(item, "gateway") {
        Some(json) => serde_json::from_str(&json).unwrap_or(serde_json::Value::String(json)),
        None => serde_json::Value::Null,
    };
    Registration {
        id: id.to_string(),
        gateway,
        owner_email: text(item, "owner_email"),
        registered_at: number(item, "registered_at"),
        by: text(item, "by").unwrap_or_default(),
        removed,
    }
}

fn owner(email: &str, item: &Item) -> OwnerRecord {
    let mut gateways: Vec<String> = item
        .get("gateways")
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default();
    gateways.sort();
    OwnerRecord {
        email: email.to_string(),
        subscription_arn: text(item, "subscription_arn"),
        gateways,
        updated_at: number(item, "updated_at"),
    }
}

impl DynamoStore {
    async fn put_registry_item(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.error("PutItem", e))?;
        Ok(())
    }

    async fn delete_registry_item(&self, sk: String) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(sk)))
            .send()
            .await
            .map_err(|e| self.error("DeleteItem", e))?;
        Ok(())
    }
}

impl GatewayRegistry for DynamoStore {
    async fn read(&self) -> Result<RegistryContents, StoreError> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :registry")
            .expression_attribute_values(":registry", AttributeValue::S(REGISTRY_PK.to_string()))
            // Registrations are read on every event: a strong read sees one made a moment ago.
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| self.error("Query", e))?;
        let mut contents = RegistryContents::default();
        for item in &items {
            let sk = text(item, "sk").unwrap_or_default();
            if let Some(id) = sk.strip_prefix(GATEWAY_PREFIX) {
                contents.registrations.push(registration(id, item));
            } else if let Some(email) = sk.strip_prefix(OWNER_PREFIX) {
                contents.owners.push(owner(email, item));
            } else {
                tracing::warn!(sk = %sk, "unknown registry item kept as it is");
            }
        }
        Ok(contents)
    }

    async fn put_registration(&self, registration: &Registration) -> Result<(), StoreError> {
        let mut item = key(format!("{GATEWAY_PREFIX}{}", registration.id));
        if !registration.gateway.is_null() {
            item.insert("gateway".into(), AttributeValue::S(registration.gateway.to_string()));
        }
        if let Some(email) = &registration.owner_email {
            item.insert("owner_email".into(), AttributeValue::S(email.clone()));
        }
        item.insert(
            "registered_at".into(),
            AttributeValue::N(registration.registered_at.to_string()),
        );
        item.insert("by".into(), AttributeValue::S(registration.by.clone()));
        item.insert("removed".into(), AttributeValue::Bool(registration.removed));
        self.put_registry_item(item).await
    }

    async fn delete_registration(&self, id: &str) -> Result<(), StoreError> {
        self.delete_registry_item(format!("{GATEWAY_PREFIX}{id}")).await
    }

    async fn put_owner(&self, owner: &OwnerRecord) -> Result<(), StoreError> {
        let mut item = key(format!("{OWNER_PREFIX}{}", owner.email));
        if let Some(arn) = &owner.subscription_arn {
            item.insert("subscription_arn".into(), AttributeValue::S(arn.clone()));
        }
        // A string set may not be empty: an owner without gateways is deleted instead.
        if !owner.gateways.is_empty() {
            item.insert("gateways".into(), AttributeValue::Ss(owner.gateways.clone()));
        }
        item.insert("updated_at".into(), AttributeValue::N(now_secs().to_string()));
        self.put_registry_item(item).await
    }

    async fn delete_owner(&self, email: &str) -> Result<(), StoreError> {
        self.delete_registry_item(format!("{OWNER_PREFIX}{email}")).await
    }
}
