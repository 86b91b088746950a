//! The host rule a preview should have: the one place that says what its conditions and
//! actions are, from the profile (who may reach it) and what it should lead to (`Then`: its
//! target group, or while it sleeps the waker or a fixed answer). Create, the deploy's
//! realignment, sleep and wake all build their rule here. Pure.

use crate::aws::elb::{RuleShape, Then};
use crate::profile::Profile;

/// The rule `hostname` should have under `profile`, ending in `then`.
pub fn shape(_profile: &Profile, hostname: &str, then: Then) -> RuleShape {
    RuleShape {
        hostname: hostname.to_string(),
        source_cidrs: Vec::new(),
        auth: None,
        then,
    }
}
