//! `eden create --wait` as a user runs it, against the emulator. moto runs no task, so the wait
//! cannot end ready here (tests/wait_rollout.rs covers ready, on injected mid-rollout answers):
//! this checks the flags, the timeout's failure on stderr with exit 1, and the JSON's `wait`.

mod common;

use common::*;

#[test]
fn help_explains_wait_timeout() {
    let home = tempfile::tempdir().unwrap();
    let (code, out, _) = eden_cli(home.path(), &["create", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--wait-timeout <DURATION>"), "{out}");
    assert!(out.contains("`90s`"), "{out}");
    assert!(out.contains("[default: 10m]"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_wait_fails_with_exit_1_and_the_reason() {
    let w = World::new("wcli").await;
    let dir = tempfile::tempdir().unwrap();
    let config = w.write_config(dir.path());
    let config = config.to_str().unwrap();
    let image = w.image("api", "sha-1");
    let table = w.table.clone();
    // 1 s is shorter than a poll interval: one poll, then the timeout's report
    let args = |output: &'static str| {
        vec![
            "-c".to_string(),
            config.to_string(),
            "--remote-table-name".into(),
            table.clone(),
            "-p".into(),
            "api".into(),
            "create".into(),
            "--name".into(),
            "pr-3".into(),
            "--image-uri".into(),
            image.clone(),
            "--wait".into(),
            "--wait-timeout".into(),
            "1s".into(),
            "--output".into(),
            output.into(),
        ]
    };
    let text = args("text");
    let text: Vec<&str> = text.iter().map(String::as_str).collect();
    let (code, out, err) = eden_cli(dir.path(), &text);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("is deployed but not ready: not ready after 1 s: starting task (0/1 running)"),
        "{err}"
    );
    assert!(!out.contains("ready:"), "{out}");

    let json = args("json");
    let json: Vec<&str> = json.iter().map(String::as_str).collect();
    let (code, out, err) = eden_cli(dir.path(), &json);
    assert_eq!(code, 1, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["action"], "deployed");
    assert_eq!(v["wait"]["ready"], false);
    assert_eq!(v["wait"]["failure"]["kind"], "timeout");
    assert_eq!(
        v["wait"]["failure"]["waiting_for"],
        "starting task (0/1 running)"
    );
    assert!(err.contains("not ready after 1 s"), "{err}");
}

#[test]
fn wait_timeout_needs_wait_and_a_duration() {
    let home = tempfile::tempdir().unwrap();
    let base = ["create", "--name", "x", "--image-uri", "y"];
    let (code, _, err) = eden_cli(
        home.path(),
        &[&base[..], &["--wait-timeout", "90s"]].concat(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--wait"), "{err}");
    let (code, _, err) = eden_cli(
        home.path(),
        &[&base[..], &["--wait", "--wait-timeout", "soon"]].concat(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a duration"), "{err}");
}
