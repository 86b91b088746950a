//! Profiles whose previews would get the same AWS names (`eden config check`).
//!
//! Target group names and task definition families are unique per account and region, service
//! names per cluster, hostnames per zone. Two profiles collide when any of these come out equal
//! for the same environment name — the same `name_prefix`, or prefixes that sanitise alike
//! (`dev_api` and `dev-api` give the same target group). At create time the precheck refuses
//! such a create before writing anything; this finds it earlier, from the file alone.

use crate::names::ResourceNames;
use crate::profile::Profile;

/// The environment name the comparison uses (any name gives the same answer).
const SAMPLE: &str = "pr-1";

/// (region, account) of a profile's resources, from its reference service ARN.
fn scope(p: &Profile) -> Option<(&str, &str)> {
    let mut parts = p.reference_service_arn.split(':');
    Some((parts.nth(3)?, parts.next()?))
}

fn cluster(p: &Profile) -> &str {
    p.target_cluster.rsplit('/').next().unwrap_or_default()
}

/// One line per colliding pair among `profiles`, each saying what collides and how to fix it.
/// Only pairs involving a profile in `checked` are reported.
pub fn collisions(profiles: &[Profile], checked: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in profiles.iter().enumerate() {
        for b in &profiles[i + 1..] {
            if !checked.contains(&a.name) && !checked.contains(&b.name) {
                continue;
            }
            let (na, nb) = (names(a), names(b));
            let mut same = Vec::new();
            if scope(a).is_some() && scope(a) == scope(b) {
                if na.target_group == nb.target_group {
                    same.push(format!("target group {}", na.target_group));
                }
                if na.family == nb.family {
                    same.push(format!("task definition family {}", na.family));
                }
                if cluster(a) == cluster(b) && na.service == nb.service {
                    same.push(format!(
                        "ECS service {} in cluster {}",
                        na.service,
                        cluster(a)
                    ));
                }
            }
            if !same.is_empty() {
                out.push(format!(
                    "profiles {} and {} would collide: environment {SAMPLE} of each gets the same {} (name_prefix {:?} and {:?}); rename name_prefix in one of them",
                    a.name,
                    b.name,
                    same.join(", "),
                    a.name_prefix,
                    b.name_prefix
                ));
            }
            if a.dynamic_zone_id == b.dynamic_zone_id && na.dns_label == nb.dns_label {
                out.push(format!(
                    "profiles {} and {} would collide: environment {SAMPLE} of each gets the hostname {}.… in zone {} (domain_name_prefix {:?} and {:?}); rename domain_name_prefix in one of them",
                    a.name,
                    b.name,
                    na.dns_label,
                    a.dynamic_zone_id,
                    a.domain_name_prefix,
                    b.domain_name_prefix
                ));
            }
        }
    }
    out
}

fn names(p: &Profile) -> ResourceNames {
    ResourceNames::new(&p.name_prefix, &p.domain_name_prefix, SAMPLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, prefix: &str, domain: &str, cluster: &str, account: &str) -> Profile {
        let raw = [
            ("name_prefix", prefix.to_string()),
            (
                "reference_service_arn",
                format!("arn:aws:ecs:ap-northeast-1:{account}:service/{cluster}/ref"),
            ),
            ("target_cluster", cluster.to_string()),
            ("domain_name_prefix", domain.to_string()),
            (
                "master_alb_arn",
                format!("arn:aws:elasticloadbalancing:ap-northeast-1:{account}:loadbalancer/app/common/0123"),
            ),
            ("dynamic_zone_id", "Z0123456789ABC".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Profile::from_raw(name, &raw).unwrap()
    }

    const A: &str = "123456789012";
    const B: &str = "210987654321";

    fn all(ps: &[Profile]) -> Vec<String> {
        collisions(ps, &ps.iter().map(|p| p.name.clone()).collect::<Vec<_>>())
    }

    #[test]
    fn distinct_prefixes_do_not_collide() {
        let ps = [
            profile("api", "dev-api", "api", "dev", A),
            profile("admin", "dev-admin", "admin", "dev", A),
        ];
        assert!(all(&ps).is_empty(), "{:?}", all(&ps));
    }

    #[test]
    fn a_shared_name_prefix_collides_and_says_what_to_rename() {
        let ps = [
            profile("api", "dev-api", "api", "dev", A),
            profile("api2", "dev-api", "api2", "dev", A),
        ];
        let found = all(&ps);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("target group dev-api-pr-1"),
            "{}",
            found[0]
        );
        assert!(found[0].contains("ECS service dev-api-pr-1 in cluster dev"));
        assert!(found[0].contains("rename name_prefix"));
    }

    #[test]
    fn prefixes_that_sanitise_alike_collide_even_across_clusters() {
        let ps = [
            profile("a", "dev_api", "a", "dev", A),
            profile("b", "dev-api", "b", "staging", A),
        ];
        let found = all(&ps);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("target group dev-api-pr-1"));
        assert!(!found[0].contains("ECS service"), "{}", found[0]);
    }

    #[test]
    fn other_accounts_do_not_collide_but_a_shared_hostname_does() {
        let ps = [
            profile("a", "dev-api", "api", "dev", A),
            profile("b", "dev-api", "api", "dev", B),
        ];
        let found = all(&ps);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("rename domain_name_prefix"),
            "{}",
            found[0]
        );
    }

    #[test]
    fn only_pairs_with_a_checked_profile() {
        let ps = [
            profile("a", "x", "a", "dev", A),
            profile("b", "x", "b", "dev", A),
            profile("c", "y", "c", "dev", A),
        ];
        assert!(collisions(&ps, &["c".into()]).is_empty());
        assert_eq!(collisions(&ps, &["a".into()]).len(), 1);
    }
}
