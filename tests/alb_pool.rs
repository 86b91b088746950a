//! A pool of ALBs (`master_alb_arn = A, B, C`): placement by room, a preview on its ALB for life,
//! the pool full, a race past a limit, a delete without state. Moto enforces no ELB limit: the
//! account's limits come through `eden::aws::inject` (DescribeAccountLimits answered as real
//! ELB answers it), and the race's `TooManyRules` too. Every result is checked with independent
//! reads (`common::pool`): DescribeRules on each listener, DescribeTargetGroups per ALB, Route 53
//! ListResourceRecordSets, the state item. Scale and round trips: tests/alb_pool_scale.rs.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticloadbalancingv2::operation::create_rule::CreateRuleInput;
use common::change_reference;
use common::pool::*;
use eden::aws::inject::{Fake, Rule, When};
use eden::aws::Injector;
use eden::engine::{Action, ErrorKind};
use eden::profile::Profile;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_preview_goes_to_the_alb_with_the_most_room_and_stays_there() {
    let (w, pool, api) = pool_world("pd").await;
    let (engine, _) = engine_with(&w, vec![limits(10, 10)]).await;
    let img = w.image("api", "sha-1");
    // empty pool: ties go to the pool's order
    let out = engine.create(&api, &w.request("pr-1", &img)).await.unwrap();
    assert_eq!(out.alb_arn.as_deref(), Some(pool[0].arn.as_str()));
    assert_eq!(placed(&w, &pool, &hostname(&w, "pr-1")).await, 0);
    assert_eq!(
        state_alb(&w, "pr-1").await.as_deref(),
        Some(pool[0].arn.as_str())
    );
    // A now holds one more than B and C: the next goes to B, then C
    for (env, want) in [("pr-2", 1), ("pr-3", 2)] {
        engine.create(&api, &w.request(env, &img)).await.unwrap();
        assert_eq!(placed(&w, &pool, &hostname(&w, env)).await, want, "{env}");
    }
    // Two more rules on A by hand: B and C have more room than A now.
    let tg = w.s(&["references", "api", "target_group_arn"]);
    for i in 0..2 {
        add_rule(
            &w,
            &pool[0].listener,
            30_000 + i,
            &format!("x{i}.example.com"),
            &tg,
        )
        .await;
    }
    // The fast path (a deploy) stays on A…
    let out = engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-2")))
        .await
        .unwrap();
    assert_eq!(out.action, Some(Action::Deployed));
    assert_eq!(placed(&w, &pool, &hostname(&w, "pr-1")).await, 0);
    // …and so does the full path (the reference moved on: the deploy clones it again).
    change_reference(&w).await;
    let out = engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-1")))
        .await
        .unwrap();
    assert_eq!(out.action, Some(Action::Deployed));
    assert_eq!(placed(&w, &pool, &hostname(&w, "pr-1")).await, 0);
    assert_eq!(
        state_alb(&w, "pr-1").await.as_deref(),
        Some(pool[0].arn.as_str())
    );
    let rows = engine.list(Some("api")).await.unwrap();
    let on: BTreeMap<&str, &str> = rows
        .iter()
        .map(|r| (r.environment.as_str(), r.alb_arn.as_deref().unwrap()))
        .collect();
    assert_eq!(on["pr-1"], pool[0].arn);
    assert_eq!(on["pr-2"], pool[1].arn);
    assert_eq!(on["pr-3"], pool[2].arn);
    for env in ["pr-1", "pr-2", "pr-3"] {
        engine.delete(&api, env).await.unwrap();
    }
    // only the reference's target group (the two rules added by hand) is left on the pool
    for alb in &pool {
        let mut left = attached(&w, &alb.arn).await;
        left.remove(&tg);
        assert!(left.is_empty(), "{} still holds {left:?}", alb.arn);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_pool_refuses_before_any_write_and_a_delete_makes_room() {
    let (w, pool, api) = pool_world("pf").await;
    // two previews per ALB: one rule and one target group each
    let (engine, _) = engine_with(&w, vec![limits(2, 2)]).await;
    let img = w.image("api", "sha-1");
    let envs: Vec<String> = (1..=6).map(|i| format!("pr-{i}")).collect();
    for env in &envs {
        engine.create(&api, &w.request(env, &img)).await.unwrap();
    }
    let mut per_alb = [0; 3];
    for env in &envs {
        per_alb[placed(&w, &pool, &hostname(&w, env)).await] += 1;
    }
    assert_eq!(per_alb, [2, 2, 2]);

    let before = everything(&w, &pool).await;
    let err = engine
        .create(&api, &w.request("pr-7", &img))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    let text = format!("{err}");
    assert!(
        text.contains("append another ALB ARN to master_alb_arn"),
        "{text}"
    );
    assert!(text.contains("rules 2/2"), "{text}");
    assert_eq!(
        everything(&w, &pool).await,
        before,
        "the refused create wrote something"
    );
    assert_eq!(state_alb(&w, "pr-7").await, None);

    // One delete makes room on that preview's ALB, and the next create lands there.
    let freed = placed(&w, &pool, &hostname(&w, "pr-5")).await;
    engine.delete(&api, "pr-5").await.unwrap();
    let out = engine.create(&api, &w.request("pr-7", &img)).await.unwrap();
    assert_eq!(out.action, Some(Action::Created));
    assert_eq!(placed(&w, &pool, &hostname(&w, "pr-7")).await, freed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_race_past_the_rule_limit_lands_on_the_next_alb_leaving_nothing_behind() {
    let (w, pool, api) = pool_world("pr").await;
    let first = pool[0].listener.clone();
    // The pool is empty, so A is chosen; another create fills A meanwhile: CreateRule on A's
    // listener answers TooManyRules, as ELB does past the limit.
    let too_many = Rule::new(
        ELB,
        "CreateRule",
        When::Instead,
        Fake::elbv2(
            400,
            "TooManyRules",
            "You've reached the limit on the number of rules per load balancer",
        ),
    )
    .input(move |i: &CreateRuleInput| i.listener_arn() == Some(first.as_str()));
    let inj = Injector::new();
    inj.add(limits(100, 100));
    let raced = inj.add(too_many);
    let engine = w.engine_injected(inj.clone()).await;
    let out = engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-1")))
        .await
        .unwrap();
    assert_eq!(raced.hits(), 1, "the create tried A first");
    assert_eq!(out.alb_arn.as_deref(), Some(pool[1].arn.as_str()));
    let host = hostname(&w, "pr-1");
    assert_eq!(placed(&w, &pool, &host).await, 1, "rule and alias on B");
    assert_eq!(
        state_alb(&w, "pr-1").await.as_deref(),
        Some(pool[1].arn.as_str())
    );
    let tg = out.target_group_arn.clone().unwrap();
    assert!(
        host_rules(&w, &pool[0].listener).await.is_empty(),
        "a rule left on A"
    );
    assert!(
        attached(&w, &pool[0].arn).await.is_empty(),
        "a target group left on A"
    );
    assert_eq!(attached(&w, &pool[1].arn).await, BTreeSet::from([tg]));
    // the state says B: a deploy goes there without trying A again
    let out = engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-2")))
        .await
        .unwrap();
    assert_eq!(out.action, Some(Action::Deployed));
    assert_eq!(raced.hits(), 1);
    // and a delete finds it there
    engine.delete(&api, "pr-1").await.unwrap();
    assert!(host_rules(&w, &pool[1].listener).await.is_empty());
    assert!(!aliases(&w).await.contains_key(&host));
}

/// A preview whose state item is gone (a create cut short, or a Python eden's) is found by its
/// hostname on whichever ALB of the pool holds its rule, and removed from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_without_state_finds_the_rule_on_any_alb_of_the_pool() {
    let (w, pool, api) = pool_world("pg").await;
    let (engine, _) = engine_with(&w, vec![limits(10, 10)]).await;
    // A holds a rule already: the preview goes to B
    let tg = w.s(&["references", "api", "target_group_arn"]);
    add_rule(&w, &pool[0].listener, 30_000, "x.example.com", &tg).await;
    let out = engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-1")))
        .await
        .unwrap();
    let host = hostname(&w, "pr-1");
    assert_eq!(placed(&w, &pool, &host).await, 1);
    w.aws
        .dynamodb
        .delete_item()
        .table_name(&w.table)
        .key(
            "type",
            aws_sdk_dynamodb::types::AttributeValue::S("api".into()),
        )
        .key(
            "name",
            aws_sdk_dynamodb::types::AttributeValue::S("pr-1".into()),
        )
        .send()
        .await
        .unwrap();
    let deleted = engine.delete(&api, "pr-1").await.unwrap();
    assert_eq!(deleted.rule_arn, out.rule_arn);
    assert!(!host_rules(&w, &pool[1].listener).await.contains_key(&host));
    assert!(attached(&w, &pool[1].arn).await.is_empty());
    assert!(!aliases(&w).await.contains_key(&host));
    // A's own rule is untouched
    assert!(host_rules(&w, &pool[0].listener)
        .await
        .contains_key("x.example.com"));
}

/// An ARN of the pool that names no ALB: refused before any write, naming that ARN.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_alb_in_the_pool_is_refused_naming_it() {
    let (w, pool, _) = pool_world("pu").await;
    let gone = pool[1].arn.replace("common6", "nosuch");
    let mut raw = w.raw("api");
    raw.insert("master_alb_arn".into(), format!("{},{gone}", pool[0].arn));
    let api = Profile::from_raw("api", &raw).unwrap();
    let (engine, _) = engine_with(&w, vec![limits(10, 10)]).await;
    let before = everything(&w, &pool).await;
    let err = engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-1")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(
        format!("{err}").contains(&format!("load balancer {gone} not found")),
        "{err}"
    );
    assert_eq!(everything(&w, &pool).await, before);
}
