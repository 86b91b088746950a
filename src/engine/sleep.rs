//! sleep and wake, under the environment's lease (`lease::run_guarded`, like create and
//! delete). Each records where it is on the state item before it acts, so a run that died
//! half-way is finished by the next sleep, wake or deploy:
//!
//! - sleep: phase `Sleeping` with the awake count → UpdateService desiredCount 0 → ModifyRule
//!   to the sleeping destination (the waker's target group, or a fixed 503 page) → `Asleep`
//!   (written with the rest of the state, releasing the lease);
//! - wake: phase `Waking` → UpdateService desiredCount = the awake count (a new deployment) →
//!   the readiness wait (`wait::until_ready`) → ModifyRule forwarding to the preview's own
//!   target group → awake (the sleep attributes removed, `last_woke` set).
//!
//! A preview already asleep (sleep) or awake (wake) costs the lease and nothing else. Only the
//! tasks stop: the target group, task definition, DNS record and environments-file entry stay.
//! Every rule written comes from `engine::rule::shape`, so a sleeping rule keeps the profile's
//! access protection.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::error::{BadInput, NotFound, Refusal};
use super::lease::{self, Lease, LeaseError};
use super::state::{EnvState, Sleep, SleepPhase};
use super::{rule, wait, Action, Engine, Outcome, Steps};
use crate::aws::{ecs, elb, Aws};
use crate::names;
use crate::profile::Profile;

mod destination;
pub use destination::{sleeping_page, FIXED_RESPONSE_LIMIT};

/// How long a deploy to a sleeping preview waits for its tasks before its rule forwards again.
pub const DEPLOY_WAKE_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn sleep(engine: &Engine, profile: &Profile, environment: &str) -> Result<Outcome> {
    under_lease(engine, profile, environment, None).await
}

pub async fn wake(
    engine: &Engine,
    profile: &Profile,
    environment: &str,
    settings: wait::Settings,
) -> Result<Outcome> {
    under_lease(engine, profile, environment, Some(settings)).await
}

/// Sleep (`wake: None`) or wake with these readiness settings, under the environment's lease.
async fn under_lease(
    engine: &Engine,
    profile: &Profile,
    environment: &str,
    wake: Option<wait::Settings>,
) -> Result<Outcome> {
    let steps = Steps::default();
    let lease = take(engine, profile, environment, &steps).await?;
    let (held, steps) = (&lease, &steps);
    lease::run_guarded(engine, Some(held), |guarded| async move {
        let state = known(held)?;
        let run = Run {
            engine: &guarded,
            profile,
            lease: held,
            steps,
            state,
        };
        match &wake {
            None => run.sleep().await,
            Some(settings) => run.wake(settings).await,
        }
    })
    .await
}

/// The environment's lease (waiting for another run's, like create and delete).
async fn take(
    engine: &Engine,
    profile: &Profile,
    environment: &str,
    steps: &Steps,
) -> Result<Lease> {
    names::validate_environment(environment).map_err(BadInput)?;
    let t = Instant::now();
    match lease::acquire(engine, &profile.name, environment).await {
        Ok(l) => {
            super::create::lease_steps(&l, steps, t);
            Ok(l)
        }
        Err(LeaseError::TableMissing(table)) => Err(NotFound(format!(
            "environment {environment} of profile {} does not exist (no DynamoDB table {table})",
            profile.name
        ))
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// The state the lease found: only a complete environment sleeps or wakes.
fn known(lease: &Lease) -> Result<EnvState> {
    let target = lease.target();
    match &lease.previous {
        None => Err(NotFound(format!(
            "environment {target} does not exist; create it first (`eden create`)"
        ))
        .into()),
        Some(s) if !s.is_complete() => Err(Refusal::new(
            format!(
                "environment {target} is not complete (made by the Python eden, or a create that did not finish), so eden does not know all of its resources"
            ),
            "deploy it once with `eden create` (that finishes or adopts it), then sleep or wake it",
        )
        .into()),
        Some(s) => Ok(s.clone()),
    }
}

/// One sleep or wake, under its lease (requests go through the lease's guard).
struct Run<'a> {
    engine: &'a Engine,
    profile: &'a Profile,
    lease: &'a Lease,
    steps: &'a Steps,
    state: EnvState,
}

impl Run<'_> {
    fn aws(&self) -> &Aws {
        &self.engine.aws
    }

    fn checkpoint(&self, operation: &'static str) -> Result<()> {
        Ok(self
            .engine
            .checkpoint(operation, &self.lease.target(), self.steps)?)
    }

    async fn sleep(&self) -> Result<Outcome> {
        if let Some(s) = self.state.sleep.filter(|s| s.phase == SleepPhase::Asleep) {
            self.lease.release(self.aws()).await?;
            return Ok(self.outcome(Action::Slept, Some(s), false));
        }
        // Where the rule will lead, read and checked before anything is written.
        let then = destination::then(self.aws(), self.profile, &self.state).await?;
        let awake_count = match self.state.sleep {
            Some(s) => s.awake_count,
            None => self.desired_now().await?,
        };
        let t = Instant::now();
        self.record(SleepPhase::Sleeping, awake_count).await?;
        self.checkpoint("sleep")?;
        self.scale(0, false).await?;
        self.steps
            .done(t, "service", "desired count 0 (tasks stop)");
        self.checkpoint("sleep")?;
        let t = Instant::now();
        let what = destination::describe(&then);
        self.point_rule(then).await?;
        self.steps.done(t, "listener-rule", what);
        let asleep = Sleep {
            phase: SleepPhase::Asleep,
            since: Sleep::now(),
            awake_count,
        };
        let state = EnvState {
            sleep: Some(asleep),
            ..self.state.clone()
        };
        self.commit(&state).await?;
        Ok(self.outcome(Action::Slept, Some(asleep), false))
    }

    async fn wake(&self, settings: &wait::Settings) -> Result<Outcome> {
        let Some(sleep) = self.state.sleep else {
            self.lease.release(self.aws()).await?;
            return Ok(self.outcome(Action::Woke, None, false));
        };
        let t = Instant::now();
        if sleep.phase != SleepPhase::Waking {
            self.record(SleepPhase::Waking, sleep.awake_count).await?;
        }
        self.checkpoint("wake")?;
        self.scale(sleep.awake_count, true).await?;
        let n = sleep.awake_count;
        self.steps
            .done(t, "service", format!("desired count {n} (tasks start)"));
        forward_when_ready(self.engine, self.profile, &self.state, settings, self.steps).await?;
        let state = EnvState {
            sleep: None,
            last_woke: Some(Sleep::now()),
            ..self.state.clone()
        };
        self.commit(&state).await?;
        Ok(Outcome {
            last_woken: state.last_woke.map(super::rfc3339),
            ..self.outcome(Action::Woke, None, true)
        })
    }

    /// The service's desired count now (at least 1: what wake restores).
    async fn desired_now(&self) -> Result<i32> {
        let st = &self.state;
        let (cluster, service) = (
            self.cluster(),
            st.service_arn.as_deref().unwrap_or_default(),
        );
        let svc = ecs::find_service(self.aws(), cluster, service).await?;
        let svc = svc.filter(|s| s.status() == Some("ACTIVE"));
        let svc = svc.ok_or_else(|| gone("ECS service", service))?;
        Ok(svc.desired_count.max(1))
    }

    fn cluster(&self) -> &str {
        self.state
            .cluster
            .as_deref()
            .unwrap_or(&self.profile.target_cluster)
    }

    async fn scale(&self, desired: i32, new_deployment: bool) -> Result<()> {
        let service = self.state.service_arn.as_deref().unwrap_or_default();
        let cluster = self.cluster();
        if !ecs::scale_service(self.aws(), cluster, service, desired, new_deployment).await? {
            return Err(gone("ECS service", service));
        }
        Ok(())
    }

    async fn point_rule(&self, then: elb::Then) -> Result<()> {
        point_rule(self.aws(), self.profile, &self.state, then).await
    }

    /// The phase on the state item, keeping the lease (and the rest of the state).
    async fn record(&self, phase: SleepPhase, awake_count: i32) -> Result<()> {
        let sleep = Sleep {
            phase,
            since: Sleep::now(),
            awake_count,
        };
        self.lease
            .record(self.aws(), sleep.to_attributes(), &[])
            .await
    }

    /// The final state, releasing the lease.
    async fn commit(&self, state: &EnvState) -> Result<()> {
        self.checkpoint(if state.sleep.is_some() {
            "sleep"
        } else {
            "wake"
        })?;
        let t = Instant::now();
        self.lease.commit(self.aws(), state).await?;
        let table = &self.engine.table;
        self.steps
            .done(t, "state", format!("recorded in DynamoDB table {table}"));
        Ok(())
    }

    fn outcome(&self, action: Action, sleep: Option<Sleep>, woke: bool) -> Outcome {
        let s = &self.state;
        Outcome {
            profile: s.profile.clone(),
            environment: s.environment.clone(),
            hostname: s.endpoint.clone(),
            url: s.endpoint.as_ref().map(|h| format!("https://{h}")),
            service_arn: s.service_arn.clone(),
            target_group_arn: s.target_group_arn.clone(),
            task_definition_arn: s.task_definition_arn.clone(),
            rule_arn: s.rule_arn.clone(),
            action: Some(action),
            image: s.image.clone(),
            last_updated: s.last_updated.map(super::rfc3339),
            last_woken: s.last_woke.map(super::rfc3339),
            metadata: s.metadata.clone(),
            steps: self.steps.take(),
            sleep,
            woke,
            ..Outcome::default()
        }
    }
}

/// A resource a complete state names is gone: only a deploy's full path can rebuild it.
fn gone(kind: &str, arn: &str) -> anyhow::Error {
    anyhow::Error::new(Refusal::new(
        format!("{kind} {arn} of this environment is gone"),
        "deploy it again with `eden create` (that repairs it), or delete it",
    ))
}

/// ModifyRule: the environment's rule, as `rule::shape` says, ending in `then`.
pub(crate) async fn point_rule(
    aws: &Aws,
    profile: &Profile,
    state: &EnvState,
    then: elb::Then,
) -> Result<()> {
    let arn = state.rule_arn.as_deref().unwrap_or_default();
    let hostname = state.endpoint.as_deref().unwrap_or_default();
    if !elb::modify_rule(aws, arn, &rule::shape(profile, hostname, then)).await? {
        return Err(gone("listener rule", arn));
    }
    Ok(())
}

/// Wait until the environment's tasks are ready (the readiness of `--wait`), then point its
/// rule back at its own target group. Wake, and a deploy to a sleeping preview, end here.
pub(crate) async fn forward_when_ready(
    engine: &Engine,
    profile: &Profile,
    state: &EnvState,
    settings: &wait::Settings,
    steps: &Steps,
) -> Result<()> {
    let t = Instant::now();
    let subject = wait::Subject {
        cluster: state
            .cluster
            .clone()
            .unwrap_or_else(|| profile.target_cluster.clone()),
        service: state.service_arn.clone().unwrap_or_default(),
        target_group: state.target_group_arn.clone().unwrap_or_default(),
        dns_change: None,
    };
    let host = state.endpoint.as_deref().unwrap_or("the environment");
    wait::until_ready(&engine.aws, &subject, settings)
        .await
        .with_context(|| format!("{host} is waking but not ready (its rule still sleeps)"))?;
    steps.done(t, "ready", "tasks running, targets healthy");
    let target = format!("{}/{}", profile.name, state.environment);
    engine.checkpoint("wake", &target, steps)?;
    let t = Instant::now();
    let tg = state.target_group_arn.clone().unwrap_or_default();
    point_rule(&engine.aws, profile, state, elb::Then::Forward(tg.clone())).await?;
    steps.done(t, "listener-rule", format!("forwards to {tg} again"));
    Ok(())
}
