//! The host rule a preview should have: the one place that says what its conditions and
//! actions are, from the profile (who may reach it) and what it should lead to (`Then`: its
//! target group, or while it sleeps the waker or a fixed answer). Create, the deploy's
//! realignment, sleep and wake all build their rule here. Pure, but for [`SecretSource`].
//!
//! A profile with `bypass_header` gets a second rule for the same host ([`bypass`]): an
//! `http-header` condition on the secret value, no address range, no authentication, placed
//! before the host rule.

use std::sync::Arc;

use crate::aws::elb::{Authenticate, HeaderMatch, Hidden, RuleShape, Then};
use crate::error::BadInput;
use crate::profile::{Auth, Profile};

/// ELB's limit on an `http-header` condition value.
pub const MAX_BYPASS_VALUE: usize = 128;
/// ELB compares header values without case: a shorter value is too easy to guess.
pub const MIN_BYPASS_VALUE: usize = 16;

/// The rule `hostname` should have under `profile`, ending in `then`. The OIDC client secret
/// is not in it (a write without it keeps the rule's own); [`with_secrets`] adds it.
pub fn shape(profile: &Profile, hostname: &str, then: Then) -> RuleShape {
    let access = &profile.access;
    RuleShape {
        hostname: hostname.to_string(),
        source_cidrs: access.allow_cidrs.clone(),
        header: None,
        auth: access.auth.as_ref().map(authenticate),
        then,
    }
}

/// `shape` with the OIDC client secret the run read from its environment.
pub fn with_secrets(mut shape: RuleShape, secrets: &Secrets) -> RuleShape {
    if let Some(Authenticate::Oidc { client_secret, .. }) = &mut shape.auth {
        *client_secret = secrets.oidc_client_secret.clone();
    }
    shape
}

/// The bypass rule `hostname` should have (`None`: the profile has no bypass): the header with
/// its secret value, then `then`, without address range or authentication.
pub fn bypass(
    profile: &Profile,
    secrets: &Secrets,
    hostname: &str,
    then: Then,
) -> Option<RuleShape> {
    let b = profile.access.bypass.as_ref()?;
    let value = secrets.bypass_value.clone()?;
    Some(RuleShape {
        hostname: hostname.to_string(),
        source_cidrs: Vec::new(),
        header: Some(HeaderMatch {
            name: b.header.clone(),
            value,
        }),
        auth: None,
        then,
    })
}

fn authenticate(auth: &Auth) -> Authenticate {
    match auth.clone() {
        Auth::Cognito {
            user_pool_arn,
            client_id,
            domain,
        } => Authenticate::Cognito {
            user_pool_arn,
            client_id,
            domain,
        },
        Auth::Oidc {
            issuer,
            authorization_endpoint,
            token_endpoint,
            user_info_endpoint,
            client_id,
            client_secret_env: _,
        } => Authenticate::Oidc {
            issuer,
            authorization_endpoint,
            token_endpoint,
            user_info_endpoint,
            client_id,
            client_secret: None,
        },
    }
}

/// The secrets a profile's rules need, read from the environment variables it names, at
/// deploy time (never stored: not in the profile, the state item, or any output).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub oidc_client_secret: Option<Hidden>,
    pub bypass_value: Option<Hidden>,
}

impl Secrets {
    /// From `source` (the process's environment, unless a test gave another); a missing or
    /// unusable value is `BadInput` naming the variable (never its value).
    pub fn from_source(profile: &Profile, source: &SecretSource) -> Result<Secrets, BadInput> {
        Secrets::read(profile, |name| source.get(name))
    }

    /// From `lookup` (variable name → value).
    pub fn read(
        profile: &Profile,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Secrets, BadInput> {
        let access = &profile.access;
        let mut problems = Vec::new();
        let mut var = |key: &str, name: &str| match lookup(name).filter(|v| !v.is_empty()) {
            Some(v) => Some(v),
            None => {
                problems.push(format!(
                    "profile {}: the environment variable {name} (named by {key}) is not set; set it to the secret before deploying",
                    profile.name
                ));
                None
            }
        };
        let oidc_client_secret = match &access.auth {
            Some(Auth::Oidc {
                client_secret_env, ..
            }) => var("auth_client_secret_env", client_secret_env).map(Hidden::new),
            _ => None,
        };
        let bypass_value = match &access.bypass {
            Some(b) => var("bypass_value_env", &b.value_env),
            None => None,
        };
        if let (Some(b), Some(v)) = (&access.bypass, &bypass_value) {
            if let Err(why) = check_bypass_value(v) {
                problems.push(format!(
                    "profile {}: the value of {} {why}",
                    profile.name, b.value_env
                ));
            }
        }
        if !problems.is_empty() {
            return Err(BadInput(problems.join("\n")));
        }
        Ok(Secrets {
            oidc_client_secret,
            bypass_value: bypass_value.map(Hidden::new),
        })
    }
}

/// Where a run reads the environment variables its profile names: the process's environment
/// (the default), or for tests a function of their own.
#[derive(Clone)]
pub struct SecretSource(Arc<Lookup>);

/// A variable's name → its value.
type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl SecretSource {
    pub fn process_env() -> SecretSource {
        SecretSource(Arc::new(|name| std::env::var(name).ok()))
    }

    pub fn from_fn(f: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> SecretSource {
        SecretSource(Arc::new(f))
    }

    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }
}

impl Default for SecretSource {
    fn default() -> SecretSource {
        SecretSource::process_env()
    }
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretSource")
    }
}

/// What ELB takes as an `http-header` value, and long enough to be a secret: no wildcards (`*`
/// and `?` would match other values), no spaces.
fn check_bypass_value(v: &str) -> Result<(), String> {
    if v.len() < MIN_BYPASS_VALUE || v.len() > MAX_BYPASS_VALUE {
        return Err(format!(
            "must be {MIN_BYPASS_VALUE} to {MAX_BYPASS_VALUE} characters long (it has {}); use a long random value",
            v.len()
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '*' && c != '?')
    {
        return Err(
            "may hold only visible ASCII characters, without * and ? (ELB reads them as wildcards); use a long random value"
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(extra: &[(&str, &str)]) -> Profile {
        Profile::from_raw("api", &crate::profile::sample_raw(extra)).unwrap()
    }

    const OIDC: [(&str, &str); 8] = [
        ("allow_cidrs", "203.0.113.0/24"),
        ("auth", "oidc"),
        ("auth_issuer", "https://idp"),
        ("auth_authorization_endpoint", "https://idp/a"),
        ("auth_token_endpoint", "https://idp/t"),
        ("auth_user_info_endpoint", "https://idp/u"),
        ("auth_client_id", "eden"),
        ("auth_client_secret_env", "OIDC_SECRET"),
    ];

    #[test]
    fn an_open_profile_gets_a_plain_forward() {
        let s = shape(&profile(&[]), "h.example.com", Then::Forward("tg".into()));
        assert_eq!(s, RuleShape::forward("h.example.com", "tg"));
        assert_eq!(
            bypass(
                &profile(&[]),
                &Secrets::default(),
                "h",
                Then::Forward("tg".into())
            ),
            None
        );
    }

    #[test]
    fn the_profile_says_who_may_reach_the_preview() {
        let mut keys = OIDC.to_vec();
        keys.extend([
            ("bypass_header", "X-Preview-Token"),
            ("bypass_value_env", "TOKEN"),
        ]);
        let p = profile(&keys);
        let env = |n: &str| match n {
            "OIDC_SECRET" => Some("client-secret".to_string()),
            "TOKEN" => Some("0123456789abcdef0123".to_string()),
            _ => None,
        };
        let secrets = Secrets::read(&p, env).unwrap();
        let main = with_secrets(shape(&p, "h", Then::Forward("tg".into())), &secrets);
        assert_eq!(main.source_cidrs, ["203.0.113.0/24"]);
        assert!(matches!(
            &main.auth,
            Some(Authenticate::Oidc { client_secret: Some(s), .. }) if s.expose() == "client-secret"
        ));
        let b = bypass(&p, &secrets, "h", Then::Forward("tg".into())).unwrap();
        assert!(b.source_cidrs.is_empty() && b.auth.is_none());
        assert_eq!(b.header.unwrap().value.expose(), "0123456789abcdef0123");
    }

    #[test]
    fn a_missing_or_weak_secret_is_bad_input_naming_the_variable() {
        let mut keys = OIDC.to_vec();
        keys.extend([
            ("bypass_header", "X-Preview-Token"),
            ("bypass_value_env", "TOKEN"),
        ]);
        let p = profile(&keys);
        let e = Secrets::read(&p, |_| None).unwrap_err();
        assert!(e.0.contains("OIDC_SECRET") && e.0.contains("TOKEN"), "{e}");
        for weak in ["short", "0123456789abcdef*", "0123456789 abcdef"] {
            let e = Secrets::read(&p, |n| {
                Some(if n == "TOKEN" { weak } else { "s" }.to_string())
            })
            .unwrap_err();
            assert!(e.0.contains("the value of TOKEN"), "{e}");
            assert!(!e.0.contains(weak), "{e}");
        }
    }
}
