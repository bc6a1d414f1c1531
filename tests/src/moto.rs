//! One `moto_server` per test, on a free loopback port, from the project's virtualenv
//! (`scripts/python-env.sh` creates it). Killed when the handle drops.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
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
        aws_env(&self.endpoint())
    }

    /// Sends one request to `service` (moto routes by the credential scope of the Authorization
    /// header and checks no signature) with `headers` and `body`; the answer must be a 200.
    /// For the services the test crate has no SDK client of (EC2, Secrets Manager).
    pub fn call(&self, service: &str, headers: &[(&str, &str)], body: &str) -> http::Message {
        let addr = &self.addr;
        let stream = TcpStream::connect(addr).expect("connect to moto");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut writer = stream.try_clone().expect("clone stream");
        let mut head = format!("POST / HTTP/1.1\r\nHost: {addr}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(body.as_bytes()))
            .unwrap_or_else(|e| panic!("send to {service}: {e}"));
        let answer = http::read_message(&mut BufReader::new(stream))
            .unwrap_or_else(|e| panic!("read the {service} answer: {e}"))
            .unwrap_or_else(|| panic!("no {service} answer"));
        assert_eq!(
            answer.status(),
            200,
            "{service} {headers:?} {body}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        answer
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

/// The environment the aws-sdk clients need to reach `endpoint` (`http://host:port`) and only it:
/// the region, test credentials, and one attempt per call.
pub fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}
