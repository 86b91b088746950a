//! `eden serve --check-config`: the binary as an operator runs it (no AWS, no network).

mod common;

use std::path::Path;
use std::process::Command;

const PROFILES: &str = "[api]
name_prefix = dev-api
reference_service_arn = arn:aws:ecs:ap-northeast-1:123456789012:service/dev/api
target_cluster = dev
domain_name_prefix = api
master_alb_arn = arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/dev/0123456789abcdef
dynamic_zone_id = Z0123456789ABCDEFGHIJ
";

fn check(dir: &Path, toml_text: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let cfg = dir.join("serve.toml");
    std::fs::write(&cfg, toml_text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eden"));
    cmd.args(["serve", "--check-config", "--config"])
        .arg(&cfg)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn config(dir: &Path, profile: &str) -> String {
    let profiles = dir.join("config");
    std::fs::write(&profiles, PROFILES).unwrap();
    format!(
        r#"
listen = "127.0.0.1:8080"
eden_config = "{}"
[github]
token = "ghp_VERYSECRET"
webhook_secrets = ["whsec_VERYSECRET"]
[[repository]]
name = "octo-org/shop"
[repository.images]
{profile} = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:{{sha}}"
[[api_key]]
key = "apikey_VERYSECRET_0123456789"
profiles = ["{profile}"]
"#,
        profiles.display()
    )
}

#[test]
fn a_valid_configuration_passes_and_says_what_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = check(dir.path(), &config(dir.path(), "api"), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Configuration is valid"), "{out}");
    assert!(out.contains("octo-org/shop"), "{out}");
    assert!(!format!("{out}{err}").contains("VERYSECRET"));
}

#[test]
fn flags_and_environment_variables_are_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(dir.path(), "api");
    let (code, _, err) = check(
        dir.path(),
        &text,
        &[
            ("GITHUB_API_URL", "ghe.example.com/api/v3"),
            ("EDEN_LISTEN", "everywhere"),
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("github.api_url: \"ghe.example.com/api/v3\""),
        "{err}"
    );
    assert!(err.contains("listen: \"everywhere\""), "{err}");
    assert!(err.contains("Found 2 problem(s)"), "{err}");
    assert!(!err.contains("VERYSECRET"), "{err}");
    let (code, _, err) = check(
        dir.path(),
        &text,
        &[("GITHUB_API_URL", "https://ghe.example.com/api/v3")],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn profiles_the_configuration_names_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = check(dir.path(), &config(dir.path(), "web"), &[]);
    assert_eq!(code, 1);
    assert!(err.contains("web"), "{err}");
    assert!(err.contains("Found 1 problem(s) in the profiles"), "{err}");
}

#[test]
fn a_typo_in_a_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(dir.path(), "api").replace("listen =", "listn =");
    let (code, _, err) = check(dir.path(), &text, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("listn"), "{err}");
    assert!(!err.contains("VERYSECRET"), "{err}");
}

#[test]
fn a_syntax_error_never_echoes_the_line_it_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        config(dir.path(), "api").replace("token = \"ghp_VERYSECRET\"", "token = ghp_VERYSECRET");
    let (code, _, err) = check(dir.path(), &text, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("serve.toml: line 5:"), "{err}");
    assert!(!err.contains("VERYSECRET"), "{err}");
}
