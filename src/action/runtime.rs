//! The runner's file and log-command contract: outputs, job summary, groups, annotations.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Append `name=value` pairs to `GITHUB_OUTPUT` (heredoc form, safe for any value).
pub fn write_outputs(path: Option<&Path>, outputs: &[(&str, String)]) -> Result<()> {
    let Some(path) = path else {
        for (k, v) in outputs {
            println!("output {k}={v}");
        }
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening GITHUB_OUTPUT {}", path.display()))?;
    for (k, v) in outputs {
        let delim = format!("EDEN_EOF_{:016x}", rand::random::<u64>());
        writeln!(f, "{k}<<{delim}\n{v}\n{delim}")?;
    }
    Ok(())
}

pub fn append_summary(path: Option<&Path>, markdown: &str) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening GITHUB_STEP_SUMMARY {}", path.display()))?;
    f.write_all(markdown.as_bytes())?;
    Ok(())
}

/// Escape data for a workflow command (`::error::…`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

pub fn error(msg: &str) {
    println!("::error::{}", escape_data(msg));
}

pub fn notice(msg: &str) {
    println!("::notice::{}", escape_data(msg));
}

pub fn mask(secret: &str) {
    if !secret.is_empty() {
        println!("::add-mask::{secret}");
    }
}

pub fn group(title: &str, body: &str) {
    println!("::group::{}", escape_data(title));
    print!("{body}");
    if !body.ends_with('\n') {
        println!();
    }
    println!("::endgroup::");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_use_delimiters() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out");
        write_outputs(
            Some(&p),
            &[("url", "https://x".into()), ("endpoints", "[\n1]".into())],
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("url<<EDEN_EOF_"));
        assert!(text.contains("\nhttps://x\nEDEN_EOF_"));
        assert!(text.contains("endpoints<<") && text.contains("\n[\n1]\n"));
        assert_eq!(escape_data("a\nb%"), "a%0Ab%25");
    }
}
