//! A pool of ALBs at scale: 250 previews on three ALBs with the real limits, and what a pool
//! costs in requests and round trips. The account's limits come through `eden::aws::inject`;
//! results are checked with independent reads (`common::pool`).

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::pool::*;
use common::*;
use eden::aws::Injector;
use eden::engine::{Action, Engine};
use eden::profile::Profile;
use futures::StreamExt;

/// 250 previews on a pool of three ALBs with the real limits (100 rules, 100 target groups per
/// ALB), created 8 at a time: none lost, none past a limit, each alias pointing at the ALB that
/// holds its rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_fifty_previews_fill_a_pool_of_three() {
    let (w, pool, api) = pool_world("pm").await;
    let (engine, _) = engine_with(&w, vec![limits(100, 100)]).await;
    let img = w.image("api", "sha-1");
    let n = 250;
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            let (engine, api, req) = (&engine, &api, w.request(&format!("p{i}"), &img));
            async move { (i, engine.create(api, &req).await) }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let took = started.elapsed();
    eprintln!("{n} creates on a pool of 3, 8 at a time: {took:.1?}");
    for (i, r) in &results {
        assert!(r.is_ok(), "p{i}: {:?}", r.as_ref().err());
    }
    let zone = w.s(&["zone_name"]);
    let mut rules_on = Vec::new();
    for alb in &pool {
        let rules = host_rules(&w, &alb.listener).await;
        let tgs = attached(&w, &alb.arn).await;
        assert!(
            rules.len() <= 100 && tgs.len() <= 100,
            "{} past a limit",
            alb.arn
        );
        rules_on.push(rules);
    }
    let records = aliases(&w).await;
    for i in 0..n {
        let host = format!("api-p{i}.{zone}");
        let on: Vec<usize> = (0..3)
            .filter(|a| rules_on[*a].contains_key(&host))
            .collect();
        assert_eq!(on.len(), 1, "{host} on {on:?}");
        assert_eq!(
            records.get(&host).map(String::as_str),
            Some(pool[on[0]].dns.to_ascii_lowercase().as_str()),
            "{host}'s alias"
        );
    }
    let counts: Vec<usize> = rules_on.iter().map(|r| r.len()).collect();
    eprintln!("rules per ALB: {counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), n);
}

/// Placement adds no round trip: with every request taking 150 ms, a create on a pool of three
/// ALBs has as many sequential round trips as one on a single ALB (the pool's reads run
/// concurrently in the rounds that already read the ALB), and a deploy too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_costs_calls_not_round_trips() {
    let (w, pool, three) = pool_world("pt").await;
    let mut raw = w.raw("api");
    raw.retain(|k, _| !k.starts_with("endpoint_"));
    raw.insert("master_alb_arn".into(), pool[0].arn.clone());
    let one = Profile::from_raw("api", &raw).unwrap();
    let inst = eden::aws::Instrument::new();
    let inj = Injector::new();
    inj.add(limits(100, 100));
    let aws = eden::aws::Aws::load(eden::aws::ClientOptions {
        instrument: Some(inst.clone()),
        delay: Some(std::time::Duration::from_millis(150)),
        inject: Some(inj),
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint()),
        static_credentials: Some(("testing".into(), "testing".into())),
    })
    .await;
    let engine = Engine::new(aws, &w.table);
    // the state table exists in an account that uses eden
    engine
        .create(&one, &w.request("warm", &w.image("api", "sha-0")))
        .await
        .unwrap();
    let mut measured = BTreeMap::new();
    for (label, profile) in [("one", &one), ("three", &three)] {
        for (op, tag) in [("create", "sha-1"), ("deploy", "sha-2")] {
            inst.reset();
            let env = format!("rt-{label}");
            let out = engine
                .create(profile, &w.request(&env, &w.image("api", tag)))
                .await
                .unwrap();
            assert_eq!(out.action == Some(Action::Deployed), op == "deploy");
            let calls = inst.calls().len();
            measured.insert((op, label), (inst.sequential_round_trips(), calls));
        }
    }
    eprintln!("(round trips, requests): {measured:?}");
    for op in ["create", "deploy"] {
        let (one, three) = (measured[&(op, "one")], measured[&(op, "three")]);
        assert_eq!(three.0, one.0, "{op}: a pool of three added a round trip");
        assert!(
            three.1 > one.1 || op == "deploy",
            "{op}: the pool's reads are made"
        );
    }
}
