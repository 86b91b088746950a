//! A pool of ALBs (`master_alb_arn = A, B, C`): placement by room, a preview on its ALB for life,
//! the pool full, a race past a limit. Moto enforces no ELB limit: the account's limits come
//! through `eden::aws::inject` (DescribeAccountLimits answered as real ELB answers it), and the
//! race's `TooManyRules` too. Every result is checked with independent reads: DescribeRules on
//! each listener, DescribeTargetGroups per ALB, Route 53 ListResourceRecordSets, the state item.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_elasticloadbalancingv2::operation::create_rule::CreateRuleInput;
use aws_sdk_elasticloadbalancingv2::types::{Action as ElbAction, ActionTypeEnum, ProtocolEnum};
use common::*;
use eden::aws::inject::{Fake, Rule, When};
use eden::aws::Injector;
use eden::engine::{Action, Engine, ErrorKind};
use eden::profile::Profile;
use futures::StreamExt;

const ELB: &str = "Elastic Load Balancing v2";

/// DescribeAccountLimits as real ELB answers it, with these two per-ALB limits.
fn limits(rules: usize, target_groups: usize) -> Rule {
    let member =
        |name: &str, max: usize| format!("<member><Name>{name}</Name><Max>{max}</Max></member>");
    Rule::new(
        ELB,
        "DescribeAccountLimits",
        When::Instead,
        Fake::elbv2_ok(
            "DescribeAccountLimits",
            &format!(
                "<Limits>{}{}{}</Limits>",
                member("application-load-balancers", 50),
                member("rules-per-application-load-balancer", rules),
                member("target-groups-per-application-load-balancer", target_groups),
            ),
        ),
    )
}

/// One ALB of the pool as the test reads it.
#[derive(Debug, Clone)]
struct PoolAlb {
    arn: String,
    dns: String,
    listener: String,
}

/// A third ALB beside the seed's two (`common`, `common6`), with an HTTPS:443 listener carrying
/// the seed's certificate.
async fn third_alb(w: &World) -> String {
    let elb = &w.aws.elb;
    let common = elb
        .describe_load_balancers()
        .load_balancer_arns(w.s(&["alb_arn"]))
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .clone();
    let subnets: Vec<String> = common
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id.clone())
        .collect();
    let cert = elb
        .describe_listener_certificates()
        .listener_arn(w.s(&["listener_arn"]))
        .send()
        .await
        .unwrap()
        .certificates()[0]
        .certificate_arn()
        .unwrap()
        .to_string();
    let arn = elb
        .create_load_balancer()
        .name(format!("{}-common3", w.prefix))
        .set_subnets(Some(subnets))
        .set_security_groups(Some(common.security_groups().to_vec()))
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    elb.create_listener()
        .load_balancer_arn(&arn)
        .protocol(ProtocolEnum::Https)
        .port(443)
        .certificates(
            aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
                .certificate_arn(cert)
                .build(),
        )
        .default_actions(
            ElbAction::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    aws_sdk_elasticloadbalancingv2::types::FixedResponseActionConfig::builder()
                        .status_code("404")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    arn
}

/// The world's pool of three, its ALBs read back, and the api profile on it without the
/// environments file (cheap creates: no S3 read-modify-write).
async fn pool_world(tag: &str) -> (World, Vec<PoolAlb>, Profile) {
    let w = World::new(tag).await;
    let arns = [w.s(&["alb_arn"]), w.s(&["alb6_arn"]), third_alb(&w).await];
    let mut pool = Vec::new();
    for arn in &arns {
        let lb = w
            .aws
            .elb
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
            .unwrap()
            .load_balancers()[0]
            .clone();
        let listener = w
            .aws
            .elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .unwrap()
            .listeners()
            .iter()
            .find(|l| l.port() == Some(443))
            .unwrap()
            .listener_arn()
            .unwrap()
            .to_string();
        pool.push(PoolAlb {
            arn: arn.clone(),
            dns: lb.dns_name().unwrap().to_string(),
            listener,
        });
    }
    let mut raw = w.raw("api");
    raw.retain(|k, _| !k.starts_with("endpoint_"));
    raw.insert("master_alb_arn".into(), arns.join(", "));
    let profile = Profile::from_raw("api", &raw).unwrap();
    (w, pool, profile)
}

async fn engine_with(w: &World, rules: Vec<Rule>) -> (Engine, Arc<Injector>) {
    let inj = Injector::new();
    for r in rules {
        inj.add(r);
    }
    (w.engine_injected(inj.clone()).await, inj)
}

/// Every rule of a listener (all pages): hostname → (rule ARN, target groups it forwards to).
async fn host_rules(w: &World, listener: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let mut out = BTreeMap::new();
    let mut marker = None;
    loop {
        let page = w
            .aws
            .elb
            .describe_rules()
            .listener_arn(listener)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        for r in page.rules() {
            let tgs: Vec<String> = r
                .actions()
                .iter()
                .filter_map(|a| a.target_group_arn().map(str::to_string))
                .collect();
            for c in r.conditions() {
                let hosts = c
                    .host_header_config()
                    .map(|h| h.values().to_vec())
                    .unwrap_or_else(|| c.values().to_vec());
                if c.field() == Some("host-header") {
                    for h in hosts {
                        out.insert(h, (r.rule_arn().unwrap().to_string(), tgs.clone()));
                    }
                }
            }
        }
        marker = page.next_marker;
        if marker.is_none() {
            return out;
        }
    }
}

/// Target groups attached to an ALB (moto answers "none" with TargetGroupNotFound).
async fn attached(w: &World, alb: &str) -> BTreeSet<String> {
    match w
        .aws
        .elb
        .describe_target_groups()
        .load_balancer_arn(alb)
        .send()
        .await
    {
        Ok(o) => o
            .target_groups()
            .iter()
            .filter_map(|t| t.target_group_arn.clone())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// Every alias record of the zone (all pages): hostname → alias target DNS name.
async fn aliases(w: &World) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let (mut name, mut kind) = (None, None);
    loop {
        let page = w
            .aws
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(w.s(&["zone_id"]))
            .set_start_record_name(name)
            .set_start_record_type(kind)
            .send()
            .await
            .unwrap();
        for r in page.resource_record_sets() {
            if let Some(a) = r.alias_target() {
                out.insert(
                    r.name().trim_end_matches('.').to_ascii_lowercase(),
                    a.dns_name()
                        .trim_end_matches('.')
                        .trim_start_matches("dualstack.")
                        .to_ascii_lowercase(),
                );
            }
        }
        if !page.is_truncated() {
            return out;
        }
        name = page.next_record_name;
        kind = page.next_record_type;
    }
}

/// The state item's `alb_arn`, read from the table.
async fn state_alb(w: &World, env: &str) -> Option<String> {
    let item = w
        .aws
        .dynamodb
        .get_item()
        .table_name(&w.table)
        .key(
            "type",
            aws_sdk_dynamodb::types::AttributeValue::S("api".into()),
        )
        .key(
            "name",
            aws_sdk_dynamodb::types::AttributeValue::S(env.into()),
        )
        .send()
        .await
        .unwrap()
        .item?;
    item.get("alb_arn")?.as_s().ok().cloned()
}

/// Which ALB of the pool holds the hostname's rule (it must be exactly one), and the alias of
/// the hostname points at that ALB.
async fn placed(w: &World, pool: &[PoolAlb], hostname: &str) -> usize {
    let mut holders = Vec::new();
    for (i, alb) in pool.iter().enumerate() {
        if host_rules(w, &alb.listener).await.contains_key(hostname) {
            holders.push(i);
        }
    }
    assert_eq!(holders.len(), 1, "{hostname} has rules on ALBs {holders:?}");
    let alias = aliases(w).await.remove(hostname);
    assert_eq!(
        alias.as_deref(),
        Some(pool[holders[0]].dns.to_ascii_lowercase().as_str()),
        "{hostname}'s alias"
    );
    holders[0]
}

fn hostname(w: &World, env: &str) -> String {
    format!("api-{env}.{}", w.s(&["zone_name"]))
}

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

/// One host rule forwarding to `tg`, added by the test.
async fn add_rule(w: &World, listener: &str, priority: i32, host: &str, tg: &str) {
    use aws_sdk_elasticloadbalancingv2::types::RuleCondition;
    w.aws
        .elb
        .create_rule()
        .listener_arn(listener)
        .priority(priority)
        .conditions(
            RuleCondition::builder()
                .field("host-header")
                .values(host)
                .build(),
        )
        .actions(
            ElbAction::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(tg)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// A new revision of the reference's task definition, and the reference on it.
async fn change_reference(w: &World) {
    let cluster = w.s(&["cluster"]);
    let ref_arn = w.s(&["references", "api", "service_arn"]);
    let svc = w
        .aws
        .ecs
        .describe_services()
        .cluster(&cluster)
        .services(&ref_arn)
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    let td = w
        .aws
        .ecs
        .describe_task_definition()
        .task_definition(svc.task_definition().unwrap())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    let new_td = w
        .aws
        .ecs
        .register_task_definition()
        .family(td.family().unwrap())
        .set_task_role_arn(td.task_role_arn.clone())
        .set_execution_role_arn(td.execution_role_arn.clone())
        .set_network_mode(td.network_mode.clone())
        .set_container_definitions(td.container_definitions.clone())
        .set_requires_compatibilities(td.requires_compatibilities.clone())
        .set_cpu(td.cpu.clone())
        .set_memory(td.memory.clone())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    w.aws
        .ecs
        .update_service()
        .cluster(&cluster)
        .service(&ref_arn)
        .task_definition(&new_td)
        .send()
        .await
        .unwrap();
}

/// Everything a create could write, per ALB too: rules on each listener, target groups on each
/// ALB, and the world's snapshot (services, revisions, target groups, records, state items).
async fn everything(w: &World, pool: &[PoolAlb]) -> (Snapshot, Vec<Vec<String>>) {
    let mut per_alb = Vec::new();
    for alb in pool {
        let mut v: Vec<String> = host_rules(w, &alb.listener).await.into_keys().collect();
        v.extend(attached(w, &alb.arn).await);
        per_alb.push(v);
    }
    (w.snapshot().await, per_alb)
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
        .key("type", aws_sdk_dynamodb::types::AttributeValue::S("api".into()))
        .key("name", aws_sdk_dynamodb::types::AttributeValue::S("pr-1".into()))
        .send()
        .await
        .unwrap();
    let deleted = engine.delete(&api, "pr-1").await.unwrap();
    assert_eq!(deleted.rule_arn, out.rule_arn);
    assert!(!host_rules(&w, &pool[1].listener).await.contains_key(&host));
    assert!(attached(&w, &pool[1].arn).await.is_empty());
    assert!(!aliases(&w).await.contains_key(&host));
    // A's own rule is untouched
    assert!(host_rules(&w, &pool[0].listener).await.contains_key("x.example.com"));
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
    assert!(format!("{err}").contains(&format!("load balancer {gone} not found")), "{err}");
    assert_eq!(everything(&w, &pool).await, before);
}
