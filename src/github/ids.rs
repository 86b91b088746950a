//! The three identifiers every job and payload carries, as types: a repository (`owner/name`),
//! a pull request number and a commit SHA. Each is serialised as the bare string or number
//! (`serde(transparent)`), so jobs keep their wire format (SQS messages), and printed the same
//! way (`Debug` too).

use std::fmt;

use serde::{Deserialize, Serialize};

/// `owner/name` of a repository, as GitHub spells it (`repository.full_name`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RepoName(String);

impl RepoName {
    pub fn new(full_name: impl Into<String>) -> RepoName {
        RepoName(full_name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A pull request's number in its repository.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrNumber(u64);

impl PrNumber {
    pub fn new(number: u64) -> PrNumber {
        PrNumber(number)
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// A commit SHA as GitHub gives it (full, or the prefix a `/eden deploy <sha>` names).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitSha(String);

impl CommitSha {
    pub fn new(sha: impl Into<String>) -> CommitSha {
        CommitSha(sha.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! shown_as_inner {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    )*};
}

shown_as_inner!(RepoName, PrNumber, CommitSha);

impl From<&str> for RepoName {
    fn from(s: &str) -> RepoName {
        RepoName::new(s)
    }
}

impl From<String> for RepoName {
    fn from(s: String) -> RepoName {
        RepoName(s)
    }
}

impl From<u64> for PrNumber {
    fn from(n: u64) -> PrNumber {
        PrNumber(n)
    }
}

impl From<&str> for CommitSha {
    fn from(s: &str) -> CommitSha {
        CommitSha::new(s)
    }
}

impl From<String> for CommitSha {
    fn from(s: String) -> CommitSha {
        CommitSha(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serialised_and_printed_as_the_bare_value() {
        let (repo, number, sha) = (
            RepoName::from("o/r"),
            PrNumber::from(7),
            CommitSha::from("ec26c3e"),
        );
        assert_eq!(
            serde_json::to_value((&repo, number, &sha)).unwrap(),
            json!(["o/r", 7, "ec26c3e"])
        );
        let back: (RepoName, PrNumber, CommitSha) =
            serde_json::from_value(json!(["o/r", 7, "ec26c3e"])).unwrap();
        assert_eq!(back, (repo.clone(), number, sha.clone()));
        assert_eq!(format!("{repo}#{number} {sha}"), "o/r#7 ec26c3e");
        assert_eq!(format!("{:?}", Some(&sha)), "Some(\"ec26c3e\")");
    }
}
