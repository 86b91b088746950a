//! ACM: the names a certificate covers (`eden doctor`).

use super::fail;
use anyhow::{anyhow, Result};

use super::Aws;

impl Aws {
    /// An ACM client for the region of the certificate's ARN.
    pub fn acm(&self, region: Option<&str>) -> aws_sdk_acm::Client {
        let mut b = aws_sdk_acm::config::Builder::from(&self.config);
        if let Some(r) = region {
            b = b.region(aws_config::Region::new(r.to_string()));
        }
        for i in &self.interceptors {
            b.push_interceptor(i.clone());
        }
        aws_sdk_acm::Client::from_conf(b.build())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub arn: String,
    /// The domain name and every subject alternative name.
    pub names: Vec<String>,
    /// ISSUED, PENDING_VALIDATION, EXPIRED, …
    pub status: String,
}

pub async fn certificate(aws: &Aws, arn: &str) -> Result<Certificate> {
    let region = arn.split(':').nth(3).filter(|r| !r.is_empty());
    let out = aws
        .acm(region)
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(|e| {
            fail(
                "acm:DescribeCertificate",
                format!("acm:DescribeCertificate {arn}"),
                &e,
            )
        })?;
    let c = out
        .certificate
        .ok_or_else(|| anyhow!("acm:DescribeCertificate {arn} returned nothing"))?;
    let mut names: Vec<String> = c.domain_name.iter().cloned().collect();
    for san in c.subject_alternative_names() {
        if !names.contains(san) {
            names.push(san.clone());
        }
    }
    Ok(Certificate {
        arn: arn.to_string(),
        names,
        status: c.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
    })
}
