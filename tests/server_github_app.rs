//! `eden serve` as a GitHub App: the app's JWT finds the repository's installation, the
//! installation token authorises the calls, and a token about to expire is renewed before use.
//! A stand-in GitHub (wiremock) issues the tokens and records every request's credentials.

mod common;

use std::sync::{Arc, Mutex};

use eden::github::api::GitHub;
use eden::server::config::{GitHubAuth, GitHubConfig};
use eden::server::github::Clients;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const APP_ID: u64 = 4242;
const REPO: &str = "octo-org/shop";

/// (method path, the bearer credential) of every request.
type Log = Arc<Mutex<Vec<(String, String)>>>;

struct Answer {
    log: Log,
    /// Tokens handed out in turn: (token, seconds until it expires).
    tokens: Arc<Mutex<Vec<(&'static str, i64)>>>,
}

impl Respond for Answer {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let bearer = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("")
            .to_string();
        let what = format!("{} {}", req.method, req.url.path());
        self.log.lock().unwrap().push((what.clone(), bearer));
        match what.as_str() {
            "GET /repos/octo-org/shop/installation" => {
                ResponseTemplate::new(200).set_body_json(json!({"id": 77, "app_id": APP_ID}))
            }
            "POST /app/installations/77/access_tokens" => {
                let (token, secs) = self.tokens.lock().unwrap().remove(0);
                let expires = OffsetDateTime::now_utc() + time::Duration::seconds(secs);
                ResponseTemplate::new(201).set_body_json(json!({
                    "token": token,
                    "expires_at": expires.format(&Rfc3339).unwrap(),
                    "permissions": {"pull_requests": "write", "deployments": "write"},
                    "repository_selection": "selected",
                }))
            }
            _ => ResponseTemplate::new(200)
                .set_body_json(json!({"number": 1, "state": "open", "head": {"sha": "abc"}})),
        }
    }
}

/// A fresh RSA key in PEM form (the emulator's Python has `cryptography`).
fn rsa_key_pem() -> Vec<u8> {
    let out = std::process::Command::new(common::python())
        .args([
            "-c",
            "from cryptography.hazmat.primitives.asymmetric import rsa\n\
             from cryptography.hazmat.primitives import serialization as s\n\
             k = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n\
             print(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption()).decode())",
        ])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A JWT part (unpadded base64url) as JSON.
fn jwt_part(jwt: &str, n: usize) -> Value {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let part = jwt.split('.').nth(n).expect("a JWT has three parts");
    let (mut bits, mut acc, mut out) = (0u32, 0u32, Vec::new());
    for c in part.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64url") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    serde_json::from_slice(&out).unwrap()
}

#[tokio::test]
async fn an_app_finds_the_installation_and_renews_its_token_before_it_expires() {
    let server = MockServer::start().await;
    let log: Log = Arc::default();
    let tokens = Arc::new(Mutex::new(vec![
        // Expires in 20 s: inside the 30 s margin, so it is renewed before the next call.
        ("ghs_first", 20),
        ("ghs_second", 3600),
    ]));
    for m in ["GET", "POST"] {
        Mock::given(method(m))
            .and(path_regex(".*"))
            .respond_with(Answer {
                log: log.clone(),
                tokens: tokens.clone(),
            })
            .mount(&server)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, rsa_key_pem()).unwrap();
    let clients = Clients::new(&GitHubConfig {
        api_url: server.uri(),
        server_url: "https://github.com".into(),
        auth: Some(GitHubAuth::App {
            app_id: APP_ID,
            private_key_path: key,
        }),
        webhook_secrets: Vec::new(),
    })
    .unwrap();

    for _ in 0..3 {
        let client = clients.for_repo(REPO, None).await.unwrap().unwrap();
        let pr = GitHub::with_client(client, REPO).pull(1).await.unwrap();
        assert_eq!((pr.open, pr.head_sha.as_str()), (true, "abc"));
    }

    let log = log.lock().unwrap().clone();
    let calls: Vec<&str> = log.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(
        calls,
        [
            "GET /repos/octo-org/shop/installation",
            "POST /app/installations/77/access_tokens",
            "GET /repos/octo-org/shop/pulls/1",
            "POST /app/installations/77/access_tokens",
            "GET /repos/octo-org/shop/pulls/1",
            "GET /repos/octo-org/shop/pulls/1",
        ],
        "installation looked up once, the short-lived token renewed once, the new one reused"
    );
    // The app's own calls carry its JWT (issued by the app, RS256); the repository's calls
    // carry the installation token current at the time.
    for (what, bearer) in log.iter().filter(|(w, _)| !w.contains("/pulls/")) {
        assert_eq!(jwt_part(bearer, 0)["alg"], "RS256", "{what}");
        let claims = jwt_part(bearer, 1);
        assert_eq!(claims["iss"], APP_ID, "{what}");
        // GitHub refuses an app JWT that lives longer than 10 minutes.
        let life = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert!(life <= 600, "{what}: the JWT lives {life} s");
    }
    let used: Vec<&str> = log
        .iter()
        .filter(|(w, _)| w.contains("/pulls/"))
        .map(|(_, b)| b.as_str())
        .collect();
    assert_eq!(used, ["ghs_first", "ghs_second", "ghs_second"]);
}
