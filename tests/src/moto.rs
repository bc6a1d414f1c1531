//! One `moto_server` per test, on a free loopback port, from the project's virtualenv
//! (`scripts/python-env.sh` creates it). Killed when the handle drops.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http;

/// A running moto server.
pub struct Moto {
    child: Child,
    addr: String,
}

impl Moto {
    /// Starts a fresh server and waits until it answers.
    pub fn start() -> Self {
        let bin = moto_bin();
        assert!(
            bin.exists(),
            "{} not found: run `make test` (or scripts/python-env.sh) to create the project's virtualenv",
            bin.display()
        );
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let moto = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if http::request(&moto.addr, "GET", "/moto-api/data.json", b"", Duration::from_secs(5))
                .is_ok_and(|m| m.status() == 200)
            {
                return moto;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto_server on {} did not answer within 60 s", moto.addr);
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Calls moto's control API (`/moto-api/...`) with a JSON body.
    pub fn control(&self, path: &str, body: &serde_json::Value) {
        let answer = http::request(
            &self.addr,
            "POST",
            path,
            body.to_string().as_bytes(),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("moto {path}: {e}"));
        assert!(
            answer.status() < 300,
            "moto {path}: {}",
            String::from_utf8_lossy(&answer.body)
        );
    }

    /// The environment the aws-sdk clients need to reach this server and only it.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_MAX_ATTEMPTS", "1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// An SDK configuration pointing at this server, for test set-up and assertions.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The project's virtualenv (`CLAWKEEPER_VENV` overrides).
pub fn venv_dir() -> PathBuf {
    std::env::var_os("CLAWKEEPER_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join(".venv"))
}

fn moto_bin() -> PathBuf {
    venv_dir().join("bin").join("moto_server")
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}
