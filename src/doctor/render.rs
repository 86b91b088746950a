//! The checklist for people (text) and for programs (JSON). Pure.

use super::{Report, Status};

pub fn text(r: &Report) -> String {
    let mut out = format!(
        "eden doctor: profile {} ({})\n",
        r.profile,
        r.caller.as_deref().unwrap_or("caller unknown")
    );
    let width = r.checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    for c in &r.checks {
        let mark = match c.status {
            Status::Ok => "ok     ",
            Status::Warning => "warning",
            Status::Problem => "PROBLEM",
        };
        out.push_str(&format!("{mark}  {:<width$}  {}\n", c.check, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("{:<w$}fix: {fix}\n", "", w = 7 + 2 + width + 2));
        }
    }
    match r.problems() {
        0 => out.push_str("Nothing blocks a create.\n"),
        n => out.push_str(&format!(
            "{n} problem(s) block creates; fix them and run eden doctor again.\n"
        )),
    }
    out
}

pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::super::Check;
    use super::*;

    #[test]
    fn lines_with_fixes_and_a_verdict() {
        let r = Report {
            profile: "api".into(),
            caller: Some("arn:aws:iam::123456789012:user/ci".into()),
            ok: false,
            checks: vec![
                Check::ok("zone", "Z1 is dev.example.com"),
                Check::problem("alb-capacity", "100 of 100", "delete stale previews"),
            ],
        };
        let t = text(&r);
        assert!(t.starts_with("eden doctor: profile api (arn:aws:iam::123456789012:user/ci)\n"));
        assert!(
            t.contains("ok       zone          Z1 is dev.example.com\n"),
            "{t}"
        );
        assert!(t.contains("PROBLEM  alb-capacity  100 of 100\n"), "{t}");
        assert!(
            t.contains("                       fix: delete stale previews\n"),
            "{t}"
        );
        assert!(t.ends_with("1 problem(s) block creates; fix them and run eden doctor again.\n"));
    }
}
