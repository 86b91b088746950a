//! create-or-deploy. Round trips (each line runs concurrently; see docs/ARCHITECTURE.md):
//!
//! new environment                             | known environment (deploy)
//! 1 lease+state, ECR, reference, ALB, zone, own family
//! 2 reference TD, reference TG, observe TG/rules/service, DNS, file | register, rule check, DNS, file
//! 3 register TD, create TG                    | update service, prune revisions
//! 4 TG attributes, rule                       | state (releases the lease)
//! 5 service
//! 6 state (releases the lease)

use std::time::Instant;

use anyhow::Result;
use aws_sdk_ecs::types::{KeyValuePair, TaskDefinition};

mod build;
mod deploy;
mod service;
mod side;

use super::error::BadInput;
use super::lease::{self, Lease, LeaseError};
use super::precheck::{self, Infra, OwnTd, Subject};
use super::state::EnvState;
use super::tags::{self, Owner};
use super::{Action, CreateRequest, Engine, Outcome, Steps};
use crate::aws::{ecs, elb, Aws};
use crate::image::ImageRef;
use crate::names::{self, ResourceNames};
use crate::profile::Profile;

struct Built {
    service_arn: String,
    td_arn: String,
    tg_arn: String,
    rule_arn: String,
    action: Action,
    revisions: Vec<String>,
}

struct Plan<'a> {
    engine: &'a Engine,
    profile: &'a Profile,
    req: &'a CreateRequest,
    image: ImageRef,
    names: ResourceNames,
    steps: Steps,
    /// The Route 53 change of this run's UPSERT (the readiness wait checks it is INSYNC).
    dns_change: std::sync::Mutex<Option<String>>,
    /// This run woke a sleeping preview (its rule forwards again): `Outcome::woke`.
    woke: std::sync::atomic::AtomicBool,
}

pub async fn run(engine: &Engine, profile: &Profile, req: &CreateRequest) -> Result<Outcome> {
    names::validate_environment(&req.environment).map_err(BadInput)?;
    let image = ImageRef::parse(&req.image_uri).map_err(BadInput)?;
    let names = ResourceNames::new(
        &profile.name_prefix,
        &profile.domain_name_prefix,
        &req.environment,
    );
    let plan = Plan {
        engine,
        profile,
        req,
        image,
        names,
        steps: Steps::default(),
        dns_change: Default::default(),
        woke: Default::default(),
    };
    let aws = &engine.aws;
    let target = format!("{}/{}", profile.name, req.environment);

    // Round 1: the lease (which also reads the state) and the precheck's first round; the lease
    // is restored if any check fails.
    let t = Instant::now();
    let subject = plan.subject();
    // Round 2's reads start as soon as the lease is ours (unless it shows a complete
    // environment, which is deployed without them) and what each needs is read.
    let (seen, seen_rx) = tokio::sync::watch::channel(None);
    let (lease, checked) = tokio::join!(
        async {
            let l = lease::acquire(engine, &profile.name, &req.environment).await;
            let complete = match &l {
                Ok(l) => l.previous.as_ref().is_some_and(|s| s.is_complete()),
                Err(_) => true,
            };
            seen.send_replace(Some(complete));
            l
        },
        precheck::infra(aws, &subject, &seen_rx),
    );
    let (infra, own_td) = match checked {
        Ok(v) => v,
        Err(e) => {
            if let Ok(l) = &lease {
                if let Err(r) = l.release(aws).await {
                    tracing::warn!("{r:#}");
                }
            }
            return Err(e);
        }
    };
    let lease = match lease {
        Ok(l) => l,
        Err(LeaseError::TableMissing(table)) => {
            lease::create_table(aws, &table).await?;
            plan.steps
                .done(t, "table", format!("created DynamoDB table {table}"));
            lease::acquire(engine, &profile.name, &req.environment).await?
        }
        Err(e) => return Err(e.into()),
    };
    lease_steps(&lease, &plan.steps, t);
    plan.steps.done(
        t,
        "validate",
        format!("image {} exists; reference and ALB read", plan.image),
    );
    // From here on every request goes through the lease's guard.
    let held = &lease;
    lease::run_guarded(engine, Some(held), |guarded| async move {
        let plan = Plan {
            engine: &guarded,
            ..plan
        };
        engine.checkpoint("create", &target, &plan.steps)?;
        Box::pin(plan.apply(held, infra, own_td)).await
    })
    .await
}

/// The environment's own rule while it sleeps (the state's): it leads to the waker or a page.
fn sleeping_rule(lease: &Lease) -> Option<&str> {
    let asleep = lease.previous.as_ref().filter(|s| s.sleep.is_some());
    asleep.and_then(|s| s.rule_arn.as_deref())
}

/// For people (`-v`): a wait for another run's lease, and a takeover.
pub(crate) fn lease_steps(lease: &Lease, steps: &Steps, t: Instant) {
    match &lease.took_over {
        Some(h) => steps.done(
            t,
            "lease-wait",
            format!(
                "waited {:.1} s, then took over the lease of {} (not renewed for {} s: that run died)",
                lease.waited.as_secs_f64(),
                h.owner,
                h.duration.as_secs()
            ),
        ),
        None if lease.waited.as_millis() > 0 => steps.done(
            t,
            "lease-wait",
            format!(
                "waited {:.1} s for another run to finish",
                lease.waited.as_secs_f64()
            ),
        ),
        None => {}
    }
}

impl Plan<'_> {
    fn aws(&self) -> &Aws {
        &self.engine.aws
    }

    /// A safe point: stop here (the caller releases the lease) if the process was asked to.
    fn checkpoint(&self) -> Result<()> {
        let target = format!("{}/{}", self.profile.name, self.req.environment);
        Ok(self.engine.checkpoint("create", &target, &self.steps)?)
    }

    fn tags(&self) -> Vec<(String, String)> {
        tags::eden_tags(&self.profile.name, &self.req.environment)
    }

    fn subject(&self) -> Subject<'_> {
        Subject {
            profile: self.profile,
            environment: &self.req.environment,
            image: &self.image,
            names: &self.names,
            sleeping_rule: None,
        }
    }

    async fn apply(&self, lease: &Lease, mut infra: Infra, own_td: OwnTd) -> Result<Outcome> {
        let hostname = self.names.hostname(&infra.zone_name);
        if let Some(prev) = lease.previous.as_ref().filter(|s| s.is_complete()) {
            // Round 1 read the family's latest revision before the lease was ours; if another
            // run deployed meanwhile, the state names a newer one: use that.
            let current = match &own_td {
                Some((td, _)) if td.task_definition_arn != prev.task_definition_arn => {
                    match &prev.task_definition_arn {
                        Some(arn) => ecs::find_task_definition(self.aws(), arn).await?,
                        None => None,
                    }
                }
                other => other.clone(),
            };
            if let Some((td, td_tags)) = &current {
                let ours = tags::owner(
                    ecs::tags_of(td_tags),
                    &self.profile.name,
                    &self.req.environment,
                ) == Owner::Ours;
                let same_reference =
                    prev.reference_task_definition.as_deref() == infra.reference.task_definition();
                if !same_reference {
                    tracing::info!("the reference's task definition changed; cloning it again");
                }
                if ours && same_reference && prev.endpoint.as_deref() == Some(hostname.as_str()) {
                    if let Some(outcome) =
                        Box::pin(self.deploy(lease, prev, &infra, td, &hostname)).await?
                    {
                        return Ok(outcome);
                    }
                }
            }
        }
        Box::pin(self.create(lease, &mut infra, &own_td, &hostname)).await
    }

    /// The full, observing path: every step looks before it acts, so it also finishes any run
    /// that died half-way and adopts what the Python eden made.
    async fn create(
        &self,
        lease: &Lease,
        infra: &mut Infra,
        own_td: &OwnTd,
        hostname: &str,
    ) -> Result<Outcome> {
        let p = self.profile;
        let n = &self.names;
        // Round 2: the last reads and checks. Nothing is written before they all pass.
        // (reads only, and a wait for a DRAINING service: abandoned at once on a signal)
        let subject = Subject {
            sleeping_rule: sleeping_rule(lease),
            ..self.subject()
        };
        let observe = Box::pin(precheck::observe(
            self.aws(),
            &subject,
            infra,
            own_td,
            hostname,
        ));
        let observed = tokio::select! {
            o = observe => o?,
            _ = self.engine.cancel.cancelled() => return Err(self.checkpoint().unwrap_err()),
        };
        let infra = &*infra;
        self.checkpoint()?;
        let t = Instant::now();
        // DNS and the environments file depend on nothing else: they run beside the chain.
        let side = self.side_effects(infra, hostname, t, "entry added");
        let (record_types, built) =
            tokio::join!(side, self.build(lease, infra, observed, hostname));
        let record_types = record_types?;
        let built = built?;
        self.wake_if_asleep(lease, &built).await?;
        let state = EnvState {
            profile: p.name.clone(),
            environment: self.req.environment.clone(),
            endpoint: Some(hostname.to_string()),
            last_updated: Some(lease::now_secs()),
            created_at: lease
                .previous
                .as_ref()
                .and_then(|s| s.created_at.clone())
                .or_else(|| Some(super::rfc3339(lease::now_secs()))),
            image: Some(self.image.uri.clone()),
            cluster: Some(p.target_cluster.clone()),
            service_arn: Some(built.service_arn),
            target_group_arn: Some(built.tg_arn),
            task_definition_arn: Some(built.td_arn.clone()),
            task_family: Some(n.family.clone()),
            container_name: Some(infra.container.clone()),
            reference_task_definition: infra.reference.task_definition().map(str::to_string),
            rule_arn: Some(built.rule_arn),
            listener_arn: Some(infra.alb.listener_arn.clone()),
            alb_arn: Some(infra.alb.arn.clone()),
            record_types,
            metadata: self.metadata(lease),
            sleep: None,
            last_woke: self.last_woke(lease),
        };
        self.finish(lease, state, built.action, &built.td_arn, built.revisions)
            .await
    }

    /// Last round: write the state (releasing the lease) and retire old revisions.
    async fn finish(
        &self,
        lease: &Lease,
        state: EnvState,
        action: Action,
        td_arn: &str,
        revisions: Vec<String>,
    ) -> Result<Outcome> {
        let aws = self.aws();
        let keep = self.profile.keep_revisions.saturating_sub(1);
        let old: Vec<String> = revisions
            .into_iter()
            .filter(|a| a != td_arn)
            .skip(keep)
            .collect();
        self.checkpoint()?;
        let t = Instant::now();
        let (committed, pruned) =
            tokio::join!(lease.commit(aws, &state), ecs::retire_revisions(aws, &old));
        committed?;
        self.steps.done(
            t,
            "state",
            format!("recorded in DynamoDB table {}", self.engine.table),
        );
        match pruned {
            Ok(()) if !old.is_empty() => self.steps.done(
                t,
                "revisions",
                format!("retired {} old revision(s)", old.len()),
            ),
            Ok(()) => {}
            Err(e) => tracing::warn!("retiring old task definition revisions failed (kept): {e:#}"),
        }
        let hostname = state.endpoint.clone();
        Ok(Outcome {
            profile: self.profile.name.clone(),
            environment: self.req.environment.clone(),
            url: hostname.as_ref().map(|h| format!("https://{h}")),
            hostname,
            service_arn: state.service_arn,
            target_group_arn: state.target_group_arn,
            task_definition_arn: state.task_definition_arn,
            rule_arn: state.rule_arn,
            action: Some(action),
            image: state.image,
            last_updated: state.last_updated.map(super::rfc3339),
            status: None,
            metadata: state.metadata,
            steps: self.steps.take(),
            dns_change_id: self.dns_change.lock().expect("not poisoned").take(),
            last_woken: state.last_woke.map(super::rfc3339),
            sleep: state.sleep,
            woke: self.woke.load(std::sync::atomic::Ordering::Relaxed),
            state: None,
        })
    }

    /// When the preview last woke: now if this run woke it, else as it was.
    fn last_woke(&self, lease: &Lease) -> Option<f64> {
        if self.woke.load(std::sync::atomic::Ordering::Relaxed) {
            return Some(super::state::Sleep::now());
        }
        lease.previous.as_ref().and_then(|s| s.last_woke)
    }

    /// The full path on a sleeping preview: its service runs again (realigned by the build);
    /// its rule forwards once the tasks are ready.
    async fn wake_if_asleep(&self, lease: &Lease, built: &Built) -> Result<()> {
        let Some(prev) = lease.previous.as_ref().filter(|s| s.sleep.is_some()) else {
            return Ok(());
        };
        let awake = EnvState {
            service_arn: Some(built.service_arn.clone()),
            target_group_arn: Some(built.tg_arn.clone()),
            rule_arn: Some(built.rule_arn.clone()),
            ..prev.clone()
        };
        self.wake_after_deploy(&awake).await
    }

    /// A deploy to a sleeping preview: wait for its tasks, then forward its rule to them.
    async fn wake_after_deploy(&self, state: &EnvState) -> Result<()> {
        self.checkpoint()?;
        let settings =
            super::wait::Settings::for_profile(self.profile, super::sleep::DEPLOY_WAKE_TIMEOUT);
        super::sleep::forward_when_ready(self.engine, self.profile, state, &settings, &self.steps)
            .await?;
        self.woke.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn metadata(&self, lease: &Lease) -> std::collections::BTreeMap<String, String> {
        let mut m = lease
            .previous
            .as_ref()
            .map(|s| s.metadata.clone())
            .unwrap_or_default();
        m.extend(self.req.metadata.clone());
        m
    }

    /// Tag a target group or rule made by the Python eden, so later deletes recognise it.
    async fn adopt(&self, arn: &str) -> Result<()> {
        elb::add_tags(self.aws(), &[arn.to_string()], elb::to_tags(&self.tags())).await
    }
}
/// `source` with the request's environment variables set (added, or replaced in place) in
/// `container`; the other containers and variables are untouched.
fn with_env(source: &TaskDefinition, container: &str, env: &[(String, String)]) -> TaskDefinition {
    let mut td = source.clone();
    if env.is_empty() {
        return td;
    }
    for c in td.container_definitions.iter_mut().flatten() {
        if c.name.as_deref() != Some(container) {
            continue;
        }
        let vars = c.environment.get_or_insert_with(Vec::new);
        for (name, value) in env {
            let kv = KeyValuePair::builder().name(name).value(value).build();
            match vars.iter_mut().find(|v| v.name.as_deref() == Some(name)) {
                Some(v) => *v = kv,
                None => vars.push(kv),
            }
        }
    }
    td
}
