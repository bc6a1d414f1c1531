//! One way to set an end-to-end test up: a fresh moto with what the test needs in it (the table,
//! the owner's topic and the queue that reads it, the gateway's ECS service, a RUNNING task, the
//! snapshot bucket, a gateway home on disk, a fault proxy in front of moto) and the environment
//! the function processes get.
//!
//! ```ignore
//! let stack = Stack::builder()
//!     .gateway(json!({"probe_url": url}))
//!     .policy(POLICY_HUNG_AFTER_TWO)
//!     .with_running_task()
//!     .start()
//!     .await;
//! let mut reconciler = stack.spawn("reconciler");
//! ```
//!
//! The functions always run as [`FunctionProcess`]es, so their AWS calls are recorded for the IAM
//! check like every other test's (`crate::recorder`).

use std::fs;
use std::path::{Path, PathBuf};

use aws_config::SdkConfig;
use aws_sdk_ecs::types::NetworkConfiguration;
use serde_json::{Map, Value, json};

use crate::aws_setup::{self, Inbox};
use crate::consts::{CLUSTER, GATEWAY, INBOX_TOPIC, SERVICE, TABLE};
use crate::ec2::Network;
use crate::fault_proxy::FaultProxy;
use crate::{FunctionProcess, Moto, clawkeeper_env, home, s3, set_env};

/// A test's local AWS and the functions' environment; everything stops (and the home is deleted)
/// when it drops.
pub struct Stack {
    pub moto: Moto,
    /// An SDK configuration for moto itself (never through the fault proxy), for set-up and checks.
    pub sdk: SdkConfig,
    /// The functions' environment: moto (or the fault proxy), the names of [`crate::consts`], the
    /// gateway(s), the inbox's topic, the policy and whatever the test added.
    pub env: Vec<(String, String)>,
    inbox: Option<Inbox>,
    proxy: Option<FaultProxy>,
    task_definition: Option<String>,
    task: Option<String>,
    network: Option<NetworkConfiguration>,
    dir: Option<tempfile::TempDir>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Service {
    None,
    /// The cluster, a task definition and the service, desired 1, no task (moto starts none).
    Plain,
    /// An awsvpc Fargate service in a VPC of its own and one RUNNING task in its group, held there.
    RunningTask,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Home {
    None,
    /// `<tmp>/home` named as the gateway's `state_root` (not created), `TMPDIR` `<tmp>/scratch`.
    Root,
    /// As `Root`, with a small OpenClaw home written in it.
    Small,
}

/// What [`Stack::builder`] and [`Stack::bare`] start.
pub struct StackBuilder {
    gateway: Map<String, Value>,
    gateways: Option<Value>,
    policy: Option<String>,
    table: bool,
    inbox: bool,
    service: Service,
    bucket: bool,
    fault_proxy: bool,
    home: Home,
    gateway_token: Option<String>,
    env: Vec<(String, String)>,
}

impl Stack {
    /// The watchdog's stack: moto with the table and the owner's inbox, one gateway `home`
    /// watching the service of the sample events.
    pub fn builder() -> StackBuilder {
        let mut gateway = Map::new();
        gateway.insert("id".into(), json!(GATEWAY));
        gateway.insert("cluster".into(), json!(CLUSTER));
        gateway.insert("service".into(), json!(SERVICE));
        StackBuilder {
            gateway,
            gateways: None,
            policy: None,
            table: true,
            inbox: true,
            service: Service::None,
            bucket: false,
            fault_proxy: false,
            home: Home::None,
            gateway_token: None,
            env: Vec::new(),
        }
    }

    /// moto alone: no table, no inbox (the environment names the table and topic all the same).
    pub fn bare() -> StackBuilder {
        let mut builder = Self::builder();
        builder.table = false;
        builder.inbox = false;
        builder
    }

    /// The queue subscribed to the owner's topic.
    pub fn inbox(&self) -> &Inbox {
        self.inbox.as_ref().expect("a stack with an inbox")
    }

    /// The fault proxy the functions reach moto through.
    pub fn proxy(&self) -> &FaultProxy {
        self.proxy
            .as_ref()
            .expect("a stack with a fault proxy (with_fault_proxy)")
    }

    /// The ARN of the gateway service's task definition, as registered.
    pub fn task_definition(&self) -> &str {
        self.task_definition
            .as_deref()
            .expect("a stack with a service (with_service, with_running_task)")
    }

    /// The gateway's RUNNING task.
    pub fn task(&self) -> &str {
        self.task
            .as_deref()
            .expect("a stack with a running task (with_running_task)")
    }

    /// The network the gateway's tasks run in (a replacement task, say).
    pub fn network(&self) -> &NetworkConfiguration {
        self.network
            .as_ref()
            .expect("a stack with a running task (with_running_task)")
    }

    /// The temp dir holding the gateway's home and the functions' scratch dir.
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("a stack with a home (with_state_root, with_small_home)")
            .path()
    }

    /// The gateway's `state_root` (`/home/node`).
    pub fn state_root(&self) -> PathBuf {
        self.dir().join("home")
    }

    /// The gateway's state dir, `<state_root>/.openclaw`.
    pub fn state_dir(&self) -> PathBuf {
        self.state_root().join(".openclaw")
    }

    /// The functions' `TMPDIR`.
    pub fn scratch(&self) -> PathBuf {
        self.dir().join("scratch")
    }

    /// Starts the function binary `function` with the stack's environment.
    pub fn spawn(&self, function: &str) -> FunctionProcess {
        FunctionProcess::spawn(function, &self.env)
    }

    /// The stack's environment with `overrides` set.
    pub fn env_with(&self, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        for (name, value) in overrides {
            set_env(&mut env, name, *value);
        }
        env
    }

    /// Writes the stop permit `control` issues before it invokes the restore function (the
    /// restore function refuses without one): for restoring `snapshot` onto `gateway`, now.
    pub async fn issue_stop_permit(&self, gateway: &str, snapshot: &str) {
        use clawkeeper_core::ports::StopPermits;
        let permit = clawkeeper_core::permit::StopPermit::issue(
            gateway,
            snapshot,
            "test: no task",
            "test",
            "test-invocation",
            clawkeeper_core::watch::time::now_secs(),
        );
        clawkeeper_aws::dynamodb::DynamoStore::new(&self.sdk, TABLE)
            .issue(&permit)
            .await
            .expect("issue the stop permit");
    }

    /// An S3 client on moto.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        s3::client(&self.sdk)
    }

    /// The gateway service's desired count as ECS reports it.
    pub async fn desired_count(&self) -> i32 {
        aws_setup::desired_count(&self.sdk).await
    }

    /// The RUNNING task's last status as ECS reports it (`RUNNING`, `STOPPED`).
    pub async fn task_last_status(&self) -> String {
        let task = aws_setup::task(&self.sdk, self.task()).await;
        task.last_status().unwrap_or_default().to_string()
    }

    /// The RUNNING task's desired status as ECS reports it.
    pub async fn task_desired_status(&self) -> String {
        let task = aws_setup::task(&self.sdk, self.task()).await;
        task.desired_status().unwrap_or_default().to_string()
    }
}

impl StackBuilder {
    /// Fields of the gateway `home` on top of its id, cluster and service (`probe_url`,
    /// `log_group`, `token_secret_arn`...).
    pub fn gateway(mut self, fields: Value) -> Self {
        let Value::Object(fields) = fields else {
            panic!("gateway fields are a JSON object: {fields}")
        };
        self.gateway.extend(fields);
        self
    }

    /// `CLAWKEEPER_GATEWAYS` as given, instead of the one gateway `home`.
    pub fn gateways(mut self, gateways: Value) -> Self {
        self.gateways = Some(gateways);
        self
    }

    /// `CLAWKEEPER_POLICY`.
    pub fn policy(mut self, policy: &str) -> Self {
        self.policy = Some(policy.to_string());
        self
    }

    /// No topic inbox: `CLAWKEEPER_TOPIC_ARN` names a topic nobody created.
    pub fn without_inbox(mut self) -> Self {
        self.inbox = false;
        self
    }

    /// The gateway service, desired 1, deployment min 0% / max 100%; no task runs.
    pub fn with_service(mut self) -> Self {
        self.service = Service::Plain;
        self
    }

    /// An awsvpc Fargate gateway service and one task RUNNING in its group until stopped.
    pub fn with_running_task(mut self) -> Self {
        self.service = Service::RunningTask;
        self
    }

    /// The snapshot bucket.
    pub fn with_bucket(mut self) -> Self {
        self.bucket = true;
        self
    }

    /// A fault proxy in front of moto ([`Stack::proxy`]); the functions reach AWS through it with
    /// retries as deployed (3 attempts) and a 1 s attempt timeout.
    pub fn with_fault_proxy(mut self) -> Self {
        self.fault_proxy = true;
        self
    }

    /// A temp dir for the gateway's home: its `state_root` [`Stack::state_root`] (not created) and
    /// the functions' `TMPDIR` [`Stack::scratch`] beside it.
    pub fn with_state_root(mut self) -> Self {
        self.home = Home::Root;
        self
    }

    /// As [`StackBuilder::with_state_root`], with a small OpenClaw home in it
    /// ([`home::write_small_state`]).
    pub fn with_small_home(mut self) -> Self {
        self.home = Home::Small;
        self
    }

    /// The state table too (a [`Stack::bare`] has none): where the restore function takes its
    /// stop permit from.
    pub fn with_table(mut self) -> Self {
        self.table = true;
        self
    }

    /// The gateway token in moto's Secrets Manager, named by the gateway's `token_secret_arn`:
    /// what the reconciler probes `/readyz` and asks the admin RPC with.
    pub fn with_gateway_token(mut self, token: &str) -> Self {
        self.gateway_token = Some(token.to_string());
        self
    }

    /// One more variable of the functions' environment (the last value set wins).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        set_env(&mut self.env, name, value);
        self
    }

    /// Starts moto, creates what was asked for, and puts the functions' environment together.
    pub async fn start(self) -> Stack {
        let moto = Moto::start();
        let sdk = moto.sdk_config().await;
        if self.table {
            aws_setup::create_table(&sdk, TABLE).await;
        }
        let inbox = if self.inbox {
            Some(Inbox::create(&sdk, INBOX_TOPIC).await)
        } else {
            None
        };
        let (task_definition, task, network) = match self.service {
            Service::None => (None, None, None),
            Service::Plain => (Some(aws_setup::create_gateway_service(&sdk).await), None, None),
            Service::RunningTask => {
                let network = Network::create(&moto).configuration();
                aws_setup::hold_tasks_running(&moto);
                let task_definition = aws_setup::create_awsvpc_gateway_service(&sdk, &network).await;
                let task = aws_setup::run_service_task(&sdk, &network).await;
                (Some(task_definition), Some(task), Some(network))
            }
        };
        if self.bucket {
            s3::create_bucket(&sdk).await;
        }
        let proxy = self.fault_proxy.then(|| FaultProxy::start(&moto.endpoint()));

        let mut gateway = self.gateway;
        if let Some(token) = &self.gateway_token {
            let arn = aws_setup::create_secret(&moto, "openclaw-gateway-token", token);
            gateway.insert("token_secret_arn".into(), json!(arn));
        }
        let dir = (self.home != Home::None).then(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let root = dir.path().join("home");
            fs::create_dir_all(dir.path().join("scratch")).expect("scratch");
            if self.home == Home::Small {
                home::write_small_state(&root);
            }
            gateway.insert("state_root".into(), json!(root.to_string_lossy()));
            dir
        });
        let gateways = self.gateways.unwrap_or_else(|| json!([gateway]));
        let mut env = moto.aws_env();
        env.extend(clawkeeper_env(&gateways));
        if let Some(inbox) = &inbox {
            set_env(&mut env, "CLAWKEEPER_TOPIC_ARN", inbox.topic_arn.clone());
        }
        if let Some(policy) = self.policy {
            set_env(&mut env, "CLAWKEEPER_POLICY", policy);
        }
        if let Some(proxy) = &proxy {
            set_env(&mut env, "AWS_ENDPOINT_URL", proxy.endpoint());
            set_env(&mut env, "AWS_MAX_ATTEMPTS", "3");
            set_env(&mut env, "CLAWKEEPER_AWS_ATTEMPT_TIMEOUT_MS", "1000");
        }
        if let Some(dir) = &dir {
            set_env(&mut env, "TMPDIR", dir.path().join("scratch").to_string_lossy());
        }
        for (name, value) in self.env {
            set_env(&mut env, &name, value);
        }
        Stack {
            moto,
            sdk,
            env,
            inbox,
            proxy,
            task_definition,
            task,
            network,
            dir,
        }
    }
}
