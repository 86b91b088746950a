//! `cargo run --release --bin eden-bench [-- --delay-ms 50 --runs 3 --cli --python-eden PYTHON]`
//!
//! Runs create (new environment), deploy (new image) and delete against the emulator, with a
//! fixed delay added to every AWS request, and prints wall time, AWS calls and sequential
//! round trips (the longest chain of calls that each started after the previous one ended).
//! `--cli` runs them again as whole `eden` processes (`cli.rs`), beside the Python eden's CLI
//! when `--python-eden` names it.

mod cli;
mod proxy;
mod python;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use eden::aws::{Aws, ClientOptions, Instrument};
use eden::engine::{CreateRequest, Engine};
use eden::profile::{Profile, RawProfile};

pub(crate) const REGION: &str = "ap-northeast-1";

/// (wall seconds, AWS calls, sequential round trips) of one run.
type Sample = (f64, usize, usize);

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The word after `name`, if given.
fn arg_str(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn endpoint() -> Result<String> {
    if let Ok(url) = std::env::var("AWS_ENDPOINT_URL") {
        return Ok(url);
    }
    let out = Command::new("bash")
        .arg(root().join("scripts/emulator.sh"))
        .arg("start")
        .output()?;
    if !out.status.success() {
        bail!(
            "emulator did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

#[tokio::main]
async fn main() -> Result<()> {
    let delay = Duration::from_millis(arg("--delay-ms", 50));
    let runs = arg("--runs", 3).max(1);
    let url = endpoint()?;
    let prefix = format!("b{:04x}", rand::random::<u16>());
    let python = std::env::var("EDEN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv-moto/bin/python"));
    let out = Command::new(python)
        .arg(root().join("scripts/seed.py"))
        .args(["--endpoint", &url, "--prefix", &prefix, "--region", REGION])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .context("running scripts/seed.py")?;
    if !out.status.success() {
        bail!("seeding failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let seed: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let raw: RawProfile = seed["profiles"]["api"]
        .as_object()
        .context("seed output")?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let profile = Profile::from_raw("api", &raw).map_err(|p| anyhow::anyhow!(p.join("; ")))?;
    let image = |tag: &str| {
        seed["references"]["api"]["images"][tag]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    let inst = Instrument::new();
    let aws = Aws::load(ClientOptions {
        instrument: Some(inst.clone()),
        delay: Some(delay),
        region: Some(REGION.into()),
        endpoint_url: Some(url.clone()),
        static_credentials: Some(("testing".into(), "testing".into())),
        ..Default::default()
    })
    .await;
    let engine = Engine::new(aws, format!("{prefix}-eden"));
    // The state table exists in any account that uses eden: create it outside the measurement.
    let req = |env: &str, tag: &str| CreateRequest {
        environment: env.into(),
        image_uri: image(tag),
        metadata: Default::default(),
        env: Vec::new(),
    };
    engine.create(&profile, &req("warm", "sha-0")).await?;
    engine.delete(&profile, "warm").await?;

    println!(
        "eden benchmark: {} ms added to every AWS request, {runs} run(s) each, moto emulator",
        delay.as_millis()
    );
    let mut rows: Vec<(&str, Vec<Sample>)> =
        vec![("create", vec![]), ("deploy", vec![]), ("delete", vec![])];
    for i in 0..runs {
        let env = format!("pr-{i}");
        for (op, samples) in rows.iter_mut() {
            inst.reset();
            let t = Instant::now();
            match *op {
                "create" => engine
                    .create(&profile, &req(&env, "sha-1"))
                    .await
                    .map(|_| ())?,
                "deploy" => engine
                    .create(&profile, &req(&env, "sha-2"))
                    .await
                    .map(|_| ())?,
                _ => engine.delete(&profile, &env).await.map(|_| ())?,
            }
            samples.push((
                t.elapsed().as_secs_f64(),
                inst.calls().len(),
                inst.sequential_round_trips(),
            ));
            if std::env::var_os("EDEN_BENCH_TRACE").is_some() {
                let calls = inst.calls();
                let t0 = calls.iter().map(|c| c.start).min();
                for c in calls {
                    let s = c.start.duration_since(t0.unwrap()).as_millis();
                    let e = c.end.duration_since(t0.unwrap()).as_millis();
                    eprintln!("  {op} {s:>5}-{e:>5} ms {}", c.operation);
                }
            }
        }
    }
    // The Python eden in-process, timed the same way (scripts/python-eden/core_bench.py)
    let python_eden = arg_str("--python-eden").map(PathBuf::from);
    let pairs: Vec<(String, String)> = raw.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let python_rows = match &python_eden {
        Some(py) => Some(python::core(py, &url, delay, runs as usize, &pairs, &image).await?),
        None => None,
    };
    let mut header = format!(
        "{:<8} {:>10} {:>10} {:>12}",
        "op", "wall (s)", "AWS calls", "round trips"
    );
    if python_rows.is_some() {
        header.push_str(&format!(
            " {:>16} {:>6} {:>9}",
            "Python eden (s)", "calls", "ratio"
        ));
    }
    println!("{header}");
    for (i, (op, samples)) in rows.iter().enumerate() {
        let n = samples.len() as f64;
        let wall = samples.iter().map(|s| s.0).sum::<f64>() / n;
        let calls = samples.iter().map(|s| s.1).max().unwrap_or(0);
        let rounds = samples.iter().map(|s| s.2).max().unwrap_or(0);
        let mut line = format!("{op:<8} {wall:>10.3} {calls:>10} {rounds:>12}");
        if let Some(py) = &python_rows {
            let (py_s, py_calls) = py[i];
            line.push_str(&format!(
                " {py_s:>16.3} {py_calls:>6} {:>8.1}x",
                py_s / wall
            ));
        }
        println!("{line}");
    }
    if python_rows.is_none() {
        println!("(no comparison: --python-eden PYTHON compares with the Python eden, measured beside; see docs/testing.md)");
    }
    if std::env::args().any(|a| a == "--cli") || python_eden.is_some() {
        cli::run(cli::Setup {
            emulator: &url,
            delay,
            runs: runs as usize,
            prefix: &prefix,
            profile: pairs,
            image: &image,
            python: python_eden,
        })
        .await?;
    }
    Ok(())
}
