//! Sleep and wake through a whole `eden serve` (router, queue, runner) on the emulator and the
//! fake GitHub: `/eden sleep` (write access), a request at the waker → one Wake job → the
//! preview woken (the readiness wait's reads injected: moto runs no task), and a PR labelled
//! `keep_awake_label` kept awake by an idle sleep job. Independent reads: the state item and
//! the listener's rule.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_github::FakeGitHub;
use common::ready::{self, Waking};
use common::serve::{fixture, server_with, with_head, Server};
use common::*;
use eden::engine::state::{self, SleepPhase};
use eden::server::job::{Job, PrKey, SleepCause, Work};
use eden::server::waker::{self, QueueTrigger, Waker};
use eden::server::{Memory, Submit};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REPO: &str = "Codertocat/Hello-World";

fn command(body: &str, user: &str) -> Value {
    let mut c = fixture("webhooks/issue_comment.created.pr_command.json");
    c["issue"]["number"] = 2.into();
    c["comment"]["body"] = body.into();
    c["comment"]["user"]["login"] = user.into();
    c
}

async fn phase(w: &World) -> Option<SleepPhase> {
    state::read(&w.aws, &w.table, "api", "pr-2")
        .await
        .unwrap()
        .unwrap()
        .sleep
        .map(|s| s.phase)
}

/// A server whose engine's readiness reads can be injected, with the repository's extra keys.
async fn sleepy_server(w: &World, gh: &FakeGitHub) -> (Server, Arc<eden::aws::Injector>) {
    let inj = eden::aws::Injector::new();
    let mut engine = eden::engine::Engine::new(aws_injected(inj.clone()).await, &w.table);
    engine.lease.wait = Duration::from_secs(60);
    let extra = "wait = true\nsleep_after = \"30m\"\nkeep_awake_label = \"keep-awake\"";
    let s = server_with(w, gh, extra, move |r| {
        r.engine = engine;
        r.ready_poll = Duration::from_millis(10);
    })
    .await;
    (s, inj)
}

/// PR #2's preview, made by an earlier run (its metadata names the PR); moto's ECS is steady
/// at once, so the deploy needs no readiness answers.
async fn pr2(w: &World) -> state::EnvState {
    let mut req = w.request("pr-2", &w.image("api", "sha-1"));
    req.metadata.insert("repository".into(), REPO.into());
    req.metadata.insert("pr_number".into(), "2".into());
    w.engine(None)
        .await
        .create(&w.profile("api"), &req)
        .await
        .unwrap();
    state::read(&w.aws, &w.table, "api", "pr-2")
        .await
        .unwrap()
        .expect("deployed")
}

async fn get(addr: std::net::SocketAddr, host: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET / HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    raw.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sleeps_the_preview_and_a_request_at_the_waker_wakes_it_once() {
    let w = World::new("ss").await;
    let sync = with_head(fixture("github/pull_request.synchronize.json"), "sha-1");
    let gh = FakeGitHub::start(&sync).await;
    gh.state.lock().unwrap().permissions.extend([
        ("Codertocat".into(), "write".into()),
        ("mallory".into(), "read".into()),
    ]);
    let (mut s, inj) = sleepy_server(&w, &gh).await;
    let made = pr2(&w).await;
    let host = made.endpoint.clone().unwrap();
    ready::answer(
        &inj,
        &Waking {
            cluster: w.profile("api").target_cluster,
            service_arn: made.service_arn.clone().unwrap(),
            target_group: made.target_group_arn.clone().unwrap(),
        },
        || true,
    );

    // Without write access: refused, still awake.
    s.deliver("issue_comment", &command("/eden sleep", "mallory"))
        .await;
    s.finished(1).await;
    assert_eq!(phase(&w).await, None);
    // With it: asleep, and this replica's index knows the hostname.
    s.deliver("issue_comment", &command("/eden sleep", "Codertocat"))
        .await;
    s.finished(1).await;
    assert_eq!(phase(&w).await, Some(SleepPhase::Asleep));
    assert_eq!(s.runner.sleepers.len(), 1);

    // The waker in front of the same queue and index.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let trigger = Arc::new(QueueTrigger(Arc::new(Memory(s.scheduler.clone()))));
    let wk = Arc::new(Waker::new(s.runner.sleepers.clone(), trigger));
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(waker::serve(listener, wk, stop.clone()));
    assert_eq!(get(addr, "not-a-preview.example.com").await, 404);
    for _ in 0..10 {
        assert_eq!(get(addr, &host).await, 503);
    }
    // One Wake job ran for the ten requests: the preview forwards again.
    let ids = s.finished(1).await;
    assert!(
        ids[0].starts_with("wake-Codertocat/Hello-World#2-"),
        "{ids:?}"
    );
    assert_eq!(phase(&w).await, None, "the preview did not wake");
    assert!(s.runner.sleepers.is_empty());
    assert_eq!(
        get(addr, &host).await,
        404,
        "awake: the waker no longer answers for it"
    );
    assert_eq!(s.scheduler.busy(), 0);
    assert!(
        s.done.try_recv().is_err(),
        "more than one job for the requests"
    );
    stop.cancel();
    let metrics = eden::server::metrics::handle().render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("eden_wakes_total{cause=\"request\"}")),
        "{metrics}"
    );
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keep_awake_label_keeps_an_idle_preview_awake() {
    let w = World::new("sk").await;
    let sync = with_head(fixture("github/pull_request.synchronize.json"), "sha-1");
    let gh = FakeGitHub::start(&sync).await;
    let (mut s, _inj) = sleepy_server(&w, &gh).await;
    pr2(&w).await;

    let idle = |n: u32| Job {
        key: PrKey::new(REPO, 2),
        work: Work::Sleep {
            cause: SleepCause::Idle,
            environment: "pr-2".into(),
        },
        delivery: format!("idle-{n}"),
        installation: None,
    };
    gh.set_pr(|pr| pr["labels"] = serde_json::json!([{"name": "Keep-Awake"}]));
    let queue = Memory(s.scheduler.clone());
    queue.submit(idle(1)).await.unwrap();
    s.finished(1).await;
    assert_eq!(
        phase(&w).await,
        None,
        "a labelled PR's preview was put to sleep"
    );

    // The label gone: the next idle sleep puts it to sleep.
    gh.set_pr(|pr| pr["labels"] = serde_json::json!([]));
    queue.submit(idle(2)).await.unwrap();
    s.finished(1).await;
    assert_eq!(phase(&w).await, Some(SleepPhase::Asleep));
}
