//! delete: reverse order, every step skipped when its resource is already gone, and only what
//! carries eden's tags for this profile and environment (or, for environments the Python eden
//! made, what has its exact legacy name). Never the reference's service, target group or family.
//!
//! Round trips with a known state: 1 lease+state, reference · 2 tags, service, revisions,
//! records, file · 3 delete service, rule, records, deregister · 4 delete target group and
//! revisions · 5 remove the state item.

use std::time::Instant;

use anyhow::{anyhow, bail, Result};

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
    names::validate_environment(environment).map_err(|e| anyhow!(e))?;
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
    // From here on every request goes through the lease's guard.
    let guarded = match &lease {
        Some(l) => Engine {
            aws: l.guard(aws),
            ..engine.clone()
        },
        None => engine.clone(),
    };
    let (engine, aws) = (&guarded, &guarded.aws);
    let target = format!("{}/{environment}", profile.name);
    let checkpoint = || engine.checkpoint("delete", &target, &steps);
    let work = async {
        let reference = reference?.ok_or_else(|| {
            anyhow!(
                "reference service {} not found in cluster {}; check the profile (eden refuses to delete without knowing what to protect)",
                profile.reference_service_arn,
                profile.target_cluster
            )
        })?;
        let guard = Guard::of(&reference);
        let legacy_item = legacy_item?;
        steps.done(t, "lease", "lease taken, state read");
        let state = lease
            .as_ref()
            .and_then(|l| l.previous.clone())
            .filter(|s| s.endpoint.is_some() || s.service_arn.is_some());
        let state = state.or(legacy_item.clone());
        let existed = state.is_some() || legacy_item.is_some();
        checkpoint()?;
        // The environments file is independent of the resources: it runs beside them.
        let t = Instant::now();
        let file = remove_file_entry(aws, profile, environment);
        let resources = async {
            let complete = state.as_ref().filter(|s| s.is_complete());
            let targets = discover(aws, profile, &names, environment, complete, &guard).await?;
            checkpoint()?;
            remove(
                engine,
                profile,
                environment,
                &names,
                targets,
                existed,
                &steps,
            )
            .await
        };
        let (file, outcome) = tokio::join!(file, resources);
        if file? {
            steps.done(t, "environments-file", "entry removed");
        }
        let mut outcome = outcome?;
        checkpoint()?;
        forget(
            engine,
            profile,
            &names,
            lease.as_ref(),
            legacy_item.is_some(),
            existed,
            &steps,
        )
        .await?;
        outcome.steps = steps.take();
        Ok(outcome)
    };
    match (work.await, &lease) {
        (Ok(o), _) => Ok(o),
        (Err(e), None) => Err(e),
        (Err(e), Some(l)) => {
            // a failed run gives the lease back at once (unless it was lost: not ours to give)
            let e = lease::explain(l, e);
            if l.check().is_ok() {
                if let Err(r) = l.release(&guarded.aws).await {
                    tracing::warn!("{r:#}");
                }
            }
            Err(e)
        }
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
        Err(e) => bail!("reading the state of {legacy_key} failed: {e}"),
    }
}

/// Delete the resources found, in dependency order.
async fn remove(
    engine: &Engine,
    profile: &Profile,
    environment: &str,
    names: &ResourceNames,
    targets: Targets,
    existed: bool,
    steps: &Steps,
) -> Result<Outcome> {
    let aws = &engine.aws;
    let cluster = &profile.target_cluster;
    for s in &targets.skipped {
        tracing::warn!("left alone: {s}");
    }
    let anything = existed
        || targets.service.is_some()
        || targets.target_group.is_some()
        || targets.rule.is_some()
        || !targets.revisions.is_empty()
        || !targets.records.is_empty();

    // Tag first, then act: an untagged resource is adopted before it is deleted.
    let tags = tags::eden_tags(&profile.name, environment);
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

    let t = Instant::now();
    let records = async {
        let n = targets.records.len();
        dns::delete_records(aws, &profile.dynamic_zone_id, targets.records.clone()).await?;
        if n > 0 {
            steps.done(
                t,
                "dns",
                format!(
                    "deleted {n} record(s) for {}",
                    targets.hostname.as_deref().unwrap_or("?")
                ),
            );
        }
        Ok::<_, anyhow::Error>(())
    };
    let service = async {
        if let Some(arn) = &targets.service {
            if ecs::delete_service(aws, cluster, arn).await? {
                steps.done(t, "service", format!("deleted {arn}"));
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    let rule_then_tg = async {
        if let Some(arn) = &targets.rule {
            if elb::delete_rule(aws, arn).await? {
                steps.done(t, "listener-rule", format!("deleted {arn}"));
            }
        }
        if let Some(arn) = &targets.target_group {
            elb::delete_target_group(aws, arn).await?;
            steps.done(t, "target-group", format!("deleted {arn}"));
        }
        Ok::<_, anyhow::Error>(())
    };
    let revisions = async {
        ecs::retire_revisions(aws, &targets.revisions).await?;
        if !targets.revisions.is_empty() {
            steps.done(
                t,
                "task-definitions",
                format!(
                    "deleted {} revision(s) of {}",
                    targets.revisions.len(),
                    names.family
                ),
            );
        }
        Ok::<_, anyhow::Error>(())
    };
    let (records, service, rule_then_tg, revisions) =
        tokio::join!(records, service, rule_then_tg, revisions);
    records?;
    service?;
    rule_then_tg?;
    revisions?;

    Ok(Outcome {
        profile: profile.name.clone(),
        environment: environment.to_string(),
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
    })
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
                .map_err(|e| anyhow!("removing legacy state {} failed: {e}", names.base))?;
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
