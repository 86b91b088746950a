//! The binary as a user runs it: config setup/check/push/pull/ls/remote-rm, create with a
//! remote profile, ls and JSON output, exit codes.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn eden(home: &Path, args: &[&str]) -> (i32, String, String) {
    eden_cli(home, args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn config_setup_check_push_pull_ls_remote_rm() {
    let w = World::new("cf").await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let t = w.table.as_str();

    // setup creates ~/.eden/config and a non-default profile (both broken in the original)
    let mut args = vec![
        "config".to_string(),
        "setup".into(),
        "-p".into(),
        "api".into(),
    ];
    for (k, v) in w.raw("api") {
        args.push(format!("--{}", k.replace('_', "-")));
        args.push(v);
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = eden(h, &argv);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Set name_prefix"), "{out}");
    assert!(h.join(".eden/config").exists());
    let (code, out, _) = eden(h, &["config", "check"]);
    assert_eq!(code, 0);
    assert!(out.contains("No errors found"), "{out}");
    let common = w.s(&["alb_arn"]);
    let name = common.split('/').nth(2).unwrap();
    assert!(
        out.contains(&format!("  {name}: rules 0/100, target groups 0/100")),
        "{out}"
    );

    // a broken profile: every problem at once, exit 1
    eden(
        h,
        &[
            "config",
            "setup",
            "-p",
            "broken",
            "--name-prefix",
            "bad prefix!",
            "--master-alb-arn",
            "arn:nope",
        ],
    );
    let (code, _, err) = eden(h, &["config", "check"]);
    assert_eq!(code, 1);
    for expect in [
        "required key reference_service_arn is missing",
        "required key target_cluster is missing",
        "name_prefix \"bad prefix!\"",
        "master_alb_arn \"arn:nope\"",
        "Found 6 error(s)",
    ] {
        assert!(err.contains(expect), "{expect}: {err}");
    }
    let (code, _, _) = eden(h, &["config", "check", "-p", "api", "--only"]);
    assert_eq!(code, 0);

    // push, ls, pull into another file, remote-rm
    let (code, out, err) = eden(
        h,
        &["--remote-table-name", t, "config", "push", "-p", "api"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Pushed profile api"));
    let item = w
        .aws
        .dynamodb
        .get_item()
        .table_name(t)
        .key(
            "type",
            aws_sdk_dynamodb::types::AttributeValue::S("_profile".into()),
        )
        .key(
            "name",
            aws_sdk_dynamodb::types::AttributeValue::S("api".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["kind"].as_s().unwrap(), "profile");
    let stored: Value = serde_json::from_str(item["profile"].as_s().unwrap()).unwrap();
    assert_eq!(stored["name_prefix"], w.raw("api")["name_prefix"].as_str());
    let (_, out, _) = eden(h, &["--remote-table-name", t, "config", "ls"]);
    assert!(
        out.contains("Profile api:") && out.contains("target_cluster = "),
        "{out}"
    );
    let other = h.join("pulled.ini");
    let (code, _, err) = eden(
        h,
        &[
            "--remote-table-name",
            t,
            "-c",
            other.to_str().unwrap(),
            "config",
            "pull",
            "-p",
            "api",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = eden(h, &["-c", other.to_str().unwrap(), "config", "check"]);
    assert_eq!(code, 0);

    // create and delete with the remote profile only (no local file)
    let nowhere = h.join("does-not-exist");
    let img = w.image("api", "sha-1");
    let (code, out, err) = eden(
        h,
        &[
            "--remote-table-name",
            t,
            "-c",
            nowhere.to_str().unwrap(),
            "--remote-profile",
            "-p",
            "api",
            "create",
            "--name",
            "pr-8",
            "--image-uri",
            &img,
            "--output",
            "json",
            "--meta",
            "pr_number=8",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["action"], "created");
    assert_eq!(v["metadata"]["pr_number"], "8");
    verify_environment(&w, "api", "pr-8", &img).await;

    let (code, out, _) = eden(h, &["--remote-table-name", t, "ls", "--output", "json"]);
    assert_eq!(code, 0);
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        rows.as_array().unwrap().len(),
        1,
        "profiles are not environments: {rows}"
    );
    assert_eq!(rows[0]["environment"], "pr-8");
    assert_eq!(
        (&rows[0]["action"], &rows[0]["status"]),
        (&Value::Null, &Value::String("ready".into()))
    );
    let (_, out, _) = eden(h, &["--remote-table-name", t, "ls"]);
    assert!(out.starts_with("Profile api:\n  pr-8 api-pr-8."), "{out}");

    let (code, out, err) = eden(
        h,
        &[
            "--remote-table-name",
            t,
            "-p",
            "api",
            "delete",
            "--name",
            "pr-8",
            "-v",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Deleted environment pr-8"), "{out}");
    assert!(out.contains(" ms] target-group"), "timings under -v: {out}");

    let (code, out, _) = eden(
        h,
        &["--remote-table-name", t, "config", "remote-rm", "-p", "api"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("Removed profile api"));
    let (code, _, err) = eden(
        h,
        &[
            "--remote-table-name",
            t,
            "--remote-profile",
            "-p",
            "api",
            "delete",
            "--name",
            "pr-8",
        ],
    );
    assert_eq!(code, 4, "a profile that is not in the table: not found");
    assert!(err.contains("profile api is not in table"), "{err}");
}
