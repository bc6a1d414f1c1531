//! A fleet in moto for the fleet's load test and benchmark: gateways registered in the registry
//! (written with the adapter `control register` writes it with), their ECS services in the sample
//! cluster, a RUNNING task in a service's group, and bursts of task-stopped events delivered
//! through several function processes at once, as Lambda scales a function out.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{LaunchType, NetworkConfiguration};
use clawkeeper_aws::dynamodb::DynamoStore;
use clawkeeper_core::ports::GatewayRegistry;
use clawkeeper_core::registry::Registration;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::consts::{CLUSTER, FAMILY};
use crate::events::{now, task_stopped};
use crate::fault_proxy::{encode, fetch};
use crate::http::read_message;
use crate::{FunctionProcess, Invocation, aws_setup};

/// Set-up requests in flight at once: enough to keep moto busy, few enough not to time out.
const SET_UP_IN_FLIGHT: usize = 16;

/// A proxy in front of moto that passes one request at a time. moto copies its whole DynamoDB
/// backend inside `TransactWriteItems` (its rollback) while other request threads change it, and
/// answers some of the concurrent transactions with a 500; DynamoDB itself serves them. Through
/// this proxy the functions still run at once and interleave their reads and conditional writes,
/// as on DynamoDB, and moto sees them in a line.
pub struct SerialProxy {
    addr: String,
}

impl SerialProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://host:port` or `host:port`).
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the serial proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let upstream = upstream.trim_start_matches("http://").to_string();
        let line = Arc::new(Mutex::new(()));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (line, upstream) = (Arc::clone(&line), upstream.clone());
                std::thread::spawn(move || serve_in_line(stream, &upstream, &line));
            }
        });
        Self { addr }
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL` or a proxy in front of this one.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn serve_in_line(stream: TcpStream, upstream: &str, line: &Mutex<()>) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_message(&mut reader) {
        let answer = {
            let _turn = line.lock().unwrap_or_else(|e| e.into_inner());
            fetch(&request, upstream)
        };
        let Some(answer) = answer else { return };
        if writer.write_all(&encode(&answer)).is_err() {
            return;
        }
    }
}

/// The id of the `i`-th gateway of a fleet.
pub fn fleet_id(i: usize) -> String {
    format!("fleet-{i:04}")
}

/// The ECS service of fleet gateway `id`.
pub fn fleet_service(id: &str) -> String {
    format!("{id}-gateway")
}

/// The gateway object of fleet gateway `id`: its service in the sample cluster, a state root of
/// its own on the stack's volume, and `probe_url` when given.
pub fn fleet_gateway(id: &str, probe_url: Option<&str>) -> Value {
    let mut gateway = json!({"id": id, "cluster": CLUSTER, "service": fleet_service(id),
                             "state_root": format!("/mnt/openclaw/{id}")});
    if let Some(url) = probe_url {
        gateway["probe_url"] = json!(url);
    }
    gateway
}

/// Runs `job` for every item, [`SET_UP_IN_FLIGHT`] at a time; a failed job panics with its item.
async fn for_each<T, F, Fut>(items: Vec<T>, job: F)
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut running = JoinSet::new();
    for item in items {
        if running.len() >= SET_UP_IN_FLIGHT
            && let Some(done) = running.join_next().await
        {
            done.expect("a set-up job");
        }
        running.spawn(job(item));
    }
    while let Some(done) = running.join_next().await {
        done.expect("a set-up job");
    }
}

/// Registers `gateways` (gateway objects) in the registry of `table`, as `control register` does.
pub async fn register(sdk: &SdkConfig, table: &str, gateways: &[Value]) {
    let store = DynamoStore::new(sdk, table);
    let registered_at = now();
    for_each(gateways.to_vec(), move |gateway| {
        let store = store.clone();
        async move {
            let registration = Registration {
                id: gateway["id"].as_str().expect("a gateway id").to_string(),
                gateway,
                owner_email: None,
                registered_at,
                by: "fleet set-up".into(),
                removed: false,
            };
            store
                .put_registration(&registration)
                .await
                .unwrap_or_else(|e| panic!("register {}: {e}", registration.id));
        }
    })
    .await;
}

/// Creates one service per name (desired 1, min 0% / max 100%) in the sample cluster, after the
/// stack's own service made the cluster and task definition.
pub async fn create_services(sdk: &SdkConfig, services: &[String]) {
    let sdk = sdk.clone();
    for_each(services.to_vec(), move |service| {
        let sdk = sdk.clone();
        async move { aws_setup::create_fleet_service(&sdk, &service).await }
    })
    .await;
}

/// Runs one Fargate task in each service's group (`service:<name>`) in `network`: moto starts no
/// tasks for a service, so this stands in for the one ECS would run. Hold them RUNNING with
/// [`aws_setup::hold_tasks_running`].
pub async fn run_tasks(sdk: &SdkConfig, network: &NetworkConfiguration, services: &[String]) {
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let network = network.clone();
    for_each(services.to_vec(), move |service| {
        let (ecs, network) = (ecs.clone(), network.clone());
        async move {
            ecs.run_task()
                .cluster(CLUSTER)
                .task_definition(FAMILY)
                .launch_type(LaunchType::Fargate)
                .group(format!("service:{service}"))
                .network_configuration(network)
                .send()
                .await
                .unwrap_or_else(|e| panic!("run a task of {service}: {e:?}"));
        }
    })
    .await;
}

/// A crash of task `task` of `service`: the sample crash, regrouped, after an hour running.
pub fn crash_of(service: &str, task: &str, stopped_ago: i64) -> Value {
    let t = now();
    let mut event = task_stopped("task-stopped-crash", task, 3, t - 3600, t - stopped_ago);
    event["detail"]["group"] = json!(format!("service:{service}"));
    event["id"] = json!(format!("evt-{task}-crash"));
    event
}

/// `per_gateway` task-stopped events for each gateway of `ids`: two crashes of two tasks, then
/// redeliveries of them (EventBridge delivers at least once), in rounds: every gateway's first
/// event, then every gateway's second... so one gateway's events go to different processes and
/// may be handled at the same moment. Two stops stay below the crash-loop count, so each gateway
/// has one incident and, with a policy that notifies at once, one "down" notice.
pub fn crash_burst(ids: &[String], per_gateway: usize) -> Vec<Value> {
    let mut events = Vec::with_capacity(ids.len() * per_gateway);
    for round in 0..per_gateway {
        for id in ids {
            let (task, stopped_ago) = if round % 2 == 0 { ("a", 10) } else { ("b", 5) };
            events.push(crash_of(&fleet_service(id), &format!("{id}-{task}"), stopped_ago));
        }
    }
    events
}

/// How a burst went: each event's outcome, in the events' order, and how long it took.
pub struct Burst {
    pub outcomes: Vec<Invocation>,
    pub elapsed: Duration,
}

impl Burst {
    /// The invocations that did not answer, with their event's index.
    pub fn failures(&self) -> Vec<(usize, &Invocation)> {
        self.outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| !matches!(o, Invocation::Ok(_)))
            .collect()
    }
}

/// Delivers `events` round-robin to `processes`, each process working through its share on a
/// thread of its own, so the processes run at the same time as Lambda's instances do.
pub fn deliver_round_robin(processes: &mut [FunctionProcess], events: &[Value]) -> Burst {
    let n = processes.len().max(1);
    let started = Instant::now();
    let mut indexed: Vec<(usize, Invocation)> = std::thread::scope(|scope| {
        let workers: Vec<_> = processes
            .iter_mut()
            .enumerate()
            .map(|(k, process)| {
                scope.spawn(move || {
                    (k..events.len())
                        .step_by(n)
                        .map(|i| (i, process.invoke_within(&events[i], Duration::from_secs(120))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a delivery thread"))
            .collect()
    });
    let elapsed = started.elapsed();
    indexed.sort_by_key(|(i, _)| *i);
    Burst {
        outcomes: indexed.into_iter().map(|(_, o)| o).collect(),
        elapsed,
    }
}
