//! Naming rules: one sanitiser per resource kind, used by create *and* delete.
//!
//! Simple names (`[a-z0-9-]`, short) map exactly as the Python eden mapped them, so environments
//! it created are found again. Anything else is made legal for the resource kind; names that are
//! too long are cut and end in `-` plus 8 hex digits of a SHA-256 of the unsanitised name, so
//! two different long names never share a resource.

use sha2::{Digest, Sha256};

/// Target group names: `[A-Za-z0-9-]`, at most 32, no leading/trailing hyphen.
pub const TARGET_GROUP_MAX: usize = 32;
/// One DNS label.
pub const DNS_LABEL_MAX: usize = 63;
/// ECS service names and task definition families.
pub const ECS_NAME_MAX: usize = 255;
/// One value of an ALB host-header condition (the whole hostname).
pub const HOST_HEADER_MAX: usize = 128;

/// Every AWS name eden derives for one (profile, environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceNames {
    /// The unsanitised `{name_prefix}-{environment}` the original used as the base.
    pub base: String,
    pub family: String,
    pub service: String,
    pub target_group: String,
    /// The leftmost DNS label: `{domain_name_prefix}-{environment}`.
    pub dns_label: String,
    /// Names the Python eden would have used where they differ from ours (for delete).
    pub legacy_family: String,
    pub legacy_service: String,
    /// The Python eden's label: `[A-Za-z0-9_-]` kept, case kept.
    pub legacy_dns_label: String,
}

impl ResourceNames {
    pub fn new(name_prefix: &str, domain_name_prefix: &str, environment: &str) -> Self {
        let base = format!("{name_prefix}-{environment}");
        ResourceNames {
            family: family(&base),
            service: service(&base),
            target_group: target_group(&base),
            dns_label: dns_label(&format!("{domain_name_prefix}-{environment}")),
            legacy_family: keep(&base, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            legacy_service: keep(&base, |c| c.is_ascii_alphanumeric() || c == '-'),
            legacy_dns_label: format!(
                "{}-{}",
                keep(domain_name_prefix, |c| c.is_ascii_alphanumeric()
                    || c == '_'
                    || c == '-'),
                keep(environment, |c| c.is_ascii_alphanumeric()
                    || c == '_'
                    || c == '-')
            ),
            base,
        }
    }

    pub fn hostname(&self, zone_name: &str) -> String {
        format!("{}.{}", self.dns_label, zone_name.trim_end_matches('.'))
    }

    /// The hostname the Python eden would have used (differs for `_` and upper case).
    pub fn legacy_hostname(&self, zone_name: &str) -> String {
        format!(
            "{}.{}",
            self.legacy_dns_label,
            zone_name.trim_end_matches('.')
        )
    }
}

/// Replace every character outside `allowed` with `-` (the original's rule).
fn keep(raw: &str, allowed: impl Fn(char) -> bool) -> String {
    raw.chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .collect()
}

fn short_hash(raw: &str) -> String {
    hex::encode(&Sha256::digest(raw.as_bytes())[..4])
}

/// Cut `name` to `max` characters, ending in `-<hash of raw>` when it had to be cut.
fn fit(name: String, raw: &str, max: usize, trim: bool) -> String {
    let name = if trim {
        name.trim_matches('-').to_string()
    } else {
        name
    };
    if name.len() <= max {
        return name;
    }
    let hash = short_hash(raw);
    let keep_len = max - hash.len() - 1;
    let head: String = name.chars().take(keep_len).collect();
    let head = head.trim_end_matches('-');
    format!("{head}-{hash}")
}

/// Task definition family: `[A-Za-z0-9_-]`, ≤ 255.
pub fn family(base: &str) -> String {
    let kept = keep(base, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    fit(kept, base, ECS_NAME_MAX, false)
}

/// ECS service name: `[A-Za-z0-9-]` (the original's create form), ≤ 255.
pub fn service(base: &str) -> String {
    let kept = keep(base, |c| c.is_ascii_alphanumeric() || c == '-');
    fit(kept, base, ECS_NAME_MAX, false)
}

/// Target group name: `[A-Za-z0-9-]`, ≤ 32, no leading/trailing `-`, never `internal-…`.
pub fn target_group(base: &str) -> String {
    let kept = keep(base, |c| c.is_ascii_alphanumeric() || c == '-');
    let kept = collapse_hyphens(&kept);
    let kept = match kept.strip_prefix("internal-") {
        Some(rest) => format!("i-{rest}"),
        None => kept,
    };
    fit(kept, base, TARGET_GROUP_MAX, true)
}

/// DNS label: lower-case `[a-z0-9-]`, ≤ 63, no leading/trailing `-`.
pub fn dns_label(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    let kept = keep(&lower, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    });
    fit(collapse_hyphens(&kept), raw, DNS_LABEL_MAX, true)
}

fn collapse_hyphens(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// Why a hostname cannot be an environment's address: an ALB host-header condition value holds
/// at most 128 characters (a long zone name passes the DNS limits and fails at CreateRule).
pub fn check_hostname(hostname: &str) -> Result<(), crate::error::Refusal> {
    if hostname.len() > HOST_HEADER_MAX {
        return Err(crate::error::Refusal::new(
            format!(
                "hostname {hostname} has {} characters; an ALB host-header rule allows at most {HOST_HEADER_MAX}",
                hostname.len()
            ),
            "use a shorter zone (dynamic_zone_id) or a shorter domain_name_prefix",
        ));
    }
    Ok(())
}

/// Why an environment name was refused. Anything printable and non-empty is accepted: the
/// sanitisers make it legal for every resource.
pub fn validate_environment(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the environment name is empty: pass --name, e.g. --name pr-42".into());
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(format!(
            "the environment name {name:?} contains control characters"
        ));
    }
    if name.len() > 512 {
        return Err("the environment name is longer than 512 bytes".into());
    }
    if !name.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "the environment name {name:?} has no letter or digit; names become AWS resource names"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legal_tg(n: &str) -> bool {
        n.len() <= 32
            && !n.starts_with('-')
            && !n.ends_with('-')
            && !n.starts_with("internal-")
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    }

    fn legal_label(n: &str) -> bool {
        !n.is_empty()
            && n.len() <= 63
            && !n.starts_with('-')
            && !n.ends_with('-')
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }

    #[test]
    fn simple_names_match_the_python_eden() {
        let n = ResourceNames::new("dev-api", "api", "pr-42");
        assert_eq!(n.family, "dev-api-pr-42");
        assert_eq!(n.service, "dev-api-pr-42");
        assert_eq!(n.target_group, "dev-api-pr-42");
        assert_eq!(n.hostname("dev.example.com."), "api-pr-42.dev.example.com");
        assert_eq!(n.legacy_service, n.service);
        assert_eq!(n.legacy_family, n.family);
    }

    #[test]
    fn branch_names_become_legal_everywhere() {
        let long = "feature/Foo_bar.baz-".repeat(20);
        for env in [
            "feature/Foo_bar.baz-x",
            long.as_str(),
            "ünïcode/ß",
            "UPPER",
            "a",
            "-x-",
        ] {
            let n = ResourceNames::new("dev-api", "api", env);
            assert!(legal_tg(&n.target_group), "{env}: {}", n.target_group);
            assert!(legal_label(&n.dns_label), "{env}: {}", n.dns_label);
            assert!(n.service.len() <= 255 && n.family.len() <= 255);
            assert!(n
                .family
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        }
    }

    #[test]
    fn long_names_are_cut_with_a_hash_and_stay_distinct() {
        let a = ResourceNames::new(
            "dev-api",
            "api",
            "feature/a-very-long-branch-name-number-one",
        );
        let b = ResourceNames::new(
            "dev-api",
            "api",
            "feature/a-very-long-branch-name-number-two",
        );
        assert!(a.target_group.len() <= 32);
        let hash = a.target_group.rsplit('-').next().unwrap();
        assert_eq!(hash.len(), 8, "{}", a.target_group);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.target_group, b.target_group);
        assert_eq!(
            a,
            ResourceNames::new(
                "dev-api",
                "api",
                "feature/a-very-long-branch-name-number-one"
            )
        );
    }

    #[test]
    fn internal_prefix_is_avoided() {
        assert!(legal_tg(&target_group("internal-tools")));
    }

    #[test]
    fn two_profiles_get_distinct_names() {
        let api = ResourceNames::new("dev-api", "api", "pr-1");
        let admin = ResourceNames::new("dev-admin", "admin", "pr-1");
        assert_ne!(api.target_group, admin.target_group);
        assert_ne!(api.dns_label, admin.dns_label);
    }

    #[test]
    fn hostnames_fit_a_host_header_condition() {
        let zone = format!("{}.{}.example.com", "z".repeat(60), "y".repeat(50));
        let n = ResourceNames::new("dev-api", "api", "pr-1");
        let host = n.hostname(&zone);
        assert!(host.len() > HOST_HEADER_MAX);
        let err = check_hostname(&host).unwrap_err();
        assert!(err.to_string().contains("at most 128"), "{err}");
        assert!(check_hostname(&n.hostname("dev.example.com")).is_ok());
        assert!(check_hostname(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn refuses_empty_and_control_names() {
        assert!(validate_environment("").is_err());
        assert!(validate_environment("  ").is_err());
        assert!(validate_environment("a\nb").is_err());
        assert!(validate_environment("///").is_err());
        assert!(validate_environment("feature/x").is_ok());
    }
}
