//! Harness for Sextant's end-to-end tests: starts the real `sextant` binary on
//! `127.0.0.1` with an ephemeral port, talks HTTP to it, and stops it when dropped.
//!
//! The tests themselves live in `tests/tests/`.

pub mod nats;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a test waits for a condition before it fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Path of the freshly built server binary; builds it once per test process so the tests
/// never run against a stale binary. The debug build, unless `SEXTANT_E2E_PROFILE=release`
/// (for the benchmarks among the e2e tests, such as `browser_perf`).
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = std::env::var("SEXTANT_E2E_PROFILE").is_ok_and(|p| p == "release");
        let mut args = vec![
            "build",
            "--locked",
            "-p",
            "sextant-server",
            "--bin",
            "sextant",
        ];
        if release {
            args.push("--release");
        }
        let mut command = Command::new(cargo);
        command.args(&args).current_dir(&root);
        // Cargo gives this test process the package's variables (CARGO_MANIFEST_DIR,
        // CARGO_PKG_*, ...). Passed on, they differ from what the outer `cargo test` saw,
        // and a build script that watches them (ring's) reruns: ring, rustls and every
        // crate above them were rebuilt on each run, some 40 s here.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || matches!(
                    name.as_ref(),
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_MANIFEST_LINKS"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                )
            {
                command.env_remove(name.as_ref());
            }
        }
        let status = command
            .status()
            .expect("cargo build of the sextant binary could not start");
        assert!(status.success(), "cargo build of the sextant binary failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("target"));
        target
            .join(if release { "release" } else { "debug" })
            .join("sextant")
    })
    .clone()
}

/// A running server process.
pub struct TestServer {
    child: Child,
    /// A data directory made for this server alone, removed on drop.
    own_dir: Option<PathBuf>,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
}

impl TestServer {
    /// Starts `sextant serve --listen 127.0.0.1:0` (unless `args` names another
    /// `--listen`) with the extra `args` and waits until it prints its address.
    ///
    /// Unless `args` names a `--data-dir`, the server gets a fresh one of its own, removed
    /// when the server is dropped, so tests running in parallel never share files.
    pub fn start(args: &[&str]) -> TestServer {
        Self::spawn(args, &[])
    }

    /// Starts the binary with `args` (and `env`), giving it its own data directory unless
    /// `args` names one, and waits until it prints its address.
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        Self::spawn_wrapped(&[], args, env)
    }

    /// Like [`TestServer::start`], but runs `wrapper` (a program and its first arguments)
    /// with the binary's path and then its arguments appended, e.g. `sh -c '…; exec "$0"
    /// "$@"'` to change resource limits or signal dispositions the child inherits.
    pub fn start_wrapped(wrapper: &[&str], args: &[&str]) -> TestServer {
        Self::spawn_wrapped(wrapper, args, &[])
    }

    fn spawn_wrapped(wrapper: &[&str], args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let own_dir = (!args.contains(&"--data-dir")).then(fresh_data_dir);
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(binary());
                c
            }
            None => Command::new(binary()),
        };
        command.arg("serve");
        // A test restarting a server on the port it had names the port itself.
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command.args(args).envs(env.iter().copied());
        if let Some(dir) = &own_dir {
            command.arg("--data-dir").arg(dir);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the sextant binary could not start");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("sextant listening on ") {
                        break url.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    panic!("sextant exited before printing its address");
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        TestServer {
            child,
            url,
            own_dir,
        }
    }

    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Full URL of `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// Sends SIGTERM-like stop: kills the process and waits for it.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.own_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A new, empty directory under the system's temp directory.
fn fresh_data_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sextant-e2e-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp data directory can be made");
    dir
}

/// An HTTP answer: status, headers we care about, body.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body as text.
    pub body: String,
    /// `(name, value)` of every header, names lowercase.
    pub headers: Vec<(String, String)>,
}

impl Answer {
    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut r = r.unwrap_or_else(|e| panic!("request failed: {e}"));
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = r.status().as_u16();
    let mut body = String::new();
    r.body_mut()
        .as_reader()
        .read_to_string(&mut body)
        .expect("the body is readable text");
    Answer {
        status,
        body,
        headers,
    }
}

/// GET `url`.
pub fn get(url: &str) -> Answer {
    answer(agent().get(url).call())
}

/// POST `body` to `url` with extra headers.
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut req = agent().post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.send(body))
}

/// POST a JSON body.
pub fn post_json(url: &str, body: &str) -> Answer {
    post(
        url,
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
}

/// Gzips `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

/// Now in epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Polls `check` until it returns `Some`, failing after [`DEADLINE`].
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `sextant serve --listen 127.0.0.1:0` with `args`, which must stop it at start:
/// asserts a failing exit and returns what it printed on stderr.
pub fn refused_start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let out = std::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .output()
        .expect("the sextant binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "started with {:?}: {stderr}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>()
    );
    stderr
}

/// Path of a file under `../shared/reference/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/fixtures")
        .join(name)
}

/// An HTTP answer whose body is kept as bytes (images).
#[derive(Debug)]
pub struct BinaryAnswer {
    /// Status code.
    pub status: u16,
    /// `content-type`, or empty.
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
}

/// GET `url`, keeping the body as bytes.
pub fn get_bytes(url: &str) -> BinaryAnswer {
    get_bytes_with(url, &[])
}

/// GET `url` with extra headers (e.g. a browser's `user-agent`), keeping the body as bytes.
pub fn get_bytes_with(url: &str, headers: &[(&str, &str)]) -> BinaryAnswer {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().unwrap_or_else(|e| panic!("request failed: {e}"));
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut body = Vec::new();
    r.body_mut()
        .with_config()
        .limit(64 << 20)
        .reader()
        .read_to_end(&mut body)
        .expect("the body is readable");
    BinaryAnswer {
        status: r.status().as_u16(),
        content_type,
        body,
    }
}

/// PUT `body` to `url` as JSON.
pub fn put_json(url: &str, body: &str) -> Answer {
    answer(
        agent()
            .put(url)
            .header("content-type", "application/json")
            .send(body.as_bytes()),
    )
}

/// DELETE `url`.
pub fn delete(url: &str) -> Answer {
    answer(agent().delete(url).call())
}

impl TestServer {
    /// Kills the server with SIGKILL (`Child::kill` on Unix): no clean stop, as in a
    /// crash. A data directory named in the arguments is left for a restart.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `method` to `url` with extra headers (e.g. `authorization`), and `body` for the
/// methods that carry one (POST, PUT).
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let agent = agent();
    match method {
        "POST" | "PUT" => {
            let mut req = if method == "POST" {
                agent.post(url)
            } else {
                agent.put(url)
            };
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            answer(req.send(body))
        }
        _ => {
            let mut req = match method {
                "DELETE" => agent.delete(url),
                _ => agent.get(url),
            };
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            answer(req.call())
        }
    }
}

impl TestServer {
    /// Like [`TestServer::start`], with extra environment variables for the server (the
    /// test process's own environment is shared by tests running in parallel, so it is
    /// never changed).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        Self::spawn(args, env)
    }
}
