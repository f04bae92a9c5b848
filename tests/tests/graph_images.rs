//! `/api/v1/graph` images and the dashboards API, against the real server with demo data.

use sextant_e2e::{delete, get, get_bytes, get_bytes_with, put_json, TestServer};

const CPU: &str = "name,ssCpuUser,:eq,(,nf.app,),:by";

/// A demo server with a data directory of its own: tests run in parallel, and a name made
/// of the pid and the millisecond was shared by tests starting together (the second server
/// is now refused by the data directory lock).
fn demo() -> TestServer {
    TestServer::start(&["--demo"])
}

#[test]
fn png_is_the_default_and_svg_on_request() {
    let server = demo();
    let png = get_bytes(&server.at(&format!("/api/v1/graph?q={CPU}&s=e-1h")));
    assert_eq!(png.status, 200);
    assert_eq!(png.content_type, "image/png");
    assert!(png.body.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(png.body.len() > 5_000, "png is {} bytes", png.body.len());

    let svg = get(&server.at(&format!(
        "/api/v1/graph?q={CPU}&format=svg&theme=dark&title=CPU"
    )));
    assert_eq!(svg.status, 200);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(svg.body.starts_with("<svg"));
    for text in ["CPU", "nf.app=www", "Max: "] {
        assert!(svg.body.contains(text), "svg lacks {text}");
    }
    assert!(svg.body.len() > 5_000, "svg is {} bytes", svg.body.len());
}

#[test]
fn errors_for_images_are_images_with_400() {
    let server = demo();
    // Without `format`, a browser gets the message drawn (so an `<img>` shows it) and any
    // other client Atlas's JSON error (Atlas: `PngGraphEngine` errors by User-Agent).
    let url = server.at("/api/v1/graph?q=name,ssCpuUser,:eq,:nosuchword");
    let browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36";
    let bad = get_bytes_with(&url, &[("user-agent", browser)]);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.content_type, "image/png");
    assert!(bad.body.starts_with(b"\x89PNG"));
    let script = get(&url);
    assert_eq!(script.status, 400);
    assert_eq!(script.header("content-type"), Some("application/json"));
    assert_eq!(script.json()["type"], "error", "{}", script.body);
    let message = script.json()["message"].as_str().unwrap_or("").to_string();
    assert!(message.contains(":nosuchword at 19"), "{message}");
    // Asked for explicitly, the image is drawn for every client.
    let png = get_bytes(&server.at("/api/v1/graph?q=:nosuchword&format=png"));
    assert_eq!((png.status, png.content_type.as_str()), (400, "image/png"));

    let svg = get(&server.at("/api/v1/graph?q=1&format=svg&w=abc"));
    assert_eq!(svg.status, 400);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(svg.body.contains("USER ERROR"), "{}", svg.body);

    // Data formats keep the JSON error.
    let json = get(&server.at("/api/v1/graph?q=:nosuchword&format=json"));
    assert_eq!(json.status, 400);
    assert_eq!(json.json()["type"], "error");
}

#[test]
fn dashboards_crud_and_name_validation() {
    let server = demo();
    let url = |name: &str| server.at(&format!("/api/v1/dashboards/{name}"));
    // The demo ships two dashboards.
    assert_eq!(
        get(&server.at("/api/v1/dashboards")).json(),
        serde_json::json!(["service-overview", "sextant-self"])
    );
    assert_eq!(get(&url("ops")).status, 404);

    let doc = r#"{"title":"Ops","graphs":[{"title":"cpu","q":"name,ssCpuUser,:eq,:sum"}]}"#;
    let put = put_json(&url("ops"), doc);
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(get(&url("ops")).json()["graphs"][0]["title"], "cpu");
    assert_eq!(
        get(&server.at("/api/v1/dashboards")).json(),
        serde_json::json!(["ops", "service-overview", "sextant-self"])
    );

    let replaced = put_json(&url("ops"), r#"{"title":"Ops 2","graphs":[]}"#);
    assert_eq!(replaced.status, 200);
    assert_eq!(get(&url("ops")).json()["title"], "Ops 2");

    for bad in ["..", "a%20b", "..%2Fetc", &"x".repeat(65)] {
        let r = put_json(&url(bad), doc);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("invalid dashboard name")));
    }
    assert_eq!(put_json(&url("x"), "not json").status, 400);
    assert_eq!(put_json(&url("x"), r#"{"graphs":[{"w":1}]}"#).status, 400);
    let huge = format!(r#"{{"title":"{}"}}"#, "x".repeat(300 << 10));
    assert_eq!(put_json(&url("big"), &huge).status, 413);

    assert_eq!(delete(&url("ops")).status, 204);
    assert_eq!(get(&url("ops")).status, 404);
    assert_eq!(delete(&url("ops")).status, 404);
}

#[test]
fn web_ui_is_served() {
    let server = demo();
    let page = get(&server.at("/"));
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    assert!(page.body.contains("/ui/app.js"));
    let js = get(&server.at("/ui/app.js"));
    assert_eq!(js.status, 200);
    assert!(js.body.contains("runGraph"));
    assert_eq!(get(&server.at("/ui/style.css")).status, 200);
}
