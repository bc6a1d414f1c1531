//! A proxy between a function and moto that puts moto's Fargate tasks at an address the test owns.
//!
//! moto gives every awsvpc task a random private IPv4 (10.x) that belongs to nobody: nothing may
//! connect to it. This proxy forwards every call to moto unchanged, except the answers to ECS
//! `DescribeTasks`, where each task's private IPv4 (in `attachments[].details` and
//! `containers[].networkInterfaces[]`) becomes `address`: to the function, the task runs at an
//! address inside a network namespace the test made ([`crate::netns`]). It also counts the
//! operations it forwarded, so a test can say "no StopTask was ever sent".

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::Value;

use crate::fault_proxy::{encode, fetch, operation};
use crate::http::{Message, read_message};

#[derive(Default)]
struct Shared {
    forwarded: Vec<String>,
    rewritten: Vec<(String, String)>,
}

/// The proxy; stops accepting when the test process ends.
pub struct TaskIpProxy {
    addr: String,
    shared: Arc<Mutex<Shared>>,
}

impl TaskIpProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://127.0.0.1:<port>`),
    /// showing every task at `address`.
    pub fn start(upstream: &str, address: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the task IP proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let address = address.to_string();
        let accept = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (shared, upstream, address) = (Arc::clone(&accept), upstream.clone(), address.clone());
                thread::spawn(move || serve(stream, &upstream, &address, &shared));
            }
        });
        Self { addr, shared }
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many `operation` calls (`StopTask`, `DescribeTasks`...) were forwarded so far.
    pub fn calls(&self, operation: &str) -> usize {
        self.lock()
            .forwarded
            .iter()
            .filter(|op| op.as_str() == operation)
            .count()
    }

    /// The private IPs replaced so far, as (moto's address, the address shown instead).
    pub fn rewritten(&self) -> Vec<(String, String)> {
        self.lock().rewritten.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn serve(stream: TcpStream, upstream: &str, address: &str, shared: &Mutex<Shared>) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_message(&mut reader) {
        let op = operation(&request);
        let Some(mut response) = fetch(&request, upstream) else {
            return;
        };
        let mut rewritten = Vec::new();
        if op == "DescribeTasks" {
            rewrite_task_ips(&mut response, address, &mut rewritten);
        }
        {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            s.forwarded.push(op);
            s.rewritten.extend(rewritten);
        }
        if writer.write_all(&encode(&response)).is_err() {
            return;
        }
    }
}

/// Replaces each task's private IPv4 in a `DescribeTasks` answer by `address`.
fn rewrite_task_ips(response: &mut Message, address: &str, rewritten: &mut Vec<(String, String)>) {
    let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) else {
        return;
    };
    let mut replace = |slot: &mut Value| {
        if let Some(old) = slot.as_str().filter(|old| *old != address) {
            rewritten.push((old.to_string(), address.to_string()));
            *slot = Value::String(address.to_string());
        }
    };
    for task in body["tasks"].as_array_mut().into_iter().flatten() {
        for attachment in task["attachments"].as_array_mut().into_iter().flatten() {
            for detail in attachment["details"].as_array_mut().into_iter().flatten() {
                if detail["name"] == "privateIPv4Address" {
                    replace(&mut detail["value"]);
                }
            }
        }
        for container in task["containers"].as_array_mut().into_iter().flatten() {
            for interface in container["networkInterfaces"].as_array_mut().into_iter().flatten() {
                if interface.get("privateIpv4Address").is_some() {
                    replace(&mut interface["privateIpv4Address"]);
                }
            }
        }
    }
    if let Ok(bytes) = serde_json::to_vec(&body) {
        response.body = bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_ip_of_a_describe_tasks_answer_is_replaced() {
        let body = serde_json::json!({"tasks": [{
            "attachments": [{"type": "ElasticNetworkInterface", "details": [
                {"name": "subnetId", "value": "subnet-1"},
                {"name": "privateIPv4Address", "value": "10.42.7.9"}]}],
            "containers": [{"networkInterfaces": [{"privateIpv4Address": "10.42.7.9"}]}]
        }], "failures": []});
        let mut response = Message {
            start: "HTTP/1.1 200 OK".into(),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        };
        let mut rewritten = Vec::new();
        rewrite_task_ips(&mut response, "198.18.0.2", &mut rewritten);
        let text = String::from_utf8_lossy(&response.body);
        assert!(!text.contains("10.42.7.9") && text.contains("198.18.0.2"), "{text}");
        assert!(text.contains("subnet-1"), "{text}");
        assert_eq!(rewritten.len(), 2);
        assert_eq!(rewritten[0], ("10.42.7.9".to_string(), "198.18.0.2".to_string()));
    }
}
