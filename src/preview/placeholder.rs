//! `{name}` placeholders in user text (`{{` and `}}` are literal braces).

/// The `{…}` names in `value`, or an error for an unclosed brace. `{{` and `}}` are literal
/// braces.
pub fn placeholders(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(i) = rest.find(['{', '}']) {
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err("a `}` without its `{` (write `}}` for a literal brace)".into());
        }
        let end = tail
            .find('}')
            .ok_or("a `{` without its `}` (write `{{` for a literal brace)")?;
        out.push(tail[1..end].to_string());
        rest = &tail[end + 1..];
    }
    Ok(out)
}

/// Replace `{name}` with `value(name)`, and `{{` / `}}` with braces. Names were validated.
pub fn substitute(text: &str, mut value: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if let Some(end) = tail.find('}').filter(|_| tail.starts_with('{')) {
            out.push_str(&value(&tail[1..end]));
            rest = &tail[end + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}
