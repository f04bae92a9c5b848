//! Real nats-servers with JetStream for the cluster tests, on loopback ports chosen at
//! start, stopped by PID.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free when asked (the nats-servers need theirs before they start, to route to
/// each other).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `n` distinct ports, free when asked: all are held at once, since a port given back can
/// be the next one handed out (two nats-servers on one port make a cluster of two, which
/// cannot place R=3 streams).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("a bound address").port())
        .collect()
}

/// One nats-server of the JetStream cluster.
pub struct Nats {
    child: Option<Child>,
    /// Its server name (`nats0`, ...).
    pub name: String,
    dir: PathBuf,
    /// Its client port.
    pub port: u16,
    route: u16,
    routes: String,
}

impl Nats {
    /// Starts (or restarts) the process, on the same ports and store directory.
    pub fn start(&mut self) {
        let mut command = Command::new("nats-server");
        command
            .args(["-js", "-a", "127.0.0.1"])
            .arg("-sd")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-n", &self.name]);
        // One server alone is no JetStream cluster: clustered, it would wait for peers.
        if self.routes.contains(',') {
            command
                .args(["--cluster_name", "sextant-test"])
                .args(["--cluster", &format!("nats://127.0.0.1:{}", self.route)])
                .args(["--routes", &self.routes]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (scripts/setup-test-deps.sh installs it)");
        self.child = Some(child);
    }

    /// True while the process runs (started, not killed, not exited).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().is_ok_and(|status| status.is_none()))
    }

    /// SIGKILL, by PID.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` nats-servers routed to each other as one JetStream cluster, each answering.
pub fn nats_cluster(n: usize) -> Vec<Nats> {
    let free = free_ports(2 * n);
    let ports: Vec<(u16, u16)> = free.chunks(2).map(|p| (p[0], p[1])).collect();
    let routes = ports
        .iter()
        .map(|(_, r)| format!("nats://127.0.0.1:{r}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut servers: Vec<Nats> = ports
        .iter()
        .enumerate()
        .map(|(i, &(port, route))| {
            let dir = std::env::temp_dir()
                .join(format!("sextant-nats-{}-{i}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            Nats {
                child: None,
                name: format!("nats{i}"),
                dir,
                port,
                route,
                routes: routes.clone(),
            }
        })
        .collect();
    for s in &mut servers {
        s.start();
    }
    for s in &servers {
        crate::wait_for(&format!("JetStream on {}", s.name), || {
            js_ready(s.port).then_some(())
        });
    }
    for s in &mut servers {
        assert!(s.running(), "{} exited", s.name);
    }
    servers
}

/// True when the server at `port` answers a JetStream API request without an error (so
/// the cluster has elected its meta leader).
pub fn js_ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let req = "CONNECT {\"verbose\":false}\r\nSUB _INBOX.ready 1\r\nPUB $JS.API.INFO _INBOX.ready 0\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
        if got.contains("account_info_response") {
            return !got.contains("\"error\"");
        }
    }
    false
}

/// The client URLs of `servers`, comma-separated, as `--cluster` takes them.
pub fn urls(servers: &[Nats]) -> String {
    servers
        .iter()
        .map(|s| format!("nats://127.0.0.1:{}", s.port))
        .collect::<Vec<_>>()
        .join(",")
}

/// Polls `check` until it gives `Some`, failing after twice [`crate::DEADLINE`]: leader
/// elections, member keys expiring and partitions or rules moving take several seconds
/// on a loaded machine.
pub fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < crate::DEADLINE * 2,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
