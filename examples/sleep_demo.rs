//! A preview going to sleep and waking on a request, through a whole `eden serve` (webhook
//! router, queue, runner, the waker) on the local AWS emulator and a local GitHub stand-in.
//! Run by scripts/demo-sleep.sh.
//!
//! The emulator runs no containers: once the woken service is scaled up, what ECS and ELB say
//! about its new task (RUNNING, its target healthy) is given by the same injected answers the
//! tests use (tests/common/ready.rs). Every other call — the scale-down and scale-up, the rule
//! moved to the waker and back, the state item, the lease — is the emulator's.

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_github::FakeGitHub;
use common::ready::{self, Waking};
use common::serve::{fixture, server_with, with_head};
use common::*;
use eden::aws::elb;
use eden::engine::state;
use eden::server::waker::{self, QueueTrigger, Waker};
use eden::server::Memory;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn bold(s: &str) {
    println!("\n\x1b[1m== {s}\x1b[0m");
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// GET / with this Host at the waker: the status line, Retry-After and the body's first line.
async fn visit(addr: std::net::SocketAddr, host: &str, browser: bool) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let accept = if browser { "text/html" } else { "*/*" };
    let req =
        format!("GET / HTTP/1.1\r\nhost: {host}\r\naccept: {accept}\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.lines().next().unwrap_or_default().to_string();
    let retry = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("retry-after"))
        .map(|l| format!(", {l}"))
        .unwrap_or_default();
    let title = body
        .lines()
        .find(|l| l.contains("<title>"))
        .map(|l| format!(", page {}", l.trim()))
        .unwrap_or_default();
    format!("{status}{retry}{title}")
}

/// What the preview's state item and listener rule say now.
async fn show(w: &World, rule_arn: &str) {
    let s = state::read(&w.aws, &w.table, "api", "pr-2")
        .await
        .unwrap()
        .unwrap();
    let rule = elb::rule_by_arn(&w.aws, rule_arn).await.unwrap().unwrap();
    let to = match rule.shape.map(|s| s.then) {
        Some(elb::Then::Forward(tg)) if Some(&tg) == s.target_group_arn.as_ref() => {
            "forwards to the preview's target group".to_string()
        }
        Some(elb::Then::Forward(tg)) if tg.contains("-waker/") => {
            "forwards to the waker's target group".to_string()
        }
        Some(elb::Then::Forward(tg)) => format!("forwards to {tg}"),
        Some(elb::Then::Fixed { status, .. }) => format!("answers a fixed {status} page"),
        None => "?".into(),
    };
    println!(
        "  eden ls: pr-2 {}\n  its rule {to}",
        state::describe(s.sleep.as_ref())
    );
}

fn comment(gh: &FakeGitHub) -> String {
    let s = gh.state.lock().unwrap();
    s.comments
        .last()
        .map(|c| c.body.clone())
        .unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    bold("Seeding the AWS emulator like a real account; a local GitHub with PR #2");
    let mut w = World::new("sd").await;
    // The waker's target group, on the shared ALB (the prerequisites template's option).
    let waker_tg = w.target_group("waker", true).await;
    w.seed["profiles"]["api"]["wake_target_group_arn"] = waker_tg.clone().into();
    let sync = with_head(fixture("github/pull_request.synchronize.json"), "sha-1");
    let gh = FakeGitHub::start(&sync).await;
    gh.state
        .lock()
        .unwrap()
        .permissions
        .insert("Codertocat".into(), "write".into());
    let inj = eden::aws::Injector::new();
    let mut engine = eden::engine::Engine::new(aws_injected(inj.clone()).await, &w.table);
    engine.lease.wait = Duration::from_secs(60);
    let mut s = server_with(&w, &gh, "sleep_after = \"30m\"", move |r| {
        r.engine = engine;
        r.ready_poll = Duration::from_millis(10);
    })
    .await;

    bold("eden serve deploys PR #2 (pull_request synchronize)");
    s.deliver("pull_request", &sync).await;
    s.finished(1).await;
    let made = state::read(&w.aws, &w.table, "api", "pr-2")
        .await
        .unwrap()
        .expect("deployed");
    let host = made.endpoint.clone().unwrap();
    let rule_arn = made.rule_arn.clone().unwrap();
    println!("  https://{host}");
    show(&w, &rule_arn).await;

    bold("Someone with write access comments `/eden sleep` (or: idle for sleep_after = 30m)");
    let mut c: Value = fixture("webhooks/issue_comment.created.pr_command.json");
    c["issue"]["number"] = 2.into();
    c["comment"]["body"] = "/eden sleep".into();
    c["comment"]["user"]["login"] = "Codertocat".into();
    s.deliver("issue_comment", &c).await;
    s.finished(1).await;
    show(&w, &rule_arn).await;
    println!("  the PR comment:\n{}", indent(&comment(&gh)));

    bold("The waker (wake_listen) sits behind the ALB; a reviewer opens the preview");
    ready::answer(
        &inj,
        &Waking {
            cluster: w.profile("api").target_cluster,
            service_arn: made.service_arn.clone().unwrap(),
            target_group: made.target_group_arn.clone().unwrap(),
        },
        || true,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let trigger = Arc::new(QueueTrigger(Arc::new(Memory(s.scheduler.clone()))));
    let wk = Arc::new(Waker::new(s.runner.sleepers.clone(), trigger));
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(waker::serve(listener, wk, stop.clone()));
    println!("  browser  → {}", visit(addr, &host, true).await);
    for _ in 0..4 {
        visit(addr, &host, false).await;
    }
    println!("  4 more requests → 503 each, and still one wake");
    let ids = s.finished(1).await;
    println!("  the wake job ran: {}", ids[0]);
    show(&w, &rule_arn).await;
    println!("  the PR comment:\n{}", indent(&comment(&gh)));
    println!(
        "  the waker no longer answers for it: {}",
        visit(addr, &host, false).await
    );
    stop.cancel();
    let metrics = eden::server::metrics::handle().render();
    for l in metrics
        .lines()
        .filter(|l| l.starts_with("eden_wakes_total"))
    {
        println!("  /metrics {l}");
    }
}
