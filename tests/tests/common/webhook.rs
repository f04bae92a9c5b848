//! A webhook receiver on loopback for the alerting tests: records the JSON body of every
//! POST it is sent and answers 200.

// Each test file uses a different part of the harness.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A receiver listening on `127.0.0.1` until the test process ends.
pub struct Receiver {
    /// Where to send notifications: `http://127.0.0.1:<port>/hook`.
    pub url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    /// Listens on a free port, in a thread of its own.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let url = format!(
            "http://{}/hook",
            listener.local_addr().expect("its address")
        );
        let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let b = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(body) = serve(stream) {
                    b.lock().expect("receiver lock").push(body);
                }
            }
        });
        Receiver { url, bodies }
    }

    /// Notifications received so far with top-level `status` (`firing`, `resolved`).
    pub fn count(&self, status: &str) -> usize {
        self.bodies()
            .iter()
            .filter(|b| b["status"] == status)
            .count()
    }

    /// Every body received so far, in arrival order.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().expect("receiver lock").clone()
    }
}

/// Reads one HTTP request (headers, then `content-length` bytes) and answers 200.
fn serve(stream: TcpStream) -> Option<serde_json::Value> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    let answer = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    stream.write_all(answer.as_bytes()).ok()?;
    serde_json::from_slice(&body).ok()
}
