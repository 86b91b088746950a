//! A gate on the loopback proxy (`eden::proxy`) that forwards every request except one AWS
//! operation (by `X-Amz-Target`), which it holds until told to let it through: a test can stop
//! a real `eden` process at a known point of its run without sleeping or racing it.

use std::sync::Arc;

use tokio::sync::{watch, Semaphore};

pub struct HoldProxy {
    pub url: String,
    held: watch::Receiver<usize>,
    release: Arc<Semaphore>,
}

impl HoldProxy {
    /// Listen on 127.0.0.1 and forward to `upstream` (`http://host:port`), holding every request
    /// whose `X-Amz-Target` ends with `.{operation}`.
    pub async fn start(upstream: &str, operation: &str) -> HoldProxy {
        let suffix = format!(".{}", operation.to_ascii_lowercase());
        let (tx, held) = watch::channel(0usize);
        let tx = Arc::new(tx);
        let release = Arc::new(Semaphore::new(0));
        let permits = release.clone();
        let gate: eden::proxy::Gate = Arc::new(move |head: &str| {
            let hold = head
                .lines()
                .find_map(|l| l.strip_prefix("x-amz-target:"))
                .is_some_and(|t| t.trim().ends_with(&suffix));
            let (tx, permits) = (tx.clone(), permits.clone());
            Box::pin(async move {
                if hold {
                    tx.send_modify(|h| *h += 1);
                    permits.acquire().await.unwrap().forget();
                }
            })
        });
        let url = eden::proxy::start(upstream, gate).await.unwrap();
        HoldProxy { url, held, release }
    }

    /// Wait until `n` requests are being held.
    pub async fn held(&mut self, n: usize) {
        self.held.wait_for(|h| *h >= n).await.unwrap();
    }

    /// Let one held request through.
    pub fn release_one(&self) {
        self.release.add_permits(1);
    }
}
