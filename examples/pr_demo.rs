//! A pull request's whole life on the local AWS emulator: the action binary run as the GitHub
//! runner runs it (INPUT_* variables, the event file, GITHUB_OUTPUT), on real `opened` →
//! `synchronize` → `closed` payloads, against a local GitHub stand-in. Run by scripts/demo.sh.

#[path = "../tests/common/fake_github.rs"]
mod fake_github;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const REPO: &str = "Codertocat/Hello-World";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Value {
    let p = root().join(format!("tests/fixtures/github/pull_request.{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).expect("fixture")).expect("json")
}

fn bold(s: &str) {
    println!("\n\x1b[1m== {s}\x1b[0m");
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

struct Demo {
    eden: PathBuf,
    endpoint: String,
    table: String,
    workspace: PathBuf,
    files: PathBuf,
    github: String,
}

impl Demo {
    fn run_action(&self, event: &Value, inputs: &[(&str, String)]) -> String {
        let event_path = self.files.join("event.json");
        std::fs::write(&event_path, serde_json::to_vec(event).unwrap()).unwrap();
        let output = self.files.join("output");
        let _ = std::fs::remove_file(&output);
        let mut cmd = Command::new(&self.eden);
        cmd.arg("action")
            .current_dir(&self.workspace)
            .env("GITHUB_EVENT_PATH", &event_path)
            .env("GITHUB_API_URL", &self.github)
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_RUN_ID", "1001")
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", self.files.join("summary.md"))
            .env("GITHUB_WORKSPACE", &self.workspace)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("INPUT_GITHUB-TOKEN", "ghs_demo")
            .env("INPUT_REMOTE-TABLE-NAME", &self.table)
            .env("INPUT_WAIT", "false")
            .env("INPUT_PROFILE", "api");
        for (k, v) in inputs {
            cmd.env(format!("INPUT_{}", k.to_ascii_uppercase()), v);
        }
        let out = cmd.output().expect("run eden action");
        let stdout = String::from_utf8_lossy(&out.stdout);
        for line in stdout.lines().filter(|l| !l.starts_with("::add-mask::")) {
            println!("  {line}");
        }
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        let outputs = std::fs::read_to_string(&output).unwrap_or_default();
        let action = outputs
            .lines()
            .skip_while(|l| !l.starts_with("action<<"))
            .nth(1)
            .unwrap_or("?")
            .to_string();
        println!("  outputs: action={action}");
        assert!(out.status.success(), "the action failed");
        action
    }

    fn ls(&self) {
        let out = Command::new(&self.eden)
            .args(["--remote-table-name", &self.table, "ls"])
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .output()
            .unwrap();
        print!(
            "  $ eden ls\n{}",
            indent(&String::from_utf8_lossy(&out.stdout))
        );
    }
}

fn show_comment(gh: &fake_github::FakeGitHub) {
    let s = gh.state.lock().unwrap();
    let ours: Vec<_> = s
        .comments
        .iter()
        .filter(|c| c.body.contains("<!-- eden:preview"))
        .filter(|c| c.login != "reviewer")
        .collect();
    println!("  The PR comment (id {}, {} comment(s) of ours among {} on the PR), as a reviewer sees it:", ours.first().map(|c| c.id).unwrap_or(0), ours.len(), s.comments.len());
    for c in ours {
        for l in c.body.lines().filter(|l| !l.starts_with("<!--")) {
            println!("  │ {l}");
        }
    }
}

#[tokio::main]
async fn main() {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (scripts/demo.sh sets it)");
    let eden = PathBuf::from(
        std::env::var("EDEN_BIN")
            .unwrap_or_else(|_| root().join("target/debug/eden").display().to_string()),
    );
    let python = std::env::var("EDEN_PYTHON")
        .unwrap_or_else(|_| root().join(".venv-moto/bin/python").display().to_string());
    let prefix = format!("pr{:04x}", rand::random::<u16>());
    let files = tempfile::tempdir().unwrap();
    let workspace = files.path().join("repo");
    std::fs::create_dir_all(workspace.join(".github")).unwrap();

    bold(&format!(
        "Seeding the AWS emulator ({endpoint}) like a real account"
    ));
    let out = Command::new(&python)
        .arg(root().join("scripts/seed.py"))
        .args(["--endpoint", &endpoint, "--prefix", &prefix])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let world: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ini = String::from("[api]\n");
    for (k, v) in world["profiles"]["api"].as_object().unwrap() {
        ini.push_str(&format!("{k} = {}\n", v.as_str().unwrap()));
    }
    std::fs::write(workspace.join(".github/eden.ini"), &ini).unwrap();
    println!(
        "  reference service {}\n  shared ALB        {}\n  zone              {}",
        world["references"]["api"]["service_arn"], world["alb_arn"], world["zone_name"]
    );
    println!("  the repository's .github/eden.ini:\n{}", indent(&ini));

    let opened = fixture("opened");
    let gh = fake_github::FakeGitHub::start(&opened).await;
    gh.add_comments(3);
    println!(
        "  GitHub stand-in at {} serving {REPO} pull request #2 ({:?})",
        gh.url(),
        opened["pull_request"]["title"].as_str().unwrap_or("")
    );
    let demo = Demo {
        eden,
        endpoint,
        table: format!("{prefix}-eden"),
        workspace: workspace.clone(),
        files: files.path().to_path_buf(),
        github: gh.url(),
    };
    let image = |tag: &str| {
        world["references"]["api"]["images"][tag]
            .as_str()
            .unwrap()
            .to_string()
    };

    bold("pull_request opened (image sha-1)");
    demo.run_action(&opened, &[("image-uri", image("sha-1"))]);
    show_comment(&gh);
    demo.ls();

    for (i, tag) in ["sha-2", "sha-0"].iter().enumerate() {
        let sha = [
            "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c",
            "9a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d",
        ][i]
            .to_string();
        bold(&format!(
            "pull_request synchronize: a push, head {} (image {tag})",
            &sha[..7]
        ));
        let mut ev = fixture("synchronize");
        ev["pull_request"]["head"]["sha"] = Value::String(sha.clone());
        ev["after"] = Value::String(sha.clone());
        gh.set_pr(|pr| pr["head"]["sha"] = Value::String(sha.clone()));
        demo.run_action(&ev, &[("image-uri", image(tag))]);
        show_comment(&gh);
        println!("  GitHub calls this run: {:?}", gh.take_requests());
    }

    bold("pull_request closed (merged)");
    let mut closed = fixture("closed.merged");
    closed["pull_request"]["head"]["sha"] =
        Value::String("9a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d".into());
    gh.set_pr(|pr| pr["state"] = Value::String("closed".into()));
    demo.run_action(&closed, &[]);
    show_comment(&gh);
    demo.ls();
    let summary = std::fs::read_to_string(files.path().join("summary.md")).unwrap_or_default();
    bold("The job summaries (GITHUB_STEP_SUMMARY), last run");
    println!(
        "{}",
        indent(
            summary
                .rsplit("### eden")
                .next()
                .map(|s| format!("### eden{s}"))
                .as_deref()
                .unwrap_or("")
        )
    );
}
