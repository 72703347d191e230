//! A real Prometheus server for probe tests, and the exporter it scrapes.
//!
//! `Prometheus::start()` runs the Prometheus binary (Debian package `prometheus`;
//! `.ci/run` installs it) on a free loopback port with a temporary data directory and a
//! generated config that scrapes, every second, an `Exporter`: a loopback HTTP thread
//! serving `/metrics` with gauges the test sets at any time. It never uses the system
//! service the package may have started, nor its config or data.
//!
//! ```ignore
//! let prometheus = Prometheus::start();
//! prometheus.set("order_latency_seconds", 4.2);
//! prometheus.wait_for_value("order_latency_seconds", 4.2);
//! prometheus.set(r#"queue_depth{queue="orders"}"#, 3.0);
//! ```
//!
//! A test that cannot start the server fails, with the server's log: it never passes
//! silently. Dropping the fixture kills the server and waits for it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The binary, unless `PROMETHEUS_BIN` names another.
pub const DEFAULT_BINARY: &str = "/usr/bin/prometheus";
/// How long the server may take to become ready and scrape the exporter once.
pub const STARTUP: Duration = Duration::from_secs(60);
/// How long `wait_for` polls before it fails the test.
pub const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);
/// The scrape job's name: `up{job="exporter"}` says whether the exporter is scraped.
pub const JOB: &str = "exporter";

/// One element of an instant query's result: a series' labels and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

pub struct Prometheus {
    // Field order matters for Drop: the server is killed (in `drop`) before the
    // exporter stops and the data directory goes.
    child: Child,
    port: u16,
    exporter: Exporter,
    dir: TempDir,
}

/// Installs the server with the script .ci/run uses, once for all the tests of a
/// binary (they may start several servers at once).
fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/install-prometheus");
        let status = Command::new("bash").arg(&script).status();
        eprintln!("{}: {status:?}", script.display());
    });
}

impl Prometheus {
    /// Starts an exporter and a Prometheus scraping it, and returns once Prometheus is
    /// ready and has scraped the exporter successfully. Panics (with the server's log)
    /// if the binary is missing or that takes longer than `STARTUP`.
    pub fn start() -> Self {
        let binary = std::env::var_os("PROMETHEUS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BINARY));
        if !binary.is_file() {
            install();
        }
        assert!(
            binary.is_file(),
            "the Prometheus binary {} is missing and .ci/install-prometheus could not \
             install it (it needs root and apt-get): install Debian's `prometheus`, or \
             set PROMETHEUS_BIN",
            binary.display()
        );
        let exporter = Exporter::start();
        let deadline = Instant::now() + STARTUP;
        // The port is found by binding :0 and letting it go, so another process may take
        // it before Prometheus does: then start again on another one.
        let mut attempt = 1;
        loop {
            let mut prometheus = Self::spawn(&binary, exporter.clone());
            match prometheus.wait_ready(deadline) {
                Ok(()) => return prometheus,
                Err(Retry) if attempt < 5 => attempt += 1,
                Err(Retry) => prometheus.fail("kept losing its port to other processes"),
            }
        }
    }

    fn spawn(binary: &Path, exporter: Exporter) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("prometheus-test")
            .tempdir()
            .expect("temporary directory");
        let port = free_port();
        let config = dir.path().join("prometheus.yml");
        fs::write(&config, config_text(exporter.address())).expect("write prometheus.yml");
        let data = dir.path().join("data");
        fs::create_dir(&data).expect("data directory");
        let log = File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=1h")
            // Nothing from the package's /etc/prometheus: the console pages are unused.
            .arg(format!("--web.console.templates={}", dir.path().display()))
            .arg(format!("--web.console.libraries={}", dir.path().display()))
            .arg("--log.level=info")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", binary.display()));
        Self {
            child,
            port,
            exporter,
            dir,
        }
    }

    fn wait_ready(&mut self, deadline: Instant) -> Result<(), Retry> {
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the Prometheus process") {
                if self.log().contains("address already in use") {
                    return Err(Retry);
                }
                self.fail(&format!("exited with {status} while starting"));
            }
            if matches!(self.get("/-/ready"), Ok((200, _))) {
                break;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("was not ready within {STARTUP:?}"));
            }
            thread::sleep(POLL);
        }
        // Ready is not scraped: wait for the first successful scrape, so tests can rely
        // on `set` + `wait_for` from here on.
        let up = format!("up{{job=\"{JOB}\"}}");
        loop {
            if let Ok(samples) = self.try_query(&up) {
                if samples.iter().any(|sample| sample.value == 1.0) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "did not scrape the exporter at {} within {STARTUP:?}",
                    self.exporter.url()
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The exporter Prometheus scrapes (a handle that can be cloned into threads).
    pub fn exporter(&self) -> &Exporter {
        &self.exporter
    }

    /// Sets a gauge on the exporter; see `Exporter::set`.
    pub fn set(&self, series: &str, value: f64) {
        self.exporter.set(series, value);
    }

    /// Removes a series from the exporter; see `Exporter::remove`.
    pub fn remove(&self, series: &str) {
        self.exporter.remove(series);
    }

    /// Runs an instant query now. Panics if Prometheus refuses it (bad PromQL) or
    /// cannot be reached.
    pub fn query(&self, promql: &str) -> Vec<Sample> {
        self.try_query(promql)
            .unwrap_or_else(|error| self.fail(&format!("query {promql:?} failed: {error}")))
    }

    /// Polls the instant query until its result satisfies `predicate`, and returns that
    /// result. After `WAIT` the test fails, showing the last result.
    pub fn wait_for(&self, promql: &str, predicate: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
        self.wait_for_within(promql, WAIT, predicate)
    }

    /// `wait_for` with another bound.
    pub fn wait_for_within(
        &self,
        promql: &str,
        timeout: Duration,
        predicate: impl Fn(&[Sample]) -> bool,
    ) -> Vec<Sample> {
        let deadline = Instant::now() + timeout;
        let mut last: Result<Vec<Sample>, String>;
        loop {
            last = self.try_query(promql);
            match &last {
                Ok(samples) if predicate(samples) => return samples.clone(),
                // PromQL Prometheus rejects will never succeed.
                Err(error) if error.starts_with("rejected") => {
                    self.fail(&format!("query {promql:?} failed: {error}"))
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                break;
            }
            thread::sleep(POLL);
        }
        panic!(
            "Prometheus at {}: query {promql:?} did not satisfy the predicate within \
             {timeout:?}; last result: {last:?}",
            self.url()
        );
    }

    /// Waits until the query returns exactly one sample, of this value.
    pub fn wait_for_value(&self, promql: &str, value: f64) -> Sample {
        self.wait_for(promql, |samples| {
            samples.len() == 1 && same_value(samples[0].value, value)
        })
        .remove(0)
    }

    fn try_query(&self, promql: &str) -> Result<Vec<Sample>, String> {
        let (status, body) = self
            .get(&format!("/api/v1/query?query={}", percent_encode(promql)))
            .map_err(|error| format!("unreachable: {error}"))?;
        let json: serde_json::Value = serde_json::from_str(&body)
            .map_err(|error| format!("HTTP {status}, not JSON ({error}): {body}"))?;
        if json["status"] != "success" {
            let detail = format!("HTTP {status}: {} {}", json["errorType"], json["error"]);
            return Err(if status == 400 || status == 422 {
                format!("rejected: {detail}")
            } else {
                detail
            });
        }
        parse_result(&json["data"]).ok_or_else(|| format!("unexpected result shape: {body}"))
    }

    /// A GET on the server; (status, body).
    pub fn get(&self, path_and_query: &str) -> io::Result<(u16, String)> {
        http_get(
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            path_and_query,
        )
    }

    /// The server's log (stdout and stderr) so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The temporary directory: config, data and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn fail(&self, what: &str) -> ! {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        panic!(
            "Prometheus on {} {what}\n--- last lines of {}\n{tail}",
            self.url(),
            self.dir.path().join("prometheus.log").display()
        );
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Retry;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free loopback port")
        .port()
}

fn config_text(exporter: SocketAddr) -> String {
    format!(
        "# Generated by tests/common/prometheus.rs.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1m
scrape_configs:
  - job_name: {JOB}
    static_configs:
      - targets: ['{exporter}']
"
    )
}

fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// `data` of a query response: an instant vector or a scalar.
fn parse_result(data: &serde_json::Value) -> Option<Vec<Sample>> {
    let value = |pair: &serde_json::Value| -> Option<f64> { parse_float(pair.get(1)?.as_str()?) };
    match data["resultType"].as_str()? {
        "vector" => data["result"]
            .as_array()?
            .iter()
            .map(|element| {
                let labels = element["metric"]
                    .as_object()?
                    .iter()
                    .map(|(key, value)| Some((key.clone(), value.as_str()?.to_string())))
                    .collect::<Option<_>>()?;
                Some(Sample {
                    labels,
                    value: value(&element["value"])?,
                })
            })
            .collect(),
        "scalar" => Some(vec![Sample {
            labels: BTreeMap::new(),
            value: value(&data["result"])?,
        }]),
        _ => None,
    }
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

fn percent_encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// A minimal HTTP/1.0 GET (so the server answers without chunking and closes).
fn http_get(address: SocketAddr, path_and_query: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path_and_query} HTTP/1.0\r\nHost: {address}\r\nAccept: */*\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no status"))?;
    Ok((status, body.to_string()))
}

/// A `/metrics` endpoint on a loopback port, serving gauges in the Prometheus text
/// format, and any other path the test gives a JSON document (an HTTP probe's
/// target). Cloning gives another handle on the same values; the server stops when the
/// last handle goes.
#[derive(Clone)]
pub struct Exporter {
    inner: Arc<ExporterInner>,
}

struct ExporterInner {
    address: SocketAddr,
    /// metric name -> label set as written (`{a="b"}` or empty) -> value.
    gauges: Arc<Mutex<BTreeMap<String, BTreeMap<String, f64>>>>,
    /// path -> JSON body, for every path but `/metrics`.
    documents: Arc<Mutex<BTreeMap<String, String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let address = listener.local_addr().expect("listener address");
        let gauges = Arc::new(Mutex::new(BTreeMap::new()));
        let documents = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let gauges = Arc::clone(&gauges);
            let documents = Arc::clone(&documents);
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("exporter".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        if let Ok(stream) = stream {
                            let _ = serve(stream, &gauges, &documents);
                        }
                    }
                })
                .expect("spawn the exporter thread")
        };
        Self {
            inner: Arc::new(ExporterInner {
                address,
                gauges,
                documents,
                stop,
                thread: Some(thread),
            }),
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.inner.address
    }

    /// `http://127.0.0.1:PORT/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.inner.address)
    }

    /// Sets a gauge: `set("order_latency_seconds", 4.2)`, or one series of it with its
    /// labels written as in the text format: `set(r#"queue_depth{queue="orders"}"#, 3.0)`.
    pub fn set(&self, series: &str, value: f64) {
        let (name, labels) = split_series(series);
        self.inner
            .gauges
            .lock()
            .unwrap()
            .entry(name)
            .or_default()
            .insert(labels, value);
    }

    /// Stops exporting a series (Prometheus then marks it stale at the next scrape).
    pub fn remove(&self, series: &str) {
        let (name, labels) = split_series(series);
        let mut gauges = self.inner.gauges.lock().unwrap();
        if let Some(family) = gauges.get_mut(&name) {
            family.remove(&labels);
            if family.is_empty() {
                gauges.remove(&name);
            }
        }
    }

    /// Serves `body` as JSON at `path` (`/api/v1/checks/order-journey`) from now on.
    pub fn serve_json(&self, path: &str, body: &str) {
        self.inner
            .documents
            .lock()
            .unwrap()
            .insert(path.to_string(), body.to_string());
    }

    /// The page `/metrics` serves now.
    pub fn render(&self) -> String {
        render(&self.inner.gauges.lock().unwrap())
    }
}

impl Drop for ExporterInner {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocked accept() so the thread sees the flag.
            let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
            let _ = thread.join();
        }
    }
}

fn split_series(series: &str) -> (String, String) {
    let series = series.trim();
    let (name, labels) = match series.find('{') {
        Some(brace) => (&series[..brace], series[brace..].trim()),
        None => (series, ""),
    };
    let name = name.trim();
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !name.starts_with(|c: char| c.is_ascii_digit()),
        "bad metric name in {series:?}"
    );
    assert!(
        labels.is_empty() || labels.ends_with('}'),
        "bad labels in {series:?}"
    );
    (name.to_string(), labels.to_string())
}

fn render(gauges: &BTreeMap<String, BTreeMap<String, f64>>) -> String {
    let mut page = String::new();
    for (name, family) in gauges {
        let _ = writeln!(page, "# TYPE {name} gauge");
        for (labels, value) in family {
            let value = if value.is_nan() {
                "NaN".to_string()
            } else if value.is_infinite() {
                if *value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
            } else {
                value.to_string()
            };
            let _ = writeln!(page, "{name}{labels} {value}");
        }
    }
    page
}

/// Answers one request on the connection, then closes it.
fn serve(
    stream: TcpStream,
    gauges: &Mutex<BTreeMap<String, BTreeMap<String, f64>>>,
    documents: &Mutex<BTreeMap<String, String>>,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The rest of the head; a scrape has no body.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or_default();
    let document = documents.lock().unwrap().get(path).cloned();
    let (status, kind, body) = if path == "/metrics" || path.starts_with("/metrics?") {
        (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(&gauges.lock().unwrap()),
        )
    } else if let Some(document) = document {
        ("200 OK", "application/json", document)
    } else {
        ("404 Not Found", "text/plain", "not found\n".to_string())
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
