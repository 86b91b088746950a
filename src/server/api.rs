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
use crate::engine::{CreateRequest, Engine, Error, ErrorKind};
use crate::error::Refusal;
use crate::names::ResourceNames;
use crate::profile::{self, Profile};
use crate::profile_store;

/// What the API needs to act: the engine and where profiles live.
pub struct Backend {
    pub engine: Engine,
    pub profiles: ProfilesFrom,
}

impl Backend {
    /// The profile, or why not: `NotFound` for an unknown one, `Refused` for one that is not
    /// usable (the server's configuration, not the request, must change).
    async fn profile(&self, name: &str) -> Result<Profile, Error> {
        let raw = match &self.profiles {
            ProfilesFrom::File(path) => profile::read_raw(path, name)?,
            ProfilesFrom::Remote => {
                profile_store::fetch(&self.engine.aws, &self.engine.table, name).await?
            }
        };
        Profile::from_raw(name, &raw).map_err(|p| {
            Error::from(anyhow::Error::new(Refusal::new(
                format!("profile {name} is not usable: {}", p.join("; ")),
                "fix it on the server (`eden config check`)",
            )))
        })
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
        .map_err(|e| engine_error(op, e))?;
    Ok((backend, profile))
}

/// The HTTP status for each kind of engine error (docs/server.md lists them).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadInput | ErrorKind::Refused => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Busy => StatusCode::CONFLICT,
        ErrorKind::Aws => StatusCode::BAD_GATEWAY,
        ErrorKind::Interrupted => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An engine failure as the original API's error body, plus `kind` (and `fix` for a refusal);
/// a busy environment also gets `Retry-After`.
fn engine_error(op: &'static str, e: Error) -> Response {
    let status = status_of(e.kind());
    m::error("api");
    if status.is_server_error() {
        tracing::error!(operation = op, kind = e.kind().as_str(), "{e}");
    } else {
        tracing::info!(operation = op, kind = e.kind().as_str(), "refused: {e}");
    }
    let mut body = json!({"status": "error", "message": e.to_string(), "kind": e.kind().as_str()});
    if let Error::Refused { fix, .. } = &e {
        body["fix"] = json!(fix);
    }
    let mut response = reply(op, status, body);
    if let Error::Busy { retry_after, .. } = &e {
        let secs = retry_after.as_secs().max(1).to_string();
        if let Ok(v) = http::HeaderValue::from_str(&secs) {
            response.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
    }
    response
}

async fn create(app: Arc<AppState>, headers: HeaderMap, params: Params) -> Response {
    const OP: &str = "create";
    let (backend, profile) = match admit(&app, OP, &headers, &params, &["name", "image_uri"]).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    // An unparsable or missing image is the engine's to refuse (400), before any write.
    let (name, image) = (&params["name"], &params["image_uri"]);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind has its status (the emulator tests in tests/server_api.rs reach all but
    /// `internal`, which no refusal of a well-formed request produces).
    #[test]
    fn each_kind_of_engine_error_has_its_status() {
        let all = [
            (ErrorKind::BadInput, 400),
            (ErrorKind::Refused, 400),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Busy, 409),
            (ErrorKind::Aws, 502),
            (ErrorKind::Interrupted, 503),
            (ErrorKind::Internal, 500),
        ];
        for (kind, status) in all {
            assert_eq!(status_of(kind).as_u16(), status, "{}", kind.as_str());
        }
        let body = |e: Error| {
            let r = engine_error("create", e);
            (r.status().as_u16(), r.headers().get("retry-after").cloned())
        };
        let (status, retry) = body(Error::Busy {
            holder: "h".into(),
            retry_after: std::time::Duration::from_secs(20),
            message: "busy".into(),
        });
        assert_eq!((status, retry.unwrap().to_str().unwrap()), (409, "20"));
        let (status, retry) = body(Error::Internal(anyhow::anyhow!("boom")));
        assert_eq!((status, retry), (500, None));
    }
}
