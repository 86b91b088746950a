//! The benchmark's gate on the loopback proxy (`eden::proxy`): every request waits a fixed
//! delay before it is forwarded, so any client in any process (our CLI, the Python eden's) is
//! slowed the same way, where `ClientOptions::delay` reaches only this process's SDK clients.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct DelayProxy {
    pub url: String,
    requests: Arc<AtomicUsize>,
}

impl DelayProxy {
    /// Listen on 127.0.0.1 and forward to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, delay: Duration) -> std::io::Result<DelayProxy> {
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let gate: eden::proxy::Gate = Arc::new(move |_head: &str| {
            let counter = counter.clone();
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                counter.fetch_add(1, Ordering::SeqCst);
            })
        });
        let url = eden::proxy::start(upstream, gate).await?;
        Ok(DelayProxy { url, requests })
    }

    /// Requests forwarded since the last call (the AWS calls of one run).
    pub fn take_count(&self) -> usize {
        self.requests.swap(0, Ordering::SeqCst)
    }
}
