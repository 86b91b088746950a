//! Per-preview environment variables: lines of `NAME=value` whose values may hold `{url}`,
//! `{number}`, `{sha}` and `{branch}`, expanded per profile and set in the target container
//! of the cloned task definition (`engine::CreateRequest::env`).

use anyhow::{anyhow, bail, Result};

use super::placeholder::{placeholders, substitute};

pub const PLACEHOLDERS: &[&str] = &["url", "number", "sha", "branch"];

/// Validated `NAME=value` lines (values not yet expanded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvTemplate {
    vars: Vec<(String, String)>,
}

/// What the placeholders stand for in one profile's environment.
#[derive(Debug, Clone, Default)]
pub struct EnvValues {
    pub url: Option<String>,
    pub number: Option<u64>,
    pub sha: Option<String>,
    pub branch: Option<String>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 255
}

impl EnvTemplate {
    /// Parse lines of `NAME=value` (blank lines and `#` comments skipped). Every problem is
    /// reported, with its line.
    pub fn parse(text: &str) -> Result<EnvTemplate> {
        let mut vars: Vec<(String, String)> = Vec::new();
        let mut problems = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let Some((name, value)) = line.split_once('=') else {
                problems.push(format!("line {n} {line:?} is not NAME=value"));
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if !valid_name(name) {
                problems.push(format!(
                    "line {n}: {name:?} is not a variable name (letters, digits and _, not starting with a digit)"
                ));
            }
            if vars.iter().any(|(v, _)| v == name) {
                problems.push(format!("line {n}: {name} is set twice"));
            }
            match placeholders(value) {
                Ok(found) => {
                    for p in found.iter().filter(|p| !PLACEHOLDERS.contains(&p.as_str())) {
                        problems.push(format!(
                            "line {n}: unknown placeholder {{{p}}} (known: {})",
                            PLACEHOLDERS
                                .iter()
                                .map(|p| format!("{{{p}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                }
                Err(e) => problems.push(format!("line {n}: {e}")),
            }
            vars.push((name.to_string(), value.to_string()));
        }
        if !problems.is_empty() {
            bail!("{}", problems.join("; "));
        }
        Ok(EnvTemplate { vars })
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The variables for one profile. A placeholder without a value (e.g. `{number}` when the
    /// run is not about a pull request) is an error.
    pub fn expand(&self, v: &EnvValues) -> Result<Vec<(String, String)>> {
        self.vars
            .iter()
            .map(|(name, value)| {
                let mut missing = None;
                let out = substitute(value, |p| {
                    let got = match p {
                        "url" => v.url.clone(),
                        "number" => v.number.map(|n| n.to_string()),
                        "sha" => v.sha.clone(),
                        "branch" => v.branch.clone(),
                        _ => None,
                    };
                    got.unwrap_or_else(|| {
                        missing.get_or_insert_with(|| p.to_string());
                        String::new()
                    })
                });
                match missing {
                    Some(p) => Err(anyhow!(
                        "{name}: placeholder {{{p}}} has no value in this run (it is not about a pull request)"
                    )),
                    None => Ok((name.clone(), out)),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_validates_names_placeholders_and_duplicates() {
        let t = EnvTemplate::parse(
            "# comment\nPREVIEW_URL={url}\n\nBUILD = {number}-{sha}@{branch} {{x}}\n",
        )
        .unwrap();
        let v = EnvValues {
            url: Some("https://a.example".into()),
            number: Some(7),
            sha: Some("abc".into()),
            branch: Some("feat".into()),
        };
        assert_eq!(
            t.expand(&v).unwrap(),
            [
                ("PREVIEW_URL".to_string(), "https://a.example".to_string()),
                ("BUILD".to_string(), "7-abc@feat {x}".to_string())
            ]
        );
        let e = EnvTemplate::parse("1X=a\nA={nope}\nA=b\nB\nC={url")
            .unwrap_err()
            .to_string();
        for want in [
            "line 1: \"1X\" is not a variable name",
            "line 2: unknown placeholder {nope} (known: {url}, {number}, {sha}, {branch})",
            "line 3: A is set twice",
            "line 4 \"B\" is not NAME=value",
            "line 5: a `{` without its `}`",
        ] {
            assert!(e.contains(want), "{e}");
        }
        let no_pr = EnvValues {
            url: Some("u".into()),
            ..Default::default()
        };
        assert!(t
            .expand(&no_pr)
            .unwrap_err()
            .to_string()
            .contains("BUILD: placeholder {number} has no value"));
    }
}
