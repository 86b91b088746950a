//! eden's ownership tags, and the one rule for "may eden touch this resource".

pub const MANAGED: &str = "eden:managed";
pub const PROFILE: &str = "eden:profile";
pub const ENVIRONMENT: &str = "eden:environment";

/// Tag values are limited in characters (ECS, ELB) and length (256): keep what is allowed.
pub fn value(raw: &str) -> String {
    let kept: String = raw
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " +-=._:/@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    kept.chars().take(256).collect()
}

pub fn eden_tags(profile: &str, environment: &str) -> Vec<(String, String)> {
    vec![
        (MANAGED.to_string(), "true".to_string()),
        (PROFILE.to_string(), value(profile)),
        (ENVIRONMENT.to_string(), value(environment)),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Tagged by eden for this profile and environment.
    Ours,
    /// Not tagged by eden: made by the Python eden (found by its exact legacy name).
    Legacy,
    /// Tagged by eden for another profile or environment: never touch.
    Foreign {
        profile: String,
        environment: String,
    },
}

pub fn owner<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    profile: &str,
    environment: &str,
) -> Owner {
    let (mut managed, mut p, mut e) = (false, String::new(), String::new());
    for (k, v) in tags {
        match k {
            MANAGED => managed = v == "true",
            PROFILE => p = v.to_string(),
            ENVIRONMENT => e = v.to_string(),
            _ => {}
        }
    }
    if !managed {
        Owner::Legacy
    } else if p == value(profile) && e == value(environment) {
        Owner::Ours
    } else {
        Owner::Foreign {
            profile: p,
            environment: e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership() {
        let t = eden_tags("api", "feature/x#1");
        let view = || t.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        assert_eq!(owner(view(), "api", "feature/x#1"), Owner::Ours);
        assert_eq!(
            owner(view(), "admin", "feature/x#1"),
            Owner::Foreign {
                profile: "api".into(),
                environment: "feature/x_1".into()
            }
        );
        assert_eq!(owner([("team", "x")], "api", "e"), Owner::Legacy);
    }
}
