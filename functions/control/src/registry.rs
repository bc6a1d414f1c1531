//! `register`, `unregister` and `gateways`: the fleet changed at run time, and each owner's
//! subscription kept filtered to exactly their gateways.
//!
//! Order, so that a failure part way is repaired by running the same request again: the
//! registration is written first (the gateway is watched from the next event or tick), then the
//! owner's subscription is made or its filter changed, then the owner record. A failed subscription
//! call fails the request, naming what is done and what is not.

use clawkeeper_aws::FunctionError;
use clawkeeper_core::Gateway;
use clawkeeper_core::ports::{GatewayRegistry, OwnerSubscriptions, StateStore};
use clawkeeper_core::registry::{MAX_GATEWAYS_PER_OWNER, OwnerRecord, Registration, Source, gateways_of_owner};
use clawkeeper_core::watch::GatewayState;
use clawkeeper_core::watch::time::now_secs;
use serde_json::{Value, json};

use crate::app::App;

fn registry_failure(what: &str, e: impl std::fmt::Display) -> FunctionError {
    FunctionError::new("StateUnavailable", format!("{what}: {e}"))
}

impl App<'_> {
    /// Registers `gateway` (replacing an earlier registration of its id), then routes its owner.
    pub async fn register(
        &self,
        gateway: &Gateway,
        owner_email: Option<&str>,
        by: &str,
    ) -> Result<Value, FunctionError> {
        let registry = &self.adapters.store;
        let contents = registry
            .read()
            .await
            .map_err(|e| registry_failure("registry unreadable", e))?;
        let previous_owner = contents
            .registrations
            .iter()
            .find(|r| r.id == gateway.id && !r.removed)
            .and_then(|r| r.owner_email.clone());
        let registration = Registration {
            id: gateway.id.clone(),
            gateway: gateway.to_object(),
            owner_email: owner_email.map(str::to_string),
            registered_at: now_secs(),
            by: by.to_string(),
            removed: false,
        };
        let mut registrations: Vec<Registration> = contents
            .registrations
            .iter()
            .filter(|r| r.id != gateway.id)
            .cloned()
            .collect();
        registrations.push(registration.clone());
        if let Some(email) = owner_email {
            let count = gateways_of_owner(&registrations, email).len();
            if count > MAX_GATEWAYS_PER_OWNER {
                return Err(FunctionError::new(
                    "InvalidRequest",
                    format!(
                        "{email} would own {count} gateways; an owner's notices are filtered by an SNS filter policy \
                         of at most {MAX_GATEWAYS_PER_OWNER} gateways. Use a second address."
                    ),
                ));
            }
        }
        registry
            .put_registration(&registration)
            .await
            .map_err(|e| registry_failure("registration not written", e))?;
        tracing::info!(gateway = %gateway.id, by = %by, owner = owner_email.is_some(), "gateway registered");
        let owner = match owner_email {
            Some(email) => Some(self.route_owner(email, &registrations, &contents.owners).await?),
            None => None,
        };
        // The owner it had before loses it.
        if let Some(old) = previous_owner.filter(|old| Some(old.as_str()) != owner_email) {
            self.route_owner(&old, &registrations, &contents.owners).await?;
        }
        Ok(json!({
            "registered": registration.gateway,
            "owner": owner,
            "watched_from": "the next event or reconciler tick",
        }))
    }

    /// Stops watching `id`: its registration is deleted (a seed gets a tombstone), its snapshots
    /// and history stay, and its owner's filter no longer lists it.
    pub async fn unregister(&self, id: &str, by: &str) -> Result<Value, FunctionError> {
        let registry = &self.adapters.store;
        let contents = registry
            .read()
            .await
            .map_err(|e| registry_failure("registry unreadable", e))?;
        let owner_email = contents
            .registrations
            .iter()
            .find(|r| r.id == id && !r.removed)
            .and_then(|r| r.owner_email.clone());
        let is_seed = self.seeds.gateway(id).is_some();
        if is_seed {
            let tombstone = Registration {
                id: id.to_string(),
                gateway: Value::Null,
                owner_email: None,
                registered_at: now_secs(),
                by: by.to_string(),
                removed: true,
            };
            registry
                .put_registration(&tombstone)
                .await
                .map_err(|e| registry_failure("tombstone not written", e))?;
        } else {
            registry
                .delete_registration(id)
                .await
                .map_err(|e| registry_failure("registration not deleted", e))?;
        }
        tracing::info!(gateway = %id, by = %by, seed = is_seed, "gateway unregistered");
        let registrations: Vec<Registration> = contents.registrations.into_iter().filter(|r| r.id != id).collect();
        let owner = match owner_email {
            Some(email) => Some(self.route_owner(&email, &registrations, &contents.owners).await?),
            None => None,
        };
        Ok(json!({
            "unregistered": id,
            "kept": "snapshots and history",
            "owner": owner,
        }))
    }

    /// Every watched gateway, where it comes from and its phase, and the owners.
    pub async fn gateways(&self) -> Result<Value, FunctionError> {
        let ids: Vec<String> = self.fleet.members.iter().map(|m| m.gateway.id.clone()).collect();
        let states = self
            .adapters
            .store
            .load_many::<GatewayState>(&ids)
            .await
            .map_err(|e| registry_failure("states unreadable", e))?;
        let gateways: Vec<Value> = self
            .fleet
            .members
            .iter()
            .map(|member| {
                let mut object = member.gateway.to_object();
                let registration = member.registration.as_ref();
                if let Some(o) = object.as_object_mut() {
                    o.insert("source".into(), member.source.as_str().into());
                    o.insert(
                        "owner_email".into(),
                        json!(registration.and_then(|r| r.owner_email.clone())),
                    );
                    o.insert("registered_at".into(), json!(registration.map(|r| r.registered_at)));
                    o.insert("registered_by".into(), json!(registration.map(|r| r.by.clone())));
                    o.insert(
                        "phase".into(),
                        json!(states.get(&member.gateway.id).map_or("unknown", |s| s.phase.as_str())),
                    );
                }
                object
            })
            .collect();
        let owners: Vec<Value> = self
            .fleet
            .owners
            .iter()
            .map(|o| {
                json!({
                    "email": o.email,
                    "gateways": o.gateways,
                    "subscription_arn": o.subscription_arn,
                })
            })
            .collect();
        debug_assert!(
            self.fleet
                .members
                .iter()
                .all(|m| m.source == Source::Seed || m.registration.is_some())
        );
        Ok(json!({ "gateways": gateways, "owners": owners, "problems": self.fleet.problems }))
    }

    /// Makes `email`'s subscription pass exactly their gateways in `registrations`: subscribes
    /// them, changes the filter, or ends the subscription when none are left. A subscription of the
    /// address the registry does not record (the stack's own `OwnerEmail`) already receives every
    /// notice and is left alone.
    async fn route_owner(
        &self,
        email: &str,
        registrations: &[Registration],
        owners: &[OwnerRecord],
    ) -> Result<Value, FunctionError> {
        let registry = &self.adapters.store;
        let topic = &self.adapters.notifier;
        let gateways = gateways_of_owner(registrations, email);
        let record = owners.iter().find(|o| o.email == email);
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            FunctionError::new(
                "AwsRequestFailed",
                format!(
                    "the registry is changed, but {what} for {email} failed ({e}); run the same request again to finish"
                ),
            )
        };
        let subscription = match (record.and_then(|r| r.subscription_arn.clone()), gateways.is_empty()) {
            (Some(arn), true) => {
                topic
                    .unsubscribe(&arn)
                    .await
                    .map_err(|e| failed("ending the subscription", &e))?;
                registry
                    .delete_owner(email)
                    .await
                    .map_err(|e| registry_failure("owner record not deleted", e))?;
                return Ok(json!({ "email": email, "gateways": gateways, "subscription": "ended" }));
            }
            (None, true) => return Ok(json!({ "email": email, "gateways": gateways, "subscription": null })),
            (Some(arn), false) => {
                topic
                    .set_gateways(&arn, &gateways)
                    .await
                    .map_err(|e| failed("changing the subscription's filter", &e))?;
                arn
            }
            (None, false) => {
                if topic
                    .find(email)
                    .await
                    .map_err(|e| failed("listing the subscriptions", &e))?
                    .is_some()
                {
                    return Ok(json!({
                        "email": email,
                        "gateways": gateways,
                        "subscription": "receives every notice",
                    }));
                }
                topic
                    .subscribe(email, &gateways)
                    .await
                    .map_err(|e| failed("subscribing", &e))?
            }
        };
        let owner = OwnerRecord {
            email: email.to_string(),
            subscription_arn: Some(subscription.clone()),
            gateways: gateways.clone(),
            updated_at: now_secs(),
        };
        registry
            .put_owner(&owner)
            .await
            .map_err(|e| registry_failure("owner record not written", e))?;
        Ok(json!({
            "email": email,
            "gateways": gateways,
            "subscription_arn": subscription,
            "subscription": if record.is_some() { "filter changed" } else { "pending confirmation" },
        }))
    }
}
