//! What a preview's host rule says, as one value: its conditions (the hostname, who may reach
//! it) and its actions (authentication, then forward or a fixed answer). Built by the engine
//! from the profile and the environment's state, written whole by CreateRule and ModifyRule,
//! and read back from DescribeRules to tell whether a rule needs realigning.
//!
//! Pure: SDK types in and out, no requests.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, AuthenticateCognitoActionConfig, AuthenticateOidcActionConfig,
    FixedResponseActionConfig, HostHeaderConditionConfig, HttpHeaderConditionConfig, Rule,
    RuleCondition, SourceIpConditionConfig,
};

/// A preview's host rule, conditions and actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleShape {
    /// The `host-header` condition's one value.
    pub hostname: String,
    /// The `source-ip` condition's values; empty means no such condition (anyone).
    pub source_cidrs: Vec<String>,
    /// An `http-header` condition (a bypass rule's header and its secret value).
    pub header: Option<HeaderMatch>,
    /// Authentication before the final action.
    pub auth: Option<Authenticate>,
    /// The final action.
    pub then: Then,
}

/// An `authenticate-cognito` or `authenticate-oidc` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authenticate {
    Cognito {
        user_pool_arn: String,
        client_id: String,
        domain: String,
    },
    Oidc {
        issuer: String,
        authorization_endpoint: String,
        token_endpoint: String,
        user_info_endpoint: String,
        client_id: String,
        /// Sent on write only; DescribeRules never returns it, so a rule read back has `None`
        /// and a write with `None` keeps the secret the rule already has.
        client_secret: Option<Hidden>,
    },
}

/// An `http-header` condition: the header's name and the one value it must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    pub name: String,
    pub value: Hidden,
}

/// A secret (the OIDC client secret, a bypass header's value): compared, written to ELB, never
/// shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Hidden(String);

impl Hidden {
    pub fn new(s: impl Into<String>) -> Hidden {
        Hidden(s.into())
    }

    /// The secret itself, for the request that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hidden(…)")
    }
}

/// The final action of a host rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// Forward to a target group (ARN).
    Forward(String),
    /// A fixed response.
    Fixed {
        status: u16,
        content_type: String,
        body: String,
    },
}

impl RuleShape {
    /// A rule that forwards `hostname` to `target_group`, open to anyone.
    pub fn forward(hostname: &str, target_group: &str) -> Self {
        RuleShape {
            hostname: hostname.to_string(),
            source_cidrs: Vec::new(),
            header: None,
            auth: None,
            then: Then::Forward(target_group.to_string()),
        }
    }

    /// The target group this rule forwards to, if it forwards.
    pub fn target_group(&self) -> Option<&str> {
        match &self.then {
            Then::Forward(tg) => Some(tg),
            Then::Fixed { .. } => None,
        }
    }

    /// The conditions, in the form CreateRule and ModifyRule take.
    pub fn conditions(&self) -> Vec<RuleCondition> {
        let mut out = vec![RuleCondition::builder()
            .field("host-header")
            .host_header_config(
                HostHeaderConditionConfig::builder()
                    .values(&self.hostname)
                    .build(),
            )
            .build()];
        if !self.source_cidrs.is_empty() {
            out.push(
                RuleCondition::builder()
                    .field("source-ip")
                    .source_ip_config(
                        SourceIpConditionConfig::builder()
                            .set_values(Some(self.source_cidrs.clone()))
                            .build(),
                    )
                    .build(),
            );
        }
        if let Some(h) = &self.header {
            out.push(
                RuleCondition::builder()
                    .field("http-header")
                    .http_header_config(
                        HttpHeaderConditionConfig::builder()
                            .http_header_name(&h.name)
                            .values(h.value.expose())
                            .build(),
                    )
                    .build(),
            );
        }
        out
    }

    /// The actions, ordered (authentication first), in the form CreateRule and ModifyRule take.
    pub fn actions(&self) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(auth) = &self.auth {
            out.push(auth.action(1));
        }
        let order = out.len() as i32 + 1;
        out.push(match &self.then {
            Then::Forward(tg) => Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(tg)
                .order(order)
                .build(),
            Then::Fixed {
                status,
                content_type,
                body,
            } => Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code(status.to_string())
                        .content_type(content_type)
                        .message_body(body)
                        .build(),
                )
                .order(order)
                .build(),
        });
        out
    }

    /// A rule as DescribeRules shows it; `None` if it is not a shape eden writes (no host
    /// condition, or a final action eden never makes).
    pub fn read(rule: &Rule) -> Option<RuleShape> {
        let hostname = condition_values(rule, "host-header").into_iter().next()?;
        let mut source_cidrs: Vec<String> = condition_values(rule, "source-ip")
            .iter()
            .map(|c| canonical_cidr(c))
            .collect();
        source_cidrs.sort();
        let header = header_of(rule);
        let mut actions: Vec<&Action> = rule.actions().iter().collect();
        actions.sort_by_key(|a| a.order().unwrap_or(i32::MAX));
        let (last, before) = actions.split_last()?;
        let auth = match before {
            [] => None,
            [a] => Some(Authenticate::read(a)?),
            _ => return None,
        };
        let then = match last.r#type()? {
            ActionTypeEnum::Forward => Then::Forward(forward_target(last)?),
            ActionTypeEnum::FixedResponse => {
                let c = last.fixed_response_config()?;
                Then::Fixed {
                    status: c.status_code()?.parse().ok()?,
                    content_type: c.content_type().unwrap_or_default().to_string(),
                    body: c.message_body().unwrap_or_default().to_string(),
                }
            }
            _ => return None,
        };
        Some(RuleShape {
            hostname,
            source_cidrs,
            header,
            auth,
            then,
        })
    }

    /// Whether a rule read back says what this shape says (the OIDC client secret, which
    /// DescribeRules never returns, is not compared; CIDRs compared as sets).
    pub fn matches(&self, read: &RuleShape) -> bool {
        let mut mine = self.clone();
        mine.source_cidrs = mine
            .source_cidrs
            .iter()
            .map(|c| canonical_cidr(c))
            .collect();
        mine.source_cidrs.sort();
        if let Some(Authenticate::Oidc { client_secret, .. }) = &mut mine.auth {
            *client_secret = None;
        }
        let same_header_name = match (&mine.header, &read.header) {
            (Some(a), Some(b)) => a.name.eq_ignore_ascii_case(&b.name),
            (a, b) => a.is_none() && b.is_none(),
        };
        mine.hostname.eq_ignore_ascii_case(&read.hostname) && same_header_name && {
            mine.hostname = read.hostname.clone();
            if let (Some(a), Some(b)) = (&mut mine.header, &read.header) {
                a.name = b.name.clone();
            }
            &mine == read
        }
    }
}

impl Authenticate {
    fn action(&self, order: i32) -> Action {
        match self {
            Authenticate::Cognito {
                user_pool_arn,
                client_id,
                domain,
            } => Action::builder()
                .r#type(ActionTypeEnum::AuthenticateCognito)
                .authenticate_cognito_config(
                    AuthenticateCognitoActionConfig::builder()
                        .user_pool_arn(user_pool_arn)
                        .user_pool_client_id(client_id)
                        .user_pool_domain(domain)
                        .build(),
                )
                .order(order)
                .build(),
            Authenticate::Oidc {
                issuer,
                authorization_endpoint,
                token_endpoint,
                user_info_endpoint,
                client_id,
                client_secret,
            } => Action::builder()
                .r#type(ActionTypeEnum::AuthenticateOidc)
                .authenticate_oidc_config(
                    AuthenticateOidcActionConfig::builder()
                        .issuer(issuer)
                        .authorization_endpoint(authorization_endpoint)
                        .token_endpoint(token_endpoint)
                        .user_info_endpoint(user_info_endpoint)
                        .client_id(client_id)
                        .set_client_secret(client_secret.as_ref().map(|s| s.expose().to_string()))
                        .set_use_existing_client_secret(client_secret.is_none().then_some(true))
                        .build(),
                )
                .order(order)
                .build(),
        }
    }

    fn read(a: &Action) -> Option<Authenticate> {
        match a.r#type()? {
            ActionTypeEnum::AuthenticateCognito => {
                let c = a.authenticate_cognito_config()?;
                Some(Authenticate::Cognito {
                    user_pool_arn: c.user_pool_arn()?.to_string(),
                    client_id: c.user_pool_client_id()?.to_string(),
                    domain: c.user_pool_domain()?.to_string(),
                })
            }
            ActionTypeEnum::AuthenticateOidc => {
                let c = a.authenticate_oidc_config()?;
                Some(Authenticate::Oidc {
                    issuer: c.issuer()?.to_string(),
                    authorization_endpoint: c.authorization_endpoint()?.to_string(),
                    token_endpoint: c.token_endpoint()?.to_string(),
                    user_info_endpoint: c.user_info_endpoint()?.to_string(),
                    client_id: c.client_id()?.to_string(),
                    client_secret: None,
                })
            }
            _ => None,
        }
    }
}

/// A condition's values, from the typed config or the legacy `values` list.
fn condition_values(rule: &Rule, field: &str) -> Vec<String> {
    rule.conditions()
        .iter()
        .filter(|c| c.field() == Some(field))
        .flat_map(|c| {
            let typed = match field {
                "host-header" => c.host_header_config().map(|h| h.values()),
                "source-ip" => c.source_ip_config().map(|s| s.values()),
                _ => None,
            };
            c.values().iter().chain(typed.unwrap_or_default()).cloned()
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A CIDR as Rust prints its address (IPv6 compressed, lower case), so that the spelling ELB
/// answers with compares equal to the one eden sent; anything unparsable as it is.
fn canonical_cidr(c: &str) -> String {
    let parsed = c.split_once('/').and_then(|(addr, len)| {
        let addr: std::net::IpAddr = addr.trim().parse().ok()?;
        let len: u8 = len.trim().parse().ok()?;
        Some(format!("{addr}/{len}"))
    });
    parsed.unwrap_or_else(|| c.to_string())
}

/// The first `http-header` condition: its header name and first value.
fn header_of(rule: &Rule) -> Option<HeaderMatch> {
    rule.conditions()
        .iter()
        .filter(|c| c.field() == Some("http-header"))
        .find_map(|c| {
            let h = c.http_header_config()?;
            Some(HeaderMatch {
                name: h.http_header_name()?.to_string(),
                value: Hidden::new(h.values().first()?.clone()),
            })
        })
}

/// A forward action's one target group (the plain field or a one-group forward config).
fn forward_target(a: &Action) -> Option<String> {
    if let Some(tg) = a.target_group_arn() {
        return Some(tg.to_string());
    }
    match a.forward_config()?.target_groups() {
        [one] => one.target_group_arn().map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_read(shape: &RuleShape) -> Rule {
        Rule::builder()
            .set_conditions(Some(shape.conditions()))
            .set_actions(Some(shape.actions()))
            .build()
    }

    #[test]
    fn a_plain_forward_reads_back_as_itself() {
        let s = RuleShape::forward("api-pr-1.dev.example.com", "arn:tg/1");
        let back = RuleShape::read(&as_read(&s)).unwrap();
        assert_eq!(back, s);
        assert!(s.matches(&back));
        assert_eq!(s.actions().len(), 1);
        assert_eq!(s.conditions().len(), 1);
    }

    #[test]
    fn protection_and_fixed_answers_read_back_and_compare() {
        let s = RuleShape {
            hostname: "api-pr-1.dev.example.com".into(),
            source_cidrs: vec!["203.0.113.0/24".into(), "198.51.100.7/32".into()],
            header: None,
            auth: Some(Authenticate::Oidc {
                issuer: "https://idp".into(),
                authorization_endpoint: "https://idp/auth".into(),
                token_endpoint: "https://idp/token".into(),
                user_info_endpoint: "https://idp/me".into(),
                client_id: "eden".into(),
                client_secret: Some(Hidden::new("s3cret")),
            }),
            then: Then::Fixed {
                status: 503,
                content_type: "text/html".into(),
                body: "asleep".into(),
            },
        };
        let actions = s.actions();
        assert_eq!(actions[0].order(), Some(1));
        assert_eq!(actions[1].order(), Some(2));
        let back = RuleShape::read(&as_read(&s)).unwrap();
        assert!(s.matches(&back), "{s:?} vs {back:?}");
        let open = RuleShape {
            source_cidrs: vec![],
            ..s.clone()
        };
        assert!(!open.matches(&back));
        let forwarding = RuleShape {
            then: Then::Forward("arn:tg/1".into()),
            ..s
        };
        assert!(!forwarding.matches(&back));
        assert_eq!(forwarding.target_group(), Some("arn:tg/1"));
    }

    #[test]
    fn a_bypass_header_reads_back_compares_and_never_shows_its_value() {
        let s = RuleShape {
            header: Some(HeaderMatch {
                name: "X-Preview-Token".into(),
                value: Hidden::new("tok-123"),
            }),
            ..RuleShape::forward("api-pr-1.dev.example.com", "arn:tg/1")
        };
        assert_eq!(s.conditions().len(), 2);
        let back = RuleShape::read(&as_read(&s)).unwrap();
        assert_eq!(back, s);
        assert!(s.matches(&back));
        let other_value = RuleShape {
            header: Some(HeaderMatch {
                name: "x-preview-token".into(),
                value: Hidden::new("tok-456"),
            }),
            ..s.clone()
        };
        assert!(!other_value.matches(&back));
        assert!(!RuleShape::forward("api-pr-1.dev.example.com", "arn:tg/1").matches(&back));
        // the header's name compares as HTTP does, without case
        let lower = RuleShape {
            header: Some(HeaderMatch {
                name: "x-preview-token".into(),
                value: Hidden::new("tok-123"),
            }),
            ..s.clone()
        };
        assert!(lower.matches(&back));
        assert!(!format!("{s:?}").contains("tok-123"));
    }

    #[test]
    fn ranges_compare_by_address_not_by_spelling() {
        let sent = RuleShape {
            source_cidrs: vec!["2001:db8::/32".into(), "203.0.113.0/24".into()],
            ..RuleShape::forward("h", "tg")
        };
        let answered = RuleShape {
            source_cidrs: vec!["203.0.113.0/24".into(), "2001:DB8:0:0::/32".into()],
            ..RuleShape::forward("h", "tg")
        };
        let back = RuleShape::read(&as_read(&answered)).unwrap();
        assert!(sent.matches(&back), "{back:?}");
        let other = RuleShape {
            source_cidrs: vec!["2001:db8::/48".into(), "203.0.113.0/24".into()],
            ..RuleShape::forward("h", "tg")
        };
        assert!(!other.matches(&back));
    }
}
