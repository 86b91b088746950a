//! `eden serve` end to end: signed real payloads through the router, the in-process queue, the
//! runner and `src/preview`, against the AWS emulator and the stateful fake GitHub. Completion
//! is observed through the queue's `Finished` hook and the runner's image-wait counter: no
//! sleeps, no timing assumptions.

mod common;

use common::fake_github::FakeGitHub;
use common::serve::{deployed_sha, deployments, fixture, server, with_head};
use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_pushes_end_in_one_deployment_of_the_newest_sha_and_close_deletes_it() {
    let w = World::new("se").await;
    w.warm().await;
    let before = w.snapshot().await;
    let sync = fixture("github/pull_request.synchronize.json");
    let gh = FakeGitHub::start(&with_head(sync.clone(), "sha-1")).await;
    let mut s = server(&w, &gh).await;

    // Four pushes in a row; the images of the first three were never built, the PR's head is
    // the fourth. Whatever the interleaving, only the newest may deploy.
    for sha in ["p1", "p2", "p3", "sha-1"] {
        s.deliver("pull_request", &with_head(sync.clone(), sha))
            .await;
    }
    s.finished(4).await;
    assert_eq!(s.scheduler.busy(), 0);
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-1")).await;
    assert_eq!(deployed_sha(&w).await.as_deref(), Some("sha-1"));
    let deployments = gh.state.lock().unwrap().deployments.clone();
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    assert_eq!(deployments[0]["ref"], "sha-1");
    assert_eq!(gh.statuses().last().unwrap(), "🚀 deployed");
    let ours = gh.ours(&eden::github::comment::marker(2, "pr-2"));
    assert_eq!(ours.len(), 1, "one sticky comment");

    // Closed: the preview goes, the comment says so.
    gh.set_pr(|pr| pr["state"] = "closed".into());
    let closed = with_head(fixture("github/pull_request.closed.json"), "sha-1");
    s.deliver("pull_request", &closed).await;
    s.finished(1).await;
    assert_eq!(
        w.snapshot().await,
        before,
        "the preview was not fully deleted"
    );
    assert_eq!(gh.statuses().last().unwrap(), "🗑️ deleted");
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_waits_for_its_image_and_a_finished_build_is_the_cue() {
    let w = World::new("si").await;
    w.warm().await;
    let sync = with_head(fixture("github/pull_request.synchronize.json"), "sha-late");
    let gh = FakeGitHub::start(&sync).await;
    let mut s = server(&w, &gh).await;
    let mut waits = s.runner.image_waits.subscribe();

    s.deliver("pull_request", &sync).await;
    waits.wait_for(|n| *n >= 1).await.unwrap();
    assert_eq!(gh.statuses(), ["⏳ waiting for the image"]);
    let body = &gh.ours(&eden::github::comment::marker(2, "pr-2"))[0].body;
    assert!(body.contains(":sha-late` to appear in ECR"), "{body}");
    assert_eq!(deployed_sha(&w).await, None);

    // CI pushes the image, then its workflow run completes.
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                   "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111"},
        "layers": []
    });
    w.aws
        .ecr(REGION)
        .put_image()
        .repository_name(format!("{}/api", w.prefix))
        .image_manifest(manifest.to_string())
        .image_tag("sha-late")
        .send()
        .await
        .unwrap();
    let mut run = fixture("webhooks/workflow_run.completed.json");
    run["repository"]["full_name"] = "Codertocat/Hello-World".into();
    run["workflow_run"]["pull_requests"][0]["number"] = 2.into();
    run["workflow_run"]["pull_requests"][0]["head"]["sha"] = "sha-late".into();
    s.deliver("workflow_run", &run).await;
    s.finished(2).await; // the cue (folded into the running job) and the job
    let image = w.image("api", "sha-1").replace(":sha-1", ":sha-late");
    verify_environment(&w, "api", "pr-2", &image).await;
    assert_eq!(
        gh.statuses(),
        ["⏳ waiting for the image", "⏳ deploying", "🚀 deployed"]
    );
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}

fn command(body: &str, user: &str) -> Value {
    let mut c = fixture("webhooks/issue_comment.created.pr_command.json");
    c["issue"]["number"] = 2.into();
    c["comment"]["body"] = body.into();
    c["comment"]["user"]["login"] = user.into();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eden_commands_on_a_fork_pr_need_write_access_and_deploy_exactly_the_head() {
    let w = World::new("sc").await;
    w.warm().await;
    let before = w.snapshot().await;
    let mut sync = with_head(fixture("github/pull_request.synchronize.json"), "sha-1");
    sync["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World".into();
    let gh = FakeGitHub::start(&sync).await;
    gh.state.lock().unwrap().permissions.extend([
        ("Codertocat".into(), "write".into()),
        ("mallory".into(), "read".into()),
    ]);
    let mut s = server(&w, &gh).await;

    // A push to a fork PR deploys nothing by itself.
    s.deliver("pull_request", &sync).await;
    s.finished(1).await;
    assert_eq!(
        w.snapshot().await,
        before,
        "a fork PR was deployed by its push"
    );

    // Its author may not command a deploy: read access only.
    s.deliver("issue_comment", &command("/eden deploy", "mallory"))
        .await;
    s.finished(1).await;
    assert_eq!(w.snapshot().await, before, "a reader's command deployed");
    let asked = gh.requests();
    assert!(
        asked
            .contains(&"GET /repos/Codertocat/Hello-World/collaborators/mallory/permission".into()),
        "{asked:?}"
    );

    // A maintainer pins a commit that is no longer the head: refused.
    s.deliver(
        "issue_comment",
        &command("/eden deploy 0123abc", "Codertocat"),
    )
    .await;
    s.finished(1).await;
    assert_eq!(
        w.snapshot().await,
        before,
        "a stale pinned commit was deployed"
    );

    // A maintainer's deploy after review: exactly the head read when the job runs.
    s.deliver("issue_comment", &command("/eden deploy", "Codertocat"))
        .await;
    s.finished(1).await;
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-1")).await;
    assert_eq!(deployments(&gh), ["sha-1"]);

    // A reader may not delete it either; a maintainer may.
    s.deliver("issue_comment", &command("/eden delete", "mallory"))
        .await;
    s.finished(1).await;
    assert_eq!(deployed_sha(&w).await.as_deref(), Some("sha-1"));
    s.deliver("issue_comment", &command("/eden delete", "Codertocat"))
        .await;
    s.finished(1).await;
    assert_eq!(w.snapshot().await, before, "the preview was not deleted");
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_outages_and_rate_limits_are_retried_and_a_404_is_not() {
    let w = World::new("sg").await;
    w.warm().await;
    let before = w.snapshot().await;
    let sync = with_head(fixture("github/pull_request.synchronize.json"), "sha-1");
    let gh = FakeGitHub::start(&sync).await;
    gh.state
        .lock()
        .unwrap()
        .permissions
        .insert("Codertocat".into(), "admin".into());
    let mut s = server(&w, &gh).await;
    let pull = "GET /repos/Codertocat/Hello-World/pulls/2".to_string();

    // The PR cannot be read for good: one attempt, nothing deployed.
    gh.state.lock().unwrap().pull_failures.extend([404]);
    gh.take_requests();
    s.deliver("issue_comment", &command("/eden deploy", "Codertocat"))
        .await;
    s.finished(1).await;
    let reads = gh.take_requests().iter().filter(|r| **r == pull).count();
    assert_eq!(reads, 1, "a 404 was retried");
    assert_eq!(w.snapshot().await, before);

    // An outage, then a rate limit, each outlasting octocrab's own immediate retries (it
    // tries a call 4 times), then GitHub answers: the job is retried (with backoff) and deploys.
    gh.state
        .lock()
        .unwrap()
        .pull_failures
        .extend([503, 503, 503, 503, 429, 429, 429, 429]);
    s.deliver("issue_comment", &command("/eden deploy", "Codertocat"))
        .await;
    s.finished(1).await;
    let reads = gh.take_requests().iter().filter(|r| **r == pull).count();
    assert!(reads > 8, "{reads} reads: the failures were not retried");
    assert!(gh.state.lock().unwrap().pull_failures.is_empty());
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-1")).await;
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}
