//! Architecture invariants read off the source itself (docs/ARCHITECTURE.md names each):
//! - only `src/aws/` sends AWS SDK requests;
//! - no function in `src/` is longer than 80 lines;
//! - no error is told apart by its message text.
//!
//! Each check reads `src/` as text, skipping test modules (`#[cfg(test)]` to the end of a
//! file, and `tests.rs` files). No emulator needed.

use std::path::{Path, PathBuf};

const MAX_FUNCTION_LINES: usize = 80;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file under src/ with its product lines (test modules cut off), as
/// (path relative to the crate, lines).
fn product_code() -> Vec<(String, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "tests.rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let lines: Vec<String> = text
                .lines()
                .take_while(|l| l.trim() != "#[cfg(test)]" || !text.contains("mod tests"))
                .map(str::to_string)
                .collect();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            (rel, lines)
        })
        .collect()
}

/// A line without its string literals, char literals and `//` comment.
fn code_only(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            '\'' if chars.clone().nth(1) == Some('\'') => {
                chars.next();
                chars.next();
                out.push_str("' '");
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}

fn starts_fn(line: &str) -> Option<String> {
    let t = line.trim_start();
    let t = t.strip_prefix("pub ").unwrap_or(t);
    let t = match t.strip_prefix("pub(") {
        Some(rest) => rest.split_once(") ").map_or(t, |(_, r)| r),
        None => t,
    };
    let t = t.strip_prefix("const ").unwrap_or(t);
    let t = t.strip_prefix("async ").unwrap_or(t);
    let t = t.strip_prefix("unsafe ").unwrap_or(t);
    let name = t.strip_prefix("fn ")?;
    Some(
        name.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect(),
    )
}

/// Functions and their length in lines, from `fn` to the brace that closes its body.
fn functions(lines: &[String]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = starts_fn(line) else {
            continue;
        };
        let (mut depth, mut opened) = (0i32, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            for c in code_only(l).chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened && depth == 0 => break,
                    _ => {}
                }
            }
            if !opened && code_only(l).trim_end().ends_with(';') {
                break; // a declaration without a body
            }
            if opened && depth == 0 {
                out.push((name.clone(), i + 1, j - i + 1));
                break;
            }
        }
    }
    out
}

#[test]
fn only_src_aws_sends_aws_requests() {
    let offenders: Vec<String> = product_code()
        .iter()
        .filter(|(path, _)| !path.starts_with("src/aws/"))
        .flat_map(|(path, lines)| {
            lines
                .iter()
                .enumerate()
                .filter(|(_, l)| code_only(l).contains(".send()"))
                .map(move |(i, _)| format!("{path}:{}", i + 1))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "SDK requests outside src/aws/: {offenders:?}"
    );
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let mut long = Vec::new();
    let mut seen = 0;
    for (path, lines) in product_code() {
        for (name, at, len) in functions(&lines) {
            seen += 1;
            if len > MAX_FUNCTION_LINES {
                long.push(format!("{path}:{at} {name} ({len} lines)"));
            }
        }
    }
    assert!(seen > 500, "the scan found only {seen} functions");
    assert!(long.is_empty(), "split these along what they do: {long:?}");
}

#[test]
fn the_scan_measures_what_it_should() {
    let lines: Vec<String> = [
        "pub async fn a(x: &str) -> Result<()> {",
        "    let s = \"{ not a brace\";",
        "    if x == '{' { return Ok(()); }",
        "    Ok(())",
        "}",
        "fn declared(&self);",
        "pub(crate) fn b() {}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        functions(&lines),
        [("a".to_string(), 1, 5), ("b".to_string(), 7, 1)]
    );
}

/// Text matching on something that holds an error (its message, its Display or Debug form).
fn matches_error_text(code: &str) -> bool {
    let tests_text = [".contains(", ".starts_with(", ".ends_with(", ".find("]
        .iter()
        .any(|m| code.contains(m));
    let on_error = [
        "e.to_string()",
        "err.to_string()",
        ".message",
        "format!(\"\"",
    ]
    .iter()
    .any(|m| code.contains(m));
    tests_text && on_error
}

#[test]
fn no_error_is_told_apart_by_its_text() {
    assert!(matches_error_text(
        "if source.message.to_ascii_lowercase().contains(\"\") {"
    ));
    assert!(matches_error_text("e.to_string().contains(\"\")"));
    assert!(!matches_error_text("if url.starts_with(\"\") {"));
    let offenders: Vec<String> = product_code()
        .iter()
        .flat_map(|(path, lines)| {
            lines
                .iter()
                .enumerate()
                .filter(|(_, l)| matches_error_text(&code_only(l)))
                .map(move |(i, l)| format!("{path}:{}: {}", i + 1, l.trim()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "errors told apart by text (use a type, a code or a status): {offenders:?}"
    );
}
