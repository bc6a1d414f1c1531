//! A minimal blocking HTTP/1.1 client and request reader for loopback test servers.
//! Enough for moto's control API and the Runtime API emulator; not a general HTTP stack.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A parsed request or response head plus body.
#[derive(Debug)]
pub struct Message {
    /// Request line or status line.
    pub start: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    /// First header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Status code of a response.
    pub fn status(&self) -> u16 {
        self.start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

/// Reads one message (head and body by `Content-Length` or chunked). `Ok(None)` at a clean EOF.
pub fn read_message(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Message>> {
    read_message_with_body(reader, true)
}

/// The answer to a `HEAD` request: its headers (a `content-length` among them) and no body.
pub fn read_head_answer(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Message>> {
    read_message_with_body(reader, false)
}

fn read_message_with_body(reader: &mut BufReader<TcpStream>, has_body: bool) -> io::Result<Option<Message>> {
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in headers",
            ));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let mut message = Message {
        start: start.trim_end().to_string(),
        headers,
        body: Vec::new(),
    };
    if !has_body {
        return Ok(Some(message));
    }
    if message
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            message.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = message.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        message.body = vec![0; len];
        reader.read_exact(&mut message.body)?;
    }
    Ok(Some(message))
}

/// An answer of a loopback test server: status line text, extra headers, JSON body.
pub type Answer = (&'static str, Vec<(&'static str, String)>, Vec<u8>);

/// Serves one keep-alive connection: each request read is answered by `answer`, until the peer
/// closes or a write fails.
pub fn serve_connection(stream: TcpStream, answer: impl Fn(&Message) -> Answer) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_message(&mut reader) {
        let (status, headers, body) = answer(&request);
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&body))
            .is_err()
        {
            return;
        }
    }
}

/// Sends one request on a fresh connection and reads the answer.
pub fn request(addr: &str, method: &str, path: &str, body: &[u8], timeout: Duration) -> io::Result<Message> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut writer = stream.try_clone()?;
    write!(
        writer,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    writer.write_all(body)?;
    let mut reader = BufReader::new(stream);
    read_message(&mut reader)?.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no answer"))
}
