//! `github::api` against the fake GitHub: failures are classified by the status and headers
//! GitHub answers with, never by the message text (`github::error`).

mod common;

use common::fake_github::{Canned, FakeGitHub};
use eden::github::api::{GitHub, GitHubError, GitHubErrorKind};

fn fixture() -> serde_json::Value {
    let text = std::fs::read_to_string(
        common::root().join("tests/fixtures/github/pull_request.synchronize.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn fake() -> (FakeGitHub, GitHub) {
    let gh = FakeGitHub::start(&fixture()).await;
    let client = GitHub::new(&gh.url(), "token", "Codertocat/Hello-World").unwrap();
    (gh, client)
}

fn github_error(e: &anyhow::Error) -> &GitHubError {
    e.chain()
        .find_map(|c| c.downcast_ref::<GitHubError>())
        .unwrap_or_else(|| panic!("not a GitHubError: {e:#}"))
}

async fn pull_failure(canned: Vec<Canned>) -> anyhow::Error {
    let (gh, client) = fake().await;
    gh.state.lock().unwrap().canned.extend(canned);
    client.pull(2).await.unwrap_err()
}

#[tokio::test]
async fn a_403_with_no_quota_left_is_a_rate_limit_whatever_its_message() {
    let e = pull_failure(vec![Canned::primary_rate_limit(403, "Forbidden", 120)]).await;
    let g = github_error(&e);
    assert_eq!(
        (g.kind, g.status, g.transient),
        (GitHubErrorKind::RateLimited, Some(403), true)
    );
    let wait = g.retry_after.expect("until x-ratelimit-reset").as_secs();
    assert!((110..=120).contains(&wait), "{wait}");
    assert!(!e.to_string().contains("lacks permission"), "{e}");
}

#[tokio::test]
async fn a_secondary_rate_limit_says_how_long_to_wait() {
    let e = pull_failure(vec![Canned::secondary_rate_limit(403, 60)]).await;
    let g = github_error(&e);
    assert_eq!((g.kind, g.transient), (GitHubErrorKind::RateLimited, true));
    assert_eq!(g.retry_after.map(|d| d.as_secs()), Some(60));
}

#[tokio::test]
async fn a_403_with_quota_left_is_a_permission_error_whatever_its_message() {
    // Even a body that talks of rate limits: the headers say the quota is not spent.
    for message in [
        "Resource not accessible by integration",
        "API rate limit exceeded",
    ] {
        let e = pull_failure(vec![Canned::status(403, message)]).await;
        let g = github_error(&e);
        assert_eq!(
            (g.kind, g.transient),
            (GitHubErrorKind::Forbidden, false),
            "{message}"
        );
        assert!(e.to_string().contains("the token lacks permission"), "{e}");
    }
}

#[tokio::test]
async fn a_429_outlasting_octocrabs_own_retries_is_a_rate_limit() {
    // octocrab tries a call 4 times when GitHub answers 429 or 5xx.
    let e = pull_failure(vec![Canned::primary_rate_limit(429, "slow down", 30); 4]).await;
    assert_eq!(github_error(&e).kind, GitHubErrorKind::RateLimited);
    let e = pull_failure(vec![Canned::status(502, "Bad Gateway"); 4]).await;
    let g = github_error(&e);
    assert_eq!((g.kind, g.transient), (GitHubErrorKind::Server, true));
    let e = pull_failure(vec![Canned::status(401, "Bad credentials")]).await;
    assert_eq!(github_error(&e).kind, GitHubErrorKind::Unauthorized);
    assert!(!github_error(&e).transient);
}

#[tokio::test]
async fn editing_a_comment_that_is_gone_is_told_by_the_404_alone() {
    let (gh, client) = fake().await;
    let id = client.create_comment(2, "hello").await.unwrap();
    assert!(client.update_comment(id, "edited").await.unwrap());
    assert!(
        !client.update_comment(424242, "edited").await.unwrap(),
        "gone"
    );
    // A 404 is "gone" whatever its message says.
    let not_accessible = Canned::status(404, "Resource not accessible by integration");
    gh.state.lock().unwrap().canned.push_back(not_accessible);
    assert!(!client.update_comment(id, "edited").await.unwrap());
    // A 403 is the token's permission; a rate-limited 403 is transient.
    gh.state.lock().unwrap().read_only = true;
    let e = client.update_comment(id, "edited").await.unwrap_err();
    assert_eq!(github_error(&e).kind, GitHubErrorKind::Forbidden);
    let limited = Canned::primary_rate_limit(403, "Forbidden", 60);
    gh.state.lock().unwrap().canned.push_back(limited);
    let e = client.update_comment(id, "edited").await.unwrap_err();
    assert!(github_error(&e).transient);
    assert_eq!(gh.body(id).as_deref(), Some("edited"));
}

#[tokio::test]
async fn get_user_forbidden_means_no_login_but_a_rate_limit_is_an_error() {
    let (gh, client) = fake().await;
    assert_eq!(
        client.login().await.unwrap(),
        None,
        "GITHUB_TOKEN answers 403"
    );
    gh.state.lock().unwrap().user = Some("octocat".into());
    assert_eq!(client.login().await.unwrap().as_deref(), Some("octocat"));
    let limited = Canned::primary_rate_limit(403, "Forbidden", 60);
    gh.state.lock().unwrap().canned.push_back(limited);
    let e = client.login().await.unwrap_err();
    assert_eq!(github_error(&e).kind, GitHubErrorKind::RateLimited);
}

#[tokio::test]
async fn paged_reads_send_their_query() {
    let (gh, client) = fake().await;
    gh.add_comments(150);
    assert_eq!(client.comments_page(2, 2).await.unwrap().len(), 50);
    assert_eq!(client.open_pulls().await.unwrap(), vec![2]);
    let id = client
        .create_deployment("abc", "pr 2/x", "d")
        .await
        .unwrap();
    assert_eq!(client.deployments("pr 2/x").await.unwrap(), vec![id]);
    assert!(client.deployments("pr-3").await.unwrap().is_empty());
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}
