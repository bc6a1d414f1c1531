//! Every port of the core in one place: the capabilities the engine, the reconciler and the
//! snapshot engine need from the world, as small traits over domain types. The AWS adapters
//! (`clawkeeper-aws`) implement them on the SDK; tests of the core use the in-memory fakes of
//! [`crate::fakes`]. Each trait is a capability a function may hold or not: reads apart from
//! changes, so a function that only reads cannot act.
//!
//! | Port | Adapter | What it is for |
//! |---|---|---|
//! | [`StateStore`] | DynamoDB | watchdog state, outbox, incident log, dedupe markers |
//! | [`SnapshotStatusStore`] | DynamoDB | when each gateway's state was last saved, its run of snapshot failures |
//! | [`StopPermits`] | DynamoDB | `control`'s word to the restore function that no task runs |
//! | [`Notifier`] | SNS | the owners' notices |
//! | [`EcsRead`] | ECS | services and tasks as they are |
//! | [`EcsControl`] | ECS | desired count, restarts, task stops and starts |
//! | [`SnapshotRequester`] | Lambda (async invoke) | asking the snapshot function for a run |
//! | [`TokenSource`] | Secrets Manager | the gateway token for authenticated probes |
//! | [`ObjectStore`] | S3 | snapshot archives and sidecars |
//! | [`GatewayRegistry`] | DynamoDB | the gateways registered at run time, their owners |
//! | [`OwnerSubscriptions`] | SNS | one owner's e-mail subscription, filtered to their gateways |
//! | [`GatewayAdmin`] | the gateway's admin RPC (reconciler only) | restarting one channel account |

use std::collections::HashMap;
use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::aws_error::AwsError;
use crate::ecs::{Missing, RunSpec, ServiceView, TaskGroup, TaskView};
use crate::gateway::Gateway;
use crate::health::GatewayToken;
use crate::notifier::Publication;
use crate::objects::{ChunkSink, ObjectInfo, PartSource, PendingUpload, UploadError, Uploaded};
use crate::permit::StopPermit;
use crate::registry::{OwnerRecord, Registration, RegistryContents};
use crate::store::{SaveRequest, StoreError, Versioned};
use crate::watch::channel_runtime::ChannelStart;

/// Where the watchdog keeps its state. Saves are conditional on the revision the caller loaded.
pub trait StateStore {
    /// Loads the state of `gateway`; `None` when it was never saved.
    fn load<T: DeserializeOwned>(
        &self,
        gateway: &str,
    ) -> impl Future<Output = Result<Option<Versioned<T>>, StoreError>> + Send;

    /// Writes the state, the dedupe marker and the incident record in one transaction and returns the
    /// new revision. Nothing is written when it fails.
    fn save<T: Serialize + Sync>(
        &self,
        request: SaveRequest<'_, T>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Incident records of `gateway` opened at or after `since` (epoch seconds), oldest first.
    fn incidents(
        &self,
        gateway: &str,
        since: i64,
    ) -> impl Future<Output = Result<Vec<serde_json::Value>, StoreError>> + Send;

    /// True when the dedupe marker `key` of `gateway` exists.
    fn seen(&self, gateway: &str, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The stored states of `gateways` (batched reads; a gateway never saved is absent).
    fn load_many<T: DeserializeOwned + Send>(
        &self,
        gateways: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Versioned<T>>, StoreError>> + Send;
}

/// The snapshot function's record of each gateway's snapshots ([`SnapshotStatus`]), kept beside the
/// gateway's state: the reconciler reads the whole fleet's in batched reads instead of listing S3
/// per gateway, and the snapshot function reaches it through the VPC's free DynamoDB endpoint.
/// `F` is the failure record's type (the snapshot crate's).
pub trait SnapshotStatusStore {
    /// A run saved the state at `saved_at_millis` (a new snapshot, or a check that found it
    /// unchanged since the newest): any run of failures ends. A time older than the one recorded
    /// changes nothing (two runs that overlap record the later).
    fn record_saved(&self, gateway: &str, saved_at_millis: i64) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A run failed: `failure` replaces the failure record; when the state was saved is kept.
    fn record_failure<F: Serialize + Sync>(
        &self,
        gateway: &str,
        failure: &F,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One gateway's status; `None` when no run was ever recorded.
    fn snapshot_status<F: DeserializeOwned + Send>(
        &self,
        gateway: &str,
    ) -> impl Future<Output = Result<Option<SnapshotStatus<F>>, StoreError>> + Send;

    /// The statuses of `gateways` in batched reads (a gateway with none recorded is absent); an
    /// item that cannot be read is that gateway's error, not the batch's.
    fn snapshot_statuses<F: DeserializeOwned + Send>(
        &self,
        gateways: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Result<SnapshotStatus<F>, StoreError>>, StoreError>> + Send;
}

/// What the table keeps of one gateway's snapshot runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotStatus<F> {
    /// When the state was last saved (ms since the epoch): the newest snapshot, or a later run
    /// that found the state unchanged since. `None` while no run has saved it.
    pub saved_at_millis: Option<i64>,
    /// The failure record, while failures run (none since the last run that saved the state).
    pub failure: Option<F>,
}

/// The gateway registry ([`crate::registry`]): every function reads it, only `control` writes it.
pub trait GatewayRegistry {
    /// Every registration, tombstone and owner record.
    fn read(&self) -> impl Future<Output = Result<RegistryContents, StoreError>> + Send;

    /// Writes (or replaces) one registration or tombstone.
    fn put_registration(&self, registration: &Registration) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the registration of `id` (absent is not an error).
    fn delete_registration(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes (or replaces) one owner record.
    fn put_owner(&self, owner: &OwnerRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the owner record of `email` (absent is not an error).
    fn delete_owner(&self, email: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Owners' e-mail subscriptions to the stack's topic, each filtered on the `gateway` message
/// attribute to that owner's gateways.
pub trait OwnerSubscriptions {
    /// Subscribes `email` with a filter passing exactly `gateways`; returns the subscription ARN
    /// (SNS sends the owner a confirmation e-mail first).
    fn subscribe(&self, email: &str, gateways: &[String]) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// Replaces the filter of `subscription_arn` with one passing exactly `gateways`.
    fn set_gateways(
        &self,
        subscription_arn: &str,
        gateways: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The subscription of `email` to the topic that the registry does not record, if any (the
    /// stack's `OwnerEmail`, or one made by hand): left alone, it already receives its notices.
    fn find(&self, email: &str) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;

    /// Ends `subscription_arn`.
    fn unsubscribe(&self, subscription_arn: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Stop permits ([`crate::permit`]): `control` issues them, the restore function takes them.
pub trait StopPermits {
    /// Writes `permit`, replacing any earlier permit of its gateway.
    fn issue(&self, permit: &StopPermit) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the gateway's permit and returns it, in one atomic call, so a permit serves one
    /// restore only; `None` when there is none.
    fn take(&self, gateway: &str) -> impl Future<Output = Result<Option<StopPermit>, StoreError>> + Send;
}

/// Sends notifications to the owner.
pub trait Notifier {
    /// Publishes one notification and returns the message id.
    fn publish(&self, publication: &Publication) -> impl Future<Output = Result<String, AwsError>> + Send;
}

/// What clawkeeper reads from ECS: one service, the tasks of a gateway's group, one task. The
/// read-only half of ECS, apart from [`EcsControl`] so a function that only reads cannot act.
/// Cluster arguments accept a name or an ARN.
pub trait EcsRead {
    /// Describes one service; `Ok(Err(_))` when ECS answers that it does not know it (or its
    /// cluster).
    fn describe_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<Result<ServiceView, Missing>, AwsError>> + Send;

    /// Up to [`crate::ecs::DESCRIBE_SERVICES_MAX`] services of one cluster in one call, each by the
    /// name (or ARN) asked; `Err(Missing)` for one ECS does not know, every one of them when the
    /// cluster does not exist.
    fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Result<ServiceView, Missing>>, AwsError>> + Send;

    /// Every task of the cluster with the desired status, all pages, whatever its group (one
    /// listing for all the cluster's gateways).
    fn cluster_tasks(
        &self,
        cluster: &str,
        desired_status: &str,
    ) -> impl Future<Output = Result<Vec<TaskView>, AwsError>> + Send;

    /// Tasks of `group` with the desired status (`RUNNING` or `STOPPED`), at most 100: a
    /// single-writer gateway has one task, two during a bad deployment.
    fn tasks(
        &self,
        cluster: &str,
        group: &TaskGroup,
        desired_status: &str,
    ) -> impl Future<Output = Result<Vec<TaskView>, AwsError>> + Send;

    /// One task; `None` when ECS does not know it (any more: stopped tasks expire after about an
    /// hour).
    fn task(&self, cluster: &str, task_arn: &str) -> impl Future<Output = Result<Option<TaskView>, AwsError>> + Send;
}

/// The ECS operations that change things, separate from the read-only [`EcsRead`] so a function that only
/// reads cannot act. Cluster arguments accept a name or an ARN.
pub trait EcsControl {
    /// Sets the service's desired count (0 pauses the gateway, 1 resumes it).
    fn set_desired_count(
        &self,
        cluster: &str,
        service: &str,
        count: i32,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Starts a new deployment of the service with its current task definition (a restart).
    fn force_new_deployment(&self, cluster: &str, service: &str) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Stops one task; `reason` (cut to ECS's 255 characters) shows in the task's stopped reason.
    fn stop_task(
        &self,
        cluster: &str,
        task_arn: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Starts one standalone Fargate task and returns its ARN.
    fn run_task(&self, cluster: &str, spec: &RunSpec) -> impl Future<Output = Result<String, AwsError>> + Send;
}

/// Hands a snapshot request to the snapshot function (an asynchronous invoke).
pub trait SnapshotRequester {
    /// Asks for a snapshot of `gateway` with this trigger word; returns once the request is queued.
    fn request_snapshot(&self, gateway: &str, trigger: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Where the gateway token comes from.
pub trait TokenSource {
    /// Reads the current token from the secret.
    fn token(&self, secret_arn: &str) -> impl Future<Output = Result<GatewayToken, AwsError>> + Send;
}

/// The gateway's own admin surface: OpenClaw's opt-in `admin-http-rpc` plugin
/// (`POST /api/v1/admin/rpc` with the gateway token). Only the reconciler can reach it (it knows
/// where the gateway answers and holds its token); every other function holds
/// [`NoGatewayAdmin`], and what it cannot do waits in the outbox for the reconciler.
pub trait GatewayAdmin {
    /// `channels.start` for one account of `gateway`: every outcome is an answer, never an error
    /// (a start that could not be asked is [`ChannelStart::NotStarted`] with why).
    fn start_channel(
        &self,
        gateway: &Gateway,
        channel: &str,
        account: &str,
    ) -> impl Future<Output = ChannelStart> + Send;
}

/// The admin port of a function that cannot reach the gateway: always [`ChannelStart::NotHere`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGatewayAdmin;

impl GatewayAdmin for NoGatewayAdmin {
    async fn start_channel(&self, _gateway: &Gateway, _channel: &str, _account: &str) -> ChannelStart {
        ChannelStart::NotHere
    }
}

/// The object store operations of snapshots and restores.
pub trait ObjectStore: Send + Sync {
    /// Minimum size of every part but the last (5 MiB on S3).
    fn min_part_size(&self) -> usize;

    /// Writes `key` from a stream of parts; completes on [`crate::objects::Part::Finish`], aborts
    /// otherwise.
    fn put_stream(
        &self,
        key: &str,
        content_type: &str,
        parts: impl PartSource,
    ) -> impl Future<Output = Result<Uploaded, UploadError>> + Send;

    /// Writes a small object in one request.
    fn put_bytes(
        &self,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Reads a small object; `None` when it does not exist.
    fn get_bytes(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, AwsError>> + Send;

    /// Every object under `prefix`.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<ObjectInfo>, AwsError>> + Send;

    /// Deletes `keys` (missing ones are not an error).
    fn delete(&self, keys: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Streams an object into a local file; `false` when it does not exist.
    fn download(&self, key: &str, to: &std::path::Path) -> impl Future<Output = Result<bool, AwsError>> + Send;

    /// Streams an object into `chunks`, in order; `false` when it does not exist. Stops early
    /// without error when the receiver goes away (the reader has its own answer then).
    fn read_stream(&self, key: &str, chunks: impl ChunkSink) -> impl Future<Output = Result<bool, AwsError>> + Send;

    /// Multipart uploads in progress under `prefix`.
    fn pending_uploads(&self, prefix: &str) -> impl Future<Output = Result<Vec<PendingUpload>, AwsError>> + Send;

    /// Aborts one multipart upload (its parts are freed; the key is never written).
    fn abort_upload(&self, key: &str, upload_id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}
