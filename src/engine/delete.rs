//! delete: reverse order, every step skipped when its resource is already gone, and only what
//! carries eden's tags for this profile and environment (or, for environments the Python eden
//! made, what has its exact legacy name). Never the reference's service, target group or family.
//!
//! Round trips with a known state: 1 lease+state, reference · 2 tags, service, revisions,
//! records, file · 3 delete service, rule, records, deregister · 4 delete target group and
//! revisions · 5 remove the state item.

use std::time::Instant;

use anyhow::{anyhow, Result};

use super::lease::{self, Lease, LeaseError};
use super::state::{key, EnvState};
use super::tags;
use super::{endpoints_file, Action, Engine, Outcome, Steps};
use crate::aws::dynamodb::{self, DdbErrorKind};
use crate::aws::{dns, ecs, elb, Aws};
use crate::names::{self, ResourceNames};
use crate::profile::Profile;

mod discover;
use discover::{discover, Guard, Targets};

pub async fn run(engine: &Engine, profile: &Profile, environment: &str) -> Result<Outcome> {
    names::validate_environment(environment).map_err(super::error::BadInput)?;
    let aws = &engine.aws;
    let names = ResourceNames::new(
        &profile.name_prefix,
        &profile.domain_name_prefix,
        environment,
    );
    let steps = Steps::default();

    // Round 1: the lease (and the state), and the reference (to never touch it).
    let t = Instant::now();
    let legacy_key = names.base.clone();
    let (lease, reference, legacy_item) = tokio::join!(
        lease::acquire(engine, &profile.name, environment),
        ecs::find_service(aws, &profile.target_cluster, &profile.reference_service_arn),
        legacy_state(engine, profile, &legacy_key, environment),
    );
    let lease = match lease {
        Ok(l) => Some(l),
        Err(LeaseError::TableMissing(t)) => {
            tracing::warn!("DynamoDB table {t} does not exist: deleting by name, without a lease");
            None
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(l) = &lease {
        super::create::lease_steps(l, &steps, t);
    }
    let held = lease.as_ref();
    let (names, steps) = (&names, &steps);
    lease::run_guarded(engine, held, |guarded| async move {
        let d = Deletion {
            engine: &guarded,
            profile,
            environment,
            names,
            steps,
            lease: held,
        };
        let reference = reference?.ok_or_else(|| {
            anyhow!(
                "reference service {} not found in cluster {}; check the profile (eden refuses to delete without knowing what to protect)",
                profile.reference_service_arn,
                profile.target_cluster
            )
        })?;
        steps.done(t, "lease", "lease taken, state read");
        d.run(&Guard::of(&reference), legacy_item?).await
    })
    .await
}

/// One delete, under its lease (the engine's requests go through the lease's guard).
struct Deletion<'a> {
    engine: &'a Engine,
    profile: &'a Profile,
    environment: &'a str,
    names: &'a ResourceNames,
    steps: &'a Steps,
    lease: Option<&'a Lease>,
}

impl Deletion<'_> {
    fn checkpoint(&self) -> Result<()> {
        let target = format!("{}/{}", self.profile.name, self.environment);
        Ok(self.engine.checkpoint("delete", &target, self.steps)?)
    }

    /// The file entry beside the resources, then the state item last.
    async fn run(&self, guard: &Guard, legacy_item: Option<EnvState>) -> Result<Outcome> {
        let (aws, profile, environment) = (&self.engine.aws, self.profile, self.environment);
        let state = self
            .lease
            .and_then(|l| l.previous.clone())
            .filter(|s| s.endpoint.is_some() || s.service_arn.is_some());
        let state = state.or(legacy_item.clone());
        let existed = state.is_some() || legacy_item.is_some();
        self.checkpoint()?;
        // The environments file is independent of the resources: it runs beside them.
        let t = Instant::now();
        let file = remove_file_entry(aws, profile, environment);
        let resources = async {
            let complete = state.as_ref().filter(|s| s.is_complete());
            let targets = discover(aws, profile, self.names, environment, complete, guard).await?;
            self.checkpoint()?;
            self.remove(targets, existed).await
        };
        let (file, outcome) = tokio::join!(file, resources);
        if file? {
            self.steps.done(t, "environments-file", "entry removed");
        }
        let mut outcome = outcome?;
        self.checkpoint()?;
        forget(
            self.engine,
            profile,
            self.names,
            self.lease,
            legacy_item.is_some(),
            existed,
            self.steps,
        )
        .await?;
        outcome.steps = self.steps.take();
        Ok(outcome)
    }
}

/// The environment's entry in the environments file, if the profile keeps one.
async fn remove_file_entry(aws: &Aws, profile: &Profile, environment: &str) -> Result<bool> {
    let Some(f) = &profile.endpoints else {
        return Ok(false);
    };
    let name = format!("{}-{environment}", f.name_prefix);
    endpoints_file::update(aws, f, false, |doc| {
        endpoints_file::remove(doc, &name, &f.update_key)
    })
    .await
}

/// An item written by the Python CLI under `name_prefix-name`.
async fn legacy_state(
    engine: &Engine,
    profile: &Profile,
    legacy_key: &str,
    environment: &str,
) -> Result<Option<EnvState>> {
    if legacy_key == environment {
        return Ok(None);
    }
    match dynamodb::get(
        &engine.aws,
        &engine.table,
        key(&profile.name, legacy_key),
        false,
    )
    .await
    {
        Ok(item) => Ok(item
            .map(|i| EnvState::from_item(&i))
            .filter(|s| s.endpoint.is_some())),
        Err(e) if e.is(DdbErrorKind::TableMissing) => Ok(None),
        Err(e) => Err(e.failed(format!("reading the state of {legacy_key}"))),
    }
}

impl Deletion<'_> {
    /// Delete the resources found, in dependency order.
    async fn remove(&self, targets: Targets, existed: bool) -> Result<Outcome> {
        for s in &targets.skipped {
            tracing::warn!("left alone: {s}");
        }
        let anything = existed
            || targets.service.is_some()
            || targets.target_group.is_some()
            || targets.rule.is_some()
            || !targets.revisions.is_empty()
            || !targets.records.is_empty();
        self.adopt(&targets).await?;
        let t = Instant::now();
        let (records, service, rule_then_tg, revisions) = tokio::join!(
            self.records(&targets, t),
            self.service(&targets, t),
            self.rule_then_target_group(&targets, t),
            self.revisions(&targets, t),
        );
        records?;
        service?;
        rule_then_tg?;
        revisions?;
        Ok(self.outcome(targets, anything))
    }

    /// Tag first, then act: an untagged resource is adopted before it is deleted.
    async fn adopt(&self, targets: &Targets) -> Result<()> {
        let aws = &self.engine.aws;
        let tags = tags::eden_tags(&self.profile.name, self.environment);
        let adopt_service = async {
            match &targets.adopt_service {
                Some(arn) => ecs::tag(aws, arn, ecs::to_tags(&tags)).await,
                None => Ok(()),
            }
        };
        tokio::try_join!(
            elb::add_tags(aws, &targets.adopt_elb, elb::to_tags(&tags)),
            adopt_service
        )?;
        Ok(())
    }

    async fn records(&self, targets: &Targets, t: Instant) -> Result<()> {
        let n = targets.records.len();
        let zone = &self.profile.dynamic_zone_id;
        dns::delete_records(&self.engine.aws, zone, targets.records.clone()).await?;
        if n > 0 {
            let host = targets.hostname.as_deref().unwrap_or("?");
            self.steps
                .done(t, "dns", format!("deleted {n} record(s) for {host}"));
        }
        Ok(())
    }

    async fn service(&self, targets: &Targets, t: Instant) -> Result<()> {
        if let Some(arn) = &targets.service {
            let cluster = &self.profile.target_cluster;
            if ecs::delete_service(&self.engine.aws, cluster, arn).await? {
                self.steps.done(t, "service", format!("deleted {arn}"));
            }
        }
        Ok(())
    }

    /// The rule first: a target group a rule still forwards to cannot be deleted.
    async fn rule_then_target_group(&self, targets: &Targets, t: Instant) -> Result<()> {
        let aws = &self.engine.aws;
        if let Some(arn) = &targets.rule {
            if elb::delete_rule(aws, arn).await? {
                self.steps
                    .done(t, "listener-rule", format!("deleted {arn}"));
            }
        }
        if let Some(arn) = &targets.target_group {
            elb::delete_target_group(aws, arn).await?;
            self.steps.done(t, "target-group", format!("deleted {arn}"));
        }
        Ok(())
    }

    async fn revisions(&self, targets: &Targets, t: Instant) -> Result<()> {
        ecs::retire_revisions(&self.engine.aws, &targets.revisions).await?;
        if !targets.revisions.is_empty() {
            let (n, family) = (targets.revisions.len(), &self.names.family);
            self.steps.done(
                t,
                "task-definitions",
                format!("deleted {n} revision(s) of {family}"),
            );
        }
        Ok(())
    }

    fn outcome(&self, targets: Targets, anything: bool) -> Outcome {
        Outcome {
            profile: self.profile.name.clone(),
            environment: self.environment.to_string(),
            url: targets.hostname.as_ref().map(|h| format!("https://{h}")),
            hostname: targets.hostname,
            service_arn: targets.service,
            target_group_arn: targets.target_group,
            task_definition_arn: targets.revisions.first().cloned(),
            rule_arn: targets.rule,
            action: Some(if anything {
                Action::Deleted
            } else {
                Action::Absent
            }),
            image: None,
            last_updated: None,
            status: None,
            metadata: Default::default(),
            steps: vec![],
            dns_change_id: None,
            sleep: None,
            last_woken: None,
            woke: false,
            state: None,
        }
    }
}

/// Last: remove the state item (releasing the lease) and any item the Python CLI wrote.
async fn forget(
    engine: &Engine,
    profile: &Profile,
    names: &ResourceNames,
    lease: Option<&Lease>,
    legacy_item: bool,
    existed: bool,
    steps: &Steps,
) -> Result<()> {
    let aws = &engine.aws;
    let t = Instant::now();
    let legacy = async {
        if legacy_item {
            dynamodb::delete(aws, &engine.table, key(&profile.name, &names.base), false)
                .await
                .map_err(|e| e.failed(format!("removing legacy state {}", names.base)))?;
        }
        Ok::<_, anyhow::Error>(())
    };
    let own = async {
        match lease {
            Some(l) => l.remove(aws).await,
            None => Ok(()),
        }
    };
    let (a, b) = tokio::join!(legacy, own);
    a?;
    b?;
    if existed {
        steps.done(
            t,
            "state",
            format!("removed from DynamoDB table {}", engine.table),
        );
    }
    Ok(())
}
