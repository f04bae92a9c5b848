//! Dashboards of a cluster in the JetStream KV bucket `sextant-dashboards`, one key per
//! dashboard, so every node lists, shows and saves the same ones.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;

use crate::dashboard::SharedDashboards;

/// The bucket of dashboards.
pub const DASHBOARDS_BUCKET: &str = "sextant-dashboards";

/// Longest wait for NATS in one dashboard operation.
const WAIT: Duration = Duration::from_secs(5);

/// Dashboards in a KV bucket. Called from blocking threads (the handlers run dashboard
/// operations there), which wait on the runtime for each NATS call.
pub struct KvDashboards {
    kv: jetstream::kv::Store,
    runtime: tokio::runtime::Handle,
}

impl KvDashboards {
    /// Opens (or creates) the bucket.
    pub async fn open(js: &jetstream::Context, replicas: usize) -> Result<KvDashboards, String> {
        let kv = super::kv_bucket(js, DASHBOARDS_BUCKET, Duration::ZERO, replicas).await?;
        Ok(KvDashboards {
            kv,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    fn wait<T, E: std::fmt::Display>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, E>>,
    ) -> std::io::Result<T> {
        match self.runtime.block_on(tokio::time::timeout(WAIT, work)) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(std::io::Error::other(format!("{what}: {e}"))),
            Err(_) => Err(std::io::Error::other(format!(
                "{what}: NATS did not answer within {} s",
                WAIT.as_secs()
            ))),
        }
    }
}

/// Dashboard names are `[A-Za-z0-9._-]`, but a KV key may not start or end with a dot:
/// keys are the name in hex.
fn key(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

fn name(key: &str) -> Option<String> {
    let bytes = (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(key.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

impl SharedDashboards for KvDashboards {
    fn names(&self) -> std::io::Result<Vec<String>> {
        self.wait("listing dashboards", async {
            let mut keys = self.kv.keys().await?;
            let mut names = Vec::new();
            while let Some(k) = keys.next().await {
                if let Some(n) = name(&k?) {
                    names.push(n);
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(names)
        })
    }

    fn load(&self, name: &str) -> std::io::Result<Option<Vec<u8>>> {
        self.wait("reading a dashboard", async {
            self.kv.get(key(name)).await.map(|v| v.map(|b| b.to_vec()))
        })
    }

    fn save(&self, name: &str, doc: Vec<u8>) -> std::io::Result<()> {
        self.wait("saving a dashboard", async {
            self.kv.put(key(name), doc.into()).await.map(|_| ())
        })
    }

    fn remove(&self, name: &str) -> std::io::Result<bool> {
        if self.load(name)?.is_none() {
            return Ok(false);
        }
        self.wait("deleting a dashboard", async {
            self.kv.delete(key(name)).await.map(|_| true)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_hold_any_dashboard_name() {
        for n in ["a", ".hidden", "web.prod-1_x", "x."] {
            assert_eq!(super::name(&super::key(n)).as_deref(), Some(n));
        }
        assert_eq!(super::name("zz"), None);
    }
}
