//! STS: who is calling (for `eden doctor`), and the IAM principal to simulate for it.

use super::fail;
use anyhow::Result;

use super::Aws;

impl Aws {
    pub fn sts(&self) -> aws_sdk_sts::Client {
        let mut b = aws_sdk_sts::config::Builder::from(&self.config);
        for i in &self.interceptors {
            b.push_interceptor(i.clone());
        }
        aws_sdk_sts::Client::from_conf(b.build())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    /// As STS reports it (for an assumed role: `arn:…:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
    pub arn: String,
}

pub async fn caller_identity(aws: &Aws) -> Result<Identity> {
    let out = aws
        .sts()
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| fail("sts:GetCallerIdentity", "sts:GetCallerIdentity", &e))?;
    Ok(Identity {
        account: out.account.unwrap_or_default(),
        arn: out.arn.unwrap_or_default(),
    })
}

impl Identity {
    /// The IAM ARN whose policies apply: the role behind an assumed-role session, or the user.
    /// (A role's path is not in the session ARN; a role under a path is not found, and the
    /// caller falls back to judging by read calls.)
    pub fn principal_arn(&self) -> Option<String> {
        let (head, resource) = self
            .arn
            .split_once(":sts::")
            .or_else(|| self.arn.split_once(":iam::"))?;
        let (account, resource) = resource.split_once(':')?;
        if let Some(rest) = resource.strip_prefix("assumed-role/") {
            let role = rest.split('/').next()?;
            return Some(format!("{head}:iam::{account}:role/{role}"));
        }
        if resource.starts_with("user/") || resource.starts_with("role/") {
            return Some(format!("{head}:iam::{account}:{resource}"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(arn: &str) -> Identity {
        Identity {
            account: "123456789012".into(),
            arn: arn.into(),
        }
    }

    #[test]
    fn principals_to_simulate() {
        assert_eq!(
            id("arn:aws:sts::123456789012:assumed-role/eden-ci/GitHubActions").principal_arn(),
            Some("arn:aws:iam::123456789012:role/eden-ci".into())
        );
        assert_eq!(
            id("arn:aws:iam::123456789012:user/ops/alice").principal_arn(),
            Some("arn:aws:iam::123456789012:user/ops/alice".into())
        );
        assert_eq!(
            id("arn:aws-cn:sts::123456789012:assumed-role/r/s").principal_arn(),
            Some("arn:aws-cn:iam::123456789012:role/r".into())
        );
        assert_eq!(id("arn:aws:iam::123456789012:root").principal_arn(), None);
    }
}
