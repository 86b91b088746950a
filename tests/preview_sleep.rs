//! `command: sleep` and `command: wake` through the PR-run core (`eden::preview`), as the
//! Action and the server drive it: the engine on the emulator (a wake's readiness reads
//! injected, `common::ready`), the comment and the GitHub deployment on the stateful fake
//! GitHub, checked by independent reads.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_github::FakeGitHub;
use common::ready::{self, Waking};
use common::*;
use eden::github::api::GitHub;
use eden::preview::{
    Author, Command, Context, ManualClock, Options, Origin, PrAction, PrEvent, ProfileSource,
    Request, Target, WaitSettings,
};
use serde_json::Value;

const REPO: &str = "Codertocat/Hello-World";

fn request(event: &Value, command: Command, image: Option<String>) -> Request {
    Request {
        event: Some(PrEvent::parse(&event.to_string()).unwrap()),
        command,
        label: None,
        name: None,
        targets: vec![Target {
            profile: "api".into(),
            image_uri: image,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pr_preview_sleeps_and_wakes_with_its_comment_and_deployment() {
    let w = World::new("ps").await;
    let path = root().join("tests/fixtures/github/pull_request.opened.json");
    let opened: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let gh = FakeGitHub::start(&opened).await;
    let dir = tempfile::tempdir().unwrap();
    let inj = eden::aws::Injector::new();
    let mut engine = eden::engine::Engine::new(aws_injected(inj.clone()).await, &w.table);
    engine.lease.wait = Duration::from_secs(60);
    let mut ctx = Context::new(
        engine,
        Origin {
            repository: REPO.into(),
            server_url: "https://github.com".into(),
            run_url: None,
        },
        ProfileSource::File(w.write_config(dir.path())),
    );
    ctx.github = Some(GitHub::new(&gh.url(), "ghs_test", REPO).unwrap());
    ctx.author = Author::Discover;
    ctx.options = Options {
        comment: true,
        deployment: true,
        ..Options::default()
    };
    ctx.clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2026-12-02 10:00:00 UTC),
    ));

    let img = w.image("api", "sha-1");
    let deployed = ctx
        .execute(
            &ctx.prepare(request(&opened, Command::Auto, Some(img)))
                .await
                .unwrap(),
        )
        .await;
    assert!(deployed.ok(), "{deployed:?}");
    let made = deployed.outcomes().next().unwrap().clone();
    let comment = deployed.github.comment_id.unwrap();

    let prepared = ctx
        .prepare(request(&opened, Command::Sleep, None))
        .await
        .unwrap();
    let slept = ctx.execute(&prepared).await;
    assert!(slept.ok(), "{slept:?}");
    assert_eq!(slept.action, PrAction::Slept);
    let body = gh.body(comment).unwrap();
    assert!(body.contains("— 😴 asleep"), "{body}");
    assert!(
        body.contains(" UTC, wakes on the next push or `/eden wake`."),
        "no waker in the profile: {body}"
    );
    let statuses = gh.state.lock().unwrap().statuses.clone();
    let (_, last) = statuses.last().unwrap();
    assert_eq!(last["state"], "success");
    assert!(
        last["description"]
            .as_str()
            .unwrap()
            .starts_with("asleep since "),
        "{last}"
    );

    ready::answer(
        &inj,
        &Waking {
            cluster: w.profile("api").target_cluster,
            service_arn: made.service_arn.clone().unwrap(),
            target_group: made.target_group_arn.clone().unwrap(),
        },
        || true,
    );
    ctx.options.wait = Some(WaitSettings {
        timeout: Duration::from_secs(60),
        interval: Duration::from_millis(10),
    });
    let prepared = ctx
        .prepare(request(&opened, Command::Wake, None))
        .await
        .unwrap();
    let woke = ctx.execute(&prepared).await;
    assert!(woke.ok(), "{woke:?}");
    assert_eq!(woke.action, PrAction::Woke);
    assert!(woke.outcomes().all(|o| o.woke));
    let history = gh.statuses();
    assert_eq!(
        history[history.len() - 2..],
        ["⏰ waking".to_string(), "✅ ready".to_string()],
        "{history:?}"
    );
    let statuses = gh.state.lock().unwrap().statuses.clone();
    assert_eq!(statuses.last().unwrap().1["description"], "preview ready");
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}
