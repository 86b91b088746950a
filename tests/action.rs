//! The action binary run exactly as the runner runs it (INPUT_* variables, the event file,
//! GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files) on real pull_request payloads, against the AWS
//! emulator and a stateful fake GitHub.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::fake_github::FakeGitHub;
use common::*;
use eden::github::comment::marker;
use serde_json::Value;

const REPO: &str = "Codertocat/Hello-World";

fn fixture(name: &str) -> Value {
    let p = root().join(format!("tests/fixtures/github/pull_request.{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn with_head(mut event: Value, sha: &str) -> Value {
    event["pull_request"]["head"]["sha"] = Value::String(sha.into());
    if event.get("after").is_some() {
        event["after"] = Value::String(sha.into());
    }
    event
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    outputs: BTreeMap<String, String>,
    summary: String,
}

fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some((k, delim)) = l.split_once("<<") {
            let mut v = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                v.push(l);
            }
            out.insert(k.to_string(), v.join("\n"));
        }
    }
    out
}

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// A checkout with `.github/eden.ini` holding the world's profiles.
    fn new(w: &World) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".github")).unwrap();
        let cfg = w.write_config(dir.path());
        std::fs::rename(cfg, dir.path().join(".github/eden.ini")).unwrap();
        Repo { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn run_action(
    w: &World,
    repo: &Repo,
    gh: &FakeGitHub,
    event: &Value,
    inputs: &[(&str, &str)],
) -> Run {
    let files = tempfile::tempdir().unwrap();
    let event_path = files.path().join("event.json");
    std::fs::write(&event_path, serde_json::to_vec(event).unwrap()).unwrap();
    let output: PathBuf = files.path().join("output");
    let summary: PathBuf = files.path().join("summary");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_eden"));
    cmd.arg("action")
        .current_dir(repo.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", files.path())
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_API_URL", gh.url())
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_WORKSPACE", repo.path())
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("INPUT_GITHUB-TOKEN", "ghs_test_token")
        .env("INPUT_REMOTE-TABLE-NAME", &w.table)
        .env("INPUT_WAIT", "false");
    for (k, v) in inputs {
        cmd.env(format!("INPUT_{}", k.to_ascii_uppercase()), v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        outputs: parse_outputs(&std::fs::read_to_string(&output).unwrap_or_default()),
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
    }
}

/// The comment as a reviewer reads it, with what changes between runs blanked out.
fn snapshot_text(w: &World, body: &str) -> String {
    regex_lite_replace(body, &w.prefix)
}

fn regex_lite_replace(body: &str, prefix: &str) -> String {
    // "2026-11-22 20:40 UTC" → "[time]"; the world's prefix → "[w]"
    let mut out = String::new();
    for line in body.lines() {
        let mut l = line.replace(prefix, "[w]");
        if let Some(i) = l.find(" UTC") {
            if i >= 16 {
                l.replace_range(i - 16..i + 4, "[time]");
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_requests_whole_life_edits_one_comment() {
    let w = World::new("aw").await;
    // the table exists in the account before (as after any earlier use)
    w.warm().await;
    let before = w.snapshot().await;
    let repo = Repo::new(&w);
    let opened = fixture("opened");
    let gh = FakeGitHub::start(&opened).await;
    gh.add_comments(120);
    let mark = marker(2, "pr-2");
    let sha1 = opened["pull_request"]["head"]["sha"]
        .as_str()
        .unwrap()
        .to_string();

    // opened
    let run = run_action(
        &w,
        &repo,
        &gh,
        &opened,
        &[("profile", "api"), ("image-uri", &w.image("api", "sha-1"))],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.outputs["action"], "created");
    assert_eq!(run.outputs["environment"], "pr-2");
    let c = verify_environment(&w, "api", "pr-2", &w.image("api", "sha-1")).await;
    assert_eq!(run.outputs["hostname"], c.hostname);
    assert_eq!(run.outputs["url"], format!("https://{}", c.hostname));
    let eps: Value = serde_json::from_str(&run.outputs["endpoints"]).unwrap();
    assert_eq!(eps[0]["service_arn"], c.service_arn.as_str());
    assert!(
        run.summary.contains("### eden · created `pr-2`") && run.summary.contains("Step timings"),
        "{}",
        run.summary
    );
    assert!(
        run.stdout.contains("::group::eden create api")
            && run.stdout.contains("::add-mask::ghs_test_token")
    );
    let ours = gh.ours(&mark);
    assert_eq!(ours.len(), 1);
    let id = ours[0].id;
    insta::assert_snapshot!("opened", snapshot_text(&w, &ours[0].body));
    let reqs = gh.take_requests();
    assert!(
        reqs.iter()
            .filter(|r| r.contains("/issues/2/comments"))
            .count()
            >= 2,
        "paged through 120 comments: {reqs:?}"
    );

    // two pushes: the same comment, edited; the happy path makes 3 GitHub calls
    for (i, sha) in [
        "1111111111111111111111111111111111111111",
        "2222222222222222222222222222222222222222",
    ]
    .iter()
    .enumerate()
    {
        gh.set_pr(|pr| pr["head"]["sha"] = Value::String(sha.to_string()));
        let img = w.image("api", ["sha-2", "sha-0"][i]);
        let run = run_action(
            &w,
            &repo,
            &gh,
            &with_head(fixture("synchronize"), sha),
            &[("profile", "api"), ("image-uri", &img)],
        );
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.outputs["action"], "deployed");
        verify_environment(&w, "api", "pr-2", &img).await;
        let ours = gh.ours(&mark);
        assert_eq!((ours.len(), ours[0].id), (1, id));
        assert!(
            ours[0].body.contains(&format!("`{}`", &sha[..7])),
            "{}",
            ours[0].body
        );
        let reqs = gh.take_requests();
        assert_eq!(reqs.len(), 3, "{reqs:?}");
    }
    insta::assert_snapshot!("pushed", snapshot_text(&w, &gh.ours(&mark)[0].body));

    // closed
    gh.set_pr(|pr| pr["state"] = Value::String("closed".into()));
    let closed = with_head(
        fixture("closed"),
        "2222222222222222222222222222222222222222",
    );
    let run = run_action(&w, &repo, &gh, &closed, &[("profile", "api")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.outputs["action"], "deleted");
    let ours = gh.ours(&mark);
    assert_eq!((ours.len(), ours[0].id), (1, id));
    insta::assert_snapshot!("closed", snapshot_text(&w, &ours[0].body));
    assert_eq!(w.snapshot().await, before);
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
    assert_eq!(
        gh.statuses(),
        [
            "⏳ deploying",
            "🚀 deployed",
            "⏳ deploying",
            "🚀 deployed",
            "⏳ deploying",
            "🚀 deployed",
            "🧹 deleting",
            "🗑️ deleted"
        ]
    );
    assert_eq!(gh.state.lock().unwrap().comments.len(), 121);
    let _ = sha1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn label_gated_repository() {
    let w = World::new("ag").await;
    w.warm().await;
    let before = w.snapshot().await;
    let repo = Repo::new(&w);
    let opened = fixture("opened");
    let gh = FakeGitHub::start(&opened).await;
    let img = w.image("api", "sha-1");
    let inputs = [
        ("profile", "api"),
        ("image-uri", img.as_str()),
        ("label", "preview"),
    ];

    let run = run_action(&w, &repo, &gh, &opened, &inputs);
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "skipped"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("::notice::eden: skipped: the pull request does not carry the label"),
        "{}",
        run.stdout
    );
    assert_eq!(w.snapshot().await, before);
    assert!(gh.state.lock().unwrap().comments.is_empty());

    // labeled with another label: still nothing
    let mut bug = fixture("labeled");
    bug["pull_request"]["head"]["sha"] = opened["pull_request"]["head"]["sha"].clone();
    let run = run_action(&w, &repo, &gh, &bug, &inputs);
    assert_eq!(run.outputs["action"], "skipped");

    // labeled `preview` → created
    let mut labeled = bug.clone();
    labeled["label"]["name"] = Value::String("preview".into());
    gh.set_pr(|pr| pr["labels"] = serde_json::json!([{"name": "bug"}, {"name": "preview"}]));
    let run = run_action(&w, &repo, &gh, &labeled, &inputs);
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "created"),
        "{}",
        run.stderr
    );
    verify_environment(&w, "api", "pr-2", &img).await;

    // unlabeled `preview` → deleted
    let mut unlabeled = fixture("unlabeled");
    unlabeled["label"]["name"] = Value::String("preview".into());
    gh.set_pr(|pr| pr["labels"] = serde_json::json!([{"name": "bug"}]));
    let run = run_action(&w, &repo, &gh, &unlabeled, &inputs);
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "deleted"),
        "{}",
        run.stderr
    );
    assert_eq!(w.snapshot().await, before);
    assert_eq!(gh.ours(&marker(2, "pr-2")).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forks_and_stale_events_are_skipped() {
    let w = World::new("af").await;
    w.warm().await;
    let before = w.snapshot().await;
    let repo = Repo::new(&w);
    let fork = fixture("opened.fork");
    let gh = FakeGitHub::start(&fork).await;
    let img = w.image("api", "sha-1");
    let run = run_action(
        &w,
        &repo,
        &gh,
        &fork,
        &[("profile", "api"), ("image-uri", &img)],
    );
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "skipped"),
        "{}",
        run.stderr
    );
    assert!(run.summary.contains("comes from a fork"), "{}", run.summary);
    assert!(
        gh.requests().is_empty(),
        "a fork run makes no GitHub call: {:?}",
        gh.requests()
    );
    assert_eq!(w.snapshot().await, before);

    // the removed `allow-forks` input is refused, not ignored, before anything is done
    let run = run_action(
        &w,
        &repo,
        &gh,
        &fork,
        &[
            ("profile", "api"),
            ("image-uri", &img),
            ("allow-forks", "true"),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains("input `allow-forks` was removed"),
        "{}",
        run.stderr
    );
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());
    assert_eq!(w.snapshot().await, before);

    // the same PR from the repository itself deploys
    let opened = fixture("opened");
    gh.set_pr(|pr| *pr = opened["pull_request"].clone());
    let run = run_action(
        &w,
        &repo,
        &gh,
        &opened,
        &[("profile", "api"), ("image-uri", &img)],
    );
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "created"),
        "{}",
        run.stderr
    );

    // a synchronize whose head is no longer the PR's head
    gh.set_pr(|pr| {
        pr["head"]["sha"] = Value::String("ffffffffffffffffffffffffffffffffffffffff".into())
    });
    let stale = with_head(
        fixture("synchronize"),
        "1111111111111111111111111111111111111111",
    );
    let run = run_action(
        &w,
        &repo,
        &gh,
        &stale,
        &[("profile", "api"), ("image-uri", &w.image("api", "sha-2"))],
    );
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "skipped"),
        "{}",
        run.stderr
    );
    assert!(
        run.summary
            .contains("the head moved from 1111111 to fffffff"),
        "{}",
        run.summary
    );
    verify_environment(&w, "api", "pr-2", &img).await;

    // closed meanwhile: a late synchronize deletes
    gh.set_pr(|pr| {
        pr["state"] = Value::String("closed".into());
        pr["head"]["sha"] = Value::String("1111111111111111111111111111111111111111".into());
    });
    let run = run_action(
        &w,
        &repo,
        &gh,
        &stale,
        &[("profile", "api"), ("image-uri", &w.image("api", "sha-2"))],
    );
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "deleted"),
        "{}",
        run.stderr
    );
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_deploy_says_so_and_exits_non_zero() {
    let w = World::new("ax").await;
    w.warm().await;
    let before = w.snapshot().await;
    let repo = Repo::new(&w);
    let opened = fixture("opened");
    let gh = FakeGitHub::start(&opened).await;
    let missing = w.image("api", "sha-1").replace("sha-1", "never-pushed");
    let run = run_action(
        &w,
        &repo,
        &gh,
        &opened,
        &[("profile", "api"), ("image-uri", &missing)],
    );
    assert_eq!(run.code, 3, "a refusal's exit code, as the CLI's");
    assert_eq!(run.outputs["action"], "failed");
    assert!(
        run.stdout.contains("::error::api: image") && run.stdout.contains("push the image first"),
        "{}",
        run.stdout
    );
    let ours = gh.ours(&marker(2, "pr-2"));
    assert_eq!(ours.len(), 1);
    assert!(
        ours[0].body.contains("❌ failed") && ours[0].body.contains("push the image first"),
        "{}",
        ours[0].body
    );
    insta::assert_snapshot!("failed", snapshot_text(&w, &ours[0].body));
    assert_eq!(w.snapshot().await, before);

    // and a deploy that times out waiting (the emulator never turns healthy)
    let run = run_action(
        &w,
        &repo,
        &gh,
        &opened,
        &[
            ("profile", "api"),
            ("image-uri", &w.image("api", "sha-1")),
            ("wait", "true"),
            ("wait-timeout", "1s"),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        gh.ours(&marker(2, "pr-2"))[0]
            .body
            .contains("is deployed but not ready"),
        "{}",
        gh.ours(&marker(2, "pr-2"))[0].body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_without_permission_gets_a_clear_error() {
    let w = World::new("ap").await;
    let repo = Repo::new(&w);
    let opened = fixture("opened");
    let gh = FakeGitHub::start(&opened).await;
    gh.state.lock().unwrap().read_only = true;
    let run = run_action(
        &w,
        &repo,
        &gh,
        &opened,
        &[("profile", "api"), ("image-uri", &w.image("api", "sha-1"))],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("permissions: { pull-requests: write }"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("::error::updating the pull request comment failed"),
        "{}",
        run.stdout
    );
    // the environment itself is complete, not half-applied
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-1")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_services_deployments_dry_run_and_gc() {
    let w = World::new("am").await;
    w.warm().await;
    let before = w.snapshot().await;
    let repo = Repo::new(&w);
    let opened = fixture("opened");
    let gh = FakeGitHub::start(&opened).await;
    let targets = format!(
        "api={}\nadmin={}",
        w.image("api", "sha-1"),
        w.image("admin", "sha-1")
    );

    let run = run_action(
        &w,
        &repo,
        &gh,
        &opened,
        &[("profile", &targets), ("dry-run", "true")],
    );
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "skipped"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("Plan: **create or deploy**") && run.stdout.contains("admin-pr-2."),
        "{}",
        run.stdout
    );
    assert_eq!(w.snapshot().await, before);
    assert!(gh.state.lock().unwrap().comments.is_empty());

    let run = run_action(
        &w,
        &repo,
        &gh,
        &opened,
        &[("profile", &targets), ("deployment", "true")],
    );
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "created"),
        "{}",
        run.stderr
    );
    let eps: Value = serde_json::from_str(&run.outputs["endpoints"]).unwrap();
    assert_eq!(eps.as_array().unwrap().len(), 2);
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-1")).await;
    verify_environment(&w, "admin", "pr-2", &w.image("admin", "sha-1")).await;
    let body = &gh.ours(&marker(2, "pr-2"))[0].body;
    assert!(
        body.contains("| api | https://api-pr-2.")
            && body.contains("| admin | https://admin-pr-2."),
        "{body}"
    );
    {
        let s = gh.state.lock().unwrap();
        assert_eq!(s.deployments.len(), 1);
        assert_eq!(s.deployments[0]["environment"], "pr-2");
        let states: Vec<&str> = s
            .statuses
            .iter()
            .map(|(_, b)| b["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["in_progress", "success"]);
        assert_eq!(s.statuses[1].1["environment_url"], eps[0]["url"]);
    }
    let file = w.environments_file().await;
    assert_eq!(file["environments"].as_array().unwrap().len(), 1);

    // gc: the PR is closed without an event reaching us → both services are collected
    gh.set_pr(|pr| pr["state"] = Value::String("closed".into()));
    let run = run_action(
        &w,
        &repo,
        &gh,
        &serde_json::json!({"schedule": "0 3 * * *"}),
        &[("profile", "api"), ("command", "gc"), ("dry-run", "true")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("pull request #2 is closed (dry run: kept)"),
        "{}",
        run.stdout
    );
    let run = run_action(
        &w,
        &repo,
        &gh,
        &serde_json::json!({"schedule": "0 3 * * *"}),
        &[("profile", "api"), ("command", "gc")],
    );
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "deleted"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(w.snapshot().await, before);
    assert!(gh.ours(&marker(2, "pr-2"))[0].body.contains("deleted"));
}

#[test]
fn action_yml_inputs_match_what_the_binary_reads() {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut section = "";
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line.trim_end_matches(':');
        } else if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
            if !name.starts_with(' ') {
                match section {
                    "inputs" => inputs.push(name.to_string()),
                    "outputs" => outputs.push(name.to_string()),
                    _ => {}
                }
            }
        }
    }
    let read: Vec<String> = eden::action::inputs::INPUTS
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(inputs, read);
    assert_eq!(
        outputs,
        ["url", "hostname", "environment", "action", "endpoints"]
    );
    let src = std::fs::read_to_string(root().join("src/action/mod.rs")).unwrap();
    for o in &outputs {
        assert!(
            src.contains(&format!("(\"{o}\"")),
            "output {o} is never written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reopened_recreates_and_a_merge_deletes() {
    let w = World::new("ar").await;
    w.warm().await;
    let before = w.snapshot().await;
    let repo = Repo::new(&w);
    let reopened = fixture("reopened");
    let gh = FakeGitHub::start(&reopened).await;
    let img = w.image("api", "sha-1");
    let run = run_action(
        &w,
        &repo,
        &gh,
        &reopened,
        &[("profile", "api"), ("image-uri", &img)],
    );
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "created"),
        "{}",
        run.stderr
    );
    verify_environment(&w, "api", "pr-2", &img).await;
    gh.set_pr(|pr| {
        pr["state"] = Value::String("closed".into());
        pr["merged"] = Value::Bool(true);
    });
    let merged = fixture("closed.merged");
    let run = run_action(&w, &repo, &gh, &merged, &[("profile", "api")]);
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "deleted"),
        "{}",
        run.stderr
    );
    assert_eq!(w.snapshot().await, before);
    // a second close (re-run of the workflow) finds nothing and says so
    let run = run_action(&w, &repo, &gh, &merged, &[("profile", "api")]);
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "absent"),
        "{}",
        run.stderr
    );
    assert_eq!(gh.ours(&marker(2, "pr-2")).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_triggers_with_a_remote_profile() {
    let w = World::new("ao").await;
    w.warm().await;
    let before = w.snapshot().await;
    eden::profile_store::push(&w.aws, &w.table, &w.profile("api"))
        .await
        .unwrap();
    let repo = Repo::new(&w);
    std::fs::remove_file(repo.path().join(".github/eden.ini")).unwrap();
    let dispatch = serde_json::json!({"inputs": {"name": "staging"}, "ref": "refs/heads/main"});
    let gh = FakeGitHub::start(&fixture("opened")).await;
    let img = w.image("api", "sha-1");
    let base = [
        ("profile", "api"),
        ("remote-profile", "true"),
        ("name", "staging-1"),
    ];

    let mut deploy = base.to_vec();
    deploy.extend([("command", "deploy"), ("image-uri", img.as_str())]);
    let run = run_action(&w, &repo, &gh, &dispatch, &deploy);
    assert_eq!(
        (
            run.code,
            run.outputs["action"].as_str(),
            run.outputs["environment"].as_str()
        ),
        (0, "created", "staging-1"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    verify_environment(&w, "api", "staging-1", &img).await;
    assert!(
        gh.requests().is_empty(),
        "no pull request, no GitHub call: {:?}",
        gh.requests()
    );

    let mut delete = base.to_vec();
    delete.push(("command", "delete"));
    let run = run_action(&w, &repo, &gh, &dispatch, &delete);
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "deleted"),
        "{}",
        run.stderr
    );
    let mut after = w.snapshot().await;
    after.state_items.remove("_profile|api");
    assert_eq!(after, before);

    // without `name` there is nothing to call the environment
    let run = run_action(
        &w,
        &repo,
        &gh,
        &dispatch,
        &[
            ("profile", "api"),
            ("remote-profile", "true"),
            ("command", "deploy"),
            ("image-uri", &img),
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("input `name` is required"),
        "{}",
        run.stderr
    );
}

/// The task definition a service runs, read back independently: the target container's
/// environment as NAME → value.
async fn container_env(w: &World, service_arn: &str) -> BTreeMap<String, String> {
    let cluster = w.profile("api").target_cluster;
    let svc = w
        .aws
        .ecs
        .describe_services()
        .cluster(&cluster)
        .services(service_arn)
        .send()
        .await
        .unwrap();
    let td = svc.services()[0].task_definition().unwrap().to_string();
    let out = w
        .aws
        .ecs
        .describe_task_definition()
        .task_definition(&td)
        .send()
        .await
        .unwrap();
    let def = out.task_definition().unwrap();
    let app = def
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some("app"))
        .unwrap();
    app.environment()
        .iter()
        .map(|kv| {
            (
                kv.name().unwrap_or_default().to_string(),
                kv.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn env_and_comment_template() {
    let w = World::new("ae").await;
    w.warm().await;
    let before = w.snapshot().await;
    let repo = Repo::new(&w);
    std::fs::write(
        repo.path().join(".github/preview.md"),
        "## {status} — [{environment}]({url})\n{urls}\nBuilt from {commit} ({branch}). {logs}\n{error}",
    )
    .unwrap();
    std::fs::write(repo.path().join(".github/bad.md"), "Hi {reviewer}! {url}").unwrap();
    let opened = fixture("opened");
    let gh = FakeGitHub::start(&opened).await;
    let sha1 = opened["pull_request"]["head"]["sha"]
        .as_str()
        .unwrap()
        .to_string();
    let img = w.image("api", "sha-1");
    let env = "PREVIEW_URL={url}\nPR_NUMBER={number}\nCOMMIT={sha}\nBRANCH={branch}";

    // invalid inputs: a clear error before anything is done
    for (input, value, says) in [
        (
            "comment-template",
            ".github/bad.md",
            "unknown placeholder {reviewer}",
        ),
        ("env", "1BAD={url}", "\"1BAD\" is not a variable name"),
        ("env", "A={who}", "unknown placeholder {who}"),
    ] {
        let run = run_action(
            &w,
            &repo,
            &gh,
            &opened,
            &[("profile", "api"), ("image-uri", &img), (input, value)],
        );
        assert_eq!(run.code, 1, "{input}: {}", run.stdout);
        assert!(
            run.stderr.contains(&format!("input `{input}`")) && run.stderr.contains(says),
            "{}",
            run.stderr
        );
        assert!(gh.requests().is_empty(), "{:?}", gh.requests());
        assert_eq!(w.snapshot().await, before);
    }

    let inputs = [
        ("profile", "api"),
        ("image-uri", img.as_str()),
        ("env", env),
        ("comment-template", ".github/preview.md"),
    ];
    let run = run_action(&w, &repo, &gh, &opened, &inputs);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let host = run.outputs["hostname"].clone();
    let url = format!("https://{host}");
    let expected = [
        ("PREVIEW_URL", url.as_str()),
        ("PR_NUMBER", "2"),
        ("COMMIT", sha1.as_str()),
        ("BRANCH", "changes"),
    ];
    let c = verify_environment_with_env(&w, "api", "pr-2", &img, &expected).await;
    let vars = container_env(&w, &c.service_arn).await;
    assert_eq!(vars["PREVIEW_URL"], format!("https://{}", c.hostname));
    assert_eq!(vars["PR_NUMBER"], "2");
    assert_eq!(vars["COMMIT"], sha1);
    assert_eq!(vars["BRANCH"], "changes");
    assert_eq!(
        vars["APP_ENV"], "preview",
        "the reference's own variables stay"
    );
    let body = gh.ours(&marker(2, "pr-2"))[0].body.clone();
    assert!(
        body.starts_with(&marker(2, "pr-2"))
            && body.contains(&format!("## 🚀 deployed — [pr-2](https://{})", c.hostname))
            && body.contains(&format!("| api | https://{} |", c.hostname))
            && body.contains(&format!("[`{}`]", &sha1[..7]))
            && body.contains("[logs](https://github.com/Codertocat/Hello-World/actions/runs/4242)"),
        "{body}"
    );

    // a push: the commit changes, the rest is kept; a redeploy without `env` keeps them all
    let sha2 = "2222222222222222222222222222222222222222";
    gh.set_pr(|pr| pr["head"]["sha"] = Value::String(sha2.into()));
    let img2 = w.image("api", "sha-2");
    let mut pushed = inputs.to_vec();
    pushed[1] = ("image-uri", img2.as_str());
    let run = run_action(
        &w,
        &repo,
        &gh,
        &with_head(fixture("synchronize"), sha2),
        &pushed,
    );
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "deployed"),
        "{}",
        run.stderr
    );
    let mut expected2 = expected;
    expected2[2] = ("COMMIT", sha2);
    verify_environment_with_env(&w, "api", "pr-2", &img2, &expected2).await;
    let vars = container_env(&w, &c.service_arn).await;
    assert_eq!(vars["COMMIT"], sha2);
    let run = run_action(
        &w,
        &repo,
        &gh,
        &with_head(fixture("synchronize"), sha2),
        &[("profile", "api"), ("image-uri", &img)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let kept = container_env(&w, &c.service_arn).await;
    assert_eq!(kept, vars);
    verify_environment_with_env(&w, "api", "pr-2", &img, &expected2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_events_skip_a_close_without_preview_is_silent_and_enterprise_urls_work() {
    let w = World::new("as").await;
    w.warm().await;
    let before = w.snapshot().await;
    let repo = Repo::new(&w);
    let opened = fixture("opened");
    // GitHub Enterprise Server serves the API under /api/v3: every call must go there
    let gh = FakeGitHub::start_at(&opened, "/api/v3").await;
    assert!(gh.url().ends_with("/api/v3"));
    let img = w.image("api", "sha-1");

    // push, merge_group, deployment: not about a pull request → skipped, exit 0, a notice
    for event in [
        serde_json::json!({"ref": "refs/heads/main", "after": "abc", "repository": {"full_name": REPO}}),
        serde_json::json!({"action": "checks_requested", "merge_group": {"head_sha": "abc"}}),
        serde_json::json!({"deployment": {"id": 1, "environment": "production"}}),
    ] {
        let run = run_action(
            &w,
            &repo,
            &gh,
            &event,
            &[("profile", "api"), ("image-uri", &img)],
        );
        assert_eq!(
            (run.code, run.outputs["action"].as_str()),
            (0, "skipped"),
            "{}\n{}",
            run.stdout,
            run.stderr
        );
        assert!(
            run.stdout
                .contains("::notice::eden: skipped: the event is not about a pull request"),
            "{}",
            run.stdout
        );
    }
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());
    assert_eq!(w.snapshot().await, before);

    // a PR that never had a preview is closed: exit 0, absent, no comment, no GitHub call
    let run = run_action(&w, &repo, &gh, &fixture("closed"), &[("profile", "api")]);
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "absent"),
        "{}",
        run.stderr
    );
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());
    assert!(gh.state.lock().unwrap().comments.is_empty());
    assert_eq!(w.snapshot().await, before);

    // a whole life through the Enterprise URL
    let run = run_action(
        &w,
        &repo,
        &gh,
        &opened,
        &[("profile", "api"), ("image-uri", &img)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(gh.ours(&marker(2, "pr-2")).len(), 1);
    assert!(gh.requests().iter().all(|r| r
        .split(' ')
        .nth(1)
        .is_some_and(|p| p.starts_with("/api/v3/"))));
    gh.set_pr(|pr| pr["state"] = Value::String("closed".into()));
    let run = run_action(&w, &repo, &gh, &fixture("closed"), &[("profile", "api")]);
    assert_eq!(
        (run.code, run.outputs["action"].as_str()),
        (0, "deleted"),
        "{}",
        run.stderr
    );
    assert!(gh.ours(&marker(2, "pr-2"))[0].body.contains("🗑️ deleted"));
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
    assert_eq!(w.snapshot().await, before);
}

#[test]
fn example_workflows_show_the_safe_patterns() {
    let read = |f: &str| std::fs::read_to_string(root().join("docs/examples").join(f)).unwrap();
    for f in ["preview.yml", "preview-label.yml"] {
        let wf = read(f);
        // deploys only for PRs from this repository; teardown on pull_request_target closed
        assert!(
            wf.contains("github.event.pull_request.head.repo.full_name == github.repository"),
            "{f}"
        );
        assert!(
            wf.contains("pull_request_target:\n    types: [closed]"),
            "{f}"
        );
        let teardown = &wf[wf.find("  teardown:").expect(f)..];
        // the teardown job never checks out or builds the PR's code
        assert!(!teardown.contains("pull_request.head.sha"), "{f}");
        assert!(!teardown.contains("pull_request.head.ref"), "{f}");
        assert!(!teardown.contains("docker build"), "{f}");
        assert!(
            teardown.contains("ref: ${{ github.event.pull_request.base.ref }}"),
            "{f}"
        );
        assert!(!wf.contains("allow-forks"), "{f}");
        assert!(wf.contains("runs-on: ubuntu-latest"), "{f}");
    }
    assert!(read("preview-label.yml")
        .contains("types: [opened, reopened, synchronize, labeled, unlabeled]"));
}
