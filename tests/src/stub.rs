//! Stand-ins for a gateway's HTTP port: a server that answers every request the same way (or
//! never), counts the connections it accepted and keeps the `Authorization` headers it was sent.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the Control UI answers on any path it does not know: an HTML 200, not the probe contract.
pub const CONTROL_UI_HTML: &str = "<!doctype html><title>OpenClaw</title>";

/// The probe contract's live answer.
pub const LIVE_JSON: &str = r#"{"ok":true}"#;

/// A running stand-in; it serves until the test process ends.
pub struct Stub {
    /// `http://<addr>`, for a gateway's `probe_url`.
    pub url: String,
    accepted: Arc<AtomicUsize>,
    authorizations: Arc<Mutex<Vec<String>>>,
    reply: Arc<Mutex<Reply>>,
}

/// What every request is answered with: status, content type, body (`None`: never answered).
type Reply = (u16, &'static str, Option<&'static str>);

impl Stub {
    /// On a free loopback port: every request answered with `status`, `content_type` and `body`,
    /// or never answered (the connection held open 30 s) when `body` is `None`.
    pub fn serve(status: u16, content_type: &'static str, body: Option<&'static str>) -> Self {
        Self::serve_on(
            TcpListener::bind("127.0.0.1:0").expect("bind"),
            status,
            content_type,
            body,
        )
    }

    /// Every request answered with the Control UI's HTML 200 ([`CONTROL_UI_HTML`]).
    pub fn html() -> Self {
        Self::serve(200, "text/html", Some(CONTROL_UI_HTML))
    }

    /// Every request answered `{"ok":true}`: live.
    pub fn live() -> Self {
        Self::serve(200, "application/json", Some(LIVE_JSON))
    }

    /// As [`Stub::serve`], on `listener` (one made inside a network namespace, say).
    pub fn serve_on(
        listener: TcpListener,
        status: u16,
        content_type: &'static str,
        body: Option<&'static str>,
    ) -> Self {
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(Mutex::new((status, content_type, body)));
        let (count, seen, now) = (Arc::clone(&accepted), Arc::clone(&authorizations), Arc::clone(&reply));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::Relaxed);
                let seen = Arc::clone(&seen);
                let (status, content_type, body) = *now.lock().expect("reply");
                thread::spawn(move || answer(stream, status, content_type, body, &seen));
            }
        });
        Self {
            url,
            accepted,
            authorizations,
            reply,
        }
    }

    /// From now on, every request is answered this way (a gateway that moved on, on the same URL).
    pub fn answer_with(&self, status: u16, content_type: &'static str, body: Option<&'static str>) {
        *self.reply.lock().expect("reply") = (status, content_type, body);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// The `Authorization` header lines sent so far, as sent.
    pub fn authorizations(&self) -> Vec<String> {
        self.authorizations.lock().expect("headers").clone()
    }
}

/// Reads the request head, then answers (or holds the connection open, answering nothing).
fn answer(stream: TcpStream, status: u16, content_type: &str, body: Option<&str>, seen: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(clone) = stream.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        if line.to_ascii_lowercase().starts_with("authorization:") {
            seen.lock().expect("headers").push(line.trim_end().to_string());
        }
        line.clear();
    }
    let Some(body) = body else {
        thread::sleep(Duration::from_secs(30));
        return;
    };
    let reason = if status == 200 { "OK" } else { "X" };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
