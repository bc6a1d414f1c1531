//! [`MemoryRegistry`] and [`RecordingSubscriptions`]: the registry and the owners' subscriptions
//! in memory, counting reads and recording every change.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::aws_error::AwsError;
use crate::ports::{GatewayRegistry, OwnerSubscriptions};
use crate::registry::{OwnerRecord, Registration, RegistryContents};
use crate::store::StoreError;

/// The registry in memory.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    registrations: Mutex<BTreeMap<String, Registration>>,
    owners: Mutex<BTreeMap<String, OwnerRecord>>,
    reads: AtomicUsize,
    failing_reads: AtomicUsize,
}

impl MemoryRegistry {
    /// How many times it was read.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// The next `n` reads fail transiently.
    pub fn fail_next_reads(&self, n: usize) {
        self.failing_reads.store(n, Ordering::SeqCst);
    }
}

impl GatewayRegistry for MemoryRegistry {
    async fn read(&self) -> Result<RegistryContents, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if super::take_one(&self.failing_reads) {
            return Err(StoreError::Aws(super::transient("dynamodb", "Query")));
        }
        Ok(RegistryContents {
            registrations: super::lock(&self.registrations).values().cloned().collect(),
            owners: super::lock(&self.owners).values().cloned().collect(),
        })
    }

    async fn put_registration(&self, registration: &Registration) -> Result<(), StoreError> {
        super::lock(&self.registrations).insert(registration.id.clone(), registration.clone());
        Ok(())
    }

    async fn delete_registration(&self, id: &str) -> Result<(), StoreError> {
        super::lock(&self.registrations).remove(id);
        Ok(())
    }

    async fn put_owner(&self, owner: &OwnerRecord) -> Result<(), StoreError> {
        super::lock(&self.owners).insert(owner.email.clone(), owner.clone());
        Ok(())
    }

    async fn delete_owner(&self, email: &str) -> Result<(), StoreError> {
        super::lock(&self.owners).remove(email);
        Ok(())
    }
}

/// Owner subscriptions in memory: subscription ARN -> (email, gateways).
#[derive(Debug, Default)]
pub struct RecordingSubscriptions {
    /// Live subscriptions.
    pub subscriptions: Mutex<BTreeMap<String, (String, Vec<String>)>>,
    next: AtomicUsize,
}

impl OwnerSubscriptions for RecordingSubscriptions {
    async fn subscribe(&self, email: &str, gateways: &[String]) -> Result<String, AwsError> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let arn = format!("arn:aws:sns:us-east-1:123456789012:clawkeeper:sub-{n}");
        super::lock(&self.subscriptions).insert(arn.clone(), (email.to_string(), gateways.to_vec()));
        Ok(arn)
    }

    async fn set_gateways(&self, subscription_arn: &str, gateways: &[String]) -> Result<(), AwsError> {
        if let Some(entry) = super::lock(&self.subscriptions).get_mut(subscription_arn) {
            entry.1 = gateways.to_vec();
        }
        Ok(())
    }

    async fn find(&self, email: &str) -> Result<Option<String>, AwsError> {
        Ok(super::lock(&self.subscriptions)
            .iter()
            .find(|(_, (e, _))| e.eq_ignore_ascii_case(email))
            .map(|(arn, _)| arn.clone()))
    }

    async fn unsubscribe(&self, subscription_arn: &str) -> Result<(), AwsError> {
        super::lock(&self.subscriptions).remove(subscription_arn);
        Ok(())
    }
}
