//! The Python eden, measured beside ours (`--python-eden PYTHON`: the interpreter of the
//! virtualenv `scripts/python-eden/setup.sh` makes). Its engine in-process, timed as ours is
//! (`core_bench.py`: the operation alone, the delay before every request in-process), and its
//! CLI's argv for `cli.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use eden::profile::RawProfile;
use tokio::process::Command;

fn script(name: &str) -> PathBuf {
    crate::root().join("scripts/python-eden").join(name)
}

/// How the Python eden's `eden` command is started.
pub fn cli_argv(python: &Path) -> Vec<String> {
    vec![
        python.display().to_string(),
        script("eden_py.py").display().to_string(),
    ]
}

/// Mean seconds and most AWS calls of create, deploy and delete, in that order.
pub async fn core(
    python: &Path,
    emulator: &str,
    delay: Duration,
    runs: usize,
    profile: &RawProfile,
    image: &dyn Fn(&str) -> String,
) -> Result<[(f64, usize); 3]> {
    let out = Command::new(python)
        .arg(script("core_bench.py"))
        .arg(serde_json::to_string(profile)?)
        .arg(runs.to_string())
        .args([image("sha-1"), image("sha-2"), image("sha-0")])
        .env("DELAY_MS", delay.as_millis().to_string())
        .env("AWS_ENDPOINT_URL", emulator)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", crate::REGION)
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .with_context(|| format!("starting {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "the Python eden's in-process run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("core_bench.py output")?;
    let row = |op: &str| -> Result<(f64, usize)> {
        let times: Vec<f64> = v[op]
            .as_array()
            .context("core_bench.py output")?
            .iter()
            .filter_map(|t| t.as_f64())
            .collect();
        let calls = v["calls"][op].as_u64().unwrap_or(0) as usize;
        Ok((times.iter().sum::<f64>() / times.len().max(1) as f64, calls))
    };
    Ok([row("create")?, row("deploy")?, row("delete")?])
}
