//! Profiles: the original's INI file (`~/.eden/config`), its remote JSON form in DynamoDB, and
//! validation that reports every problem at once.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use ini::Ini;

mod access;
pub use access::{cidr, Access, Auth, Bypass, MAX_ALLOW_CIDRS};

/// The environments JSON in S3 (optional: without its keys, the step is skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointsFile {
    pub bucket: String,
    pub key: String,
    pub update_key: String,
    pub name_prefix: String,
    pub env_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub name_prefix: String,
    pub reference_service_arn: String,
    pub target_cluster: String,
    pub domain_name_prefix: String,
    /// One ALB ARN, or a pool of them, comma-separated, as written (see [`Profile::alb_pool`]).
    pub master_alb_arn: String,
    pub dynamic_zone_id: String,
    pub dynamic_zone_name: Option<String>,
    pub target_container_name: Option<String>,
    pub endpoints: Option<EndpointsFile>,
    pub keep_revisions: usize,
    /// How many stopped tasks of a new deployment a `--wait` tolerates before it fails (0: the
    /// first stopped task fails it).
    pub wait_failed_tasks: usize,
    /// A clone's target group health check and deregistration delay; `None`: the reference's
    /// as they are (`target_group_tuning = reference`).
    pub target_group_tuning: Option<TargetGroupTuning>,
    /// Who may reach the previews (`allow_cidrs`, `auth*`, `bypass_*`); default: anyone.
    pub access: Access,
    /// `wake_target_group_arn`: the waker's target group(s) (`eden serve`'s `wake_listen`),
    /// one per ALB; a sleeping preview's rule forwards to the one on its ALB. Empty: a
    /// sleeping rule answers a fixed 503 page that says how to wake it.
    pub wake_target_group_arns: Vec<String>,
}

pub const DEFAULT_KEEP_REVISIONS: usize = 5;

/// The health check and deregistration delay a clone's target group gets instead of the
/// reference's (seconds and counts, as ELB names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetGroupTuning {
    pub health_check_interval: i32,
    pub health_check_timeout: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub deregistration_delay: i32,
}

/// Tuned for previews: a new target is checked within 5 s, and an old one drains in 5 s.
pub const PREVIEW_TUNING: TargetGroupTuning = TargetGroupTuning {
    health_check_interval: 5,
    health_check_timeout: 4,
    healthy_threshold: 2,
    unhealthy_threshold: 2,
    deregistration_delay: 5,
};

/// A tuning key: its name, ELB's range for it, its unit, and its field.
type TuningKey = (
    &'static str,
    std::ops::RangeInclusive<i32>,
    &'static str,
    fn(&mut TargetGroupTuning) -> &mut i32,
);

/// The keys that override one value of [`PREVIEW_TUNING`], with the ranges ELB accepts.
pub const TUNING_KEYS: [TuningKey; 5] = [
    ("health_check_interval", 5..=300, "seconds", |t| {
        &mut t.health_check_interval
    }),
    ("health_check_timeout", 2..=120, "seconds", |t| {
        &mut t.health_check_timeout
    }),
    ("healthy_threshold", 2..=10, "checks", |t| {
        &mut t.healthy_threshold
    }),
    ("unhealthy_threshold", 2..=10, "checks", |t| {
        &mut t.unhealthy_threshold
    }),
    ("deregistration_delay", 0..=3600, "seconds", |t| {
        &mut t.deregistration_delay
    }),
];

/// Required keys, in the order `config check` reports them.
pub const REQUIRED: [&str; 6] = [
    "name_prefix",
    "reference_service_arn",
    "target_cluster",
    "domain_name_prefix",
    "master_alb_arn",
    "dynamic_zone_id",
];

/// The environments-file keys: (our canonical key, the 0.2 `endpoint_*` spelling, the 0.1 `config_*` spelling).
pub const ENDPOINT_KEYS: [(&str, &str, &str); 5] = [
    ("bucket", "endpoint_s3_bucket_name", "config_bucket_name"),
    ("key", "endpoint_s3_key", "config_bucket_key"),
    ("update_key", "endpoint_update_key", "config_update_key"),
    ("name_prefix", "endpoint_name_prefix", "config_name_prefix"),
    ("env_type", "endpoint_env_type", "config_env_type"),
];

pub const OPTIONAL: [&str; 11] = [
    "dynamic_zone_name",
    "target_container_name",
    "keep_revisions",
    "target_group_tuning",
    "health_check_interval",
    "health_check_timeout",
    "healthy_threshold",
    "unhealthy_threshold",
    "deregistration_delay",
    "wait_failed_tasks",
    "wake_target_group_arn",
];

/// Every key a profile may hold (both spellings of the environments-file keys).
pub fn known_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = REQUIRED.to_vec();
    keys.extend(OPTIONAL);
    keys.extend(access::KEYS);
    for (_, new, old) in ENDPOINT_KEYS {
        keys.push(new);
        keys.push(old);
    }
    keys
}

/// A profile's raw key/value pairs, before validation.
pub type RawProfile = BTreeMap<String, String>;

/// Read one section of the INI file (with `[DEFAULT]` inherited, like Python's configparser).
pub fn read_raw(path: &Path, profile: &str) -> Result<RawProfile> {
    let ini = load_ini(path)?;
    let section = ini.section(Some(profile)).ok_or_else(|| {
        let names: Vec<&str> = ini.sections().flatten().filter(|s| *s != "DEFAULT").collect();
        crate::error::NotFound(format!(
            "profile {profile:?} is not in {} (profiles there: {}); create it with `eden config setup -p {profile} …`",
            path.display(),
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        ))
    })?;
    let mut raw = RawProfile::new();
    if let Some(defaults) = ini.section(Some("DEFAULT")) {
        for (k, v) in defaults.iter() {
            raw.insert(k.to_string(), v.to_string());
        }
    }
    for (k, v) in section.iter() {
        raw.insert(k.to_string(), v.to_string());
    }
    Ok(raw)
}

pub fn load_ini(path: &Path) -> Result<Ini> {
    if !path.exists() {
        return Err(crate::error::NotFound(format!(
            "config file {} does not exist; create it with `eden config setup -p NAME --name-prefix … ` or pass -c PATH",
            path.display()
        ))
        .into());
    }
    Ini::load_from_file(path).map_err(|e| {
        crate::error::BadInput(format!(
            "config file {} is not a valid INI file: {e}",
            path.display()
        ))
        .into()
    })
}

/// Profile names in the file (excluding `DEFAULT`).
pub fn profile_names(path: &Path) -> Result<Vec<String>> {
    let ini = load_ini(path)?;
    Ok(ini
        .sections()
        .flatten()
        .filter(|s| *s != "DEFAULT")
        .map(str::to_string)
        .collect())
}

/// Set keys of one profile, creating the file and the section when missing. Returns what changed.
pub fn write_keys(path: &Path, profile: &str, keys: &RawProfile) -> Result<Vec<String>> {
    let mut ini = if path.exists() {
        load_ini(path)?
    } else {
        Ini::new()
    };
    let mut changed = Vec::new();
    for (k, v) in keys {
        let current = ini.get_from(Some(profile), k);
        if current != Some(v.as_str()) {
            ini.with_section(Some(profile)).set(k.as_str(), v.as_str());
            changed.push(format!("{k} = {v}"));
        }
    }
    if ini.section(Some(profile)).is_none() {
        ini.with_section(Some(profile));
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    ini.write_to_file(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(changed)
}

/// A trimmed, non-empty value.
fn get<'a>(raw: &'a RawProfile, key: &str) -> Option<&'a str> {
    raw.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn check_names(p: &mut Vec<String>, name: &str, name_prefix: &str, domain_name_prefix: &str) {
    if !name_prefix.is_empty()
        && !name_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        p.push(format!(
            "profile {name}: name_prefix {name_prefix:?} may only hold letters, digits, '-' and '_'"
        ));
    }
    if !domain_name_prefix.is_empty()
        && !domain_name_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        p.push(format!(
            "profile {name}: domain_name_prefix {domain_name_prefix:?} may only hold letters, digits and '-' (it starts a DNS label)"
        ));
    }
}

/// An ECS service ARN, in the target cluster.
fn check_reference(p: &mut Vec<String>, name: &str, arn: &str, target_cluster: &str) {
    if arn.is_empty() {
        return;
    }
    match parse_arn(arn, "ecs") {
        Some(resource) if resource.starts_with("service/") => {
            let parts: Vec<&str> = resource.split('/').collect();
            if parts.len() == 3 && !target_cluster.is_empty() {
                let cluster = target_cluster.rsplit('/').next().unwrap_or_default();
                if parts[1] != cluster {
                    p.push(format!(
                        "profile {name}: the reference service is in cluster {:?} but target_cluster is {target_cluster:?}; eden clones within one cluster",
                        parts[1]
                    ));
                }
            }
        }
        _ => p.push(format!(
            "profile {name}: reference_service_arn {arn:?} is not an ECS service ARN (arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME)"
        )),
    }
}

/// The most ALBs a pool may hold: one DescribeLoadBalancers call reads them all.
pub const MAX_POOL: usize = 20;

/// The ARNs of `master_alb_arn` (comma-separated), trimmed, empty items left out.
fn alb_arns(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

/// Each ARN of the pool is an ALB's, once; at most [`MAX_POOL`] of them.
fn check_alb(p: &mut Vec<String>, name: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    let arns = alb_arns(value);
    if arns.is_empty() || value.split(',').any(|a| a.trim().is_empty()) {
        p.push(format!(
            "profile {name}: master_alb_arn {value:?} has an empty item (write ARNs separated by single commas)"
        ));
    }
    for (i, arn) in arns.iter().enumerate() {
        match parse_arn(arn, "elasticloadbalancing") {
            Some(r) if r.starts_with("loadbalancer/app/") => {}
            _ => p.push(format!(
                "profile {name}: master_alb_arn {arn:?} is not an Application Load Balancer ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID)"
            )),
        }
        if arns[..i].contains(arn) {
            p.push(format!(
                "profile {name}: master_alb_arn names {arn:?} twice (list each ALB once)"
            ));
        }
    }
    if arns.len() > MAX_POOL {
        p.push(format!(
            "profile {name}: master_alb_arn lists {} ALBs, at most {MAX_POOL} (one DescribeLoadBalancers call reads the pool)",
            arns.len()
        ));
    }
}

/// The hosted zone id without `/hostedzone/`.
fn zone_id(p: &mut Vec<String>, name: &str, dynamic_zone_id: &str) -> String {
    let zone = dynamic_zone_id
        .trim_start_matches("/hostedzone/")
        .to_string();
    if !dynamic_zone_id.is_empty()
        && (zone.is_empty()
            || !zone
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
    {
        p.push(format!(
            "profile {name}: dynamic_zone_id {dynamic_zone_id:?} is not a Route 53 hosted zone id (e.g. Z0123456789ABCDEFGHIJ)"
        ));
    }
    zone
}

/// The environments file: all five endpoint keys (either spelling) or none.
fn endpoints_file(p: &mut Vec<String>, name: &str, raw: &RawProfile) -> Option<EndpointsFile> {
    let mut found = BTreeMap::new();
    for (canon, new, old) in ENDPOINT_KEYS {
        match (get(raw, new), get(raw, old)) {
            (Some(a), Some(b)) if a != b => p.push(format!(
                "profile {name}: {new} = {a:?} and {old} = {b:?} disagree; keep one of them"
            )),
            (Some(v), _) | (None, Some(v)) => {
                found.insert(canon, v.to_string());
            }
            (None, None) => {}
        }
    }
    if found.is_empty() {
        return None;
    }
    if found.len() < ENDPOINT_KEYS.len() {
        let missing: Vec<&str> = ENDPOINT_KEYS
            .iter()
            .filter(|(c, _, _)| !found.contains_key(c))
            .map(|(_, new, _)| *new)
            .collect();
        p.push(format!(
            "profile {name}: the environments file needs all five endpoint_* keys or none; missing {}",
            missing.join(", ")
        ));
        return None;
    }
    let bucket = found["bucket"].clone();
    if !bucket_name_ok(&bucket) {
        p.push(format!(
            "profile {name}: {bucket:?} is not a valid S3 bucket name"
        ));
    }
    Some(EndpointsFile {
        bucket,
        key: found["key"].clone(),
        update_key: found["update_key"].clone(),
        name_prefix: found["name_prefix"].clone(),
        env_type: found["env_type"].clone(),
    })
}

fn wait_failed_tasks(p: &mut Vec<String>, name: &str, raw: &RawProfile) -> usize {
    match get(raw, "wait_failed_tasks") {
        None => 0,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= 100 => n,
            _ => {
                p.push(format!(
                    "profile {name}: wait_failed_tasks {v:?} must be a whole number from 0 to 100"
                ));
                0
            }
        },
    }
}

/// `wake_target_group_arn`: one target group ARN, or a comma list (one per ALB).
fn wake_target_groups(p: &mut Vec<String>, name: &str, raw: &RawProfile) -> Vec<String> {
    let Some(v) = get(raw, "wake_target_group_arn") else {
        return Vec::new();
    };
    let arns: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    for arn in &arns {
        if !parse_arn(arn, "elasticloadbalancing").is_some_and(|r| r.starts_with("targetgroup/")) {
            p.push(format!(
                "profile {name}: wake_target_group_arn {arn:?} is not a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID; several: a comma list, one per ALB)"
            ));
        }
    }
    arns
}

fn keep_revisions(p: &mut Vec<String>, name: &str, raw: &RawProfile) -> usize {
    match get(raw, "keep_revisions") {
        None => DEFAULT_KEEP_REVISIONS,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                p.push(format!(
                    "profile {name}: keep_revisions {v:?} must be a whole number ≥ 1"
                ));
                DEFAULT_KEEP_REVISIONS
            }
        },
    }
}

/// `target_group_tuning` (`preview`, the default, or `reference`) and the keys that override
/// one preview value, each in ELB's range, the timeout below the interval.
fn target_group_tuning(
    p: &mut Vec<String>,
    name: &str,
    raw: &RawProfile,
) -> Option<TargetGroupTuning> {
    let overridden: Vec<&str> = TUNING_KEYS
        .iter()
        .map(|(k, ..)| *k)
        .filter(|k| get(raw, k).is_some())
        .collect();
    match get(raw, "target_group_tuning").map(str::to_ascii_lowercase) {
        None => {}
        Some(m) if m == "preview" => {}
        Some(m) if m == "reference" => {
            if !overridden.is_empty() {
                p.push(format!(
                    "profile {name}: target_group_tuning = reference keeps the reference's target group settings as they are; remove {} or set target_group_tuning = preview",
                    overridden.join(", ")
                ));
            }
            return None;
        }
        Some(m) => p.push(format!(
            "profile {name}: target_group_tuning {m:?} must be preview or reference"
        )),
    }
    let mut t = PREVIEW_TUNING;
    let mut valid = true;
    for (key, range, unit, field) in TUNING_KEYS {
        let Some(v) = get(raw, key) else { continue };
        match v.parse::<i32>() {
            Ok(n) if range.contains(&n) => *field(&mut t) = n,
            _ => {
                valid = false;
                p.push(format!(
                    "profile {name}: {key} {v:?} must be a whole number of {unit} from {} to {} (ELB's range)",
                    range.start(),
                    range.end()
                ));
            }
        }
    }
    if valid && t.health_check_timeout >= t.health_check_interval {
        p.push(format!(
            "profile {name}: health_check_timeout ({} s) must be less than health_check_interval ({} s)",
            t.health_check_timeout, t.health_check_interval
        ));
    }
    Some(t)
}

impl Profile {
    /// The pool of shared ALBs: `master_alb_arn`'s ARNs in order (one ARN: a pool of one).
    pub fn alb_pool(&self) -> Vec<String> {
        alb_arns(&self.master_alb_arn)
    }

    /// Validate raw keys. Every problem is reported, one per line.
    pub fn from_raw(name: &str, raw: &RawProfile) -> Result<Profile, Vec<String>> {
        let mut problems = Vec::new();
        let known = known_keys();
        for k in raw.keys() {
            if !known.contains(&k.as_str()) {
                problems.push(format!(
                    "profile {name}: unknown key {k:?} (known keys: see docs/configuration.md)"
                ));
            }
        }
        let mut req = |key: &str| -> String {
            match get(raw, key) {
                Some(v) => v.to_string(),
                None => {
                    problems.push(format!("profile {name}: required key {key} is missing"));
                    String::new()
                }
            }
        };
        let name_prefix = req("name_prefix");
        let reference_service_arn = req("reference_service_arn");
        let target_cluster = req("target_cluster");
        let domain_name_prefix = req("domain_name_prefix");
        let master_alb_arn = req("master_alb_arn");
        let dynamic_zone_id = req("dynamic_zone_id");

        check_names(&mut problems, name, &name_prefix, &domain_name_prefix);
        check_reference(&mut problems, name, &reference_service_arn, &target_cluster);
        check_alb(&mut problems, name, &master_alb_arn);
        let zone = zone_id(&mut problems, name, &dynamic_zone_id);
        let endpoints = endpoints_file(&mut problems, name, raw);
        let keep_revisions = keep_revisions(&mut problems, name, raw);
        let wait_failed_tasks = wait_failed_tasks(&mut problems, name, raw);
        let target_group_tuning = target_group_tuning(&mut problems, name, raw);
        let access = access::access(&mut problems, name, raw);
        let wake_target_group_arns = wake_target_groups(&mut problems, name, raw);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Profile {
            name: name.to_string(),
            name_prefix,
            reference_service_arn,
            target_cluster,
            domain_name_prefix,
            master_alb_arn,
            dynamic_zone_id: zone,
            dynamic_zone_name: get(raw, "dynamic_zone_name")
                .map(|z| z.trim_end_matches('.').to_string()),
            target_container_name: get(raw, "target_container_name").map(str::to_string),
            endpoints,
            keep_revisions,
            wait_failed_tasks,
            target_group_tuning,
            access,
            wake_target_group_arns,
        })
    }

    /// Region of the reference service (all of a profile's resources live there).
    pub fn region(&self) -> Option<&str> {
        self.reference_service_arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
    }

    /// The original's remote JSON layout (`endpoint_*` spellings), plus eden's optional keys.
    pub fn to_raw(&self) -> RawProfile {
        let mut raw = RawProfile::new();
        let mut put = |k: &str, v: &str| {
            raw.insert(k.to_string(), v.to_string());
        };
        put("name_prefix", &self.name_prefix);
        put("reference_service_arn", &self.reference_service_arn);
        put("target_cluster", &self.target_cluster);
        put("domain_name_prefix", &self.domain_name_prefix);
        put("master_alb_arn", &self.master_alb_arn);
        put("dynamic_zone_id", &self.dynamic_zone_id);
        if let Some(z) = &self.dynamic_zone_name {
            put("dynamic_zone_name", z);
        }
        if let Some(c) = &self.target_container_name {
            put("target_container_name", c);
        }
        if self.keep_revisions != DEFAULT_KEEP_REVISIONS {
            put("keep_revisions", &self.keep_revisions.to_string());
        }
        if self.wait_failed_tasks != 0 {
            put("wait_failed_tasks", &self.wait_failed_tasks.to_string());
        }
        if !self.wake_target_group_arns.is_empty() {
            put(
                "wake_target_group_arn",
                &self.wake_target_group_arns.join(","),
            );
        }
        match &self.target_group_tuning {
            None => put("target_group_tuning", "reference"),
            Some(t) => {
                let (mut t, mut preview) = (*t, PREVIEW_TUNING);
                for (key, _, _, field) in TUNING_KEYS {
                    let v = *field(&mut t);
                    if v != *field(&mut preview) {
                        put(key, &v.to_string());
                    }
                }
            }
        }
        if let Some(e) = &self.endpoints {
            put("endpoint_s3_bucket_name", &e.bucket);
            put("endpoint_s3_key", &e.key);
            put("endpoint_update_key", &e.update_key);
            put("endpoint_name_prefix", &e.name_prefix);
            put("endpoint_env_type", &e.env_type);
        }
        self.access.put_raw(&mut raw);
        raw
    }
}

/// Parse a remote profile's JSON (`profile` attribute), either generation's key spelling.
pub fn raw_from_json(json: &str) -> Result<RawProfile, String> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| format!("the stored profile is not valid JSON: {e}"))?;
    let obj = value
        .as_object()
        .ok_or("the stored profile is not a JSON object")?;
    let mut raw = RawProfile::new();
    for (k, v) in obj {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => continue,
            other => other.to_string(),
        };
        // Generation A stored env-var style names (CONFIG_BUCKET, NAME_PREFIX, …).
        let key = match k.as_str() {
            "CONFIG_BUCKET" => "config_bucket_name".to_string(),
            other => other.to_ascii_lowercase(),
        };
        raw.insert(key, v);
    }
    Ok(raw)
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` → RESOURCE when SERVICE matches.
pub fn parse_arn<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") || parts[2] != service
    {
        return None;
    }
    if parts[3].is_empty() || parts[4].len() != 12 || !parts[4].chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some(parts[5]).filter(|r| !r.is_empty())
}

fn bucket_name_ok(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// For unit tests: a valid profile's keys (the required ones), with `extra` added or replacing.
#[cfg(test)]
pub(crate) fn sample_raw(extra: &[(&str, &str)]) -> RawProfile {
    let mut raw: RawProfile = [
        ("name_prefix", "dev-api"),
        ("reference_service_arn", "arn:aws:ecs:ap-northeast-1:123456789012:service/dev/api"),
        ("target_cluster", "dev"),
        ("domain_name_prefix", "api"),
        (
            "master_alb_arn",
            "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/common/0123456789abcdef",
        ),
        ("dynamic_zone_id", "Z0123456789ABC"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        raw.insert(k.to_string(), v.to_string());
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> RawProfile {
        sample_raw(&[])
    }

    #[test]
    fn minimal_profile_has_no_environments_file() {
        let p = Profile::from_raw("api", &good()).unwrap();
        assert_eq!(p.endpoints, None);
        assert_eq!(p.region(), Some("ap-northeast-1"));
        assert_eq!(p.keep_revisions, 5);
    }

    #[test]
    fn wake_target_groups_are_a_checked_comma_list_that_round_trips() {
        assert!(Profile::from_raw("api", &good())
            .unwrap()
            .wake_target_group_arns
            .is_empty());
        let a = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/waker-a/0123456789abcdef";
        let b = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/waker-b/fedcba9876543210";
        let mut raw = good();
        raw.insert("wake_target_group_arn".into(), format!("{a}, {b}"));
        let p = Profile::from_raw("api", &raw).unwrap();
        assert_eq!(p.wake_target_group_arns, [a, b]);
        assert_eq!(Profile::from_raw("api", &p.to_raw()).unwrap(), p);
        raw.insert("wake_target_group_arn".into(), "waker".into());
        let problems = Profile::from_raw("api", &raw).unwrap_err();
        assert!(
            problems[0].contains("wake_target_group_arn \"waker\" is not a target group ARN"),
            "{problems:?}"
        );
    }

    #[test]
    fn wait_failed_tasks_defaults_to_0_and_round_trips() {
        assert_eq!(
            Profile::from_raw("api", &good()).unwrap().wait_failed_tasks,
            0
        );
        let mut raw = good();
        raw.insert("wait_failed_tasks".into(), "2".into());
        let p = Profile::from_raw("api", &raw).unwrap();
        assert_eq!(p.wait_failed_tasks, 2);
        assert_eq!(
            p.to_raw().get("wait_failed_tasks").map(String::as_str),
            Some("2")
        );
        for bad in ["-1", "101", "two"] {
            raw.insert("wait_failed_tasks".into(), bad.into());
            let problems = Profile::from_raw("api", &raw).unwrap_err();
            assert!(problems[0].contains("wait_failed_tasks"), "{problems:?}");
        }
    }

    #[test]
    fn both_spellings_of_the_environments_file_keys() {
        let mut old = good();
        for (_, _, k) in ENDPOINT_KEYS {
            old.insert(k.into(), "x-bucket".into());
        }
        let mut new = good();
        for (_, k, _) in ENDPOINT_KEYS {
            new.insert(k.into(), "x-bucket".into());
        }
        assert_eq!(
            Profile::from_raw("a", &old).unwrap().endpoints,
            Profile::from_raw("a", &new).unwrap().endpoints
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut raw = good();
        raw.remove("target_cluster");
        raw.insert("reference_service_arn".into(), "not-an-arn".into());
        raw.insert(
            "master_alb_arn".into(),
            "arn:aws:ecs:x:123456789012:cluster/x".into(),
        );
        raw.insert("endpoint_s3_key".into(), "envs.json".into());
        raw.insert("colour".into(), "blue".into());
        let problems = Profile::from_raw("api", &raw).unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems
            .iter()
            .any(|p| p.contains("target_cluster is missing")));
        assert!(problems
            .iter()
            .any(|p| p.contains("unknown key \"colour\"")));
        assert!(problems
            .iter()
            .any(|p| p.contains("all five endpoint_* keys")));
    }

    #[test]
    fn remote_json_round_trips() {
        let p = Profile::from_raw("api", &good()).unwrap();
        let json = serde_json::to_string(&p.to_raw()).unwrap();
        assert_eq!(
            Profile::from_raw("api", &raw_from_json(&json).unwrap()).unwrap(),
            p
        );
    }

    #[test]
    fn access_keys_round_trip_through_the_remote_json() {
        let mut raw = good();
        for (k, v) in [
            ("allow_cidrs", "203.0.113.0/24, 2001:DB8::/32"),
            ("auth", "oidc"),
            ("auth_issuer", "https://idp.example.com"),
            (
                "auth_authorization_endpoint",
                "https://idp.example.com/auth",
            ),
            ("auth_token_endpoint", "https://idp.example.com/token"),
            ("auth_user_info_endpoint", "https://idp.example.com/me"),
            ("auth_client_id", "eden"),
            ("auth_client_secret_env", "EDEN_OIDC_SECRET"),
            ("bypass_header", "X-Preview-Token"),
            ("bypass_value_env", "EDEN_PREVIEW_TOKEN"),
        ] {
            raw.insert(k.into(), v.into());
        }
        let p = Profile::from_raw("api", &raw).unwrap();
        assert_eq!(p.access.allow_cidrs, ["203.0.113.0/24", "2001:db8::/32"]);
        let json = serde_json::to_string(&p.to_raw()).unwrap();
        assert_eq!(
            Profile::from_raw("api", &raw_from_json(&json).unwrap()).unwrap(),
            p
        );
        let open = Profile::from_raw("api", &good()).unwrap();
        assert_eq!(open.access, Access::default());
        assert!(!open
            .to_raw()
            .keys()
            .any(|k| access::KEYS.contains(&k.as_str())));
    }

    #[test]
    fn master_alb_arn_is_a_pool_of_one_or_more() {
        let one = Profile::from_raw("api", &good()).unwrap();
        assert_eq!(one.alb_pool(), [good()["master_alb_arn"].clone()]);
        let a = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/a/1";
        let b = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/b/2";
        let mut raw = good();
        raw.insert("master_alb_arn".into(), format!("{a}, {b}"));
        let two = Profile::from_raw("api", &raw).unwrap();
        assert_eq!(two.alb_pool(), [a, b]);
        let json = serde_json::to_string(&two.to_raw()).unwrap();
        assert_eq!(
            Profile::from_raw("api", &raw_from_json(&json).unwrap()).unwrap(),
            two
        );
        // each bad item reported, a repeated one and an empty one too
        let tg = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/x/1";
        raw.insert("master_alb_arn".into(), format!("{a},{tg},nope,{a},"));
        let problems = Profile::from_raw("api", &raw).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems
            .iter()
            .any(|p| p.contains(&format!("{tg:?} is not"))));
        assert!(problems.iter().any(|p| p.contains("\"nope\" is not")));
        assert!(problems.iter().any(|p| p.contains("twice")));
        assert!(problems.iter().any(|p| p.contains("empty item")));
    }

    #[test]
    fn target_groups_are_preview_tuned_unless_told_otherwise() {
        assert_eq!(
            Profile::from_raw("api", &good())
                .unwrap()
                .target_group_tuning,
            Some(PREVIEW_TUNING)
        );
        let mut raw = good();
        raw.insert("health_check_interval".into(), "30".into());
        raw.insert("deregistration_delay".into(), " 0 ".into());
        let t = Profile::from_raw("api", &raw)
            .unwrap()
            .target_group_tuning
            .unwrap();
        assert_eq!(
            t,
            TargetGroupTuning {
                health_check_interval: 30,
                deregistration_delay: 0,
                ..PREVIEW_TUNING
            }
        );
        let mut raw = good();
        raw.insert("target_group_tuning".into(), "Reference".into());
        assert_eq!(
            Profile::from_raw("api", &raw).unwrap().target_group_tuning,
            None
        );
    }

    #[test]
    fn tuning_values_outside_elb_ranges_are_all_reported() {
        let mut raw = good();
        for (k, v) in [
            ("health_check_interval", "4"),
            ("health_check_timeout", "121"),
            ("healthy_threshold", "1"),
            ("unhealthy_threshold", "11"),
            ("deregistration_delay", "3601"),
        ] {
            raw.insert(k.into(), v.into());
        }
        raw.insert("target_group_tuning".into(), "fast".into());
        let problems = Profile::from_raw("api", &raw).unwrap_err();
        assert_eq!(problems.len(), 6, "{problems:#?}");
        for key in [
            "target_group_tuning",
            "health_check_interval",
            "deregistration_delay",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(key)),
                "{key}: {problems:#?}"
            );
        }
        // the timeout must be below the interval (the preview interval is 5 s)
        let mut raw = good();
        raw.insert("health_check_timeout".into(), "5".into());
        let problems = Profile::from_raw("api", &raw).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("less than health_check_interval"));
        raw.insert("health_check_interval".into(), "6".into());
        assert!(Profile::from_raw("api", &raw).is_ok());
        // `reference` keeps everything: an override beside it is a contradiction
        let mut raw = good();
        raw.insert("target_group_tuning".into(), "reference".into());
        raw.insert("healthy_threshold".into(), "3".into());
        let problems = Profile::from_raw("api", &raw).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("remove healthy_threshold"));
    }

    #[test]
    fn tuning_round_trips_through_the_remote_json() {
        for (k, v) in [
            ("health_check_interval", "30"),
            ("target_group_tuning", "reference"),
        ] {
            let mut raw = good();
            raw.insert(k.into(), v.into());
            let p = Profile::from_raw("api", &raw).unwrap();
            assert_eq!(p.to_raw().get(k).map(String::as_str), Some(v));
            let json = serde_json::to_string(&p.to_raw()).unwrap();
            assert_eq!(
                Profile::from_raw("api", &raw_from_json(&json).unwrap()).unwrap(),
                p
            );
        }
        let p = Profile::from_raw("api", &good()).unwrap();
        assert!(!p.to_raw().keys().any(|k| k.contains("health")));
    }

    #[test]
    fn ini_file_with_default_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config");
        write_keys(&path, "api", &good()).unwrap();
        let mut d = RawProfile::new();
        d.insert("dynamic_zone_name".into(), "dev.example.com.".into());
        write_keys(&path, "DEFAULT", &d).unwrap();
        let p = Profile::from_raw("api", &read_raw(&path, "api").unwrap()).unwrap();
        assert_eq!(p.dynamic_zone_name.as_deref(), Some("dev.example.com"));
        assert_eq!(profile_names(&path).unwrap(), vec!["api"]);
        assert!(read_raw(&path, "nope")
            .unwrap_err()
            .to_string()
            .contains("profiles there: api"));
    }
}
