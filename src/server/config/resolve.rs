//! Flags over the file, defaults, and every check: `resolve` and one function per section.

use std::net::SocketAddr;
use std::time::Duration;

use super::{
    parse_duration, render, unknown_placeholders, ApiKey, ApiKeyFile, ClientIp, FileConfig,
    GitHubAuth, GitHubConfig, GitHubFile, GlobalProfileFlags, LogFormat, ProfilesFrom, QueueKind,
    RepoConfig, RepoFile, ServeArgs, ServeConfig,
};
use crate::image::ImageRef;

/// Apply flags over the file, fill defaults, and check everything. `Err`: every problem found.
pub fn resolve(
    file: FileConfig,
    args: &ServeArgs,
    global: &GlobalProfileFlags,
) -> Result<ServeConfig, Vec<String>> {
    let mut problems = Vec::new();
    let p = &mut problems;

    let listen = listen(p, args.listen.clone().or(file.listen.clone()));
    let wake_listen = wake_listen(
        p,
        args.wake_listen.clone().or(file.wake_listen.clone()),
        listen,
    );
    let remote = global.remote_profile || file.remote_profiles.unwrap_or(false);
    let profiles = profiles(
        p,
        global.config_path.clone().or(file.eden_config.clone()),
        remote,
    );
    let table = table(p, &global.table, file.table.clone());
    let queue = queue(p, args.queue.clone().or(file.queue.clone()));
    let run = running(p, args, &file);

    let github = github(p, file.github, args);
    let repositories = repositories(p, &args.repositories, file.repository);
    let api_keys = api_keys(p, args, file.api_key);
    if !repositories.is_empty() && github.webhook_secrets.is_empty() {
        p.push("github.webhook_secrets: repositories are configured but no webhook secret is (webhooks would all be refused)".into());
    }
    if run.reconcile.is_zero() {
        for r in repositories.iter().filter(|r| r.sleep_after.is_some()) {
            p.push(format!("repository {}: sleep_after needs the reconcile loop, which reconcile_interval = 0 turns off", r.name));
        }
    }
    let config = ServeConfig {
        listen,
        wake_listen,
        profiles,
        table,
        queue,
        max_in_flight: run.max_in_flight,
        reconcile_interval: (run.reconcile > Duration::ZERO).then_some(run.reconcile),
        log_format: run.log_format,
        shutdown_timeout: run.shutdown_timeout,
        image_wait: run.image_wait,
        wait_timeout: run.wait_timeout,
        client_ip: run.client_ip,
        auth_failures_per_minute: run.auth_failures_per_minute,
        github,
        repositories,
        api_keys,
    };
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// How the server runs: parallelism, intervals and timeouts, log format, client addresses.
struct Running {
    max_in_flight: usize,
    /// Zero: no reconcile loop.
    reconcile: Duration,
    log_format: LogFormat,
    shutdown_timeout: Duration,
    image_wait: Duration,
    wait_timeout: Duration,
    client_ip: ClientIp,
    auth_failures_per_minute: u32,
}

fn running(p: &mut Vec<String>, args: &ServeArgs, file: &FileConfig) -> Running {
    let max_in_flight = args.max_in_flight.or(file.max_in_flight).unwrap_or(4);
    if max_in_flight == 0 {
        p.push("max_in_flight: must be at least 1".into());
    }
    let reconcile = dur(
        p,
        "reconcile_interval",
        &args.reconcile_interval,
        &file.reconcile_interval,
        "10m",
    );
    let log_format = choice(
        p,
        "log_format",
        args.log_format.clone().or(file.log_format.clone()),
        &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        "",
    );
    let shutdown_timeout = dur(
        p,
        "shutdown_timeout",
        &args.shutdown_timeout,
        &file.shutdown_timeout,
        "30s",
    );
    let image_wait = dur(p, "image_wait", &args.image_wait, &file.image_wait, "20m");
    let wait_timeout = dur(
        p,
        "wait_timeout",
        &args.wait_timeout,
        &file.wait_timeout,
        "10m",
    );
    let client_ip = choice(
        p,
        "client_ip",
        args.client_ip.clone().or(file.client_ip.clone()),
        &[
            ("peer", ClientIp::Peer),
            ("x-forwarded-for", ClientIp::ForwardedFor),
        ],
        " (behind a load balancer that appends the client's address)",
    );
    Running {
        max_in_flight,
        reconcile,
        log_format,
        shutdown_timeout,
        image_wait,
        wait_timeout,
        client_ip,
        auth_failures_per_minute: args
            .auth_failures_per_minute
            .or(file.auth_failures_per_minute)
            .unwrap_or(60),
    }
}

fn listen(p: &mut Vec<String>, given: Option<String>) -> SocketAddr {
    let listen = given.unwrap_or_else(|| "127.0.0.1:8080".into());
    listen.parse().unwrap_or_else(|_| {
        p.push(format!(
            "listen: {listen:?} is not an address like 127.0.0.1:8080"
        ));
        SocketAddr::from(([127, 0, 0, 1], 8080))
    })
}

/// The waker's address: off unless given; never the main listener's.
fn wake_listen(
    p: &mut Vec<String>,
    given: Option<String>,
    listen: SocketAddr,
) -> Option<SocketAddr> {
    let given = given.filter(|w| !w.is_empty())?;
    match given.parse::<SocketAddr>() {
        Ok(a) if a == listen => {
            p.push(format!("wake_listen: {given:?} is also listen; give the waker an address of its own, like 127.0.0.1:8081"));
            None
        }
        Ok(a) => Some(a),
        Err(_) => {
            p.push(format!(
                "wake_listen: {given:?} is not an address like 127.0.0.1:8081"
            ));
            None
        }
    }
}

fn profiles(p: &mut Vec<String>, path: Option<std::path::PathBuf>, remote: bool) -> ProfilesFrom {
    match (path, remote) {
        (_, true) => ProfilesFrom::Remote,
        (Some(path), false) => ProfilesFrom::File(path),
        (None, false) => {
            p.push("eden_config: name the profiles file (eden_config = \"/etc/eden/config\", --config-path or EDEN_CONFIG_PATH), or set remote_profiles = true".into());
            ProfilesFrom::Remote
        }
    }
}

fn table(p: &mut Vec<String>, flag: &Option<String>, file: Option<String>) -> String {
    match (flag, file) {
        (Some(g), Some(f)) if *g != f => {
            p.push(format!("table: the file says {f:?} and --remote-table-name/EDEN_TABLE says {g:?}; give it once"));
            f
        }
        (Some(g), _) => g.clone(),
        (None, Some(f)) => f,
        (None, None) => "eden".into(),
    }
}

fn queue(p: &mut Vec<String>, given: Option<String>) -> QueueKind {
    let queue = given.unwrap_or_else(|| "memory".into());
    if queue == "memory" {
        return QueueKind::Memory;
    }
    let Some(url) = queue.strip_prefix("sqs://") else {
        p.push(format!(
            "queue: {queue:?} is neither \"memory\" nor \"sqs://<FIFO queue URL>\""
        ));
        return QueueKind::Memory;
    };
    if !url.ends_with(".fifo") {
        p.push(format!("queue: {queue:?} must name a FIFO queue (its URL ends in .fifo), so jobs stay ordered per pull request"));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        QueueKind::Sqs(url.to_string())
    } else {
        QueueKind::Sqs(format!("https://{url}"))
    }
}

/// One of a few words; the first is the default. `hint` follows the list in the problem.
fn choice<T: Clone>(
    p: &mut Vec<String>,
    key: &str,
    given: Option<String>,
    options: &[(&str, T)],
    hint: &str,
) -> T {
    let word = given.unwrap_or_else(|| options[0].0.to_string());
    if let Some((_, v)) = options.iter().find(|(w, _)| *w == word) {
        return v.clone();
    }
    let words: Vec<String> = options.iter().map(|(w, _)| format!("{w:?}")).collect();
    p.push(format!(
        "{key}: {word:?} is neither {}{hint}",
        words.join(" nor ")
    ));
    options[0].1.clone()
}

fn dur(
    problems: &mut Vec<String>,
    key: &str,
    flag: &Option<String>,
    file: &Option<String>,
    default: &str,
) -> Duration {
    let v = flag.as_ref().or(file.as_ref()).map(String::as_str);
    parse_duration(v.unwrap_or(default)).unwrap_or_else(|e| {
        problems.push(format!("{key}: {e}"));
        Duration::ZERO
    })
}

fn repositories(
    p: &mut Vec<String>,
    flag: &Option<String>,
    file: Vec<RepoFile>,
) -> Vec<RepoConfig> {
    let repos = match flag {
        Some(json) => serde_json::from_str::<Vec<RepoFile>>(json).unwrap_or_else(|e| {
            p.push(format!(
                "EDEN_REPOSITORIES/--repositories: not a JSON array of repository tables: {e}"
            ));
            Vec::new()
        }),
        None => file,
    };
    repos.into_iter().map(|r| repository(p, r)).collect()
}

fn api_keys(p: &mut Vec<String>, args: &ServeArgs, file: Vec<ApiKeyFile>) -> Vec<ApiKey> {
    let keys = match &args.api_keys {
        Some(json) => {
            serde_json::from_str::<Vec<ApiKeyFile>>(json.expose()).unwrap_or_else(|_| {
                // serde's message may quote the input: keep the key out of it.
                p.push(
                    "EDEN_API_KEYS/--api-keys: not a JSON array of {\"key\": …, \"profiles\": […]}"
                        .into(),
                );
                Vec::new()
            })
        }
        None => file,
    };
    keys.into_iter()
        .enumerate()
        .map(|(i, k)| {
            if k.key.expose().len() < 16 {
                p.push(format!(
                    "api_key #{}: the key is shorter than 16 characters; use a long random value",
                    i + 1
                ));
            }
            if k.profiles.is_empty() {
                p.push(format!(
                    "api_key #{}: profiles is empty; name the profiles this key may use",
                    i + 1
                ));
            }
            ApiKey {
                key: k.key,
                profiles: k.profiles,
            }
        })
        .collect()
}

fn github(p: &mut Vec<String>, f: GitHubFile, args: &ServeArgs) -> GitHubConfig {
    let api_url = args
        .github_api_url
        .clone()
        .or(f.api_url)
        .unwrap_or_else(|| "https://api.github.com".into());
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        p.push(format!("github.api_url: {api_url:?} is not an http(s) URL"));
    }
    let server_url = args
        .github_server_url
        .clone()
        .or(f.server_url)
        .unwrap_or_else(|| "https://github.com".into());
    let token = args.github_token.clone().or(f.token);
    let app_id = args.github_app_id.or(f.app_id);
    let key = args.github_private_key_path.clone().or(f.private_key_path);
    let auth = match (token, app_id, key) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            p.push("github: give either token or app_id + private_key_path, not both".into());
            None
        }
        (Some(t), None, None) if t.expose().is_empty() => {
            p.push("github.token is empty".into());
            None
        }
        (Some(t), None, None) => Some(GitHubAuth::Token(t)),
        (None, Some(app_id), Some(path)) => {
            if app_id == 0 {
                p.push("github.app_id: 0 is not an app id".into());
            }
            match std::fs::read(&path) {
                Ok(pem) => {
                    if octocrab::EncodingKey::from_rsa_pem(&pem).is_err() {
                        p.push(format!("github.private_key_path: {} is not the app's RSA private key in PEM form (download it from the app's settings)", path.display()));
                    }
                }
                Err(e) => p.push(format!(
                    "github.private_key_path: cannot read {}: {e}",
                    path.display()
                )),
            }
            Some(GitHubAuth::App {
                app_id,
                private_key_path: path,
            })
        }
        (None, Some(_), None) => {
            p.push("github.app_id is set without github.private_key_path".into());
            None
        }
        (None, None, Some(_)) => {
            p.push("github.private_key_path is set without github.app_id".into());
            None
        }
        (None, None, None) => None,
    };
    let webhook_secrets = if args.webhook_secrets.is_empty() {
        f.webhook_secrets
    } else {
        args.webhook_secrets.clone()
    };
    if webhook_secrets.iter().any(|s| s.expose().is_empty()) {
        p.push("github.webhook_secrets: a secret is empty".into());
    }
    GitHubConfig {
        api_url,
        server_url,
        auth,
        webhook_secrets,
    }
}

fn repository(p: &mut Vec<String>, r: RepoFile) -> RepoConfig {
    let n = &r.name;
    let ok_name = match n.split_once('/') {
        Some((o, name)) => {
            !o.is_empty() && !name.is_empty() && !name.contains('/') && !o.contains('*')
        }
        None => false,
    } && (!n.contains('*') || n.ends_with("/*"));
    if !ok_name {
        p.push(format!(
            "repository {n:?}: the name must be \"owner/name\" or \"owner/*\""
        ));
    }
    let environment = r.environment.unwrap_or_else(|| "pr-{number}".into());
    for bad in unknown_placeholders(&environment) {
        p.push(format!("repository {n}: environment {environment:?} uses {bad}; the placeholders are {{number}}, {{branch}}, {{sha}}"));
    }
    if environment.trim().is_empty() {
        p.push(format!("repository {n}: environment is empty"));
    }
    if r.allow_forks == Some(true) {
        p.push(format!("repository {n}: allow_forks = true is not supported: fork code is never deployed automatically with this account's credentials; a maintainer deploys a reviewed fork PR with the comment `/eden deploy` (see docs/server.md)"));
    }
    let ttl = r.ttl.as_deref().and_then(|t| {
        parse_duration(t)
            .map_err(|e| p.push(format!("repository {n}: ttl: {e}")))
            .ok()
    });
    let (sleep_after, keep_awake_label) =
        sleeping(p, n, r.sleep_after.as_deref(), r.keep_awake_label);
    if r.images.is_empty() {
        p.push(format!("repository {n}: [repository.images] is empty; add one `profile = \"IMAGE URI with {{sha}}\"` per profile"));
    }
    let sample = "0123456789abcdef0123456789abcdef01234567";
    for (profile, template) in &r.images {
        for bad in unknown_placeholders(template) {
            p.push(format!("repository {n}: images.{profile} uses {bad}; the placeholders are {{number}}, {{branch}}, {{sha}}"));
        }
        if let Err(e) = ImageRef::parse(&render(template, 1, "branch", sample)) {
            p.push(format!("repository {n}: images.{profile}: {e}"));
        }
    }
    RepoConfig {
        name: r.name,
        environment,
        wait: r.wait.unwrap_or(false),
        label: r.label.filter(|l| !l.is_empty()),
        ttl,
        sleep_after,
        keep_awake_label,
        comment: r.comment.unwrap_or(true),
        deployment: r.deployment.unwrap_or(false),
        images: r.images,
    }
}

/// CloudWatch's ALB metrics arrive a few minutes late: a shorter `sleep_after` would put
/// previews in use to sleep.
pub const SHORTEST_SLEEP_AFTER: Duration = Duration::from_secs(5 * 60);

/// `sleep_after` and `keep_awake_label` of one repository.
fn sleeping(
    p: &mut Vec<String>,
    n: &str,
    after: Option<&str>,
    label: Option<String>,
) -> (Option<Duration>, Option<String>) {
    let sleep_after = after.and_then(|t| {
        parse_duration(t)
            .map_err(|e| p.push(format!("repository {n}: sleep_after: {e}")))
            .ok()
    });
    if sleep_after.is_some_and(|d| d < SHORTEST_SLEEP_AFTER) {
        p.push(format!("repository {n}: sleep_after {:?} is shorter than 5m; the ALB's request counts reach CloudWatch minutes late, so previews in use would be put to sleep", after.unwrap_or_default()));
    }
    let label = label.map(|l| l.trim().to_string());
    if label.as_deref() == Some("") {
        p.push(format!("repository {n}: keep_awake_label is empty; name a label, like \"keep-awake\", or leave it out"));
    }
    if label.is_some() && after.is_none() {
        p.push(format!("repository {n}: keep_awake_label is set but sleep_after is not: nothing would be put to sleep"));
    }
    (sleep_after, label.filter(|l| !l.is_empty()))
}
