//! HTTPS with `--tls-cert`/`--tls-key` (issue 7, "Security"): a self-signed certificate
//! made at test time, publish and graph over TLS, plain HTTP refused on the TLS port, and
//! a start with unusable files refused.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use sextant_e2e::{now_ms, refused_start, TestServer};

/// A directory of this test's files, removed at the end (also on panic).
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("sextant-tls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a self-signed certificate for 127.0.0.1 and localhost and its key as PEM;
/// returns their paths and the certificate's DER.
fn self_signed(dir: &Dir) -> (PathBuf, PathBuf, Vec<u8>) {
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("a self-signed certificate");
    let cert = dir.0.join("cert.pem");
    let key = dir.0.join("key.pem");
    std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
    (cert, key, made.cert.der().to_vec())
}

/// An agent that trusts exactly `der`.
fn trusting(der: &[u8]) -> ureq::Agent {
    let cert = ureq::tls::Certificate::from_der(der).to_owned();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn text(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
    let mut r = r.unwrap_or_else(|e| panic!("request failed: {e}"));
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    (status, body)
}

#[test]
fn https_serves_publish_and_graph_and_refuses_plain_http() {
    let dir = Dir::new("serve");
    let (cert, key, der) = self_signed(&dir);
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    let s = TestServer::start(&["--step", "1s", "--tls-cert", &cert, "--tls-key", &key]);
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    let agent = trusting(&der);

    let ts = now_ms();
    let body = format!(
        r#"{{"metrics":[{{"tags":{{"name":"tlsdemo","atlas.dstype":"gauge"}},"timestamp":{ts},"value":42}}]}}"#
    );
    let (status, answer) = text(
        agent
            .post(&s.at("/api/v1/publish"))
            .header("content-type", "application/json")
            .send(body.as_bytes()),
    );
    assert_eq!(status, 200, "{answer}");
    let url = s.at(&format!(
        "/api/v1/graph?q=name,tlsdemo,:eq&s={}&e={}&step=1s&format=json",
        ts - 2000,
        ts + 2000
    ));
    let (status, answer) = text(agent.get(&url).call());
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("42"), "{answer}");

    // A client that does not trust the certificate gets no answer at all.
    let untrusting: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    assert!(untrusting.get(&s.at("/healthcheck")).call().is_err());

    // Plain HTTP on the TLS port is not answered in HTTP.
    let addr = s.url.trim_start_matches("https://").to_string();
    let mut plain = std::net::TcpStream::connect(&addr).expect("connects to the server");
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a read timeout can be set");
    plain
        .write_all(format!("GET /healthcheck HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .expect("the request is sent");
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply);
    assert!(
        !reply.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
}

#[test]
fn unusable_tls_files_stop_the_server_at_start() {
    let dir = Dir::new("bad");
    let (cert, _, _) = self_signed(&dir);
    let not_a_key = dir.0.join("not-a-key.pem");
    std::fs::write(&not_a_key, "no key in here\n").expect("write the file");
    let data = dir.0.join("data");
    let stderr = refused_start(&[
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--tls-cert".as_ref(),
        cert.as_os_str(),
        "--tls-key".as_ref(),
        not_a_key.as_os_str(),
    ]);
    assert!(
        stderr.contains("cannot read a private key") && stderr.contains("not-a-key.pem"),
        "{stderr}"
    );
    assert!(
        !dir.0.join("data").exists(),
        "the start failed before making anything"
    );
    // One of the two flags alone is refused by the argument parser.
    let stderr = refused_start(&[
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--tls-cert".as_ref(),
        cert.as_os_str(),
    ]);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}
