//! Image URIs: `ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]/REPO[:TAG][@sha256:DIGEST]`,
//! or the dual-stack `ACCOUNT.dkr-ecr[-fips].REGION.on.aws/…`. ACCOUNT may be another account's
//! registry (checked there, with DescribeImages' `registryId`).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub uri: String,
    pub registry_id: String,
    pub region: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

impl ImageRef {
    pub fn parse(uri: &str) -> Result<ImageRef, String> {
        let hint = "expected ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG or …/REPOSITORY@sha256:DIGEST";
        let bad = |why: &str| format!("image URI {uri:?} {why}; {hint}");
        if uri.is_empty() {
            return Err(format!("the image URI is empty: pass --image-uri; {hint}"));
        }
        if uri.chars().any(|c| c.is_whitespace()) {
            return Err(bad("contains whitespace"));
        }
        let (host, path) = uri.split_once('/').ok_or_else(|| bad(NOT_ECR))?;
        let (registry_id, region) = registry(host).map_err(bad)?;
        let (repository, tag, digest) = repository_path(path).map_err(bad)?;
        Ok(ImageRef {
            uri: uri.to_string(),
            registry_id: registry_id.to_string(),
            region,
            repository,
            tag,
            digest,
        })
    }
}

const NOT_ECR: &str = "is not an Amazon ECR image";

/// The registry host → (account id, region); `Err`: why it is not an ECR registry.
fn registry(host: &str) -> Result<(&str, String), &'static str> {
    let mut parts = host.split('.');
    let registry_id = parts.next().unwrap_or_default();
    if registry_id.len() != 12 || !registry_id.chars().all(|c| c.is_ascii_digit()) {
        return Err("is not an Amazon ECR image (the registry must be a 12-digit account id)");
    }
    // ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn], or the dual-stack endpoint
    // ACCOUNT.dkr-ecr[-fips].REGION.on.aws
    let (region, suffix_ok) = match parts.next() {
        Some("dkr") => {
            match parts.next() {
                Some("ecr") | Some("ecr-fips") => {}
                _ => return Err(NOT_ECR),
            }
            let region = parts.next().unwrap_or_default().to_string();
            let rest: Vec<&str> = parts.collect();
            let ok = rest == ["amazonaws", "com"] || rest == ["amazonaws", "com", "cn"];
            (region, ok)
        }
        Some("dkr-ecr") | Some("dkr-ecr-fips") => {
            let region = parts.next().unwrap_or_default().to_string();
            let rest: Vec<&str> = parts.collect();
            (region, rest == ["on", "aws"])
        }
        _ => return Err(NOT_ECR),
    };
    if region.is_empty() || !suffix_ok {
        return Err(NOT_ECR);
    }
    Ok((registry_id, region))
}

/// `REPOSITORY[:TAG][@sha256:DIGEST]` → (repository, tag, digest); at least one of the two.
type RepositoryPath = (String, Option<String>, Option<String>);

fn repository_path(path: &str) -> Result<RepositoryPath, &'static str> {
    let (name_tag, digest) = match path.split_once('@') {
        Some((n, d)) => (n, Some(d.to_string())),
        None => (path, None),
    };
    if let Some(d) = &digest {
        let ok = d
            .strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()));
        if !ok {
            return Err("has a malformed digest (sha256: and 64 hex digits)");
        }
    }
    let (repository, tag) = match name_tag.rsplit_once(':') {
        Some((r, t)) => (r.to_string(), Some(t.to_string())),
        None => (name_tag.to_string(), None),
    };
    let repo_ok = !repository.is_empty()
        && repository.len() <= 256
        && repository
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c));
    if !repo_ok {
        return Err("has an invalid repository name");
    }
    if let Some(t) = &tag {
        let tag_ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !tag_ok {
            return Err("has an invalid tag");
        }
    }
    if tag.is_none() && digest.is_none() {
        return Err("has neither a tag nor a digest");
    }
    Ok((repository, tag, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn tags_digests_namespaces_and_regions() {
        let i = ImageRef::parse("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/team/api:v1.2")
            .unwrap();
        assert_eq!(
            (i.registry_id.as_str(), i.region.as_str()),
            ("123456789012", "ap-northeast-1")
        );
        assert_eq!(i.repository, "team/api");
        assert_eq!(i.tag.as_deref(), Some("v1.2"));
        let d = ImageRef::parse(&format!(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/api@{D}"
        ))
        .unwrap();
        assert_eq!(
            (d.repository.as_str(), d.digest.as_deref(), d.tag),
            ("api", Some(D), None)
        );
        let both = ImageRef::parse(&format!(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:x@{D}"
        ))
        .unwrap();
        assert_eq!(both.tag.as_deref(), Some("x"));
        let cn = ImageRef::parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/api:1").unwrap();
        assert_eq!(cn.region, "cn-north-1");
        assert!(ImageRef::parse("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/api:1").is_ok());
    }

    #[test]
    fn dual_stack_endpoints_and_other_accounts() {
        let ds = ImageRef::parse("210987654321.dkr-ecr.eu-west-1.on.aws/team/api:v2").unwrap();
        assert_eq!(
            (
                ds.registry_id.as_str(),
                ds.region.as_str(),
                ds.repository.as_str()
            ),
            ("210987654321", "eu-west-1", "team/api")
        );
        assert!(ImageRef::parse("123456789012.dkr-ecr-fips.us-east-1.on.aws/api:1").is_ok());
        for bad in [
            "123456789012.dkr-ecr.us-east-1.amazonaws.com/api:1",
            "123456789012.dkr-ecr.us-east-1.on.example/api:1",
            "123456789012.dkr-ecr..on.aws/api:1",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_what_ecr_cannot_hold() {
        for bad in [
            "",
            "nginx:latest",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/api",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/api@sha256:abc",
            "12345.dkr.ecr.us-east-1.amazonaws.com/api:1",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/API:1",
            "123456789012.dkr.ecr.us-east-1.example.com/api:1",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:bad tag",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }
}
