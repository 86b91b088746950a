//! Who may reach a preview (`allow_cidrs`, `auth = cognito | oidc`, `bypass_header`): applied on
//! create, realigned by the next deploy when the profile changes (and only then: an unchanged
//! deploy makes no ModifyRule), removed with the profile's keys, and the bypass rule deleted
//! with the environment. Every rule is read back with an independent DescribeRules; the secrets
//! (the OIDC client secret, the bypass value) come from environment variables and never appear
//! in eden's output, JSON or state item.
//!
//! What moto does with these (checked by hand against moto 5.2.5; docs/aws-semantics.md,
//! ELB-4): it stores `source-ip` and `http-header` conditions and the
//! `authenticate-*` actions as sent and returns them; unlike ELB it returns the OIDC
//! `ClientSecret` in CreateRule and DescribeRules, replaces the config on a ModifyRule with
//! `UseExistingClientSecret` (the old secret is dropped, the flag echoed back), and checks
//! neither the 5 condition values per rule nor CIDR syntax. So these tests check what eden
//! sends, and eden's own limits before any write.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_elasticloadbalancingv2::types::{ActionTypeEnum, Rule};
use common::*;
use eden::aws::Instrument;
use eden::engine::rule::SecretSource;
use eden::engine::{Engine, ErrorKind};
use eden::profile::{Profile, RawProfile};

const MODIFY_RULE: &str = "Elastic Load Balancing v2.ModifyRule";
const OIDC_SECRET: &str = "oidc-client-secret-5e3f9a";
const BYPASS_VALUE: &str = "bypass-value-0d1c2b3a4f5e6d7c";
const POOL: &str = "arn:aws:cognito-idp:ap-northeast-1:123456789012:userpool/ap-northeast-1_Abc123";

const COGNITO: [(&str, &str); 4] = [
    ("auth", "cognito"),
    ("auth_user_pool_arn", POOL),
    ("auth_client_id", "cognito-client"),
    ("auth_domain", "my-team"),
];
const OIDC: [(&str, &str); 7] = [
    ("auth", "oidc"),
    ("auth_issuer", "https://idp.example.com"),
    (
        "auth_authorization_endpoint",
        "https://idp.example.com/authorize",
    ),
    ("auth_token_endpoint", "https://idp.example.com/token"),
    (
        "auth_user_info_endpoint",
        "https://idp.example.com/userinfo",
    ),
    ("auth_client_id", "eden-previews"),
    ("auth_client_secret_env", "EDEN_TEST_OIDC_SECRET"),
];
const BYPASS: [(&str, &str); 2] = [
    ("bypass_header", "X-Preview-Token"),
    ("bypass_value_env", "EDEN_TEST_PREVIEW_TOKEN"),
];

fn api_with(w: &World, keys: &[(&str, &str)]) -> Profile {
    let mut raw: RawProfile = w.raw("api");
    for (k, v) in keys {
        raw.insert(k.to_string(), v.to_string());
    }
    Profile::from_raw("api", &raw).unwrap()
}

/// An engine that reads the secrets from a map instead of the process's environment.
async fn engine_with_secrets(w: &World, inst: Option<Arc<Instrument>>) -> Engine {
    let mut e = w.engine(inst).await;
    e.secrets = SecretSource::from_fn(|name| match name {
        "EDEN_TEST_OIDC_SECRET" => Some(OIDC_SECRET.to_string()),
        "EDEN_TEST_PREVIEW_TOKEN" => Some(BYPASS_VALUE.to_string()),
        _ => None,
    });
    e
}

/// DescribeRules by ARN, independently of eden; `None` once it is gone.
async fn rule(w: &World, arn: &str) -> Option<Rule> {
    match w.aws.elb.describe_rules().rule_arns(arn).send().await {
        Ok(o) => o.rules().first().cloned(),
        Err(e) if e.as_service_error().and_then(|s| s.meta().code()) == Some("RuleNotFound") => {
            None
        }
        Err(e) => panic!("DescribeRules {arn}: {e:?}"),
    }
}

async fn state(w: &World, env: &str) -> HashMap<String, AttributeValue> {
    w.aws
        .dynamodb
        .get_item()
        .table_name(&w.table)
        .key("type", AttributeValue::S("api".into()))
        .key("name", AttributeValue::S(env.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default()
}

fn field<'a>(item: &'a HashMap<String, AttributeValue>, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// The values of a rule's condition on `field` (sorted).
fn condition(r: &Rule, field: &str) -> Vec<String> {
    let mut v: Vec<String> = r
        .conditions()
        .iter()
        .filter(|c| c.field() == Some(field))
        .flat_map(|c| {
            let typed = match field {
                "source-ip" => c.source_ip_config().map(|s| s.values().to_vec()),
                "host-header" => c.host_header_config().map(|s| s.values().to_vec()),
                "http-header" => c.http_header_config().map(|h| {
                    let name = h.http_header_name().unwrap_or_default();
                    h.values().iter().map(|v| format!("{name}: {v}")).collect()
                }),
                _ => None,
            };
            typed.unwrap_or_default()
        })
        .collect();
    v.sort();
    v
}

/// The action types in order.
fn actions(r: &Rule) -> Vec<ActionTypeEnum> {
    let mut a = r.actions().to_vec();
    a.sort_by_key(|a| a.order().unwrap_or(i32::MAX));
    a.iter().filter_map(|a| a.r#type().cloned()).collect()
}

fn forwards_to(r: &Rule) -> Option<String> {
    r.actions()
        .iter()
        .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
        .and_then(|a| a.target_group_arn().map(str::to_string))
}

fn priority(r: &Rule) -> i32 {
    r.priority().unwrap().parse().unwrap()
}

async fn eden_tagged(w: &World, arn: &str) -> bool {
    let out = w
        .aws
        .elb
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .unwrap();
    out.tag_descriptions()[0]
        .tags()
        .iter()
        .any(|t| t.key() == Some("eden:managed") && t.value() == Some("true"))
}

fn modify_rules(inst: &Instrument) -> usize {
    inst.calls()
        .iter()
        .filter(|c| c.operation == MODIFY_RULE)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protection_is_applied_on_create_and_realigned_by_each_deploy() {
    let w = World::new("ac").await;
    let inst = Instrument::new();
    let engine = engine_with_secrets(&w, Some(inst.clone())).await;
    let img = w.image("api", "sha-1");
    let req = w.request("pr-1", &img);

    // create: two ranges and Cognito
    let mut keys = vec![("allow_cidrs", "203.0.113.0/24, 198.51.100.7/32")];
    keys.extend(COGNITO);
    let out = engine.create(&api_with(&w, &keys), &req).await.unwrap();
    let rule_arn = out.rule_arn.clone().unwrap();
    let tg = out.target_group_arn.clone().unwrap();
    let r = rule(&w, &rule_arn).await.unwrap();
    assert_eq!(
        condition(&r, "source-ip"),
        ["198.51.100.7/32", "203.0.113.0/24"]
    );
    assert_eq!(
        actions(&r),
        [ActionTypeEnum::AuthenticateCognito, ActionTypeEnum::Forward]
    );
    let cognito = r.actions()[0].authenticate_cognito_config().unwrap();
    assert_eq!(
        (
            cognito.user_pool_arn(),
            cognito.user_pool_client_id(),
            cognito.user_pool_domain()
        ),
        (Some(POOL), Some("cognito-client"), Some("my-team"))
    );
    assert_eq!(forwards_to(&r), Some(tg.clone()));
    assert_eq!(field(&state(&w, "pr-1").await, "bypass_rule_arn"), None);

    // an unchanged deploy: no ModifyRule, as many requests as before
    inst.reset();
    engine.create(&api_with(&w, &keys), &req).await.unwrap();
    assert_eq!(
        modify_rules(&inst),
        0,
        "an unchanged deploy modified a rule"
    );
    let n = inst.calls().len();
    assert!(n <= 14, "an unchanged protected deploy made {n} requests");

    // one range, OIDC instead of Cognito, and a bypass for automated tests
    let mut keys = vec![("allow_cidrs", "2001:db8::/32")];
    keys.extend(OIDC);
    keys.extend(BYPASS);
    inst.reset();
    engine.create(&api_with(&w, &keys), &req).await.unwrap();
    assert_eq!(modify_rules(&inst), 1);
    eprintln!(
        "requests: the deploy adding a bypass {}",
        inst.calls().len()
    );
    let r = rule(&w, &rule_arn).await.unwrap();
    assert_eq!(condition(&r, "source-ip"), ["2001:db8::/32"]);
    assert_eq!(
        actions(&r),
        [ActionTypeEnum::AuthenticateOidc, ActionTypeEnum::Forward]
    );
    let oidc = r.actions()[0].authenticate_oidc_config().unwrap();
    assert_eq!(
        (oidc.issuer(), oidc.client_id(), oidc.token_endpoint()),
        (
            Some("https://idp.example.com"),
            Some("eden-previews"),
            Some("https://idp.example.com/token")
        )
    );
    let item = state(&w, "pr-1").await;
    let bypass_arn = field(&item, "bypass_rule_arn")
        .expect("the bypass rule is on the state item")
        .to_string();
    assert_eq!(field(&item, "rule_arn"), Some(rule_arn.as_str()));
    let b = rule(&w, &bypass_arn).await.unwrap();
    assert!(
        priority(&b) < priority(&r),
        "the bypass rule is evaluated first"
    );
    assert_eq!(
        condition(&b, "host-header"),
        [out.hostname.clone().unwrap()]
    );
    assert_eq!(
        condition(&b, "http-header"),
        [format!("X-Preview-Token: {BYPASS_VALUE}")]
    );
    assert!(condition(&b, "source-ip").is_empty());
    assert_eq!(actions(&b), [ActionTypeEnum::Forward]);
    assert_eq!(forwards_to(&b), Some(tg.clone()));
    assert!(eden_tagged(&w, &bypass_arn).await);

    // unchanged again: neither rule modified; at most one request more than an open
    // preview's deploy (the bypass rule's DescribeRules, in the same round)
    inst.reset();
    engine.create(&api_with(&w, &keys), &req).await.unwrap();
    assert_eq!(
        modify_rules(&inst),
        0,
        "an unchanged deploy modified a rule"
    );
    let with_bypass = inst.calls().len();
    eprintln!("requests: unchanged deploy {n}, with a bypass rule {with_bypass}");
    assert!(with_bypass <= n + 1, "{with_bypass} requests");
    assert_eq!(
        field(&state(&w, "pr-1").await, "bypass_rule_arn"),
        Some(bypass_arn.as_str())
    );

    // another range on the fast path: the host rule modified, the bypass rule left as it is
    let mut keys = vec![("allow_cidrs", "192.0.2.0/24")];
    keys.extend(OIDC);
    keys.extend(BYPASS);
    inst.reset();
    engine.create(&api_with(&w, &keys), &req).await.unwrap();
    assert_eq!(modify_rules(&inst), 1);
    let ops: Vec<String> = inst.calls().into_iter().map(|c| c.operation).collect();
    assert!(
        !ops.iter()
            .any(|o| o.ends_with(".CreateRule") || o.ends_with(".DeleteRule")),
        "{ops:?}"
    );
    let n_fast = ops.len();
    assert!(n_fast <= with_bypass + 1, "{n_fast} requests");
    let r = rule(&w, &rule_arn).await.unwrap();
    assert_eq!(condition(&r, "source-ip"), ["192.0.2.0/24"]);
    assert!(rule(&w, &bypass_arn).await.is_some());

    // every key removed: a plain forward again, the bypass rule deleted
    engine.create(&w.profile("api"), &req).await.unwrap();
    let r = rule(&w, &rule_arn).await.unwrap();
    assert_eq!(
        condition(&r, "host-header"),
        [out.hostname.clone().unwrap()]
    );
    assert_eq!(r.conditions().len(), 1);
    assert_eq!(actions(&r), [ActionTypeEnum::Forward]);
    assert!(
        rule(&w, &bypass_arn).await.is_none(),
        "the bypass rule is still there"
    );
    assert_eq!(field(&state(&w, "pr-1").await, "bypass_rule_arn"), None);
    verify_environment(&w, "api", "pr-1", &img).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_protected_environment_gets_both_rules_and_delete_removes_both() {
    let w = World::new("ad").await;
    w.warm().await;
    let engine = engine_with_secrets(&w, None).await;
    let mut keys = vec![("allow_cidrs", "203.0.113.0/24")];
    keys.extend(BYPASS);
    let api = api_with(&w, &keys);
    let before = w.snapshot().await;
    let out = engine
        .create(&api, &w.request("pr-2", &w.image("api", "sha-1")))
        .await
        .unwrap();
    let item = state(&w, "pr-2").await;
    let bypass_arn = field(&item, "bypass_rule_arn").unwrap().to_string();
    let main = rule(&w, &out.rule_arn.clone().unwrap()).await.unwrap();
    let b = rule(&w, &bypass_arn).await.unwrap();
    assert!(priority(&b) < priority(&main));
    assert_eq!(condition(&main, "source-ip"), ["203.0.113.0/24"]);
    assert_eq!(
        condition(&b, "http-header"),
        [format!("X-Preview-Token: {BYPASS_VALUE}")]
    );

    engine.delete(&api, "pr-2").await.unwrap();
    assert!(rule(&w, &bypass_arn).await.is_none());
    assert_eq!(w.snapshot().await, before, "delete left something behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_finds_the_bypass_rule_of_an_environment_cut_short() {
    let w = World::new("ap").await;
    w.warm().await;
    let engine = engine_with_secrets(&w, None).await;
    let mut keys = vec![("allow_cidrs", "203.0.113.0/24")];
    keys.extend(BYPASS);
    let api = api_with(&w, &keys);
    let before = w.snapshot().await;
    engine
        .create(&api, &w.request("pr-3", &w.image("api", "sha-1")))
        .await
        .unwrap();
    let bypass_arn = field(&state(&w, "pr-3").await, "bypass_rule_arn")
        .unwrap()
        .to_string();
    // a create cut short wrote no ARNs: only the endpoint is known
    let mut item = state(&w, "pr-3").await;
    item.retain(|k, _| ["type", "name", "kind", "endpoint"].contains(&k.as_str()));
    w.aws
        .dynamodb
        .put_item()
        .table_name(&w.table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();

    engine.delete(&api, "pr-3").await.unwrap();
    assert!(rule(&w, &bypass_arn).await.is_none());
    assert_eq!(w.snapshot().await, before, "delete left something behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_is_refused_before_any_request() {
    let w = World::new("am").await;
    let inst = Instrument::new();
    let mut engine = w.engine(Some(inst.clone())).await;
    engine.secrets = SecretSource::from_fn(|_| None);
    let mut keys = OIDC.to_vec();
    keys.extend(BYPASS);
    let before = w.snapshot().await;
    inst.reset();
    let err = engine
        .create(
            &api_with(&w, &keys),
            &w.request("pr-4", &w.image("api", "sha-1")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err:#}");
    let msg = format!("{err:#}");
    for var in ["EDEN_TEST_OIDC_SECRET", "EDEN_TEST_PREVIEW_TOKEN"] {
        assert!(msg.contains(var), "{var} not named: {msg}");
    }
    assert!(inst.calls().is_empty(), "{:?}", inst.calls());
    assert_eq!(w.snapshot().await, before);
}

/// The binary, with extra environment variables; (exit code, stdout, stderr).
fn eden_env(dir: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eden"))
        .args(args)
        .env("HOME", dir)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env_remove("EDEN_PROFILE")
        .env_remove("EDEN_CONFIG_PATH")
        .env_remove("EDEN_TABLE")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The world's config file with `keys` added to the api profile.
fn config_with(w: &World, dir: &std::path::Path, keys: &[(&str, &str)]) -> String {
    let config = w.write_config(dir);
    let extra: String = keys.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "[admin]\n",
        &format!("{extra}[admin]\n"),
        1,
    );
    std::fs::write(&config, text).unwrap();
    config.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secrets_appear_in_no_output_and_not_on_the_state_item() {
    let w = World::new("as").await;
    let dir = tempfile::tempdir().unwrap();
    let mut keys = OIDC.to_vec();
    keys.extend(BYPASS);
    let c = config_with(&w, dir.path(), &keys);
    let img = w.image("api", "sha-1");
    let secrets = [
        ("EDEN_TEST_OIDC_SECRET", OIDC_SECRET),
        ("EDEN_TEST_PREVIEW_TOKEN", BYPASS_VALUE),
    ];
    let t = w.table.clone();
    let global = [
        "-c",
        c.as_str(),
        "--remote-table-name",
        t.as_str(),
        "-p",
        "api",
    ];
    let runs: [&[&str]; 5] = [
        &["-v", "create", "--name", "pr-5", "--image-uri", &img],
        &[
            "create",
            "--name",
            "pr-5",
            "--image-uri",
            &img,
            "--output",
            "json",
        ],
        &["ls", "--output", "json"],
        &["-v", "ls"],
        &["config", "check"],
    ];
    for run in runs {
        let args: Vec<&str> = global.iter().chain(run.iter()).copied().collect();
        let (code, stdout, stderr) = eden_env(dir.path(), &args, &secrets);
        assert_eq!(code, 0, "{run:?}: {stderr}");
        for (_, secret) in secrets {
            assert!(
                !stdout.contains(secret),
                "{run:?} printed a secret: {stdout}"
            );
            assert!(
                !stderr.contains(secret),
                "{run:?} logged a secret: {stderr}"
            );
        }
    }
    let item = format!("{:?}", state(&w, "pr-5").await);
    assert!(item.contains("bypass_rule_arn"), "{item}");
    for (_, secret) in secrets {
        assert!(
            !item.contains(secret),
            "the state item holds a secret: {item}"
        );
    }
    // and the variable unset: refused before any write, naming the variable only
    let before = w.snapshot().await;
    let run = ["create", "--name", "pr-6", "--image-uri", &img];
    let args: Vec<&str> = global.iter().chain(run.iter()).copied().collect();
    let (code, _, stderr) = eden_env(dir.path(), &args, &secrets[..1]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("EDEN_TEST_PREVIEW_TOKEN"), "{stderr}");
    assert!(!stderr.contains(OIDC_SECRET), "{stderr}");
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_ranges_are_refused_by_config_check_and_before_any_write() {
    let w = World::new("ar").await;
    let dir = tempfile::tempdir().unwrap();
    let five = "203.0.113.0/24, 198.51.100.0/24, 192.0.2.0/24, 10.0.0.0/8, 2001:db8::/32";
    let c = config_with(&w, dir.path(), &[("allow_cidrs", five)]);
    let (code, _, stderr) = eden_env(dir.path(), &["-c", &c, "config", "check"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("allow_cidrs has 5 ranges, at most 4 fit"),
        "{stderr}"
    );
    assert!(stderr.contains("at most 5 condition values"), "{stderr}");

    let before = w.snapshot().await;
    let img = w.image("api", "sha-1");
    let args = [
        "-c",
        &c,
        "--remote-table-name",
        &w.table,
        "-p",
        "api",
        "create",
        "--name",
        "pr-7",
        "--image-uri",
        &img,
    ];
    let (code, _, stderr) = eden_env(dir.path(), &args, &[]);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("at most 4 fit"), "{stderr}");
    assert_eq!(
        w.snapshot().await,
        before,
        "the refused create wrote something"
    );
}

/// The listener's rules for `host`, read independently: (host rules, bypass rules).
async fn rules_for(w: &World, host: &str) -> (Vec<Rule>, Vec<Rule>) {
    let out = w
        .aws
        .elb
        .describe_rules()
        .listener_arn(w.s(&["listener_arn"]))
        .page_size(400)
        .send()
        .await
        .unwrap();
    assert!(
        out.next_marker().is_none(),
        "one page holds the test's rules"
    );
    let mine = out
        .rules()
        .iter()
        .filter(|r| condition(r, "host-header").iter().any(|h| h == host))
        .cloned();
    mine.partition(|r| condition(r, "http-header").is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_anywhere_in_a_protection_change_converges_on_the_next_deploy() {
    let w = World::new("af").await;
    let inst = Instrument::new();
    let engine = engine_with_secrets(&w, Some(inst.clone())).await;
    let req = w.request("pr-8", &w.image("api", "sha-1"));
    let open = w.profile("api");
    let mut keys = vec![("allow_cidrs", "203.0.113.0/24")];
    keys.extend(BYPASS);
    let protected = api_with(&w, &keys);
    let host = engine.create(&open, &req).await.unwrap().hostname.unwrap();
    inst.reset();
    engine.create(&protected, &req).await.unwrap();
    let adding = inst.calls().len();
    inst.reset();
    engine.create(&open, &req).await.unwrap();
    let removing = inst.calls().len();

    let mut hit = 0;
    for (from, to, calls) in [(&open, &protected, adding), (&protected, &open, removing)] {
        let bypass = to.access.bypass.is_some();
        for k in 1..=calls {
            engine.create(from, &req).await.unwrap();
            inst.fail_call(k);
            let failed = engine.create(to, &req).await;
            let op = inst.injected();
            inst.clear_fault();
            if op.is_some() {
                assert!(failed.is_err(), "k={k} {op:?}: the fault must fail the run");
                hit += 1;
            }
            engine
                .create(to, &req)
                .await
                .unwrap_or_else(|e| panic!("k={k} {op:?}: {e:#}"));
            let (host_rules, bypass_rules) = rules_for(&w, &host).await;
            let what = format!("k={k} {op:?}, bypass wanted: {bypass}");
            assert_eq!(host_rules.len(), 1, "{what}");
            assert_eq!(bypass_rules.len(), usize::from(bypass), "{what}");
            let item = state(&w, "pr-8").await;
            assert_eq!(field(&item, "rule_arn"), host_rules[0].rule_arn(), "{what}");
            assert_eq!(
                field(&item, "bypass_rule_arn"),
                bypass_rules.first().and_then(|r| r.rule_arn()),
                "{what}"
            );
            let ranges = condition(&host_rules[0], "source-ip");
            assert_eq!(ranges.len(), usize::from(bypass), "{what}: {ranges:?}");
            if let Some(b) = bypass_rules.first() {
                assert!(priority(b) < priority(&host_rules[0]), "{what}");
                assert!(eden_tagged(&w, b.rule_arn().unwrap()).await, "{what}");
            }
        }
    }
    eprintln!("requests: adding a bypass {adding}, removing it {removing}; {hit} faults hit");
    assert_eq!(
        hit,
        adding + removing,
        "every request of both changes failed once"
    );
}
