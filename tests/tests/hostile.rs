//! Issue 13: no request can take the server down. A table of bad and extreme requests
//! across every endpoint, each sent over a raw TCP connection to a server whose address
//! space is capped (`prlimit --as`), so an over-allocation aborts the server and fails the
//! test instead of exhausting the machine. Each case asserts the status, a bounded body
//! (in the API's JSON error shape unless the HTTP library itself answered) and that the
//! server still answers its health check. See docs/operations.md, "Limits".

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use sextant_e2e::{gzip, now_ms, TestServer};

/// Address space the server may use: far below what the crash of issue 13 asked for
/// (42 GB), above what a loaded server needs (glibc arenas capped by MALLOC_ARENA_MAX).
const ADDRESS_SPACE: &str = "2000000000";
/// Peak resident memory the server may reach during the suite (docs/operations.md).
const PEAK_RSS_BYTES: u64 = 512 << 20;
/// Largest error body accepted: "a few KiB".
const MAX_ERROR_BODY: usize = 4096;
/// Largest successful body read (a PNG, a JSON graph of the demo data).
const MAX_BODY: usize = 4 << 20;
/// Longest wait for an answer: the query budget of the suite's server (5 s) plus slack;
/// a server that has not answered by then has not kept its budget.
const ANSWER_DEADLINE: Duration = Duration::from_secs(60);

/// One request of the table.
struct Case {
    name: &'static str,
    /// Raw bytes of the request head (the request line and headers, without the blank
    /// line), or `None` for a GET built from `target`.
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Statuses any of which is right.
    expect: &'static [u16],
    /// The answer comes from hyper's parser (a malformed or oversized head), which has no
    /// body of ours to carry.
    bare: bool,
}

fn get(name: &'static str, target: impl Into<String>, expect: &'static [u16]) -> Case {
    Case {
        name,
        method: "GET",
        target: target.into(),
        headers: Vec::new(),
        body: Vec::new(),
        expect,
        bare: false,
    }
}

fn send(
    name: &'static str,
    method: &'static str,
    target: impl Into<String>,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
    expect: &'static [u16],
) -> Case {
    Case {
        name,
        method,
        target: target.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
        expect,
        bare: false,
    }
}

fn graph(name: &'static str, query: impl AsRef<str>, expect: &'static [u16]) -> Case {
    get(
        name,
        format!("/api/v1/graph?format=json&{}", query.as_ref()),
        expect,
    )
}

fn json_post(
    name: &'static str,
    target: &str,
    body: impl Into<Vec<u8>>,
    expect: &'static [u16],
) -> Case {
    send(
        name,
        "POST",
        target,
        &[("content-type", "application/json")],
        body,
        expect,
    )
}

/// Percent-encodes everything but unreserved characters.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn q(expr: &str) -> String {
    format!("q={}", enc(expr))
}

fn publish_body(tags: &str, timestamp: &str, value: &str) -> Vec<u8> {
    format!(r#"{{"metrics":[{{"tags":{tags},"timestamp":{timestamp},"value":{value}}}]}}"#)
        .into_bytes()
}

fn silence(matchers: &str, comment: &str) -> Vec<u8> {
    format!(
        r#"{{"matchers":{matchers},"endsAt":"2999-01-01T00:00:00Z","comment":"{comment}","createdBy":"hostile"}}"#
    )
    .into_bytes()
}

const OK: &[u16] = &[200];
const BAD: &[u16] = &[400];
const BAD_OR_OK: &[u16] = &[200, 400];
const LIMIT: &[u16] = &[400, 422];

fn cases() -> Vec<Case> {
    let now = now_ms().to_string();
    let long = "a".repeat(1 << 20);
    let mut c = vec![
        // --- Graph windows and steps: the crash of issue 13 and its neighbours.
        graph("10000 years", "q=name,ssCpuUser,:eq&s=e-10000y", OK),
        graph("2000 years", "q=name,ssCpuUser,:eq&s=e-2000y", OK),
        graph("1000 years at 1ms", "q=name,x,:eq&s=e-1000y&step=1ms", BAD),
        graph(
            "1 day step over 10000 years",
            "q=name,x,:eq&s=e-10000y&step=1d",
            BAD,
        ),
        graph(
            "10000 year step",
            "q=name,x,:eq&s=e-10000y&step=10000y",
            BAD_OR_OK,
        ),
        graph("step below primary", "q=name,x,:eq&step=1s", BAD),
        graph(
            "step of 1e30 ms",
            "q=name,x,:eq&step=1000000000000000000000000000000ms",
            BAD,
        ),
        graph("negative step", "q=name,x,:eq&step=-1m", BAD),
        graph("step garbage", "q=name,x,:eq&step=%E2%88%9E", BAD),
        graph(
            "end far in the future",
            "q=name,x,:eq&e=now%2B10000y&s=e-1h",
            BAD_OR_OK,
        ),
        graph("start after end", "q=name,x,:eq&s=now&e=now-1d", BAD),
        graph(
            "start at i64 min",
            "q=name,x,:eq&s=-9223372036854775808",
            BAD_OR_OK,
        ),
        graph(
            "end at i64 max",
            "q=name,x,:eq&e=9223372036854775807",
            BAD_OR_OK,
        ),
        graph(
            "start overflowing i64",
            "q=name,x,:eq&s=99999999999999999999999",
            BAD,
        ),
        graph(
            "huge width and height",
            "q=name,x,:eq&w=100000000&h=100000000",
            OK,
        ),
        graph("negative width", "q=name,x,:eq&w=-1", BAD),
        graph("width garbage", "q=name,x,:eq&w=abc", BAD),
        graph("unknown time zone", "q=name,x,:eq&tz=Mars/Phobos", BAD),
        graph(
            "long time zone",
            format!("q=name,x,:eq&tz={}", "Z".repeat(10_000)),
            BAD,
        ),
        graph("unknown format", "q=name,x,:eq&format=xml", BAD_OR_OK),
        // --- Expressions.
        graph("empty q", "q=", BAD),
        graph("blank q", "q=%20%20", BAD),
        graph("missing q", "s=e-1h", BAD),
        graph("invalid UTF-8 in q", "q=ab%FF%FE", BAD),
        graph("invalid UTF-8 in s", "q=name,x,:eq&s=%C3%28", BAD),
        graph("NUL in q", "q=name,%00,:eq", BAD_OR_OK),
        graph("bad percent escape", "q=name,%ZZ,:eq", BAD_OR_OK),
        graph(
            "deep list nesting",
            q(&format!("{}{}", "(,".repeat(3000), ")".repeat(3000))),
            BAD,
        ),
        graph(
            "deep math nesting",
            q(&format!("1,{}", "1,:add,".repeat(2000))),
            BAD_OR_OK,
        ),
        graph("dup bomb", q(&format!("1,{}", ":dup,".repeat(3000))), LIMIT),
        graph(
            "many expressions",
            q(&"name,ssCpuUser,:eq,".repeat(1000)),
            &[200, 400, 422],
        ),
        graph("huge number", q("1e400"), BAD_OR_OK),
        graph(
            "huge integer",
            q("99999999999999999999999999999999999999"),
            BAD_OR_OK,
        ),
        graph("NaN and infinities", q("NaN,Infinity,-Infinity"), BAD_OR_OK),
        graph(
            "percentiles of a word",
            q("name,a,:eq,(,abc,),:percentiles"),
            BAD,
        ),
        graph(
            "ten thousand percentiles",
            q(&format!(
                "name,a,:eq,(,{}),:percentiles",
                "50,".repeat(5_000)
            )),
            LIMIT,
        ),
        graph(
            "offset of 10000 years",
            q("name,ssCpuUser,:eq,:sum,10000y,:offset"),
            BAD_OR_OK,
        ),
        graph(
            "offset list",
            q("name,ssCpuUser,:eq,:sum,(,0h,1d,1w,1y,100y,),:offset"),
            BAD_OR_OK,
        ),
        graph(
            "rolling over a trillion",
            q("name,ssCpuUser,:eq,:sum,1000000000000,:rolling-count"),
            BAD_OR_OK,
        ),
        graph(
            "trend over 10000 years",
            q("name,ssCpuUser,:eq,:sum,10000y,:trend"),
            BAD_OR_OK,
        ),
        graph(
            "delay of a trillion",
            q("name,ssCpuUser,:eq,:sum,1000000000000,:delay"),
            BAD_OR_OK,
        ),
        graph(
            "integral over 10000 years",
            format!("{}&s=e-10000y", q("name,ssCpuUser,:eq,:sum,:integral")),
            OK,
        ),
        graph(
            "group by many keys",
            q("name,ssCpuUser,:eq,:sum,(,a,b,c,d,e,f,g,h,i,j,k,),:by"),
            OK,
        ),
        graph(
            "limit of 1e20",
            q("name,ssCpuUser,:eq,(,nf.node,),:by,100000000000000000000,:limit"),
            BAD_OR_OK,
        ),
        graph("regex bomb", q("name,(a+)+$,:re"), BAD_OR_OK),
        graph(
            "regex of many stars",
            q(&format!("name,{},:re", ".*".repeat(2000))),
            BAD_OR_OK,
        ),
        graph(
            "regex repetition bomb",
            q("name,((a{1000}){1000}){1000},:re"),
            BAD_OR_OK,
        ),
        graph(
            "case-insensitive regex bomb",
            q("name,(x+x+)+y,:reic"),
            BAD_OR_OK,
        ),
        graph(
            "legend of 10 KB",
            q(&format!(
                "name,ssCpuUser,:eq,{},:legend",
                "$name".repeat(2000)
            )),
            BAD_OR_OK,
        ),
        graph("unknown word", q("name,x,:eq,:no-such-word"), BAD),
        graph("stack underflow", q(":add"), BAD),
        graph("bad cq", "q=name,x,:eq&cq=%3Aadd", BAD),
        graph("repeated q", "q=1&".repeat(3000), BAD_OR_OK),
        get(
            "expr: deep nesting",
            format!("/api/v1/expr?{}", q(&"(,".repeat(5000))),
            BAD,
        ),
        get("expr: invalid UTF-8", "/api/v1/expr?q=%FF", BAD),
        get("expr: missing q", "/api/v1/expr", BAD),
        get(
            "normalize: dup bomb",
            format!(
                "/api/v1/expr/normalize?{}",
                q(&format!("1,{}", ":dup,".repeat(3000)))
            ),
            BAD_OR_OK,
        ),
        // --- Tags.
        get(
            "tags: limit of 1e24",
            "/api/v1/tags?limit=1000000000000000000000000",
            BAD,
        ),
        get("tags: negative limit", "/api/v1/tags?limit=-1", BAD),
        get("tags: zero limit", "/api/v1/tags?limit=0", BAD),
        get(
            "tags: regex bomb",
            format!("/api/v1/tags?{}", q("name,(a+)+$,:re")),
            BAD_OR_OK,
        ),
        get(
            "tags: long offset",
            format!("/api/v1/tags?offset={}", "z".repeat(20_000)),
            OK,
        ),
        get(
            "tags: long key",
            format!("/api/v1/tags/{}", "k".repeat(20_000)),
            OK,
        ),
        get(
            "tags: not a query",
            format!("/api/v1/tags?{}", q("1,2,:add")),
            BAD,
        ),
        get("tags: format", "/api/v1/tags?format=xml", BAD),
        // --- Publish.
        send(
            "publish: brotli",
            "POST",
            "/api/v1/publish",
            &[("content-encoding", "br")],
            "{}",
            &[415],
        ),
        send(
            "publish: deflate",
            "POST",
            "/api/v1/publish",
            &[("content-encoding", "deflate")],
            "{}",
            &[415],
        ),
        send(
            "publish: gzip header, plain body",
            "POST",
            "/api/v1/publish",
            &[("content-encoding", "gzip")],
            "{}",
            BAD,
        ),
        send(
            "publish: truncated gzip",
            "POST",
            "/api/v1/publish",
            &[("content-encoding", "gzip")],
            gzip(&publish_body(r#"{"name":"x"}"#, &now, "1"))[..20].to_vec(),
            BAD,
        ),
        send(
            "publish: gzip bomb",
            "POST",
            "/api/v1/publish",
            &[("content-encoding", "gzip")],
            gzip_bomb(100 << 20),
            &[413],
        ),
        json_post("publish: empty body", "/api/v1/publish", "", BAD),
        json_post("publish: not JSON", "/api/v1/publish", "metrics!", BAD),
        json_post(
            "publish: deep JSON",
            "/api/v1/publish",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            BAD,
        ),
        json_post(
            "publish: 1 MB tag value",
            "/api/v1/publish",
            publish_body(&format!(r#"{{"name":"x","k":"{long}"}}"#), &now, "1"),
            BAD,
        ),
        json_post(
            "publish: 10000 tags",
            "/api/v1/publish",
            publish_body(
                &format!(
                    "{{{}\"name\":\"x\"}}",
                    (0..10_000)
                        .map(|i| format!("\"k{i}\":\"v\","))
                        .collect::<String>()
                ),
                &now,
                "1",
            ),
            BAD,
        ),
        json_post(
            "publish: value 1e999",
            "/api/v1/publish",
            publish_body(r#"{"name":"x"}"#, &now, "1e999"),
            BAD_OR_OK,
        ),
        json_post(
            "publish: timestamp 1e30",
            "/api/v1/publish",
            publish_body(r#"{"name":"x"}"#, "1000000000000000000000000000000", "1"),
            BAD,
        ),
        json_post(
            "publish: negative timestamp",
            "/api/v1/publish",
            publish_body(r#"{"name":"x"}"#, "-9223372036854775808", "1"),
            BAD,
        ),
        json_post(
            "publish: value as text",
            "/api/v1/publish",
            publish_body(r#"{"name":"x"}"#, &now, "\"NaN\""),
            BAD_OR_OK,
        ),
        json_post(
            "publish: over the body limit",
            "/api/v1/publish",
            vec![b' '; (16 << 20) + 1],
            &[413],
        ),
        // --- Silences, rules, alerts, dashboards.
        json_post("silence: not JSON", "/api/v1/silences", "{", BAD),
        send(
            "silence: text/plain",
            "POST",
            "/api/v1/silences",
            &[("content-type", "text/plain")],
            "{}",
            &[400, 415],
        ),
        json_post(
            "silence: 1 MB comment",
            "/api/v1/silences",
            silence(r#"[{"name":"a","value":"b"}]"#, &long),
            &[400, 413],
        ),
        json_post(
            "silence: 10000 matchers",
            "/api/v1/silences",
            silence(
                &format!(
                    "[{}{{\"name\":\"a\",\"value\":\"b\"}}]",
                    "{\"name\":\"a\",\"value\":\"b\"},".repeat(10_000)
                ),
                "",
            ),
            &[400, 413],
        ),
        json_post(
            "silence: regex bomb",
            "/api/v1/silences",
            silence(
                r#"[{"name":"a","value":"((a{1000}){1000}){1000}","isRegex":true}]"#,
                "",
            ),
            BAD,
        ),
        json_post(
            "silence: ends in year 1e9",
            "/api/v1/silences",
            r#"{"matchers":[{"name":"a","value":"b"}],"endsAt":"1000000000-01-01T00:00:00Z"}"#,
            BAD,
        ),
        send(
            "silence: delete unknown",
            "DELETE",
            "/api/v1/silences/nope",
            &[],
            "",
            &[404],
        ),
        send(
            "silence: delete long id",
            "DELETE",
            format!("/api/v1/silences/{}", "x".repeat(20_000)),
            &[],
            "",
            &[404],
        ),
        json_post(
            "rules: reload without a file",
            "/api/v1/rules/reload",
            "",
            &[200, 400, 404],
        ),
        get("alerts: filter garbage", "/api/v1/alerts?filter=%FF", BAD),
        send(
            "dashboard: over its size",
            "PUT",
            "/api/v1/dashboards/big",
            &[("content-type", "application/json")],
            vec![b' '; 4 << 20],
            &[413],
        ),
        send(
            "dashboard: long name",
            "PUT",
            format!("/api/v1/dashboards/{}", "n".repeat(20_000)),
            &[("content-type", "application/json")],
            "{}",
            &[400, 404],
        ),
        get(
            "dashboard: traversal",
            "/api/v1/dashboards/..%2F..%2Fetc%2Fpasswd",
            &[400, 404],
        ),
        get("web: traversal", "/ui/../../etc/passwd", &[404]),
        // --- Protocol edges.
        send(
            "wrong method on graph",
            "DELETE",
            "/api/v1/graph",
            &[],
            "",
            &[405],
        ),
        send(
            "wrong method on publish",
            "GET",
            "/api/v1/publish",
            &[],
            "",
            &[405],
        ),
        send(
            "wrong method on silences",
            "PUT",
            "/api/v1/silences",
            &[],
            "",
            &[405],
        ),
        send("unknown method", "BREW", "/api/v1/graph", &[], "", &[405]),
        get("unknown path", "/no/such/thing", &[404]),
        get(
            "target of 40 KB",
            format!("/api/v1/graph?q={}", "a".repeat(40_000)),
            &[414],
        ),
    ];
    let mut many = Case {
        headers: (0..150).map(|i| (format!("x-h{i}"), "v".into())).collect(),
        ..get("150 headers", "/healthcheck", &[431])
    };
    c.push(many);
    many = Case {
        headers: vec![("x-big".into(), "v".repeat(70_000))],
        ..get("a 70 KB header", "/healthcheck", &[431])
    };
    c.push(many);
    c.push(Case {
        bare: true,
        ..get(
            "target of 70 KB (hyper's own limit)",
            format!("/api/v1/graph?q={}", "a".repeat(70_000)),
            &[414],
        )
    });
    c.push(Case {
        bare: true,
        ..graph("1 MB of q (hyper's own limit)", format!("q={long}"), &[431])
    });
    c.push(Case {
        bare: true,
        ..get("malformed header", "/healthcheck", &[400])
    });
    if let Some(last) = c.last_mut() {
        last.headers = vec![("bad header".into(), "v".into())];
    }
    c
}

/// A gzip stream of `len` spaces in a few hundred kilobytes, written directly: one
/// fixed-Huffman deflate block of a literal and then matches of 258 bytes at distance 1
/// (13 bits each). Its CRC is wrong, which the server never reaches: it stops inflating
/// at its limit.
fn gzip_bomb(len: usize) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let (mut acc, mut bits) = (0u64, 0u32);
    let mut put = |out: &mut Vec<u8>, value: u64, n: u32| {
        acc |= value << bits;
        bits += n;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    };
    // Huffman codes go most significant bit first.
    let code = |c: u64, n: u32| (0..n).fold(0, |r, i| r | (((c >> (n - 1 - i)) & 1) << i));
    put(&mut out, 1, 1); // the last block
    put(&mut out, 1, 2); // fixed codes
    put(&mut out, code(0x30 + u64::from(b' '), 8), 8);
    for _ in 0..len / 258 {
        put(&mut out, code(0b1100_0101, 8), 8); // length 258
        put(&mut out, 0, 5); // distance 1
    }
    put(&mut out, 0, 7); // end of block
    put(&mut out, 0, 7); // flush
    out.extend_from_slice(&[0; 8]); // CRC and size, never checked
    out
}

/// One answer read off a raw connection.
struct Raw {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// Sends `case` on a new connection and reads the answer, at most `MAX_BODY` bytes of it.
fn exchange(addr: &str, case: &Case) -> Raw {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n",
        case.method, case.target
    );
    for (k, v) in &case.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !case.body.is_empty() || case.method == "POST" || case.method == "PUT" {
        head.push_str(&format!("content-length: {}\r\n", case.body.len()));
    }
    head.push_str("\r\n");
    raw_exchange(addr, head.as_bytes(), &case.body)
        .unwrap_or_else(|e| panic!("{}: no answer: {e}", case.name))
}

fn raw_exchange(addr: &str, head: &[u8], body: &[u8]) -> std::io::Result<Raw> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(ANSWER_DEADLINE))?;
    stream.set_write_timeout(Some(ANSWER_DEADLINE))?;
    stream.write_all(head)?;
    // The server may answer (413, 415) and close before taking the whole body.
    let _ = stream.write_all(body);
    let mut got = Vec::new();
    let mut buf = [0u8; 64 << 10];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() > MAX_BODY + (64 << 10) {
                    break;
                }
            }
            // A reset after the answer (the body we were still sending was refused).
            Err(e) if !got.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    parse(&got).ok_or_else(|| {
        std::io::Error::other(format!(
            "unreadable answer: {:?}",
            String::from_utf8_lossy(&got[..got.len().min(200)])
        ))
    })
}

fn parse(answer: &[u8]) -> Option<Raw> {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..end]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let mut body = answer[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = unchunk(&body);
    }
    Some(Raw {
        status,
        content_type,
        body,
    })
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || data.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
    out
}

fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

fn alive(addr: &str, after: &str) {
    let head = format!("GET /healthcheck HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    let answer = raw_exchange(addr, head.as_bytes(), &[])
        .unwrap_or_else(|e| panic!("the server died after {after}: {e}"));
    assert_eq!(answer.status, 200, "health check after {after}");
}

fn start() -> TestServer {
    let limit = format!(r#"MALLOC_ARENA_MAX=2 exec prlimit --as={ADDRESS_SPACE} -- "$0" "$@""#);
    TestServer::start_wrapped(
        &["sh", "-c", &limit],
        &["--demo", "--no-persist", "--query-timeout", "5s"],
    )
}

/// Highest resident set of `pid` so far (`VmHWM`), bytes.
fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The server's own pid: the wrapper `exec`s into it, so the child's pid is the server's.
#[test]
fn hostile_requests_get_bounded_answers_and_the_server_lives() {
    let server = start();
    let addr = addr(&server);
    let cases = cases();
    assert!(cases.len() >= 80, "{} kinds", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let answer = exchange(&addr, case);
        let text = String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)]).to_string();
        if !case.expect.contains(&answer.status) {
            failures.push(format!(
                "{}: status {} not in {:?}: {text}",
                case.name, answer.status, case.expect
            ));
        }
        if answer.status >= 400 {
            if answer.body.len() > MAX_ERROR_BODY {
                failures.push(format!(
                    "{}: error body of {} bytes",
                    case.name,
                    answer.body.len()
                ));
            }
            let shaped = serde_json::from_slice::<serde_json::Value>(&answer.body)
                .ok()
                // The publish answer's message is Atlas's list of refusals.
                .is_some_and(|v| {
                    v["type"] == "error" && (v["message"].is_string() || v["message"].is_array())
                });
            if !case.bare && !shaped {
                failures.push(format!(
                    "{}: error not in the API's shape ({}): {text}",
                    case.name, answer.content_type
                ));
            }
        } else if answer.body.len() > MAX_BODY {
            failures.push(format!("{}: body over {MAX_BODY} bytes", case.name));
        }
        alive(&addr, case.name);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let peak = peak_rss(server.pid());
    assert!(peak > 0 && peak < PEAK_RSS_BYTES, "peak RSS {peak} bytes");
}

/// Floods: many heavy queries and publishes at once, and idle half-sent requests, are
/// answered (200, or 503 when every slot stays busy) and leave the server alive.
#[test]
fn floods_are_answered_and_the_server_lives() {
    let server = start();
    let addr = addr(&server);
    // Connections that send half a head and then wait: they must not stop the others.
    let idle: Vec<TcpStream> = (0..200)
        .filter_map(|_| {
            let mut s = TcpStream::connect(&addr).ok()?;
            s.write_all(b"GET /healthcheck HTTP/1.1\r\nx-slow: ").ok()?;
            Some(s)
        })
        .collect();
    assert_eq!(idle.len(), 200);
    let heavy = graph(
        "heavy",
        "q=name,ssCpuUser,:eq,(,nf.node,),:by&s=e-10000y",
        &[200, 503],
    );
    let now = now_ms().to_string();
    let publish = json_post(
        "publish",
        "/api/v1/publish",
        publish_body(r#"{"name":"flood","atlas.dstype":"gauge"}"#, &now, "1"),
        &[200, 503],
    );
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..48)
            .map(|i| {
                let case = if i % 2 == 0 { &heavy } else { &publish };
                let addr = addr.as_str();
                scope.spawn(move || {
                    (0..4)
                        .map(|_| exchange(addr, case).status)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            let statuses = h.join().unwrap_or_default();
            assert_eq!(statuses.len(), 4);
            assert!(
                statuses.iter().all(|s| [200, 503].contains(s)),
                "{statuses:?}"
            );
        }
    });
    alive(&addr, "the floods");
    drop(idle);
    alive(&addr, "the idle connections closed");
    let peak = peak_rss(server.pid());
    assert!(peak > 0 && peak < PEAK_RSS_BYTES, "peak RSS {peak} bytes");
}

/// The hand-made bomb inflates to what it says (up to its wrong checksum).
#[test]
fn the_gzip_bomb_inflates_to_its_length() {
    let bomb = gzip_bomb(1 << 20);
    assert!(bomb.len() < 10_000, "{} bytes", bomb.len());
    let mut out = Vec::new();
    let read = flate2::read::GzDecoder::new(&bomb[..]).read_to_end(&mut out);
    assert!(read.is_err(), "the checksum is wrong");
    assert!(out.len() > (1 << 20) - 300, "{} bytes", out.len());
    assert!(out.iter().all(|&b| b == b' '));
}
