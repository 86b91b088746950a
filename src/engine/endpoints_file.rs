//! The environments JSON in S3, in the original format and semantics:
//! `{"environments": [{"env": TYPE, "name": "PREFIX-ENV", "<update_key>": "<fqdn>", …}]}`,
//! written like Python's `json.dumps(indent=4, sort_keys=True)`.
//!
//! Updates are conditional (`If-Match` on the ETag, `If-None-Match: *` for a new object) and
//! retried, so concurrent runs never lose each other's entries.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use aws_sdk_s3::primitives::ByteStream;
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::aws::{describe, error_code, http_status, Aws};
use crate::profile::EndpointsFile;

/// Set `update_key = fqdn` on every entry named `name`, or append a new entry. Returns whether
/// the document changed.
pub fn add(
    doc: &mut Value,
    name: &str,
    update_key: &str,
    fqdn: &str,
    env_type: &str,
) -> Result<bool> {
    let list = environments(doc)?;
    let mut matched = false;
    let mut changed = false;
    for entry in list
        .iter_mut()
        .filter(|e| e.get("name").and_then(Value::as_str) == Some(name))
    {
        matched = true;
        if let Some(obj) = entry.as_object_mut() {
            if obj.get(update_key).and_then(Value::as_str) != Some(fqdn) {
                obj.insert(update_key.to_string(), Value::String(fqdn.to_string()));
                changed = true;
            }
        }
    }
    if !matched {
        list.push(json!({ "name": name, "env": env_type, update_key: fqdn }));
        changed = true;
    }
    Ok(changed)
}

/// Remove `update_key` from the first entry named `name` that has it; remove the entry whole when
/// nothing but `env`, `name` and that key remain (the original's "only optional key" rule).
pub fn remove(doc: &mut Value, name: &str, update_key: &str) -> Result<bool> {
    let list = environments(doc)?;
    let Some(i) = list.iter().position(|e| {
        e.get("name").and_then(Value::as_str) == Some(name) && e.get(update_key).is_some()
    }) else {
        return Ok(false);
    };
    let entry = list[i]
        .as_object_mut()
        .expect("entries with keys are objects");
    let only_ours = entry.len() == 3 && entry.contains_key("env") && entry.contains_key("name");
    if only_ours {
        list.remove(i);
    } else {
        entry.remove(update_key);
    }
    Ok(true)
}

fn environments(doc: &mut Value) -> Result<&mut Vec<Value>> {
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| anyhow!("the environments file is not a JSON object"))?;
    let list = obj
        .entry("environments")
        .or_insert_with(|| Value::Array(vec![]))
        .as_array_mut()
        .ok_or_else(|| anyhow!("\"environments\" in the environments file is not a list"))?;
    Ok(list)
}

/// Python's `json.dumps(doc, indent=4, sort_keys=True)` (ASCII-escaped, sorted keys).
pub fn render(doc: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(&sorted(doc), &mut ser).expect("JSON values serialise");
    let text = String::from_utf8(buf).expect("serde_json writes UTF-8");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Read-modify-write with optimistic concurrency. `edit` returns whether it changed anything;
/// unchanged documents are not written. Returns whether a write happened.
pub async fn update<F>(
    aws: &Aws,
    file: &EndpointsFile,
    create_if_missing: bool,
    edit: F,
) -> Result<bool>
where
    F: Fn(&mut Value) -> Result<bool>,
{
    let what = format!("s3://{}/{}", file.bucket, file.key);
    for attempt in 0..12 {
        let (mut doc, etag) = match aws
            .s3
            .get_object()
            .bucket(&file.bucket)
            .key(&file.key)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag.clone();
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| anyhow!("reading {what} failed: {e}"))?
                    .into_bytes();
                let doc: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow!("{what} is not valid JSON ({e}); fix or remove it"))?;
                (doc, etag)
            }
            Err(e) if error_code(&e) == Some("NoSuchKey") || http_status(&e) == Some(404) => {
                if !create_if_missing {
                    return Ok(false);
                }
                (json!({ "environments": [] }), None)
            }
            Err(e) => bail!("reading {what} failed: {}", describe(&e)),
        };
        if !edit(&mut doc)? {
            return Ok(false);
        }
        let mut put = aws
            .s3
            .put_object()
            .bucket(&file.bucket)
            .key(&file.key)
            .content_type("application/json")
            .body(ByteStream::from(render(&doc).into_bytes()));
        put = match &etag {
            Some(tag) => put.if_match(tag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(_) => return Ok(true),
            Err(e) => {
                let status = http_status(&e);
                let conflict = matches!(status, Some(412) | Some(409) | Some(404))
                    || matches!(
                        error_code(&e),
                        Some("PreconditionFailed") | Some("ConditionalRequestConflict")
                    );
                if !conflict {
                    bail!("writing {what} failed: {}", describe(&e));
                }
                let pause = rand::thread_rng().gen_range(10..60) * (attempt + 1);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
    bail!("writing {what} failed: other writers kept changing it (12 attempts); retry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_appends_then_updates_in_place() {
        let mut doc = json!({"environments": [], "other": 1});
        assert!(add(
            &mut doc,
            "dev-pr-1",
            "api_endpoint",
            "api-pr-1.x",
            "preview"
        )
        .unwrap());
        assert!(!add(
            &mut doc,
            "dev-pr-1",
            "api_endpoint",
            "api-pr-1.x",
            "preview"
        )
        .unwrap());
        assert!(add(
            &mut doc,
            "dev-pr-1",
            "admin_endpoint",
            "admin-pr-1.x",
            "other"
        )
        .unwrap());
        assert_eq!(
            doc,
            json!({"environments": [{"name": "dev-pr-1", "env": "preview", "api_endpoint": "api-pr-1.x",
                                      "admin_endpoint": "admin-pr-1.x"}], "other": 1})
        );
    }

    #[test]
    fn remove_follows_the_only_optional_key_rule() {
        let mut doc = json!({"environments": [
            {"name": "dev-pr-1", "env": "preview", "api_endpoint": "a", "admin_endpoint": "b"},
            {"name": "dev-pr-2", "api_endpoint": "c"}
        ]});
        assert!(remove(&mut doc, "dev-pr-1", "api_endpoint").unwrap());
        assert_eq!(
            doc["environments"][0],
            json!({"name": "dev-pr-1", "env": "preview", "admin_endpoint": "b"})
        );
        assert!(remove(&mut doc, "dev-pr-1", "admin_endpoint").unwrap());
        assert!(!remove(&mut doc, "dev-pr-1", "admin_endpoint").unwrap());
        // no `env`: only the key goes, as in the original
        assert!(remove(&mut doc, "dev-pr-2", "api_endpoint").unwrap());
        assert_eq!(doc, json!({"environments": [{"name": "dev-pr-2"}]}));
    }

    #[test]
    fn renders_like_python_json_dumps() {
        let doc = json!({"environments": [{"name": "dev-ü", "env": "p", "a": "x"}], "b": []});
        // python3 -c 'import json;print(json.dumps({"environments":[{"name":"dev-ü","env":"p","a":"x"}],"b":[]},indent=4,sort_keys=True))'
        let expected = "{\n    \"b\": [],\n    \"environments\": [\n        {\n            \"a\": \"x\",\n            \"env\": \"p\",\n            \"name\": \"dev-\\u00fc\"\n        }\n    ]\n}";
        assert_eq!(render(&doc), expected);
    }

    #[test]
    fn rejects_documents_without_a_list() {
        assert!(add(&mut json!({"environments": 3}), "n", "k", "v", "e").is_err());
        assert!(add(&mut json!([]), "n", "k", "v", "e").is_err());
    }
}
