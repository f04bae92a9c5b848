//! The status page in a real headless chromium (see `common/browser.rs`) on a node of a
//! 3-node cluster (one nats-server): the members, every partition's owners and where it is
//! live, and how many partitions have no live owner; a killed node's partitions move.

#[path = "common/browser.rs"]
mod browser;

use browser::Browser;
use sextant_e2e::nats::{nats_cluster, urls};
use sextant_e2e::TestServer;

fn node(urls: &str, id: &str) -> TestServer {
    TestServer::start(&[
        "--cluster",
        urls,
        "--node-id",
        id,
        "--cluster-partitions",
        "8",
        "--cluster-replicas",
        "1",
        "--cluster-owners",
        "1",
        "--cluster-member-ttl",
        "2s",
    ])
}

#[test]
fn the_status_page_shows_members_partitions_and_owners() {
    let nats = nats_cluster(1);
    let urls = urls(&nats);
    let a = node(&urls, "a");
    let b = node(&urls, "b");
    let c = node(&urls, "c");
    let mut browser = Browser::launch();
    browser.goto(&a.at("/?view=status"));
    browser.wait(
        "three members, every partition live",
        r##"(() => {
            const s = document.getElementById("status-summary").textContent;
            const rows = document.querySelectorAll("#status-partitions tr").length;
            return s.startsWith("3 members, 8 partitions") && s.endsWith("; 0 without a live owner")
                && rows === 9 && document.querySelectorAll("#status-members tr").length === 4
                ? s : null;
        })()"##,
    );
    let png = browser.screenshot();
    let shot = std::env::temp_dir().join("sextant-status-page.png");
    let _ = std::fs::write(&shot, &png);
    // Killed, a node leaves the members once its key expires, and the page (refreshing
    // itself) shows its partitions owned and live on the other two.
    c.kill();
    browser.wait(
        "the killed node gone and its partitions live elsewhere",
        r##"(() => {
            const s = document.getElementById("status-summary").textContent;
            const live = [...document.querySelectorAll("#status-partitions td:nth-child(3)")]
                .map((td) => td.textContent);
            return s.startsWith("2 members") && s.endsWith("; 0 without a live owner")
                && live.length === 8 && live.every((l) => l === "a" || l === "b") ? s : null;
        })()"##,
    );
    drop(b);
    drop(nats);
}
