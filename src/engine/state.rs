//! The state item in DynamoDB, in the original layout (PK `type` = profile, SK `name`,
//! `kind` = `environment`, numeric `last_updated`, `endpoint`) plus what eden needs to redeploy
//! and delete without discovery.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::dynamodb::{self, DdbErrorKind};

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvState {
    pub profile: String,
    pub environment: String,
    /// The hostname (the original's `endpoint`).
    pub endpoint: Option<String>,
    pub last_updated: Option<f64>,
    pub created_at: Option<String>,
    pub image: Option<String>,
    pub cluster: Option<String>,
    pub service_arn: Option<String>,
    pub target_group_arn: Option<String>,
    pub task_definition_arn: Option<String>,
    pub task_family: Option<String>,
    pub container_name: Option<String>,
    /// The reference's task definition the environment was cloned from: when the reference
    /// moves on, the next deploy clones it again.
    pub reference_task_definition: Option<String>,
    pub rule_arn: Option<String>,
    pub listener_arn: Option<String>,
    pub alb_arn: Option<String>,
    pub record_types: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// `None`: awake. Written by sleep and wake (`engine::sleep`), cleared once awake.
    pub sleep: Option<Sleep>,
    /// When a wake (or a deploy to a sleeping preview) last made it serve again (unix secs).
    pub last_woke: Option<f64>,
}

/// Where a preview is in going to sleep or waking up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SleepPhase {
    /// Sleep began (the awake count is recorded); the service or the rule may not have moved
    /// yet: the next sleep, wake or deploy finishes it.
    Sleeping,
    /// No tasks; the rule leads to the waker or the fixed page.
    Asleep,
    /// Wake began (the desired count may be restored); the rule still sleeps until the tasks
    /// are ready.
    Waking,
}

impl SleepPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            SleepPhase::Sleeping => "sleeping",
            SleepPhase::Asleep => "asleep",
            SleepPhase::Waking => "waking",
        }
    }

    fn parse(s: &str) -> Option<SleepPhase> {
        [SleepPhase::Sleeping, SleepPhase::Asleep, SleepPhase::Waking]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A preview that is asleep, or half-way into or out of sleep.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sleep {
    pub phase: SleepPhase,
    /// Unix seconds: when the phase began (for `Asleep`, when the preview fell asleep).
    pub since: f64,
    /// The service's desired count while awake (≥ 1): what wake restores.
    pub awake_count: i32,
}

/// The state item's attributes for [`Sleep`] (absent: awake; items of older edens are awake).
pub const SLEEP_ATTRIBUTES: [&str; 3] = ["sleep_phase", "sleep_since", "awake_count"];

impl Sleep {
    /// Now, to the millisecond the state item keeps (so a result equals what is read back).
    pub fn now() -> f64 {
        (super::lease::now_secs() * 1000.0).round() / 1000.0
    }

    /// The attributes as the state item holds them.
    pub fn to_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        vec![
            ("sleep_phase", AttributeValue::S(self.phase.as_str().into())),
            (
                "sleep_since",
                AttributeValue::N(format!("{:.3}", self.since)),
            ),
            (
                "awake_count",
                AttributeValue::N(self.awake_count.to_string()),
            ),
        ]
    }

    /// For people: "asleep since 14:02 UTC", "going to sleep", "waking".
    pub fn describe(&self) -> String {
        match self.phase {
            SleepPhase::Asleep => format!("asleep since {}", clock_utc(self.since)),
            SleepPhase::Sleeping => "going to sleep".into(),
            SleepPhase::Waking => "waking".into(),
        }
    }

    fn from_item(item: &Item) -> Option<Sleep> {
        let n = |k: &str| item.get(k)?.as_n().ok()?.parse::<f64>().ok();
        Some(Sleep {
            phase: SleepPhase::parse(item.get("sleep_phase")?.as_s().ok()?)?,
            since: n("sleep_since").unwrap_or_default(),
            awake_count: n("awake_count").map(|c| c as i32).unwrap_or(1).max(1),
        })
    }
}

impl EnvState {
    /// Everything a deploy needs without discovery (written only by a finished create).
    pub fn is_complete(&self) -> bool {
        self.endpoint.is_some()
            && self.service_arn.is_some()
            && self.target_group_arn.is_some()
            && self.rule_arn.is_some()
            && self.listener_arn.is_some()
            && self.task_family.is_some()
            && self.container_name.is_some()
    }

    /// An item written by the Python eden: an endpoint and nothing else.
    pub fn is_legacy(&self) -> bool {
        self.endpoint.is_some() && self.service_arn.is_none()
    }

    pub fn to_item(&self) -> Item {
        let mut item = Item::new();
        let s = |v: &str| AttributeValue::S(v.to_string());
        item.insert("type".into(), s(&self.profile));
        item.insert("name".into(), s(&self.environment));
        item.insert("kind".into(), s("environment"));
        if let Some(t) = self.last_updated {
            item.insert("last_updated".into(), AttributeValue::N(format!("{t:.6}")));
        }
        if let Some(t) = self.last_woke {
            item.insert("last_woke".into(), AttributeValue::N(format!("{t:.3}")));
        }
        let optional = [
            ("endpoint", &self.endpoint),
            ("created_at", &self.created_at),
            ("image", &self.image),
            ("cluster", &self.cluster),
            ("service_arn", &self.service_arn),
            ("target_group_arn", &self.target_group_arn),
            ("task_definition_arn", &self.task_definition_arn),
            ("task_family", &self.task_family),
            ("container_name", &self.container_name),
            ("reference_task_definition", &self.reference_task_definition),
            ("rule_arn", &self.rule_arn),
            ("listener_arn", &self.listener_arn),
            ("alb_arn", &self.alb_arn),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                item.insert(k.into(), s(v));
            }
        }
        if !self.record_types.is_empty() {
            item.insert(
                "record_types".into(),
                AttributeValue::L(self.record_types.iter().map(|t| s(t)).collect()),
            );
        }
        for (k, v) in self.sleep.iter().flat_map(Sleep::to_attributes) {
            item.insert(k.into(), v);
        }
        if !self.metadata.is_empty() {
            item.insert(
                "metadata".into(),
                AttributeValue::M(
                    self.metadata
                        .iter()
                        .map(|(k, v)| (k.clone(), s(v)))
                        .collect(),
                ),
            );
        }
        item
    }

    pub fn from_item(item: &Item) -> EnvState {
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let last_updated = item.get("last_updated").and_then(|v| match v {
            AttributeValue::N(n) => n.parse().ok(),
            AttributeValue::S(n) => n.parse().ok(),
            _ => None,
        });
        // Generation A/intermediate items used `last_updated_time` (a string).
        let last_updated = last_updated.or_else(|| {
            item.get("last_updated_time")
                .and_then(|v| v.as_s().ok()?.parse().ok())
        });
        EnvState {
            profile: s("type").unwrap_or_default(),
            environment: s("name").unwrap_or_default(),
            endpoint: s("endpoint"),
            last_updated,
            created_at: s("created_at"),
            image: s("image"),
            cluster: s("cluster"),
            service_arn: s("service_arn"),
            target_group_arn: s("target_group_arn"),
            task_definition_arn: s("task_definition_arn"),
            task_family: s("task_family"),
            container_name: s("container_name"),
            reference_task_definition: s("reference_task_definition"),
            rule_arn: s("rule_arn"),
            listener_arn: s("listener_arn"),
            alb_arn: s("alb_arn"),
            record_types: item
                .get("record_types")
                .and_then(|v| v.as_l().ok())
                .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
                .unwrap_or_default(),
            metadata: item
                .get("metadata")
                .and_then(|v| v.as_m().ok())
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
                        .collect()
                })
                .unwrap_or_default(),
            sleep: Sleep::from_item(item),
            last_woke: item
                .get("last_woke")
                .and_then(|v| v.as_n().ok()?.parse().ok()),
        }
    }
}

/// "14:02 UTC" (hours and minutes of a unix time).
pub fn clock_utc(secs: f64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:02}:{:02} UTC", t.hour(), t.minute())
}

/// "awake", or what [`Sleep::describe`] says: the state `ls` shows.
pub fn describe(sleep: Option<&Sleep>) -> String {
    sleep.map_or_else(|| "awake".to_string(), Sleep::describe)
}

pub fn key(profile: &str, name: &str) -> Item {
    let mut k = Item::new();
    k.insert("type".into(), AttributeValue::S(profile.to_string()));
    k.insert("name".into(), AttributeValue::S(name.to_string()));
    k
}

/// Read one state item (consistent), outside any lease: for display and bookkeeping only.
pub async fn read(
    aws: &crate::aws::Aws,
    table: &str,
    profile: &str,
    environment: &str,
) -> anyhow::Result<Option<EnvState>> {
    match dynamodb::get(aws, table, key(profile, environment), true).await {
        Ok(item) => Ok(item.map(|i| EnvState::from_item(&i))),
        Err(e) if e.is(DdbErrorKind::TableMissing) => Ok(None),
        Err(e) => Err(e.failed(format!("reading the state of {profile}/{environment}"))),
    }
}

/// Remember a metadata value on an existing environment item (e.g. the PR comment's id).
pub async fn remember(
    aws: &crate::aws::Aws,
    table: &str,
    profile: &str,
    environment: &str,
    field: &str,
    value: &str,
) -> anyhow::Result<()> {
    let res =
        dynamodb::set_metadata_field(aws, table, key(profile, environment), field, value).await;
    match res {
        Ok(_) => Ok(()),
        Err(e) if e.is(DdbErrorKind::ConditionFailed) => Ok(()),
        Err(e) => Err(e.failed(format!("recording {field} on {profile}/{environment}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_round_trips_in_the_original_layout() {
        let mut st = EnvState {
            profile: "api".into(),
            environment: "pr-1".into(),
            endpoint: Some("api-pr-1.dev.example.com".into()),
            last_updated: Some(1_795_375_850.5),
            service_arn: Some("arn:svc".into()),
            record_types: vec!["A".into()],
            ..Default::default()
        };
        st.metadata.insert("pr_number".into(), "1".into());
        let item = st.to_item();
        assert!(
            !item.contains_key("sleep_phase"),
            "awake: no sleep attributes"
        );
        assert_eq!(EnvState::from_item(&item), st);
        st.sleep = Some(Sleep {
            phase: SleepPhase::Asleep,
            since: 1_795_375_900.25,
            awake_count: 2,
        });
        let item = st.to_item();
        assert_eq!(item["sleep_phase"].as_s().unwrap(), "asleep");
        // 1_795_375_900 is 2026-11-22 19:31:40 UTC
        assert_eq!(describe(st.sleep.as_ref()), "asleep since 19:31 UTC");
        assert_eq!(describe(None), "awake");
        assert_eq!(item["type"].as_s().unwrap(), "api");
        assert_eq!(item["kind"].as_s().unwrap(), "environment");
        assert!(matches!(item["last_updated"], AttributeValue::N(_)));
        assert_eq!(EnvState::from_item(&item), st);
        assert!(!st.is_complete());
    }

    #[test]
    fn every_sleep_phase_round_trips_and_an_unknown_one_reads_as_awake() {
        for phase in [SleepPhase::Sleeping, SleepPhase::Asleep, SleepPhase::Waking] {
            let st = EnvState {
                profile: "api".into(),
                environment: "pr-1".into(),
                sleep: Some(Sleep {
                    phase,
                    since: 1_795_375_900.0,
                    awake_count: 3,
                }),
                last_woke: Some(1_795_300_000.5),
                ..Default::default()
            };
            assert_eq!(EnvState::from_item(&st.to_item()), st);
        }
        let mut item = key("api", "pr-1");
        item.insert("sleep_phase".into(), AttributeValue::S("dozing".into()));
        assert_eq!(EnvState::from_item(&item).sleep, None);
    }

    #[test]
    fn python_items_are_legacy() {
        let mut item = key("api", "dev-api-pr-1");
        item.insert(
            "endpoint".into(),
            AttributeValue::S("api-pr-1.dev.example.com".into()),
        );
        item.insert(
            "last_updated".into(),
            AttributeValue::N("1795375850.8742349147796630859375".into()),
        );
        let st = EnvState::from_item(&item);
        assert!(st.is_legacy());
        assert!(st.last_updated.unwrap() > 1.7e9);
    }
}
