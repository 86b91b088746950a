//! Where a sleeping preview's rule leads: the waker's target group on the preview's ALB
//! (`wake_target_group_arn`), or without a waker a fixed 503 page that says how to wake it.

use anyhow::Result;

use crate::aws::elb::Then;
use crate::aws::{alb, Aws};
use crate::engine::error::Refusal;
use crate::engine::state::EnvState;
use crate::profile::Profile;

/// ALB's limit on a fixed response's body (bytes).
pub const FIXED_RESPONSE_LIMIT: usize = 1024;

/// The sleeping rule's final action for this environment. With several waker target groups
/// (one per ALB), the one attached to the environment's ALB; none attached is refused before
/// anything is written.
pub async fn then(aws: &Aws, profile: &Profile, state: &EnvState) -> Result<Then> {
    let wakers = &profile.wake_target_group_arns;
    match wakers.as_slice() {
        [] => Ok(Then::Fixed {
            status: 503,
            content_type: "text/html".into(),
            body: sleeping_page(&profile.name, &state.environment),
        }),
        [one] => Ok(Then::Forward(one.clone())),
        many => {
            let lb = state.alb_arn.as_deref().unwrap_or(&profile.master_alb_arn);
            let attached = alb::load_balancers_of(aws, many).await?;
            match pick(&attached, lb) {
                Some(tg) => Ok(Then::Forward(tg)),
                None => Err(Refusal::new(
                    format!(
                        "none of profile {}'s wake_target_group_arn ({}) is attached to the environment's load balancer {lb}",
                        profile.name,
                        many.join(", ")
                    ),
                    "add the waker's target group of that load balancer to wake_target_group_arn (it must be on one of its listeners)",
                )
                .into()),
            }
        }
    }
}

/// The target group attached to load balancer `lb`, in the order DescribeTargetGroups gave.
fn pick(attached: &[(String, Vec<String>)], lb: &str) -> Option<String> {
    attached
        .iter()
        .find(|(_, lbs)| lbs.iter().any(|l| l == lb))
        .map(|(tg, _)| tg.clone())
}

/// For people: what the sleeping rule now does.
pub fn describe(then: &Then) -> String {
    match then {
        Then::Forward(tg) => format!("leads to the waker ({tg})"),
        Then::Fixed { status, .. } => format!("answers {status} with a page saying how to wake it"),
    }
}

/// The page a sleeping preview answers without a waker: how to wake it, within ALB's
/// 1024-byte limit (names too long for it are left out of the command).
pub fn sleeping_page(profile: &str, environment: &str) -> String {
    let page = |command: &str| {
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Preview asleep</title></head>\
<body style=\"font-family:sans-serif;max-width:36em;margin:4em auto\"><h1>This preview is asleep</h1>\
<p>Its tasks were stopped while nobody used it. To wake it (about a minute):</p>\
<ul><li>push a commit to the pull request,</li><li>comment <code>/eden wake</code> on the pull request, or</li>\
<li>run <code>{command}</code></li></ul><p>then reload this page.</p></body></html>"
        )
    };
    let named = page(&format!(
        "eden wake -p {} --name {}",
        escape(profile),
        escape(environment)
    ));
    if named.len() <= FIXED_RESPONSE_LIMIT {
        return named;
    }
    page("eden wake -p PROFILE --name NAME")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_says_how_to_wake_and_fits_alb_limit() {
        let p = sleeping_page("api", "pr-42");
        assert!(p.len() <= FIXED_RESPONSE_LIMIT, "{} bytes", p.len());
        assert!(p.contains("push a commit"), "{p}");
        assert!(p.contains("<code>/eden wake</code>"), "{p}");
        assert!(p.contains("eden wake -p api --name pr-42"), "{p}");
        // the longest name eden accepts (512 bytes) still fits
        let long = "x".repeat(512);
        let p = sleeping_page("api", &long);
        assert!(p.len() <= FIXED_RESPONSE_LIMIT, "{} bytes", p.len());
        assert!(p.contains(&format!("--name {long}")), "{p}");
        // escaped, a name can outgrow the limit: the command is then spelled generically
        let p = sleeping_page("api", &"&".repeat(200));
        assert!(p.len() <= FIXED_RESPONSE_LIMIT, "{} bytes", p.len());
        assert!(p.contains("eden wake -p PROFILE --name NAME"), "{p}");
        let p = sleeping_page("api", "<b>&");
        assert!(p.contains("--name &lt;b&gt;&amp;"), "{p}");
    }

    #[test]
    fn the_waker_on_the_environments_alb_is_picked() {
        let attached = vec![
            ("tg-a".to_string(), vec!["alb-1".to_string()]),
            ("tg-b".to_string(), vec!["alb-2".to_string()]),
        ];
        assert_eq!(pick(&attached, "alb-2").as_deref(), Some("tg-b"));
        assert_eq!(pick(&attached, "alb-3"), None);
    }
}
