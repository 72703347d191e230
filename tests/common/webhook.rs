//! A webhook receiver for notification tests: a loopback HTTP/1.1 server on its own
//! thread that records every request it gets (method, path, headers, body) and answers
//! 200, or 500 for the next N requests when told to (to test retries with backoff).
//!
//! It speaks enough HTTP/1.1 for ureq, reqwest and curl: keep-alive and
//! `Connection: close`, bodies sized by `Content-Length` or sent chunked, and
//! `Expect: 100-continue`. Each connection has its own thread; dropping the receiver
//! closes the listener and every open connection, and joins all the threads.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long `wait_for` waits before it fails the test.
pub const WAIT: Duration = Duration::from_secs(30);

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One request the receiver got, in the order they arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub method: String,
    /// The request target as sent: path and query string.
    pub path: String,
    /// Every header, names lowercased, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The decoded body (chunked bodies reassembled), lossily as UTF-8.
    pub body: String,
    /// The status the receiver answered with: 200, or the failure status.
    pub status: u16,
}

impl Delivery {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the receiver accepted it (answered 2xx).
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

pub struct Webhook {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    deliveries: Mutex<Vec<Delivery>>,
    arrived: Condvar,
    /// Statuses to answer the next requests with, before going back to 200.
    failures: Mutex<VecDeque<u16>>,
    stop: AtomicBool,
    connections: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

impl Webhook {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let address = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("webhook-accept".into())
                .spawn(move || accept_loop(listener, shared))
                .expect("spawn the webhook thread")
        };
        Self {
            address,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: append any path.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Every request so far, failed ones included (see `Delivery::status`).
    pub fn received(&self) -> Vec<Delivery> {
        self.shared.deliveries.lock().unwrap().clone()
    }

    /// Only the requests that were answered 2xx.
    pub fn accepted(&self) -> Vec<Delivery> {
        self.received()
            .into_iter()
            .filter(Delivery::accepted)
            .collect()
    }

    /// Answer the next `n` requests with 500 Internal Server Error.
    pub fn fail_next(&self, n: usize) {
        self.fail_next_with(n, 500);
    }

    /// Answer the next `n` requests with `status` (503, 429, ...), then 200 again.
    pub fn fail_next_with(&self, n: usize, status: u16) {
        let mut failures = self.shared.failures.lock().unwrap();
        failures.extend(std::iter::repeat_n(status, n));
    }

    /// Waits until at least `n` requests have arrived (failed ones count) and returns
    /// them all; fails the test after `WAIT`, showing what did arrive.
    pub fn wait_for(&self, n: usize) -> Vec<Delivery> {
        self.wait_until(WAIT, &format!("{n} request(s)"), |all| all.len() >= n)
    }

    /// Waits until at least `n` requests have been accepted (answered 2xx).
    pub fn wait_for_accepted(&self, n: usize) -> Vec<Delivery> {
        self.wait_until(WAIT, &format!("{n} accepted request(s)"), |all| {
            all.iter().filter(|d| d.accepted()).count() >= n
        })
    }

    /// `wait_for` with another bound.
    pub fn wait_for_within(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        self.wait_until(timeout, &format!("{n} request(s)"), |all| all.len() >= n)
    }

    fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = Instant::now() + timeout;
        let mut deliveries = self.shared.deliveries.lock().unwrap();
        loop {
            if done(&deliveries) {
                return deliveries.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "webhook at {} did not get {what} within {timeout:?}; it got {}:\n{:#?}",
                    self.url(),
                    deliveries.len(),
                    *deliveries
                );
            }
            deliveries = self
                .shared
                .arrived
                .wait_timeout(deliveries, deadline - now)
                .unwrap()
                .0;
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocked accept() so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let connections = std::mem::take(&mut *self.shared.connections.lock().unwrap());
        for (stream, handle) in connections {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let Ok(handle_stream) = stream.try_clone() else {
            continue;
        };
        let worker = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("webhook-connection".into())
                .spawn(move || serve(stream, &shared))
                .expect("spawn a webhook connection thread")
        };
        let mut connections = shared.connections.lock().unwrap();
        connections.retain(|(_, handle)| !handle.is_finished());
        connections.push((handle_stream, worker));
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

/// Serves requests on one connection until the client closes it or asks to.
fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let request = match read_request(&mut reader, &mut writer) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(error) => {
                let _ = respond(&mut writer, 400, false, &error.to_string());
                return;
            }
        };
        let status = shared.failures.lock().unwrap().pop_front().unwrap_or(200);
        // Record before answering: once a client has its response, `received()` has it.
        {
            let mut deliveries = shared.deliveries.lock().unwrap();
            deliveries.push(Delivery {
                method: request.method,
                path: request.path,
                headers: request.headers,
                body: String::from_utf8_lossy(&request.body).into_owned(),
                status,
            });
            shared.arrived.notify_all();
        }
        if respond(&mut writer, status, request.keep_alive, "").is_err() || !request.keep_alive {
            let _ = writer.shutdown(Shutdown::Write);
            return;
        }
    }
}

fn respond(writer: &mut TcpStream, status: u16, keep_alive: bool, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let connection = if keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    };
    write!(
        writer,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{connection}\r\n{body}",
        body.len()
    )?;
    writer.flush()
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// One CRLF- (or LF-) terminated line, without its terminator; `None` at a clean EOF.
fn read_line(reader: &mut impl BufRead, budget: &mut usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if read > *budget {
        return Err(invalid("request head too large"));
    }
    *budget -= read;
    if line.last() != Some(&b'\n') {
        return Err(invalid("connection closed mid-line"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| invalid("non-UTF-8 request head"))
}

fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> io::Result<Option<Request>> {
    let mut budget = MAX_HEAD;
    // Tolerate stray blank lines between pipelined requests (RFC 9112 §2.2).
    let request_line = loop {
        match read_line(reader, &mut budget) {
            Ok(None) => return Ok(None),
            // A reset or shutdown while idle is the client (or Drop) going away.
            Err(error) if error.kind() != io::ErrorKind::InvalidData => return Ok(None),
            Err(error) => return Err(error),
            Ok(Some(line)) if line.is_empty() => continue,
            Ok(Some(line)) => break line,
        }
    };
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!("bad request line {request_line:?}")));
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut budget)?
            .ok_or_else(|| invalid("connection closed in the headers"))?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.to_ascii_lowercase())
    };
    let connection = header("connection").unwrap_or_default();
    let keep_alive = if version.eq_ignore_ascii_case("HTTP/1.0") {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    if header("expect").is_some_and(|expect| expect == "100-continue") {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
    }
    let body = if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        read_chunked(reader)?
    } else if let Some(length) = header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {length:?}")))?;
        if length > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    } else {
        Vec::new()
    };
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body,
        keep_alive,
    }))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut budget = MAX_HEAD;
    loop {
        let line = read_line(reader, &mut budget)?
            .ok_or_else(|| invalid("connection closed in a chunk"))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            break;
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
    // Trailers, up to the blank line.
    loop {
        match read_line(reader, &mut budget)? {
            None => return Err(invalid("connection closed in the trailers")),
            Some(line) if line.is_empty() => return Ok(body),
            Some(_) => {}
        }
    }
}
