//! Snapshots as owners see them: the sidecars under `<gateway>/snapshots/` (a snapshot exists
//! only when its sidecar does, ARCHITECTURE.md section 6), newest first, and finding one by name.

use clawkeeper_aws::FunctionError;
use clawkeeper_core::AwsError;
use clawkeeper_core::ports::ObjectStore;
use clawkeeper_snapshot::Sidecar;
use clawkeeper_snapshot::catalog::{self, Unresolved};
use clawkeeper_snapshot::layout::Consistency;
use serde::Serialize;

/// One snapshot in a listing.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotEntry {
    /// `<stamp>-<trigger>`: what owners type to restore it.
    pub name: String,
    /// The archive's S3 key.
    pub key: String,
    /// RFC 3339.
    pub taken_at: String,
    pub trigger: String,
    pub archive_bytes: u64,
    pub payload_bytes: u64,
    pub file_count: u64,
    pub consistency: Consistency,
    pub verified: bool,
    pub warnings: Vec<String>,
    pub source_task: Option<String>,
}

impl SnapshotEntry {
    fn from_sidecar(name: String, sidecar: Sidecar) -> Self {
        Self {
            name,
            key: sidecar.archive_key,
            taken_at: sidecar.taken_at,
            trigger: sidecar.trigger,
            archive_bytes: sidecar.archive_bytes,
            payload_bytes: sidecar.payload_bytes,
            file_count: sidecar.file_count,
            consistency: sidecar.consistency,
            verified: sidecar.verified,
            warnings: sidecar.warnings,
            source_task: sidecar.source_task,
        }
    }
}

async fn read_sidecar<O: ObjectStore>(objects: &O, key: &str) -> Result<Option<Sidecar>, AwsError> {
    Ok(objects.get_bytes(key).await?.and_then(|body| {
        serde_json::from_slice::<Sidecar>(&body)
            .inspect_err(|e| tracing::warn!(key, error = %e, "unreadable sidecar left out of the listing"))
            .ok()
    }))
}

/// The newest `limit` snapshots of a gateway.
pub async fn list<O: ObjectStore>(objects: &O, gateway: &str, limit: usize) -> Result<Vec<SnapshotEntry>, AwsError> {
    let mut out = Vec::new();
    for listed in catalog::newest_first(objects, gateway).await? {
        if out.len() >= limit {
            break;
        }
        if let Some(sidecar) = read_sidecar(objects, &listed.sidecar_key).await? {
            out.push(SnapshotEntry::from_sidecar(listed.name, sidecar));
        }
    }
    Ok(out)
}

/// Finds a snapshot the way the restore function will ([`catalog::resolve`]), with its sidecar.
pub async fn resolve<O: ObjectStore>(objects: &O, gateway: &str, wanted: &str) -> Result<SnapshotEntry, FunctionError> {
    let unknown = |newest: &[String]| {
        FunctionError::new(
            "UnknownSnapshot",
            if newest.is_empty() {
                format!(
                    "unknown snapshot {wanted:?}: gateway {gateway} has no snapshots; take one with `clawkeeper snapshot {gateway}`"
                )
            } else {
                format!(
                    "unknown snapshot {wanted:?} of gateway {gateway}; newest: {} (see `clawkeeper snapshots {gateway}`)",
                    newest.join(", ")
                )
            },
        )
    };
    let found = match catalog::resolve(objects, gateway, wanted).await {
        Ok(found) => found,
        Err(e @ Unresolved::Refused { .. }) => return Err(FunctionError::new("InvalidRequest", e.to_string())),
        Err(Unresolved::Unknown { newest, .. }) => return Err(unknown(&newest)),
        Err(Unresolved::Store(e)) => return Err(e.into()),
    };
    let Some(listed) = found.listed else {
        // The restore function takes such an archive when invoked directly; the owner's restore
        // restores what the listing shows.
        return Err(FunctionError::new(
            "UnknownSnapshot",
            format!(
                "{wanted:?} is an archive without a clawkeeper sidecar; restore it by invoking the restore \
                 function directly, or pick one of `clawkeeper snapshots {gateway}`"
            ),
        ));
    };
    match read_sidecar(objects, &listed.sidecar_key).await? {
        Some(sidecar) => Ok(SnapshotEntry::from_sidecar(listed.name.clone(), sidecar)),
        // Listed a moment ago, gone or unreadable now: it cannot be restored as it is.
        None => Err(FunctionError::new(
            "UnknownSnapshot",
            format!(
                "snapshot {} of gateway {gateway} has no readable sidecar (see `clawkeeper snapshots {gateway}`)",
                listed.name
            ),
        )),
    }
}

impl crate::app::App<'_> {
    /// `snapshots`: the newest `limit` snapshots of one gateway or each.
    pub async fn list_snapshots(&self, only: Option<&str>, limit: usize) -> Result<serde_json::Value, FunctionError> {
        let mut gateways = Vec::new();
        for gateway in self.config.gateways.iter().filter(|g| only.is_none_or(|id| g.id == id)) {
            let list = list(&self.adapters.objects, &gateway.id, limit)
                .await
                .map_err(FunctionError::from)?;
            gateways.push(serde_json::json!({ "id": gateway.id, "snapshots": list }));
        }
        Ok(serde_json::json!({ "gateways": gateways }))
    }
}
