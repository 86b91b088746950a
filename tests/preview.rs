//! The PR-run core (`eden::preview`) driven directly, as the Action and the server drive it:
//! no runner, no environment variables, an injected clock; the AWS emulator and the stateful
//! fake GitHub, checked by independent reads.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_github::FakeGitHub;
use common::*;
use eden::github::api::GitHub;
use eden::github::comment::marker;
use eden::preview::{
    Author, Command, Context, DeploymentState, GcReason, ManualClock, Options, Origin, PrAction,
    PrEvent, ProfileSource, Request, Target,
};
use serde_json::{json, Value};

const REPO: &str = "Codertocat/Hello-World";

fn fixture(name: &str) -> Value {
    let p = root().join(format!("tests/fixtures/github/pull_request.{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    ctx: Context,
    clock: Arc<ManualClock>,
}

async fn setup(w: &World, gh: Option<&FakeGitHub>, deployment: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let config = w.write_config(dir.path());
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2026-12-02 10:00:00 UTC),
    ));
    let mut ctx = Context::new(
        w.engine(None).await,
        Origin {
            repository: REPO.into(),
            server_url: "https://github.com".into(),
            run_url: Some("https://github.com/Codertocat/Hello-World/actions/runs/7".into()),
        },
        ProfileSource::File(config),
    );
    ctx.github = gh.map(|g| GitHub::new(&g.url(), "ghs_test", REPO).unwrap());
    ctx.author = Author::Discover;
    ctx.options = Options {
        comment: true,
        deployment,
        ..Options::default()
    };
    ctx.clock = clock.clone();
    Setup {
        _dir: dir,
        ctx,
        clock,
    }
}

fn request(event: Option<&Value>, image: Option<String>) -> Request {
    Request {
        event: event.map(|e| PrEvent::parse(&e.to_string()).unwrap()),
        command: Command::Auto,
        label: None,
        name: None,
        targets: vec![Target {
            profile: "api".into(),
            image_uri: image,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_comment_quoting_the_marker_is_never_edited() {
    let w = World::new("pq").await;
    let opened = fixture("opened");
    let gh = FakeGitHub::start(&opened).await;
    let mark = marker(2, "pr-2");
    let quote = format!("Why does the bot write `{mark}`?\n> {mark}");
    let persons = gh.add_comment("octocat", &quote);
    let s = setup(&w, Some(&gh), false).await;

    let img = w.image("api", "sha-1");
    let prepared = s
        .ctx
        .prepare(request(Some(&opened), Some(img.clone())))
        .await
        .unwrap();
    assert_eq!(prepared.comment_id, None);
    let report = s.ctx.execute(&prepared).await;
    assert!(report.ok(), "{:?}", report);
    assert_eq!(report.action, PrAction::Created);
    verify_environment(&w, "api", "pr-2", &img).await;

    // the person's comment is as they wrote it; eden's is a new one, remembered
    assert_eq!(gh.body(persons).as_deref(), Some(quote.as_str()));
    let ours: Vec<_> = gh
        .ours(&mark)
        .into_iter()
        .filter(|c| c.login == "github-actions[bot]")
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(report.github.comment_id, Some(ours[0].id));
    assert!(
        ours[0].body.contains("2026-12-02 10:00 UTC"),
        "{}",
        ours[0].body
    );
    // GET /user answered 403 (GITHUB_TOKEN): only an app's comment could have been ours
    assert!(gh.requests().contains(&"GET /user".to_string()));

    // the next run uses the remembered id, and still never touches the person's comment
    s.clock.advance(Duration::from_secs(3600));
    let mut sync = fixture("synchronize");
    sync["pull_request"]["head"]["sha"] = opened["pull_request"]["head"]["sha"].clone();
    gh.take_requests();
    let prepared = s
        .ctx
        .prepare(request(Some(&sync), Some(w.image("api", "sha-2"))))
        .await
        .unwrap();
    assert_eq!(prepared.comment_id, Some(ours[0].id));
    let report = s.ctx.execute(&prepared).await;
    assert_eq!(report.action, PrAction::Deployed, "{report:?}");
    assert_eq!(
        gh.take_requests().len(),
        3,
        "GET the PR, PATCH deploying, PATCH deployed"
    );
    assert_eq!(gh.body(persons).as_deref(), Some(quote.as_str()));
    assert!(gh
        .body(ours[0].id)
        .unwrap()
        .contains("2026-12-02 11:00 UTC"));

    // a token whose user is known (GET /user answers): only that login's comment is ours
    // (a fresh account: nothing remembered)
    let w = World::new("pr").await;
    let gh2 = FakeGitHub::start(&opened).await;
    gh2.state.lock().unwrap().user = Some("eden-bot".into());
    gh2.state.lock().unwrap().bot_login = Some("eden-bot".into());
    let other_bot = gh2.add_comment("renovate[bot]", &format!("{mark} quoted by a bot"));
    let persons2 = gh2.add_comment("octocat", &quote);
    let mine = gh2.add_comment("eden-bot", &format!("{mark}\nold text"));
    let s2 = setup(&w, Some(&gh2), false).await;
    let prepared = s2
        .ctx
        .prepare(request(Some(&sync), Some(w.image("api", "sha-1"))))
        .await
        .unwrap();
    let report = s2.ctx.execute(&prepared).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.github.comment_id, Some(mine));
    assert!(gh2.body(mine).unwrap().contains("🚀 deployed"));
    assert!(gh2.body(other_bot).unwrap().ends_with("quoted by a bot"));
    assert_eq!(gh2.body(persons2).as_deref(), Some(quote.as_str()));
    assert_eq!(gh2.state.lock().unwrap().comments.len(), 3);
    assert!(gh.unexpected().is_empty() && gh2.unexpected().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_without_a_preview_says_nothing_and_deletes_mark_every_deployment_inactive() {
    let w = World::new("pd").await;
    w.warm().await;
    let before = w.snapshot().await;
    let opened = fixture("opened");
    let gh = FakeGitHub::start(&opened).await;
    let s = setup(&w, Some(&gh), false).await;
    let closed = fixture("closed");

    // a PR that never had a preview is closed: nothing to delete, no comment, no GitHub call
    let prepared = s.ctx.prepare(request(Some(&closed), None)).await.unwrap();
    let report = s.ctx.execute(&prepared).await;
    assert_eq!(report.action, PrAction::Absent, "{report:?}");
    assert!(report.ok());
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());
    assert!(gh.state.lock().unwrap().comments.is_empty());
    assert_eq!(w.snapshot().await, before);

    // with deployments: 120 older deployments of pr-2 (two pages), one of another environment
    let s = setup(&w, Some(&gh), true).await;
    {
        let mut st = gh.state.lock().unwrap();
        for i in 0..120 {
            st.deployments
                .push(json!({"id": 500 + i, "ref": "old", "environment": "pr-2"}));
        }
        st.deployments
            .push(json!({"id": 999, "ref": "x", "environment": "pr-3"}));
    }
    let img = w.image("api", "sha-1");
    let prepared = s
        .ctx
        .prepare(request(Some(&opened), Some(img.clone())))
        .await
        .unwrap();
    let report = s.ctx.execute(&prepared).await;
    assert!(report.ok(), "{report:?}");
    let (dep, state) = report.github.deployment.unwrap();
    assert_eq!(state, DeploymentState::Success);

    let prepared = s.ctx.prepare(request(Some(&closed), None)).await.unwrap();
    let report = s.ctx.execute(&prepared).await;
    assert_eq!(report.action, PrAction::Deleted, "{report:?}");
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.github.inactivated.len(), 121);
    {
        let st = gh.state.lock().unwrap();
        let inactive: std::collections::BTreeSet<u64> = st
            .statuses
            .iter()
            .filter(|(_, b)| b["state"] == "inactive")
            .map(|(id, _)| *id)
            .collect();
        let expected: std::collections::BTreeSet<u64> =
            (500..620).chain(std::iter::once(dep)).collect();
        assert_eq!(inactive, expected);
        let comments = &st.comments;
        assert_eq!(comments.len(), 1);
        assert!(comments[0].body.contains("🗑️ deleted"));
        assert!(st.unexpected.is_empty(), "{:?}", st.unexpected);
    }
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_events_are_skipped_and_gc_reads_the_injected_clock() {
    let w = World::new("pg").await;
    w.warm().await;
    let before = w.snapshot().await;
    let gh = FakeGitHub::start(&fixture("opened")).await;
    let s = setup(&w, Some(&gh), false).await;

    // not a pull request under `auto`: skipped before any call
    let prepared = s
        .ctx
        .prepare(request(None, Some(w.image("api", "sha-1"))))
        .await
        .unwrap();
    let report = s.ctx.execute(&prepared).await;
    assert_eq!(report.action, PrAction::Skipped);
    assert!(gh.requests().is_empty());

    // an explicit deploy without a PR, then gc by age on a clock that only we move
    let mut req = request(None, Some(w.image("api", "sha-1")));
    req.command = Command::Deploy;
    req.name = Some("staging".into());
    let no_gh = setup(&w, None, false).await;
    let report = no_gh
        .ctx
        .execute(&no_gh.ctx.prepare(req).await.unwrap())
        .await;
    assert_eq!(report.action, PrAction::Created, "{report:?}");
    let now = time::OffsetDateTime::now_utc();
    no_gh.clock.set(now + Duration::from_secs(6 * 86400));
    let gc = no_gh
        .ctx
        .gc(Duration::from_secs(7 * 86400), false)
        .await
        .unwrap();
    assert!(gc.items.is_empty(), "{:?}", gc.items);
    no_gh.clock.set(now + Duration::from_secs(8 * 86400));
    let gc = no_gh
        .ctx
        .gc(Duration::from_secs(7 * 86400), true)
        .await
        .unwrap();
    assert_eq!(gc.items.len(), 1);
    assert!(matches!(gc.items[0].reason, GcReason::Idle { hours, ttl_hours: 168 } if hours >= 191));
    assert!(gc.items[0].result.is_none());
    verify_environment(&w, "api", "staging", &w.image("api", "sha-1")).await;
    let gc = no_gh
        .ctx
        .gc(Duration::from_secs(7 * 86400), false)
        .await
        .unwrap();
    assert_eq!(gc.deleted().count(), 1, "{:?}", gc.failures());
    assert_eq!(w.snapshot().await, before);
}
