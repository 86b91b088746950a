//! The original eden HTTP API (`GET /api/v1/create?name=&image_uri=&profile=`,
//! `GET /api/v1/delete?name=&profile=`, `x-api-key`), with the same JSON bodies
//! `{status, message, name, cname}`; plus `GET /api/v1/environments` and `POST` variants that
//! take the parameters as a JSON object.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use super::abuse;
use super::config::{ApiKey, ProfilesFrom};
use super::metrics as m;
use super::AppState;
use crate::engine::lease::LeaseError;
use crate::engine::{CreateRequest, Engine};
use crate::image::ImageRef;
use crate::names::ResourceNames;
use crate::profile::{self, Profile};
use crate::profile_store;

/// What the API needs to act: the engine and where profiles live.
pub struct Backend {
    pub engine: Engine,
    pub profiles: ProfilesFrom,
}

impl Backend {
    async fn profile(&self, name: &str) -> Result<Profile, String> {
        let raw = match &self.profiles {
            ProfilesFrom::File(path) => {
                profile::read_raw(path, name).map_err(|e| format!("{e:#}"))?
            }
            ProfilesFrom::Remote => {
                profile_store::fetch(&self.engine.aws, &self.engine.table, name)
                    .await
                    .map_err(|e| format!("{e:#}"))?
            }
        };
        Profile::from_raw(name, &raw)
            .map_err(|p| format!("profile {name} is not usable: {}", p.join("; ")))
    }
}

type Params = HashMap<String, String>;

fn reply(op: &'static str, status: StatusCode, body: Value) -> Response {
    m::api_request(op, status.as_u16());
    (status, Json(body)).into_response()
}

fn error(op: &'static str, status: StatusCode, message: impl Into<String>) -> Response {
    reply(
        op,
        status,
        json!({"status": "error", "message": message.into()}),
    )
}

/// The key presented in `x-api-key`, compared in constant time with every configured key.
fn authorise<'a>(keys: &'a [ApiKey], headers: &HeaderMap) -> Option<&'a ApiKey> {
    let given = headers.get("x-api-key")?.as_bytes();
    let mut found = None;
    for k in keys {
        if bool::from(k.key.expose().as_bytes().ct_eq(given)) {
            found = Some(k);
        }
    }
    found
}

fn json_params(body: &[u8]) -> Result<Params, String> {
    let v: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        format!("the body must be a JSON object like {{\"name\": \"…\", \"profile\": \"…\"}}: {e}")
    })?;
    v.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(format!("{k} must be a string, not {other}")),
        })
        .collect()
}

/// Missing parameters, worded as the original.
fn require(params: &Params, names: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| params.get(**n).is_none_or(|v| v.trim().is_empty()))
        .copied()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "Necessary query string parameters not specified: {}",
            missing.join(" ")
        ))
    }
}

/// Authorise, check parameters, load the profile: everything before the engine runs.
async fn admit<'a>(
    app: &'a AppState,
    op: &'static str,
    headers: &HeaderMap,
    params: &Params,
    required: &[&str],
) -> Result<(&'a Backend, Profile), Response> {
    let Some(key) = authorise(&app.config.api_keys, headers) else {
        return Err(abuse::failed(error(
            op,
            StatusCode::FORBIDDEN,
            "Forbidden: send a valid API key in the x-api-key header",
        )));
    };
    require(params, required).map_err(|m| error(op, StatusCode::BAD_REQUEST, m))?;
    let profile = params
        .get("profile")
        .map(String::as_str)
        .unwrap_or("default");
    if !key.profiles.iter().any(|p| p == profile) {
        return Err(error(
            op,
            StatusCode::FORBIDDEN,
            format!("Forbidden: this API key may not use profile {profile}"),
        ));
    }
    if let Err(e) = crate::names::validate_environment(&params["name"]) {
        return Err(error(op, StatusCode::BAD_REQUEST, e));
    }
    let Some(backend) = &app.api else {
        return Err(error(
            op,
            StatusCode::SERVICE_UNAVAILABLE,
            "this server has no AWS access configured",
        ));
    };
    let profile = backend
        .profile(profile)
        .await
        .map_err(|e| error(op, StatusCode::BAD_REQUEST, e))?;
    Ok((backend, profile))
}

fn engine_error(op: &'static str, e: anyhow::Error) -> Response {
    m::error("api");
    let status = match e.downcast_ref::<LeaseError>() {
        Some(LeaseError::Busy { .. }) => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    tracing::error!(operation = op, "{e:#}");
    error(op, status, format!("{e:#}"))
}

async fn create(app: Arc<AppState>, headers: HeaderMap, params: Params) -> Response {
    const OP: &str = "create";
    let (backend, profile) = match admit(&app, OP, &headers, &params, &["name", "image_uri"]).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (name, image) = (&params["name"], &params["image_uri"]);
    let image_ref = match ImageRef::parse(image) {
        Ok(i) => i,
        Err(e) => return error(OP, StatusCode::BAD_REQUEST, e),
    };
    match crate::aws::ecr::image_exists(&backend.engine.aws, &image_ref).await {
        Ok(true) => {}
        Ok(false) => {
            return error(
                OP,
                StatusCode::BAD_REQUEST,
                format!("image {image} not found in ECR: push it first, or check image_uri"),
            )
        }
        Err(e) => return engine_error(OP, e),
    }
    let req = CreateRequest {
        environment: name.clone(),
        image_uri: image.clone(),
        metadata: [("source".to_string(), "api".to_string())].into(),
        env: Vec::new(),
    };
    let began = Instant::now();
    let result = backend.engine.create(&profile, &req).await;
    m::operation_duration("api_create", began.elapsed());
    match result {
        Ok(out) => {
            let names = ResourceNames::new(&profile.name_prefix, &profile.domain_name_prefix, name);
            tracing::info!(profile = %profile.name, environment = %name, "created via the API");
            reply(
                OP,
                StatusCode::OK,
                json!({"status": "ok", "message": "successfully created", "name": names.base, "cname": out.hostname}),
            )
        }
        Err(e) => engine_error(OP, e),
    }
}

async fn delete(app: Arc<AppState>, headers: HeaderMap, params: Params) -> Response {
    const OP: &str = "delete";
    let (backend, profile) = match admit(&app, OP, &headers, &params, &["name"]).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let name = &params["name"];
    let began = Instant::now();
    let result = backend.engine.delete(&profile, name).await;
    m::operation_duration("api_delete", began.elapsed());
    match result {
        Ok(_) => {
            let names = ResourceNames::new(&profile.name_prefix, &profile.domain_name_prefix, name);
            tracing::info!(profile = %profile.name, environment = %name, "deleted via the API");
            reply(
                OP,
                StatusCode::OK,
                json!({"status": "ok", "message": "successfully deleted", "name": names.base}),
            )
        }
        Err(e) => engine_error(OP, e),
    }
}

pub async fn create_get(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    create(app, headers, q).await
}

pub async fn create_post(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match json_params(&body) {
        Ok(p) => create(app, headers, p).await,
        Err(e) => error("create", StatusCode::BAD_REQUEST, e),
    }
}

pub async fn delete_get(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    delete(app, headers, q).await
}

pub async fn delete_post(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match json_params(&body) {
        Ok(p) => delete(app, headers, p).await,
        Err(e) => error("delete", StatusCode::BAD_REQUEST, e),
    }
}

/// `GET /api/v1/environments[?profile=]`: the environments of the profiles the key may use.
pub async fn environments(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    const OP: &str = "environments";
    let Some(key) = authorise(&app.config.api_keys, &headers) else {
        return abuse::failed(error(
            OP,
            StatusCode::FORBIDDEN,
            "Forbidden: send a valid API key in the x-api-key header",
        ));
    };
    if let Some(p) = q.get("profile") {
        if !key.profiles.contains(p) {
            return error(
                OP,
                StatusCode::FORBIDDEN,
                format!("Forbidden: this API key may not use profile {p}"),
            );
        }
    }
    let Some(backend) = &app.api else {
        return error(
            OP,
            StatusCode::SERVICE_UNAVAILABLE,
            "this server has no AWS access configured",
        );
    };
    let rows = match backend
        .engine
        .list(q.get("profile").map(String::as_str))
        .await
    {
        Ok(r) => r,
        Err(e) => return engine_error(OP, e),
    };
    let items: Vec<Value> = rows
        .iter()
        .filter(|r| key.profiles.contains(&r.profile))
        .map(|r| {
            json!({
                "profile": r.profile, "name": r.environment, "cname": r.hostname, "url": r.url,
                "image": r.image, "last_updated": r.last_updated, "status": r.status,
            })
        })
        .collect();
    reply(
        OP,
        StatusCode::OK,
        json!({"status": "ok", "message": format!("{} environment(s)", items.len()), "environments": items}),
    )
}
