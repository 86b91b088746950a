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
"#,
        path.display(),
        w.table
    );
    let file: FileConfig = toml::from_str(&text).unwrap();
    let cfg = config::resolve(file, &ServeArgs::default(), &GlobalProfileFlags::default())
        .unwrap_or_else(|p| panic!("{p:?}"));
    let mut state = AppState::new(Arc::new(cfg), Arc::new(NoQueue));
    state.api = Some(api::Backend {
        engine: w.engine(None).await,
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
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not found in ECR"),
        "{body}"
    );
    assert_eq!(w.snapshot().await, before);
}
