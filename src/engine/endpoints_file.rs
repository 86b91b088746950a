//! The environments JSON in S3, in the original format and semantics:
//! `{"environments": [{"env": TYPE, "name": "PREFIX-ENV", "<update_key>": "<fqdn>", …}]}`,
//! written like Python's `json.dumps(indent=4, sort_keys=True)`.
//!
//! Updates are conditional (`If-Match` on the ETag, `If-None-Match: *` for a new object) and
//! retried, so concurrent runs never lose each other's entries.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::aws::{s3, Aws};
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
/// unchanged documents are not written. Returns whether the edit was written.
///
/// A read denied with 403 may mean "absent" (S3 without `s3:ListBucket`): the edit is then
/// applied to an empty document and written with `If-None-Match: *`. If that succeeds the file
/// was absent; if it fails on the condition the file exists and the read was really denied;
/// if the write is denied too, the error names the permissions to grant.
pub async fn update<F>(
    aws: &Aws,
    file: &EndpointsFile,
    create_if_missing: bool,
    edit: F,
) -> Result<bool>
where
    F: Fn(&mut Value) -> Result<bool>,
{
    let (bucket, key) = (&file.bucket, &file.key);
    let what = format!("s3://{bucket}/{key}");
    let mut known_to_exist = false;
    for attempt in 0..12 {
        let (mut doc, expect, unsure) = match s3::read(aws, bucket, key).await? {
            s3::Read::Found { body, etag } => {
                let doc: Value = serde_json::from_slice(&body)
                    .map_err(|e| anyhow!("{what} is not valid JSON ({e}); fix or remove it"))?;
                let expect = etag.map(s3::Expect::Version).unwrap_or(s3::Expect::Absent);
                (doc, expect, false)
            }
            s3::Read::Missing if !create_if_missing => return Ok(false),
            s3::Read::Missing => (json!({ "environments": [] }), s3::Expect::Absent, false),
            s3::Read::Denied if known_to_exist => bail!(
                "reading {what} was denied (403) and the object exists: grant s3:GetObject on arn:aws:s3:::{bucket}/{key}"
            ),
            // 403 on a key that may be missing: settle it with a conditional create below.
            s3::Read::Denied => (json!({ "environments": [] }), s3::Expect::Absent, true),
        };
        let changed = edit(&mut doc)?;
        if !changed && !unsure {
            return Ok(false);
        }
        let body = render(&doc).into_bytes();
        match s3::write(aws, bucket, key, body, expect).await? {
            s3::Write::Written => {
                if unsure {
                    tracing::info!("{what} was absent (S3 answered 403 without s3:ListBucket); created it");
                }
                return Ok(changed);
            }
            s3::Write::Stale if unsure => known_to_exist = true,
            s3::Write::Stale => {
                let pause = rand::thread_rng().gen_range(10..60) * (attempt + 1);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            s3::Write::Denied if unsure => bail!(
                "S3 denied reading and writing {what}. Without s3:ListBucket on the bucket S3 answers 403 for a missing object: grant s3:ListBucket on arn:aws:s3:::{bucket} and s3:GetObject, s3:PutObject on arn:aws:s3:::{bucket}/{key} (see docs/aws-prerequisites.cfn.yml)"
            ),
            s3::Write::Denied => bail!(
                "writing {what} was denied (403): grant s3:PutObject on arn:aws:s3:::{bucket}/{key}"
            ),
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
