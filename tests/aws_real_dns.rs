//! Route 53 as a real account has it: 5 ChangeResourceRecordSets requests per second per
//! account (throttled with HTTP 400 `Throttling`), and dual-stack alias targets.
//! The throttling test runs on tokio's paused clock: the SDK's backoff sleeps advance virtual
//! time only.

mod common;

use std::time::Duration;

use aws_smithy_types::timeout::TimeoutConfig;
use common::*;
use eden::aws::dns::{self, ROUTE53_ATTEMPTS};
use eden::aws::inject::{Fake, Rule, When};
use eden::aws::Injector;

fn throttled(n: usize) -> Rule {
    Rule::new(
        "Route 53",
        "ChangeResourceRecordSets",
        When::Instead,
        Fake::route53(400, "Throttling", "Rate exceeded"),
    )
    .times(n)
}

async fn alias_of(w: &World, hostname: &str) -> Option<String> {
    let rr = w
        .aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(w.s(&["zone_id"]))
        .start_record_name(hostname)
        .max_items(1)
        .send()
        .await
        .unwrap();
    let r = rr.resource_record_sets().first()?;
    (r.name() == format!("{hostname}."))
        .then(|| r.alias_target().map(|a| a.dns_name().to_string()))
        .flatten()
}

#[tokio::test(start_paused = true)]
async fn route53_throttling_is_retried_with_backoff_and_the_change_lands() {
    let w = World::new("r53").await;
    let inj = Injector::new();
    let first = inj.add(throttled(4));
    let mut aws = aws_injected(inj.clone()).await;
    // On a paused clock, time jumps while the emulator answers: no connect timeout here.
    aws.route53 = aws_sdk_route53::Client::from_conf(
        aws.route53
            .config()
            .to_builder()
            .timeout_config(TimeoutConfig::disabled())
            .build(),
    );
    let zone = w.s(&["zone_id"]);
    let host = format!("api-pr-7.{}", w.s(&["zone_name"]));
    let t0 = tokio::time::Instant::now();
    dns::upsert_alias(
        &aws,
        &zone,
        &host,
        &w.s(&["alb_dns"]),
        "Z14GRHDCWA56QT",
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        first.hits(),
        4,
        "four throttled attempts, then the real one"
    );
    assert!(
        t0.elapsed() > Duration::ZERO,
        "the SDK backed off between attempts (virtual time)"
    );
    assert!(
        alias_of(&w, &host).await.is_some(),
        "the record is in the zone"
    );

    // Throttled on every attempt: a clear, typed failure after ROUTE53_ATTEMPTS tries.
    inj.clear();
    let always = inj.add(throttled(usize::MAX));
    let err = dns::upsert_alias(
        &aws,
        &zone,
        &host,
        &w.s(&["alb_dns"]),
        "Z14GRHDCWA56QT",
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(always.hits(), ROUTE53_ATTEMPTS as usize);
    assert!(format!("{err:#}").contains("Throttling"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_stack_alb_is_aliased_through_its_dualstack_name() {
    let w = World::new("d6").await;
    let mut raw = w.raw("api");
    raw.insert("master_alb_arn".into(), w.s(&["alb6_arn"]));
    let api = eden::profile::Profile::from_raw("api", &raw).unwrap();
    let alb = w
        .aws
        .elb
        .describe_load_balancers()
        .load_balancer_arns(w.s(&["alb6_arn"]))
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .clone();
    let engine = w.engine(None).await;
    let out = engine
        .create(&api, &w.request("pr-8", &w.image("api", "sha-1")))
        .await
        .unwrap();
    let target = alias_of(&w, out.hostname.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        target.trim_end_matches('.').to_ascii_lowercase(),
        format!("dualstack.{}", alb.dns_name().unwrap()).to_ascii_lowercase()
    );
    engine.delete(&api, "pr-8").await.unwrap();
    assert_eq!(alias_of(&w, out.hostname.as_deref().unwrap()).await, None);
}
