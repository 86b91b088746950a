//! The reconcile loop of `eden serve`: with no webhook at all, rounds converge previews to the
//! pull requests as GitHub has them (missing → deployed, behind → redeployed, closed → deleted,
//! idle past `ttl` → deleted and not revived until a new commit), checked with independent
//! reads of the emulator and the fake GitHub. The loop's timing runs on tokio's paused clock.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::fake_github::FakeGitHub;
use common::serve::{deployed_sha, deployments, fixture, server_with, with_head, Server};
use common::*;
use eden::engine::Engine;
use eden::preview::ManualClock;
use eden::server::config::{self, FileConfig, GlobalProfileFlags, ServeArgs};
use eden::server::github::Clients;
use eden::server::job::{Job, PrKey, Work};
use eden::server::reconcile::Reconciler;
use eden::server::{Memory, Submit};
use futures::future::BoxFuture;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const REPO: &str = "Codertocat/Hello-World";

fn pr2() -> PrKey {
    PrKey {
        repo: REPO.into(),
        number: 2.into(),
    }
}

fn reconciler(w: &World, s: &Server) -> Reconciler {
    Reconciler::new(
        s.config.clone(),
        Engine::new(w.aws.clone(), &w.table),
        s.clients.clone(),
        Arc::new(Memory(s.scheduler.clone())),
    )
}

/// Run round `n` and wait for the jobs it queued.
async fn round(r: &Reconciler, s: &mut Server, n: u64) -> BTreeSet<PrKey> {
    let round = r.round(n).await;
    assert!(round.problems.is_empty(), "{:?}", round.problems);
    s.finished(round.queued.len()).await;
    assert_eq!(s.scheduler.busy(), 0);
    round.queued
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_deploy_a_missing_preview_redeploy_a_behind_one_and_delete_a_closed_one() {
    let w = World::new("rc").await;
    w.warm().await;
    let before = w.snapshot().await;
    let sync = with_head(fixture("github/pull_request.synchronize.json"), "sha-1");
    let gh = FakeGitHub::start(&sync).await;
    let mut s = server_with(&w, &gh, "", |_| {}).await;
    let r = reconciler(&w, &s);

    // The opened webhook was lost: the round finds the open PR without a preview.
    assert_eq!(round(&r, &mut s, 1).await, BTreeSet::from([pr2()]));
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-1")).await;
    assert_eq!(deployments(&gh), ["sha-1"]);

    // Nothing changed: nothing is redeployed.
    assert_eq!(round(&r, &mut s, 2).await, BTreeSet::from([pr2()]));
    assert_eq!(deployments(&gh), ["sha-1"]);

    // A push whose webhook was lost: the preview is behind its head.
    gh.set_pr(|pr| pr["head"]["sha"] = "sha-2".into());
    round(&r, &mut s, 3).await;
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-2")).await;
    assert_eq!(deployed_sha(&w).await.as_deref(), Some("sha-2"));
    assert_eq!(deployments(&gh), ["sha-1", "sha-2"]);

    // Closed, webhook lost: no longer among the open PRs, found through its preview.
    gh.set_pr(|pr| pr["state"] = "closed".into());
    assert_eq!(round(&r, &mut s, 4).await, BTreeSet::from([pr2()]));
    assert_eq!(
        w.snapshot().await,
        before,
        "the preview was not fully deleted"
    );
    assert_eq!(gh.statuses().last().unwrap(), "🗑️ deleted");
    let ours = gh.ours(&eden::github::comment::marker(2, "pr-2"));
    assert_eq!(ours.len(), 1, "one sticky comment");

    // Nothing left to look at.
    assert_eq!(round(&r, &mut s, 5).await, BTreeSet::new());
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_preview_is_deleted_and_not_revived_until_a_new_commit() {
    let w = World::new("ri").await;
    w.warm().await;
    let before = w.snapshot().await;
    let sync = with_head(fixture("github/pull_request.synchronize.json"), "sha-1");
    let gh = FakeGitHub::start(&sync).await;
    let t0 = OffsetDateTime::now_utc();
    gh.state.lock().unwrap().commit_date = Some(t0.format(&Rfc3339).unwrap());
    let clock = Arc::new(ManualClock::new(t0));
    let c = clock.clone();
    let mut s = server_with(&w, &gh, r#"ttl = "7d""#, move |runner| runner.clock = c).await;
    let r = reconciler(&w, &s);

    round(&r, &mut s, 1).await;
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-1")).await;

    // Six days on: still within the ttl.
    clock.advance(Duration::from_secs(6 * 86_400));
    round(&r, &mut s, 2).await;
    assert_eq!(deployed_sha(&w).await.as_deref(), Some("sha-1"));

    // Eight days without a push or a deploy: idle, deleted, and the comment says so.
    clock.advance(Duration::from_secs(2 * 86_400));
    round(&r, &mut s, 3).await;
    assert_eq!(
        w.snapshot().await,
        before,
        "the idle preview was not deleted"
    );
    assert_eq!(gh.statuses().last().unwrap(), "🗑️ deleted");

    // The PR is still open, its head commit is old: the next round does not revive it.
    round(&r, &mut s, 4).await;
    assert_eq!(w.snapshot().await, before, "an idle PR was redeployed");
    assert_eq!(deployments(&gh), ["sha-1"]);

    // A new commit (its webhook lost too): active again, deployed.
    gh.set_pr(|pr| pr["head"]["sha"] = "sha-2".into());
    gh.state.lock().unwrap().commit_date = Some(clock_now(&clock));
    round(&r, &mut s, 5).await;
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-2")).await;
    assert_eq!(deployments(&gh), ["sha-1", "sha-2"]);
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}

fn clock_now(c: &ManualClock) -> String {
    use eden::preview::Clock;
    c.now().format(&Rfc3339).unwrap()
}

/// Collects what the loop queues, with the (virtual) time it was queued at.
struct Collect(mpsc::UnboundedSender<(Job, tokio::time::Instant)>);

impl Submit for Collect {
    fn submit(&self, job: Job) -> BoxFuture<'_, anyhow::Result<()>> {
        let _ = self.0.send((job, tokio::time::Instant::now()));
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(start_paused = true)]
async fn the_loop_runs_a_round_at_start_then_every_interval_until_stopped() {
    let w = World::paused("rl").await;
    // A preview the table knows, made by an earlier PR run (its metadata names the PR).
    let mut req = w.request("pr-7", &w.image("api", "sha-1"));
    req.metadata
        .insert("repository".into(), "octo-org/shop".into());
    req.metadata.insert("pr_number".into(), "7".into());
    let engine = w.engine(None).await;
    engine.create(&w.profile("api"), &req).await.unwrap();
    // An environment of another repository, and one made by the CLI: not the server's.
    let mut other = w.request("other", &w.image("api", "sha-1"));
    other
        .metadata
        .insert("repository".into(), "someone/else".into());
    other.metadata.insert("pr_number".into(), "1".into());
    engine.create(&w.profile("api"), &other).await.unwrap();
    engine
        .create(
            &w.profile("api"),
            &w.request("cli", &w.image("api", "sha-1")),
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
eden_config = "{}"
table = "{}"
[github]
webhook_secrets = ["s"]
[[repository]]
name = "octo-org/*"
[repository.images]
api = "{}"
"#,
        w.write_config(dir.path()).display(),
        w.table,
        w.image("api", "sha-1").replace(":sha-1", ":{sha}"),
    );
    let file: FileConfig = toml::from_str(&text).unwrap();
    let cfg = Arc::new(
        config::resolve(file, &ServeArgs::default(), &GlobalProfileFlags::default())
            .unwrap_or_else(|p| panic!("{p:?}")),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let github = Arc::new(Clients::new(&cfg.github).unwrap());
    let r = Reconciler::new(cfg, engine, github, Arc::new(Collect(tx)));
    let stop = CancellationToken::new();
    let started = tokio::time::Instant::now();
    let task = tokio::spawn(r.run(Duration::from_secs(600), stop.clone()));

    let shop7 = PrKey {
        repo: "octo-org/shop".into(),
        number: 7.into(),
    };
    for expected_at in [0, 600, 1200] {
        let (job, at) = rx.recv().await.unwrap();
        assert_eq!(job.key, shop7);
        assert_eq!(job.work, Work::Recheck { head_sha: None });
        assert!(job.delivery.starts_with("reconcile-"), "{}", job.delivery);
        assert_eq!((at - started).as_secs(), expected_at);
    }
    stop.cancel();
    task.await.unwrap();
    assert!(rx.try_recv().is_err(), "one job per round, nothing else");
}
