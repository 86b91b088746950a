use super::*;

/// The shape issue 9 and docs/server.md show, verbatim.
const AS_DOCUMENTED: &str = r#"
listen = "127.0.0.1:8080"
eden_config = "/etc/eden/config"        # profiles, as for the CLI (or remote profiles)

[github]
api_url = "https://api.github.com"      # GitHub Enterprise: its API URL
token = "…"                             # or app_id + private_key_path (installation tokens,
                                        #   refreshed before they expire)
webhook_secrets = ["…", "…"]            # several, for rotation

[[repository]]
name = "octo-org/shop"                  # or "octo-org/*"
environment = "pr-{number}"             # template: {number}, {branch}, {sha}
wait = true                             # wait for healthy before "ready"
# label = "preview"  allow_forks = false  ttl = "7d"

[repository.images]                     # one entry per profile = one endpoint each
api = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:{sha}"

[[api_key]]                             # for /api/v1; each key limited to some profiles
key = "…"
profiles = ["api"]
"#;

fn parse(text: &str) -> FileConfig {
    toml::from_str(text).unwrap()
}

fn no_flags() -> (ServeArgs, GlobalProfileFlags) {
    (ServeArgs::default(), GlobalProfileFlags::default())
}

#[test]
fn the_documented_shape_parses_as_written() {
    let (a, g) = no_flags();
    let err = resolve(parse(AS_DOCUMENTED), &a, &g).unwrap_err();
    // Only the placeholder API key is refused; the rest is a working configuration.
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(err[0].contains("shorter than 16"), "{err:?}");

    let text = AS_DOCUMENTED.replace("key = \"…\"", "key = \"0123456789abcdef-key\"");
    let c = resolve(parse(&text), &a, &g).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.profiles, ProfilesFrom::File("/etc/eden/config".into()));
    assert_eq!(c.github.api_url, "https://api.github.com");
    assert!(matches!(c.github.auth, Some(GitHubAuth::Token(_))));
    assert_eq!(c.github.webhook_secrets.len(), 2);
    let r = c.repository("Octo-Org/Shop").unwrap();
    assert_eq!((r.environment.as_str(), r.wait), ("pr-{number}", true));
    assert_eq!(r.images.keys().collect::<Vec<_>>(), ["api"]);
    assert_eq!(c.api_keys[0].profiles, ["api"]);
    assert_eq!(c.queue, QueueKind::Memory);
    assert_eq!(c.reconcile_interval, Some(Duration::from_secs(600)));
    assert_eq!(c.profile_names(), ["api"]);
}

#[test]
fn flags_and_environment_win_over_the_file() {
    let text = AS_DOCUMENTED.replace("key = \"…\"", "key = \"0123456789abcdef-key\"");
    let args = ServeArgs {
        listen: Some("127.0.0.1:9999".into()),
        github_api_url: Some("https://ghe.example.com/api/v3".into()),
        webhook_secrets: vec![Secret::new("rotated")],
        queue: Some("sqs://sqs.ap-northeast-1.amazonaws.com/123456789012/eden.fifo".into()),
        reconcile_interval: Some("0".into()),
        repositories: Some(
            r#"[{"name": "octo-org/*", "images": {"web": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:{sha}"}, "ttl": "7d"}]"#
                .into(),
        ),
        ..ServeArgs::default()
    };
    let g = GlobalProfileFlags {
        config_path: Some("/tmp/other".into()),
        ..Default::default()
    };
    let c = resolve(parse(&text), &args, &g).unwrap();
    assert_eq!(c.listen.port(), 9999);
    assert_eq!(c.github.api_url, "https://ghe.example.com/api/v3");
    assert_eq!(c.github.webhook_secrets, [Secret::new("rotated")]);
    assert_eq!(
        c.queue,
        QueueKind::Sqs("https://sqs.ap-northeast-1.amazonaws.com/123456789012/eden.fifo".into())
    );
    assert_eq!(c.reconcile_interval, None);
    assert_eq!(c.profiles, ProfilesFrom::File("/tmp/other".into()));
    let r = c.repository("octo-org/anything").unwrap();
    assert_eq!(r.ttl, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(r.environment, "pr-{number}");
    assert!(c.repository("other-org/shop").is_none());
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
listen = "localhost"
queue = "sqs://sqs.us-east-1.amazonaws.com/1/not-fifo"
client_ip = "x-real-ip"
[github]
token = "t"
app_id = 1
[[repository]]
name = "shop"
environment = "pr-{pr}"
allow_forks = true
ttl = "7 weeks"
[repository.images]
api = "nginx:{sha}"
[[api_key]]
key = "0123456789abcdef"
profiles = []
"#;
    let (a, g) = no_flags();
    let err = resolve(parse(text), &a, &g).unwrap_err().join("\n");
    for expected in [
        "listen: \"localhost\"",
        "eden_config:",
        "must name a FIFO queue",
        "either token or app_id",
        "\"owner/name\" or \"owner/*\"",
        "uses {pr}",
        "allow_forks = true is not supported",
        "ttl:",
        "images.api: image URI",
        "profiles is empty",
        "no webhook secret",
        "client_ip: \"x-real-ip\" is neither",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn unknown_keys_are_refused_with_their_name() {
    let e = toml::from_str::<FileConfig>("listn = \"127.0.0.1:1\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("listn"), "{e}");
}

#[test]
fn secrets_never_show_in_debug_output() {
    let text = AS_DOCUMENTED
        .replace("token = \"…\"", "token = \"ghp_SUPERSECRETTOKEN\"")
        .replace("[\"…\", \"…\"]", "[\"whsec-one\", \"whsec-two\"]")
        .replace("key = \"…\"", "key = \"apikey-0123456789abcdef\"");
    let (a, g) = no_flags();
    let c = resolve(parse(&text), &a, &g).unwrap();
    let shown = format!("{c:?} {:?}", parse(&text));
    for secret in ["SUPERSECRET", "whsec-one", "whsec-two", "apikey-0123"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(shown.contains("Secret(redacted)"));
    let args = ServeArgs {
        github_token: Some(Secret::new("ghp_FLAGTOKEN")),
        api_keys: Some(Secret::new("[{\"key\":\"k-FLAGKEY\"}]")),
        ..Default::default()
    };
    let shown = format!("{args:?}");
    assert!(!shown.contains("FLAGTOKEN") && !shown.contains("FLAGKEY"));
    // A malformed key list is reported without echoing it.
    let e = resolve(FileConfig::default(), &args, &g)
        .unwrap_err()
        .join(" ");
    assert!(!e.contains("FLAGKEY"), "{e}");
}

#[test]
fn durations_and_templates() {
    assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    assert!(parse_duration("1w").unwrap_err().contains("unknown unit"));
    assert!(parse_duration("soon").is_err());
    assert_eq!(
        render("pr-{number}-{branch}@{sha}", 7, "feat", "abc"),
        "pr-7-feat@abc"
    );
    assert_eq!(unknown_placeholders("a{number}{x}{sha"), ["{x}", "{sha"]);
}

#[test]
fn sleeping_keys_and_the_waker_address() {
    let text = AS_DOCUMENTED
        .replace("key = \"…\"", "key = \"0123456789abcdef-key\"")
        .replace(
            "wait = true ",
            "wait = true\nsleep_after = \"30m\"\nkeep_awake_label = \"keep-awake\"\n",
        )
        .replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:8080\"\nwake_listen = \"127.0.0.1:8081\"",
        );
    let (a, g) = no_flags();
    let c = resolve(parse(&text), &a, &g).unwrap();
    assert_eq!(c.wake_listen.map(|w| w.port()), Some(8081));
    let r = c.repository("octo-org/shop").unwrap();
    assert_eq!(r.sleep_after, Some(Duration::from_secs(1800)));
    assert_eq!(r.keep_awake_label.as_deref(), Some("keep-awake"));
    // Off by default.
    let plain = AS_DOCUMENTED.replace("key = \"…\"", "key = \"0123456789abcdef-key\"");
    let c = resolve(parse(&plain), &a, &g).unwrap();
    assert_eq!(c.wake_listen, None);
    assert_eq!(c.repository("octo-org/shop").unwrap().sleep_after, None);
}

#[test]
fn every_sleeping_problem_is_reported_at_once() {
    let text = r#"
eden_config = "/etc/eden/config"
wake_listen = "127.0.0.1:8080"
reconcile_interval = "0"
[github]
webhook_secrets = ["s"]
[[repository]]
name = "o/a"
sleep_after = "2m"
[repository.images]
api = "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:{sha}"
[[repository]]
name = "o/b"
sleep_after = "half an hour"
[repository.images]
api = "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:{sha}"
[[repository]]
name = "o/c"
keep_awake_label = "keep"
[repository.images]
api = "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:{sha}"
"#;
    let (a, g) = no_flags();
    let err = resolve(parse(text), &a, &g).unwrap_err();
    let all = err.join("\n");
    for expected in [
        "wake_listen: \"127.0.0.1:8080\" is also listen",
        "repository o/a: sleep_after \"2m\" is shorter than 5m",
        "repository o/a: sleep_after needs the reconcile loop",
        "repository o/b: sleep_after: \"half an hour\"",
        "repository o/c: keep_awake_label is set but sleep_after is not",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
    assert_eq!(err.len(), 5, "{all}");
    let bad = "eden_config = \"/c\"\nwake_listen = \"port 80\"\n";
    let err = resolve(parse(bad), &a, &g).unwrap_err().join("\n");
    assert!(
        err.contains("wake_listen: \"port 80\" is not an address"),
        "{err}"
    );
}
