//! IAM: simulate the caller's policies for the actions eden needs (`eden doctor`).

use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};

use super::{describe, error_code, kind, Aws, AwsErrorKind};

impl Aws {
    pub fn iam(&self) -> aws_sdk_iam::Client {
        let mut b = aws_sdk_iam::config::Builder::from(&self.config);
        for i in &self.interceptors {
            b.push_interceptor(i.clone());
        }
        aws_sdk_iam::Client::from_conf(b.build())
    }
}

/// Why there is no simulation result: the caller may not simulate, or the service cannot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulationError {
    #[error("iam:SimulatePrincipalPolicy is not allowed for the caller ({0})")]
    Denied(String),
    #[error("the principal {0} was not found in IAM")]
    NoPrincipal(String),
    #[error("iam:SimulatePrincipalPolicy failed: {0}")]
    Failed(String),
}

/// One (action, resource) the policies do not allow, with IAM's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub action: String,
    pub resource: String,
    pub decision: String,
}

/// A condition key and its values (a list key when `list`).
pub type Context = (&'static str, Vec<String>, bool);

/// Simulate `actions` on `resources` for `principal` (context: eden's tags and the service a
/// role is passed to). Returns what is not allowed.
pub async fn simulate(
    aws: &Aws,
    principal: &str,
    actions: &[&str],
    resources: &[String],
    context: &[Context],
) -> Result<Vec<Refused>, SimulationError> {
    let mut refused = Vec::new();
    let mut marker = None;
    loop {
        let mut req = aws
            .iam()
            .simulate_principal_policy()
            .policy_source_arn(principal)
            .set_action_names(Some(actions.iter().map(|a| a.to_string()).collect()))
            .set_resource_arns(Some(resources.to_vec()))
            .set_marker(marker);
        for (key, values, list) in context {
            req = req.context_entries(
                ContextEntry::builder()
                    .context_key_name(*key)
                    .set_context_key_values(Some(values.clone()))
                    .context_key_type(if *list {
                        ContextKeyTypeEnum::StringList
                    } else {
                        ContextKeyTypeEnum::String
                    })
                    .build(),
            );
        }
        let out = match req.send().await {
            Ok(o) => o,
            Err(e) => {
                return Err(match (kind(&e), error_code(&e)) {
                    (AwsErrorKind::AccessDenied, _) => SimulationError::Denied(describe(&e)),
                    (_, Some("NoSuchEntity")) => {
                        SimulationError::NoPrincipal(principal.to_string())
                    }
                    _ => SimulationError::Failed(describe(&e)),
                })
            }
        };
        refused.extend(refusals(out.evaluation_results()));
        marker = out.marker.filter(|_| out.is_truncated);
        if marker.is_none() {
            return Ok(refused);
        }
    }
}

/// The results that are not "allowed", one per (action, resource).
pub fn refusals(results: &[aws_sdk_iam::types::EvaluationResult]) -> Vec<Refused> {
    let mut out = Vec::new();
    for r in results {
        let specific = r.resource_specific_results();
        if specific.is_empty() {
            if r.eval_decision() != &PolicyEvaluationDecisionType::Allowed {
                out.push(Refused {
                    action: r.eval_action_name().to_string(),
                    resource: r.eval_resource_name().unwrap_or("*").to_string(),
                    decision: r.eval_decision().as_str().to_string(),
                });
            }
            continue;
        }
        for s in specific {
            if s.eval_resource_decision() != &PolicyEvaluationDecisionType::Allowed {
                out.push(Refused {
                    action: r.eval_action_name().to_string(),
                    resource: s.eval_resource_name().to_string(),
                    decision: s.eval_resource_decision().as_str().to_string(),
                });
            }
        }
    }
    out
}
