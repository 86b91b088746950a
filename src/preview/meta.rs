//! The PR's metadata on an environment's state item: the one place that names its keys.
//!
//! The engine stores an opaque string map (`EnvState::metadata`, also `Outcome::metadata` and
//! `CreateRequest::metadata`); a preview run writes which repository and PR the environment
//! belongs to, the head it was deployed from, and the sticky comment's id. Everything else in
//! the crate reads and writes them through [`PrMeta`], never by string key.

use std::collections::BTreeMap;

const REPOSITORY: &str = "repository";
const PR_NUMBER: &str = "pr_number";
const HEAD_SHA: &str = "head_sha";
const HEAD_REF: &str = "head_ref";
const COMMENT_ID: &str = "comment_id";

/// What a preview run records about its PR. Every field is optional: environments made by the
/// CLI or the HTTP API carry none, older ones some.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrMeta {
    /// `owner/name`.
    pub repository: Option<String>,
    pub pr_number: Option<u64>,
    pub head_sha: Option<String>,
    pub head_ref: Option<String>,
    /// The sticky comment, remembered after it was first written.
    pub comment_id: Option<u64>,
}

impl PrMeta {
    /// Read from a state item's (or an `ls` row's) metadata map; unparsable numbers are absent.
    pub fn read(map: &BTreeMap<String, String>) -> PrMeta {
        let text = |k: &str| map.get(k).filter(|v| !v.is_empty()).cloned();
        let number = |k: &str| map.get(k).and_then(|v| v.parse::<u64>().ok());
        PrMeta {
            repository: text(REPOSITORY),
            pr_number: number(PR_NUMBER),
            head_sha: text(HEAD_SHA),
            head_ref: text(HEAD_REF),
            comment_id: number(COMMENT_ID),
        }
    }

    /// The map a create request carries (`comment_id` is not written here: see
    /// [`PrMeta::COMMENT_ID_FIELD`]).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        put(REPOSITORY, self.repository.clone());
        put(PR_NUMBER, self.pr_number.map(|n| n.to_string()));
        put(HEAD_SHA, self.head_sha.clone());
        put(HEAD_REF, self.head_ref.clone());
        put(COMMENT_ID, self.comment_id.map(|n| n.to_string()));
        m
    }

    /// The field a remembered comment id is written to, alone, after the comment exists
    /// (`engine::state::remember`).
    pub const COMMENT_ID_FIELD: &'static str = COMMENT_ID;

    /// The PR this environment belongs to, when both halves are known.
    pub fn pr(&self) -> Option<(&str, u64)> {
        Some((self.repository.as_deref()?, self.pr_number?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_old_items() {
        let m = PrMeta {
            repository: Some("o/r".into()),
            pr_number: Some(7),
            head_sha: Some("abc".into()),
            head_ref: Some("feat".into()),
            comment_id: Some(42),
        };
        assert_eq!(PrMeta::read(&m.to_map()), m);
        assert_eq!(m.pr(), Some(("o/r", 7)));
        let old: BTreeMap<String, String> = [
            ("pr_number".to_string(), "x".to_string()),
            ("source".to_string(), "api".to_string()),
        ]
        .into();
        let read = PrMeta::read(&old);
        assert_eq!(read, PrMeta::default());
        assert_eq!(read.pr(), None);
        assert!(PrMeta::default().to_map().is_empty());
    }
}
