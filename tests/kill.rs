//! The real binary, stopped mid-run: SIGKILL (the next `eden create` takes the dead run's lease
//! over and finishes its work; `eden delete` leaves the account as before), and SIGINT (exit
//! 130, one message saying what was done, the lease released at once).
//!
//! A proxy in front of the emulator holds the run's ecs:CreateService request, so the run is
//! stopped at a known point — after it has registered the task definition and created the
//! target group, rule, DNS record and file entry — without sleeping or racing it.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue as V;
use common::hold_proxy::HoldProxy;
use common::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A guard against a hung test, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(120);

struct Cli {
    home: tempfile::TempDir,
    cfg: String,
    table: String,
}

impl Cli {
    fn new(w: &World) -> Cli {
        let home = tempfile::tempdir().unwrap();
        let cfg = w.write_config(home.path()).to_str().unwrap().to_string();
        Cli {
            home,
            cfg,
            table: w.table.clone(),
        }
    }

    fn command(
        &self,
        endpoint: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> tokio::process::Command {
        let mut all = vec![
            "-c",
            &self.cfg,
            "--remote-table-name",
            &self.table,
            "-p",
            "api",
        ];
        all.extend_from_slice(args);
        eden_process(self.home.path(), endpoint, &all, envs)
    }

    /// Run to the end against the emulator: (exit code, stdout, stderr).
    async fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
        let out = tokio::time::timeout(PATIENCE, self.command(&endpoint(), args, envs).output())
            .await
            .expect("eden finished")
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
}

async fn state_item(w: &World, env: &str) -> Option<std::collections::HashMap<String, V>> {
    w.aws
        .dynamodb
        .get_item()
        .table_name(&w.table)
        .key("type", V::S("api".into()))
        .key("name", V::S(env.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

/// Independent reads: the held run had created its target group and rule.
async fn assert_half_made(w: &World, before: &Snapshot) {
    let now = w.snapshot().await;
    assert_eq!(
        now.target_groups.len(),
        before.target_groups.len() + 1,
        "{now:?}"
    );
    assert_eq!(now.rules.len(), before.rules.len() + 1, "{now:?}");
    assert_eq!(now.services, before.services, "no service yet");
}

fn lease_wait_ms(json: &Value) -> Option<u64> {
    json["steps"]
        .as_array()?
        .iter()
        .find(|s| s["step"] == "lease-wait")
        .and_then(|s| s["took_ms"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_create_is_finished_by_the_next_within_the_bound() {
    let w = World::new("kk").await;
    w.warm().await;
    let before = w.snapshot().await;
    let cli = Cli::new(&w);
    let img = w.image("api", "sha-1");
    let create = [
        "create",
        "--name",
        "pr-1",
        "--image-uri",
        &img,
        "--output",
        "json",
    ];
    // a 2 s lease (renewed every 0.5 s) so the takeover costs 2 s, not 20
    let short = [("EDEN_LEASE_SECONDS", "2")];

    let mut proxy = HoldProxy::start(&endpoint(), "CreateService").await;
    let mut child = cli.command(&proxy.url, &create, &short).spawn().unwrap();
    tokio::time::timeout(PATIENCE, proxy.held(1))
        .await
        .expect("the run reached ecs:CreateService");
    assert_half_made(&w, &before).await;
    let item = state_item(&w, "pr-1").await.expect("the run's lease");
    let owner = item["lease_owner"].as_s().unwrap().clone();

    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    // The dead run's lease is still there: nobody cleared it.
    assert_eq!(
        state_item(&w, "pr-1").await.unwrap()["lease_owner"]
            .as_s()
            .unwrap(),
        &owner
    );

    let (code, out, err) = cli.run(&create, &short).await;
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    let step = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "lease-wait")
        .unwrap_or_else(|| panic!("the next run waited for the dead run's lease: {out}"));
    assert!(step["detail"].as_str().unwrap().contains(&owner), "{step}");
    let waited = lease_wait_ms(&json).unwrap();
    assert!(
        (2_000..=30_000).contains(&waited),
        "a 2 s lease of a dead run held the next one {waited} ms"
    );
    verify_environment(&w, "api", "pr-1", &img).await;

    let (code, _, err) = cli.run(&["delete", "--name", "pr-1"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_at_a_safe_point_releases_the_lease_and_exits_130() {
    let w = World::new("ki").await;
    w.warm().await;
    let before = w.snapshot().await;
    let cli = Cli::new(&w);
    let img = w.image("api", "sha-1");
    let create = [
        "create",
        "--name",
        "pr-1",
        "--image-uri",
        &img,
        "--output",
        "json",
    ];

    let mut proxy = HoldProxy::start(&endpoint(), "CreateService").await;
    let mut child = cli.command(&proxy.url, &create, &[]).spawn().unwrap();
    tokio::time::timeout(PATIENCE, proxy.held(1))
        .await
        .expect("the run reached ecs:CreateService");
    assert_half_made(&w, &before).await;

    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    // The process says it is stopping; only then does its CreateService go through.
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            let ack = line.contains("SIGINT received");
            seen.push(line);
            if ack {
                return;
            }
        }
        panic!("no acknowledgement on stderr: {seen:?}");
    })
    .await
    .expect("acknowledged");
    proxy.release_one();
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("exited")
        .unwrap();
    let mut rest = Vec::new();
    while let Some(line) = stderr.next_line().await.unwrap() {
        rest.push(line);
    }
    assert_eq!(status.code(), Some(130), "{seen:?} {rest:?}");
    let message: Vec<&String> = rest.iter().filter(|l| l.contains("interrupted")).collect();
    assert_eq!(message.len(), 1, "one message: {rest:?}");
    let m = message[0];
    for want in [
        "interrupted by SIGINT",
        "create of api/pr-1 stopped after",
        "target-group",
        "service",
        "the lease was released",
        "Run the same command again to finish",
    ] {
        assert!(m.contains(want), "missing {want:?} in {m}");
    }
    // Released at once: the item held only the lease, so it is gone.
    assert!(state_item(&w, "pr-1").await.is_none());

    // The next run does not wait (its lease is 20 s: a wait would show as a step).
    let (code, out, err) = cli.run(&create, &[]).await;
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(lease_wait_ms(&json), None, "{out}");
    verify_environment(&w, "api", "pr-1", &img).await;
    let (code, _, err) = cli.run(&["delete", "--name", "pr-1"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(w.snapshot().await, before);
}
