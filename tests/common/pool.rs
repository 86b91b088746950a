//! A pool of ALBs in the emulator (tests/alb_pool*.rs): a third ALB beside the seed's two, the
//! account's limits as ELB answers DescribeAccountLimits, and independent reads of where each
//! preview is (rules per listener, target groups per ALB, alias records, the state item).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_elasticloadbalancingv2::types::{Action as ElbAction, ActionTypeEnum, ProtocolEnum};
use eden::aws::inject::{Fake, Rule, When};
use eden::aws::Injector;
use eden::engine::Engine;
use eden::profile::Profile;

use super::{Snapshot, World};

pub const ELB: &str = "Elastic Load Balancing v2";

/// DescribeAccountLimits as real ELB answers it, with these two per-ALB limits.
pub fn limits(rules: usize, target_groups: usize) -> Rule {
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
pub struct PoolAlb {
    pub arn: String,
    pub dns: String,
    pub listener: String,
}

/// A third ALB beside the seed's two (`common`, `common6`), with an HTTPS:443 listener carrying
/// the seed's certificate.
pub async fn third_alb(w: &World) -> String {
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
pub async fn pool_world(tag: &str) -> (World, Vec<PoolAlb>, Profile) {
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

pub async fn engine_with(w: &World, rules: Vec<Rule>) -> (Engine, Arc<Injector>) {
    let inj = Injector::new();
    for r in rules {
        inj.add(r);
    }
    (w.engine_injected(inj.clone()).await, inj)
}

/// Every rule of a listener (all pages): hostname → (rule ARN, target groups it forwards to).
pub async fn host_rules(w: &World, listener: &str) -> BTreeMap<String, (String, Vec<String>)> {
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
pub async fn attached(w: &World, alb: &str) -> BTreeSet<String> {
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
pub async fn aliases(w: &World) -> BTreeMap<String, String> {
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
pub async fn state_alb(w: &World, env: &str) -> Option<String> {
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
pub async fn placed(w: &World, pool: &[PoolAlb], hostname: &str) -> usize {
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

pub fn hostname(w: &World, env: &str) -> String {
    format!("api-{env}.{}", w.s(&["zone_name"]))
}

/// One host rule forwarding to `tg`, added by the test.
pub async fn add_rule(w: &World, listener: &str, priority: i32, host: &str, tg: &str) {
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

/// Everything a create could write, per ALB too: rules on each listener, target groups on each
/// ALB, and the world's snapshot (services, revisions, target groups, records, state items).
pub async fn everything(w: &World, pool: &[PoolAlb]) -> (Snapshot, Vec<Vec<String>>) {
    let mut per_alb = Vec::new();
    for alb in pool {
        let mut v: Vec<String> = host_rules(w, &alb.listener).await.into_keys().collect();
        v.extend(attached(w, &alb.arn).await);
        per_alb.push(v);
    }
    (w.snapshot().await, per_alb)
}
