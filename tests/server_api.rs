//! The original eden HTTP API through the real router, against the AWS emulator: good and bad
//! keys, bad parameters (nothing changes in the account), create / list / delete, GET and POST.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use eden::server::config::{self, FileConfig, GlobalProfileFlags, ProfilesFrom, ServeArgs};
use eden::server::{api, router, AppState, Submit};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use tower::ServiceExt;

const KEY_API: &str = "key-for-api-only-0123456789";
const KEY_BOTH: &str = "key-for-api-and-admin-0123456789";
/// May use a profile the configuration file does not have.
const KEY_GHOST: &str = "key-for-api-and-ghost-0123456789";

struct NoQueue;
impl Submit for NoQueue {
    fn submit(&self, _: eden::server::job::Job) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { anyhow::bail!("no queue in API tests") })
    }
}

struct Api {
    app: axum::Router,
    w: World,
    _dir: tempfile::TempDir,
}

async fn api() -> Api {
    api_with(|_| {}).await
}

/// The API over an engine `tune` may change (its lease wait, cancellation, clients).
async fn api_with(tune: impl FnOnce(&mut eden::engine::Engine)) -> Api {
    let w = World::new("api").await;
    w.warm().await;
    let dir = tempfile::tempdir().unwrap();
    let path = w.write_config(dir.path());
    let text = format!(
        r#"
eden_config = "{}"
table = "{}"
[[api_key]]
key = "{KEY_API}"
profiles = ["api"]
[[api_key]]
key = "{KEY_BOTH}"
profiles = ["api", "admin"]
[[api_key]]
key = "{KEY_GHOST}"
profiles = ["api", "ghost"]
"#,
        path.display(),
        w.table
    );
    let file: FileConfig = toml::from_str(&text).unwrap();
    let cfg = config::resolve(file, &ServeArgs::default(), &GlobalProfileFlags::default())
        .unwrap_or_else(|p| panic!("{p:?}"));
    let mut state = AppState::new(Arc::new(cfg), Arc::new(NoQueue));
    let mut engine = w.engine(None).await;
    tune(&mut engine);
    state.api = Some(api::Backend {
        engine,
        profiles: ProfilesFrom::File(path),
    });
    Api {
        app: router(Arc::new(state)),
        w,
        _dir: dir,
    }
}

fn q(s: &str) -> String {
    s.replace('/', "%2F")
        .replace(':', "%3A")
        .replace('@', "%40")
}

impl Api {
    async fn call(&self, req: Request<Body>) -> (StatusCode, Value) {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
    async fn get(&self, path: &str, key: Option<&str>) -> (StatusCode, Value) {
        let mut r = Request::get(path);
        if let Some(k) = key {
            r = r.header("x-api-key", k);
        }
        self.call(r.body(Body::empty()).unwrap()).await
    }
    async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        let r = Request::post(path)
            .header("x-api-key", key)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.call(r).await
    }
}

#[tokio::test]
async fn create_list_and_delete_like_the_original() {
    let a = api().await;
    let w = &a.w;
    let before = w.snapshot().await;
    let image = w.image("api", "sha-1");
    let (status, body) = a
        .get(
            &format!(
                "/api/v1/create?name=feature-x&image_uri={}&profile=api",
                q(&image)
            ),
            Some(KEY_API),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let checked = verify_environment(w, "api", "feature-x", &image).await;
    let prefix = w.raw("api")["name_prefix"].clone();
    assert_eq!(
        body,
        json!({"status": "ok", "message": "successfully created",
               "name": format!("{prefix}-feature-x"), "cname": checked.hostname})
    );

    // POST, JSON body: a second environment on the other profile.
    let admin_image = w.image("admin", "sha-1");
    let (status, body) = a
        .post(
            "/api/v1/create",
            KEY_BOTH,
            json!({"name": "feature-y", "image_uri": admin_image, "profile": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    verify_environment(w, "admin", "feature-y", &admin_image).await;

    // Each key sees the environments of its own profiles only.
    let (status, body) = a.get("/api/v1/environments", Some(KEY_API)).await;
    assert_eq!(status, StatusCode::OK);
    let names = |b: &Value| -> Vec<String> {
        b["environments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}/{}",
                    e["profile"].as_str().unwrap(),
                    e["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(names(&body), ["api/feature-x"]);
    let (_, body) = a.get("/api/v1/environments", Some(KEY_BOTH)).await;
    let mut both = names(&body);
    both.sort();
    assert_eq!(both, ["admin/feature-y", "api/feature-x"]);

    let (status, body) = a
        .get("/api/v1/delete?name=feature-x&profile=api", Some(KEY_API))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"status": "ok", "message": "successfully deleted", "name": format!("{prefix}-feature-x")})
    );
    let (status, _) = a
        .post(
            "/api/v1/delete",
            KEY_BOTH,
            json!({"name": "feature-y", "profile": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(w.snapshot().await, before, "delete left something behind");
}

#[tokio::test]
async fn bad_keys_are_403_and_change_nothing() {
    let a = api().await;
    let w = &a.w;
    let before = w.snapshot().await;
    let image = w.image("admin", "sha-1");
    let create = format!(
        "/api/v1/create?name=nope&image_uri={}&profile=admin",
        q(&image)
    );
    for (key, why) in [
        (None, "no key"),
        (Some("wrong-key-0123456789abcdef"), "wrong key"),
        (Some(&KEY_API[..KEY_API.len() - 1]), "a prefix of a key"),
        (Some(KEY_API), "a key not allowed this profile"),
    ] {
        let (status, body) = a.get(&create, key).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{why}: {body}");
        assert_eq!(body["status"], "error");
    }
    let (status, body) = a.get("/api/v1/environments", Some("wrong")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = a
        .get("/api/v1/environments?profile=admin", Some(KEY_API))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test]
async fn bad_parameters_are_400_with_what_to_fix() {
    let a = api().await;
    let w = &a.w;
    let before = w.snapshot().await;
    let image = q(&w.image("api", "sha-1"));
    let cases = [
        (
            "/api/v1/create?profile=api".to_string(),
            "Necessary query string parameters not specified: name image_uri",
        ),
        (
            "/api/v1/create?name=x&profile=api&image_uri=".to_string(),
            "Necessary query string parameters not specified: image_uri",
        ),
        (
            "/api/v1/delete?profile=api".to_string(),
            "Necessary query string parameters not specified: name",
        ),
        (
            "/api/v1/create?name=x&profile=api&image_uri=nginx%3Alatest".to_string(),
            "is not an Amazon ECR image",
        ),
        (
            format!("/api/v1/create?name=a%0Ab&profile=api&image_uri={image}"),
            "environment",
        ),
    ];
    for (path, expected) in &cases {
        let (status, body) = a.get(path, Some(KEY_BOTH)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains(expected), "{path}: {msg}");
    }
    // A profile the key may use but the file lacks.
    let (status, body) = a
        .post(
            "/api/v1/create",
            KEY_BOTH,
            json!({"name": "x", "image_uri": w.image("api", "sha-1"), "profile": "default"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for bad in [json!(["name"]), json!({"name": 5, "profile": "api"})] {
        let (status, body) = a.post("/api/v1/delete", KEY_BOTH, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // An image that is not in ECR: the engine's check, before anything is written.
    let missing = w.image("api", "sha-1").replace(":sha-1", ":never-pushed");
    let (status, body) = a
        .post(
            "/api/v1/create",
            KEY_BOTH,
            json!({"name": "x", "image_uri": missing, "profile": "api"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["kind"], "refused", "{body}");
    assert_eq!(body["fix"], "push the image first", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("never-pushed"),
        "{body}"
    );
    assert_eq!(w.snapshot().await, before);
}

/// What `/api/v1/create` answers for each kind of engine error; none changes the account.
#[tokio::test]
async fn the_status_follows_the_kind_of_error() {
    // bad input (400), refused (400, with the fix), not found (404)
    let a = api().await;
    let w = &a.w;
    let before = w.snapshot().await;
    let image = w.image("api", "sha-1");
    let create = |name: &str, image: &str, profile: &str| json!({"name": name, "image_uri": image, "profile": profile});
    let cases = [
        (
            KEY_BOTH,
            create("x", "nginx:latest", "api"),
            StatusCode::BAD_REQUEST,
            "bad_input",
        ),
        (
            KEY_BOTH,
            create("x", &image.replace("sha-1", "nope"), "api"),
            StatusCode::BAD_REQUEST,
            "refused",
        ),
        (
            KEY_GHOST,
            create("x", &image, "ghost"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (key, body, status, kind) in cases {
        let (got, answer) = a.post("/api/v1/create", key, body.clone()).await;
        assert_eq!(
            (got, answer["kind"].as_str()),
            (status, Some(kind)),
            "{body}: {answer}"
        );
        assert_eq!(answer["status"], "error");
    }
    assert_eq!(w.snapshot().await, before);

    // busy (409 + Retry-After): another live run holds the environment's lease
    let a = api_with(|e| e.lease.wait = std::time::Duration::from_millis(500)).await;
    let w = &a.w;
    let holder = eden::engine::lease::acquire(&w.engine(None).await, "api", "held")
        .await
        .unwrap();
    let req = Request::post("/api/v1/create")
        .header("x-api-key", KEY_API)
        .header("content-type", "application/json")
        .body(Body::from(
            create("held", &w.image("api", "sha-1"), "api").to_string(),
        ))
        .unwrap();
    let res = a.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let retry = res.headers()["retry-after"].to_str().unwrap().to_string();
    assert_eq!(
        retry,
        eden::engine::LeaseSettings::default()
            .duration
            .as_secs()
            .to_string()
    );
    holder.release(&w.engine(None).await.aws).await.unwrap();

    // interrupted (503): the process was asked to stop
    let a = api_with(|e| {
        e.cancel = tokio_util::sync::CancellationToken::new();
        e.cancel.cancel();
    })
    .await;
    let w = &a.w;
    let before = w.snapshot().await;
    let (status, body) = a
        .post(
            "/api/v1/create",
            KEY_API,
            create("stop", &w.image("api", "sha-1"), "api"),
        )
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("interrupted")),
        "{body}"
    );
    assert_eq!(w.snapshot().await, before);

    // AWS unreachable (502): every call fails to connect, after the SDK's own retries
    let closed = eden::aws::Aws::load(eden::aws::ClientOptions {
        region: Some(REGION.into()),
        endpoint_url: Some("http://127.0.0.1:9".into()),
        static_credentials: Some(("testing".into(), "testing".into())),
        ..Default::default()
    })
    .await;
    let a = api_with(|e| e.aws = closed).await;
    let (status, body) = a
        .post(
            "/api/v1/create",
            KEY_API,
            create("down", &a.w.image("api", "sha-1"), "api"),
        )
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("aws")),
        "{body}"
    );
}
