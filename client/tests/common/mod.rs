//! A tiny real HTTP receiver for publish tests: std `TcpListener` on 127.0.0.1:0, one
//! request per connection, gunzips and parses the body, answers from a script.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub content_encoding: Option<String>,
    pub content_type: Option<String>,
    pub json: serde_json::Value,
    pub status: u16,
}

impl Request {
    /// (name, statistic, value, timestamp) of every metric.
    pub fn metrics(&self) -> Vec<&serde_json::Value> {
        self.json["metrics"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    script: VecDeque<(u16, String)>,
    // While true, answers wait: a server that accepted the request but is stuck.
    stalled: bool,
    waiting: usize,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Receiver {
    pub fn start() -> Self {
        Self::with_script(Vec::new())
    }

    /// Answers the first requests with these statuses and bodies, then 200.
    pub fn with_script(script: Vec<(u16, &str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new((
            Mutex::new(State {
                script: script
                    .into_iter()
                    .map(|(s, b)| (s, b.to_string()))
                    .collect(),
                ..State::default()
            }),
            Condvar::new(),
        ));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || handle(conn, &st));
            }
        });
        Self { addr, state }
    }

    pub fn uri(&self) -> String {
        format!("http://{}/api/v1/publish", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.0.lock().unwrap().requests.clone()
    }

    pub fn stall(&self, on: bool) {
        self.state.0.lock().unwrap().stalled = on;
        self.state.1.notify_all();
    }

    /// Number of requests currently held by a stall.
    pub fn waiting(&self) -> usize {
        self.state.0.lock().unwrap().waiting
    }
}

/// Polls `cond` until it holds or 20 s pass; returns whether it held.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

fn handle(conn: TcpStream, st: &(Mutex<State>, Condvar)) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (mut len, mut enc, mut ctype, mut chunked) = (0usize, None, None, false);
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        let v = v.trim().to_string();
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.parse().unwrap(),
            "content-encoding" => enc = Some(v),
            "content-type" => ctype = Some(v),
            "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(len, 0);
        reader.read_exact(&mut body).unwrap();
    }
    let text = if enc.as_deref() == Some("gzip") {
        let mut s = String::new();
        GzDecoder::new(&body[..]).read_to_string(&mut s).unwrap();
        s
    } else {
        String::from_utf8(body).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (status, answer) = {
        let mut s = st.0.lock().unwrap();
        s.waiting += 1;
        while s.stalled {
            s = st.1.wait(s).unwrap();
        }
        s.waiting -= 1;
        let (status, answer) = s.script.pop_front().unwrap_or((200, String::new()));
        s.requests.push(Request {
            path,
            content_encoding: enc,
            content_type: ctype,
            json,
            status,
        });
        (status, answer)
    };
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = conn.flush();
}
