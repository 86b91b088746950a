//! Who may reach a profile's previews: the `allow_cidrs`, `auth*` and `bypass_*` keys, checked
//! (every problem reported) and written back for the remote JSON form. Secrets are never in a
//! profile: it names the environment variables that hold them, read at deploy time
//! (`engine::rule::Secrets`).

use std::net::IpAddr;

use super::{get, parse_arn, RawProfile};

/// A listener rule holds at most this many condition values, across its conditions (ELB quota
/// "condition values per rule").
pub const CONDITION_VALUES_PER_RULE: usize = 5;
/// The host rule's `host-header` condition takes one of them.
pub const MAX_ALLOW_CIDRS: usize = CONDITION_VALUES_PER_RULE - 1;
/// ELB's limit on an `http-header` condition's header name.
pub const MAX_HEADER_NAME: usize = 40;

/// The access keys, in the order `config check` and docs/configuration.md list them.
pub const KEYS: [&str; 12] = [
    "allow_cidrs",
    "auth",
    "auth_user_pool_arn",
    "auth_domain",
    "auth_issuer",
    "auth_authorization_endpoint",
    "auth_token_endpoint",
    "auth_user_info_endpoint",
    "auth_client_id",
    "auth_client_secret_env",
    "bypass_header",
    "bypass_value_env",
];

const COGNITO_KEYS: [&str; 3] = ["auth_user_pool_arn", "auth_client_id", "auth_domain"];
const OIDC_KEYS: [&str; 6] = [
    "auth_issuer",
    "auth_authorization_endpoint",
    "auth_token_endpoint",
    "auth_user_info_endpoint",
    "auth_client_id",
    "auth_client_secret_env",
];

/// Who may reach a preview. The default: anyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Client address ranges (canonical CIDR form); empty: any address.
    pub allow_cidrs: Vec<String>,
    pub auth: Option<Auth>,
    pub bypass: Option<Bypass>,
}

/// Sign-in before the preview (the ALB's authenticate action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
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
        /// The NAME of the environment variable that holds the client secret.
        client_secret_env: String,
    },
}

/// A header that lets automated tests past the protection: its name, and the NAME of the
/// environment variable that holds its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bypass {
    pub header: String,
    pub value_env: String,
}

impl Access {
    /// Whether anything restricts who reaches the preview.
    pub fn is_restricted(&self) -> bool {
        !self.allow_cidrs.is_empty() || self.auth.is_some()
    }

    /// The keys back, as `Profile::to_raw` writes them.
    pub fn put_raw(&self, raw: &mut RawProfile) {
        let mut put = |k: &str, v: &str| {
            raw.insert(k.to_string(), v.to_string());
        };
        if !self.allow_cidrs.is_empty() {
            put("allow_cidrs", &self.allow_cidrs.join(", "));
        }
        match &self.auth {
            None => {}
            Some(Auth::Cognito {
                user_pool_arn,
                client_id,
                domain,
            }) => {
                put("auth", "cognito");
                put("auth_user_pool_arn", user_pool_arn);
                put("auth_client_id", client_id);
                put("auth_domain", domain);
            }
            Some(Auth::Oidc {
                issuer,
                authorization_endpoint,
                token_endpoint,
                user_info_endpoint,
                client_id,
                client_secret_env,
            }) => {
                put("auth", "oidc");
                put("auth_issuer", issuer);
                put("auth_authorization_endpoint", authorization_endpoint);
                put("auth_token_endpoint", token_endpoint);
                put("auth_user_info_endpoint", user_info_endpoint);
                put("auth_client_id", client_id);
                put("auth_client_secret_env", client_secret_env);
            }
        }
        if let Some(b) = &self.bypass {
            put("bypass_header", &b.header);
            put("bypass_value_env", &b.value_env);
        }
    }
}

/// Read and check the access keys; every problem goes to `p`.
pub fn access(p: &mut Vec<String>, name: &str, raw: &RawProfile) -> Access {
    let access = Access {
        allow_cidrs: allow_cidrs(p, name, raw),
        auth: auth(p, name, raw),
        bypass: bypass(p, name, raw),
    };
    if access.bypass.is_some() && !access.is_restricted() {
        p.push(format!(
            "profile {name}: bypass_header lets requests past the protection, but the profile sets neither allow_cidrs nor auth; set one of them or remove bypass_header and bypass_value_env"
        ));
    }
    access
}

fn allow_cidrs(p: &mut Vec<String>, name: &str, raw: &RawProfile) -> Vec<String> {
    let Some(v) = get(raw, "allow_cidrs") else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match cidr(item) {
            Ok(c) if out.contains(&c) => p.push(format!(
                "profile {name}: allow_cidrs lists {c} twice; keep it once"
            )),
            Ok(c) => out.push(c),
            Err(why) => p.push(format!("profile {name}: allow_cidrs: {why}")),
        }
    }
    if out.len() > MAX_ALLOW_CIDRS {
        p.push(format!(
            "profile {name}: allow_cidrs has {} ranges, at most {MAX_ALLOW_CIDRS} fit: an ALB listener rule holds at most {CONDITION_VALUES_PER_RULE} condition values and the preview's hostname takes 1; merge ranges into wider ones",
            out.len()
        ));
    }
    out
}

/// One CIDR (IPv4 or IPv6), in its canonical form; no bits set past the prefix.
pub fn cidr(s: &str) -> Result<String, String> {
    let Some((addr, len)) = s.split_once('/') else {
        return Err(format!(
            "{s:?} is not a CIDR range (address/prefix, e.g. 203.0.113.0/24 or 198.51.100.7/32)"
        ));
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{s:?}: {addr:?} is not an IPv4 or IPv6 address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len: u32 = match len.parse() {
        Ok(n) if n <= max => n,
        _ => {
            return Err(format!(
                "{s:?}: the prefix must be a number from 0 to {max}"
            ))
        }
    };
    let network = mask(addr, len);
    if network != addr {
        return Err(format!(
            "{s:?} has bits set past its /{len} prefix; did you mean {network}/{len}?"
        ));
    }
    Ok(format!("{network}/{len}"))
}

fn mask(addr: IpAddr, len: u32) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

fn auth(p: &mut Vec<String>, name: &str, raw: &RawProfile) -> Option<Auth> {
    let kind = get(raw, "auth").map(str::to_ascii_lowercase);
    let (needed, other): (&[&str], &[&str]) = match kind.as_deref() {
        None => {
            let set: Vec<&str> = KEYS[2..10]
                .iter()
                .copied()
                .filter(|k| get(raw, k).is_some())
                .collect();
            if !set.is_empty() {
                p.push(format!(
                    "profile {name}: {} set without auth; add auth = cognito or auth = oidc, or remove them",
                    set.join(", ")
                ));
            }
            return None;
        }
        Some("cognito") => (&COGNITO_KEYS, &OIDC_KEYS),
        Some("oidc") => (&OIDC_KEYS, &COGNITO_KEYS),
        Some(other) => {
            p.push(format!(
                "profile {name}: auth {other:?} must be cognito or oidc"
            ));
            return None;
        }
    };
    let kind = kind.unwrap_or_default();
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|k| get(raw, k).is_none())
        .collect();
    let stray: Vec<&str> = other
        .iter()
        .copied()
        .filter(|k| !needed.contains(k) && get(raw, k).is_some())
        .collect();
    if !missing.is_empty() {
        p.push(format!(
            "profile {name}: auth = {kind} needs {}",
            missing.join(", ")
        ));
    }
    if !stray.is_empty() {
        p.push(format!(
            "profile {name}: {} belong to the other kind of auth, not auth = {kind}; remove them",
            stray.join(", ")
        ));
    }
    if !missing.is_empty() {
        return None;
    }
    let v = |k: &str| get(raw, k).unwrap_or_default().to_string();
    if kind == "cognito" {
        check_cognito(p, name, &v("auth_user_pool_arn"), &v("auth_domain"));
        return Some(Auth::Cognito {
            user_pool_arn: v("auth_user_pool_arn"),
            client_id: v("auth_client_id"),
            domain: v("auth_domain"),
        });
    }
    Some(oidc(p, name, raw))
}

/// `auth = oidc`, its keys all present: the endpoints https://, the secret a variable's name.
fn oidc(p: &mut Vec<String>, name: &str, raw: &RawProfile) -> Auth {
    let v = |k: &str| get(raw, k).unwrap_or_default().to_string();
    for key in &OIDC_KEYS[..4] {
        if !v(key).starts_with("https://") {
            p.push(format!(
                "profile {name}: {key} {:?} must be a full https:// URL (the ALB requires HTTPS)",
                v(key)
            ));
        }
    }
    check_env_name(
        p,
        name,
        "auth_client_secret_env",
        &v("auth_client_secret_env"),
    );
    Auth::Oidc {
        issuer: v("auth_issuer"),
        authorization_endpoint: v("auth_authorization_endpoint"),
        token_endpoint: v("auth_token_endpoint"),
        user_info_endpoint: v("auth_user_info_endpoint"),
        client_id: v("auth_client_id"),
        client_secret_env: v("auth_client_secret_env"),
    }
}

fn check_cognito(p: &mut Vec<String>, name: &str, pool: &str, domain: &str) {
    if !parse_arn(pool, "cognito-idp").is_some_and(|r| r.starts_with("userpool/")) {
        p.push(format!(
            "profile {name}: auth_user_pool_arn {pool:?} is not a Cognito user pool ARN (arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID)"
        ));
    }
    if domain.contains("://") || domain.contains(char::is_whitespace) {
        p.push(format!(
            "profile {name}: auth_domain {domain:?} must be the user pool's domain prefix (my-team) or its custom domain (auth.example.com), without https://"
        ));
    }
}

/// An environment variable's NAME (letters, digits, `_`; not starting with a digit).
fn check_env_name(p: &mut Vec<String>, name: &str, key: &str, var: &str) {
    let ok = var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        p.push(format!(
            "profile {name}: {key} {var:?} must be the NAME of an environment variable (letters, digits and _), not the secret itself"
        ));
    }
}

fn bypass(p: &mut Vec<String>, name: &str, raw: &RawProfile) -> Option<Bypass> {
    let (header, value_env) = match (get(raw, "bypass_header"), get(raw, "bypass_value_env")) {
        (None, None) => return None,
        (Some(h), Some(e)) => (h, e),
        (Some(_), None) | (None, Some(_)) => {
            p.push(format!(
                "profile {name}: bypass_header and bypass_value_env go together (the header, and the environment variable that holds its value)"
            ));
            return None;
        }
    };
    const SEPARATORS: &str = "()<>@,;:\\\"/[]?={} \t";
    let token = !header.is_empty()
        && header
            .chars()
            .all(|c| c.is_ascii_graphic() && !SEPARATORS.contains(c));
    if !token || header.len() > MAX_HEADER_NAME {
        p.push(format!(
            "profile {name}: bypass_header {header:?} must be an HTTP header name of at most {MAX_HEADER_NAME} characters (letters, digits, -), e.g. X-Preview-Token"
        ));
    }
    check_env_name(p, name, "bypass_value_env", value_env);
    Some(Bypass {
        header: header.to_string(),
        value_env: value_env.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawProfile {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn cidrs_are_checked_and_made_canonical() {
        assert_eq!(cidr("203.0.113.0/24").unwrap(), "203.0.113.0/24");
        assert_eq!(cidr("2001:DB8:0::/32").unwrap(), "2001:db8::/32");
        assert_eq!(cidr("0.0.0.0/0").unwrap(), "0.0.0.0/0");
        assert!(cidr("203.0.113.5/24")
            .unwrap_err()
            .contains("203.0.113.0/24"));
        assert!(cidr("198.51.100.7").is_err());
        assert!(cidr("198.51.100.7/33").is_err());
        assert!(cidr("2001:db8::/129").is_err());
        assert!(cidr("office/24").is_err());
    }

    #[test]
    fn at_most_four_ranges_fit_beside_the_hostname() {
        let four = "10.0.0.0/8, 10.1.0.0/16, 10.2.0.0/16, 2001:db8::/32";
        let mut p = Vec::new();
        let a = access(&mut p, "api", &raw(&[("allow_cidrs", four)]));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(a.allow_cidrs.len(), 4);
        let five = format!("{four}, 192.0.2.0/24");
        access(&mut p, "api", &raw(&[("allow_cidrs", &five)]));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("has 5 ranges, at most 4"), "{p:?}");
        assert!(p[0].contains("at most 5 condition values"), "{p:?}");
    }

    #[test]
    fn each_kind_of_auth_needs_its_own_keys() {
        let mut p = Vec::new();
        access(
            &mut p,
            "api",
            &raw(&[("auth", "oidc"), ("auth_domain", "x")]),
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains("auth_issuer, auth_authorization_endpoint"),
            "{p:?}"
        );
        assert!(
            p[1].contains("auth_domain belong to the other kind"),
            "{p:?}"
        );
        let mut p = Vec::new();
        access(&mut p, "api", &raw(&[("auth_client_id", "x")]));
        assert!(p[0].contains("without auth"), "{p:?}");
        let mut p = Vec::new();
        let cognito = raw(&[
            ("auth", "Cognito"),
            (
                "auth_user_pool_arn",
                "arn:aws:cognito-idp:ap-northeast-1:123456789012:userpool/ap-northeast-1_abc",
            ),
            ("auth_client_id", "client"),
            ("auth_domain", "my-team"),
        ]);
        let a = access(&mut p, "api", &cognito);
        assert!(p.is_empty(), "{p:?}");
        assert!(matches!(a.auth, Some(Auth::Cognito { .. })));
    }

    #[test]
    fn oidc_endpoints_are_https_and_the_secret_is_a_variable_name() {
        let mut p = Vec::new();
        let a = access(
            &mut p,
            "api",
            &raw(&[
                ("auth", "oidc"),
                ("auth_issuer", "https://idp.example.com"),
                ("auth_authorization_endpoint", "http://idp.example.com/auth"),
                ("auth_token_endpoint", "https://idp.example.com/token"),
                ("auth_user_info_endpoint", "https://idp.example.com/me"),
                ("auth_client_id", "eden"),
                ("auth_client_secret_env", "s3cr3t-value!"),
            ]),
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("auth_authorization_endpoint"), "{p:?}");
        assert!(p[1].contains("NAME of an environment variable"), "{p:?}");
        assert!(a.auth.is_some());
    }

    #[test]
    fn a_bypass_needs_its_variable_and_something_to_bypass() {
        let mut p = Vec::new();
        access(&mut p, "api", &raw(&[("bypass_header", "X-Preview-Token")]));
        assert!(p[0].contains("go together"), "{p:?}");
        let mut p = Vec::new();
        access(
            &mut p,
            "api",
            &raw(&[
                ("bypass_header", "X-Preview-Token"),
                ("bypass_value_env", "TOKEN"),
            ]),
        );
        assert!(p[0].contains("neither allow_cidrs nor auth"), "{p:?}");
        let mut p = Vec::new();
        let a = access(
            &mut p,
            "api",
            &raw(&[
                ("allow_cidrs", "203.0.113.0/24"),
                ("bypass_header", "X Preview:Token"),
                ("bypass_value_env", "TOKEN"),
            ]),
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("HTTP header name"), "{p:?}");
        assert!(a.bypass.is_some());
    }
}
