//! The lease's heartbeat: a task that renews the lease every `heartbeat` (a new RVN each time)
//! while the run lives, and notices when the lease is no longer ours.

use std::sync::{Arc, Mutex};

use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::lease::{new_rvn, now_secs, Holder, LeaseLost, LeaseSettings};
use super::state::Item;
use crate::aws::dynamodb::{self, DdbErrorKind};
use crate::aws::Aws;

#[derive(Debug)]
struct State {
    /// When the last successful renewal (or the acquisition) was *sent*: a waiter cannot have
    /// started counting before that, so the lease is ours for `trusted_for` from then.
    renewed: Instant,
    renewals: u64,
    lost: Option<String>,
}

/// The running heartbeat of one lease; stops (aborts its task) when dropped.
#[derive(Debug)]
pub struct Heartbeat {
    state: Arc<Mutex<State>>,
    settings: LeaseSettings,
    target: String,
    task: AbortHandle,
}

impl Heartbeat {
    /// Ok while the lease is ours: not lost, and renewed recently enough to be trusted.
    pub fn check(&self) -> Result<(), LeaseLost> {
        let s = self.state.lock().unwrap();
        if let Some(reason) = &s.lost {
            return Err(LeaseLost {
                target: self.target.clone(),
                reason: reason.clone(),
            });
        }
        let age = s.renewed.elapsed();
        if age > self.settings.trusted_for() {
            return Err(LeaseLost {
                target: self.target.clone(),
                reason: format!(
                    "it could not be renewed for {:.1} s, so another run may take it over",
                    age.as_secs_f64()
                ),
            });
        }
        Ok(())
    }

    /// How many renewals succeeded so far.
    pub fn renewals(&self) -> u64 {
        self.state.lock().unwrap().renewals
    }

    /// Stop renewing (before the final write that releases the lease).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    aws: Aws,
    table: &str,
    key: Item,
    owner: String,
    sent: Instant,
    settings: LeaseSettings,
    target: String,
) -> Arc<Heartbeat> {
    let state = Arc::new(Mutex::new(State {
        renewed: sent,
        renewals: 0,
        lost: None,
    }));
    let task = tokio::spawn(beat(
        aws,
        table.to_string(),
        key,
        owner,
        settings.clone(),
        target.clone(),
        state.clone(),
    ));
    Arc::new(Heartbeat {
        state,
        settings,
        target,
        task: task.abort_handle(),
    })
}

async fn beat(
    aws: Aws,
    table: String,
    key: Item,
    owner: String,
    settings: LeaseSettings,
    target: String,
    state: Arc<Mutex<State>>,
) {
    loop {
        tokio::time::sleep(settings.heartbeat).await;
        let sent = Instant::now();
        let res =
            dynamodb::renew_lease(&aws, &table, key.clone(), &owner, &new_rvn(), now_secs()).await;
        match res {
            Ok(_) => {
                let mut s = state.lock().unwrap();
                s.renewed = sent;
                s.renewals += 1;
            }
            Err(e) if e.is(DdbErrorKind::ConditionFailed) => {
                let holder = e
                    .item
                    .as_ref()
                    .and_then(|i| Holder::from_item(i, settings.duration));
                let reason = match holder {
                    Some(h) => format!("another run took it over: {}", h.owner),
                    None => "it was removed from the state item (eden unlock?)".to_string(),
                };
                tracing::error!("the lease on {target} was lost: {reason}");
                state.lock().unwrap().lost = Some(reason);
                return;
            }
            Err(e) => {
                tracing::warn!("renewing the lease on {target} failed (retrying): {e}");
            }
        }
    }
}
