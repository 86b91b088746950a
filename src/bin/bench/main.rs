//! `cargo build --release --features testing --bins && target/release/eden-bench [--delay-ms 50 --runs 3 --cli --python-eden PYTHON]`
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
use clap::Parser;
use eden::aws::{Aws, ClientOptions, Instrument};
use eden::engine::{CreateRequest, Engine};
use eden::profile::{Profile, RawProfile};

pub(crate) const REGION: &str = "ap-northeast-1";

/// (wall seconds, AWS calls, sequential round trips) of one run.
type Sample = (f64, usize, usize);

/// The engine benchmark: create, deploy and delete against the emulator, a fixed delay added to
/// every AWS request.
#[derive(Parser)]
#[command(name = "eden-bench")]
struct Args {
    /// Milliseconds added to every AWS request.
    #[arg(long, default_value_t = 50)]
    delay_ms: u64,
    /// Measured runs of each operation (after one warm-up).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Also time whole `eden` CLI processes, behind a delaying loopback proxy.
    #[arg(long)]
    cli: bool,
    /// The Python eden's interpreter (scripts/python-eden/setup.sh prints it): measure it beside
    /// ours, in-process and as a CLI (implies --cli).
    #[arg(long, value_name = "PYTHON")]
    python_eden: Option<PathBuf>,
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

/// A world seeded in the emulator for this run: the `api` profile and its images.
struct World {
    url: String,
    prefix: String,
    raw: RawProfile,
    seed: serde_json::Value,
}

impl World {
    fn seed() -> Result<World> {
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
        Ok(World {
            url,
            prefix,
            raw,
            seed,
        })
    }

    fn image(&self, tag: &str) -> String {
        self.seed["references"]["api"]["images"][tag]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// create, deploy and delete through one in-process engine, `runs` times each.
async fn in_process(world: &World, delay: Duration, runs: u64) -> Result<Vec<Vec<Sample>>> {
    let profile =
        Profile::from_raw("api", &world.raw).map_err(|p| anyhow::anyhow!(p.join("; ")))?;
    let inst = Instrument::new();
    let aws = Aws::load(ClientOptions {
        instrument: Some(inst.clone()),
        delay: Some(delay),
        region: Some(REGION.into()),
        endpoint_url: Some(world.url.clone()),
        static_credentials: Some(("testing".into(), "testing".into())),
        ..Default::default()
    })
    .await;
    let engine = Engine::new(aws, format!("{}-eden", world.prefix));
    let req = |env: &str, tag: &str| CreateRequest {
        environment: env.into(),
        image_uri: world.image(tag),
        metadata: Default::default(),
        env: Vec::new(),
    };
    // The state table exists in any account that uses eden: create it outside the measurement.
    engine.create(&profile, &req("warm", "sha-0")).await?;
    engine.delete(&profile, "warm").await?;

    let mut rows = vec![Vec::new(), Vec::new(), Vec::new()];
    for i in 0..runs {
        let env = format!("pr-{i}");
        for (op, samples) in OPS.iter().zip(rows.iter_mut()) {
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
                trace(op, &inst);
            }
        }
    }
    Ok(rows)
}

const OPS: [&str; 3] = ["create", "deploy", "delete"];

fn trace(op: &str, inst: &Instrument) {
    let calls = inst.calls();
    let Some(t0) = calls.iter().map(|c| c.start).min() else {
        return;
    };
    for c in calls {
        let s = c.start.duration_since(t0).as_millis();
        let e = c.end.duration_since(t0).as_millis();
        eprintln!("  {op} {s:>5}-{e:>5} ms {}", c.operation);
    }
}

fn print_in_process(rows: &[Vec<Sample>], python: Option<&[(f64, usize); 3]>) {
    let mut header = format!(
        "{:<8} {:>10} {:>10} {:>12}",
        "op", "wall (s)", "AWS calls", "round trips"
    );
    if python.is_some() {
        header.push_str(&format!(
            " {:>16} {:>6} {:>9}",
            "Python eden (s)", "calls", "ratio"
        ));
    }
    println!("{header}");
    for (i, (op, samples)) in OPS.iter().zip(rows).enumerate() {
        let wall = samples.iter().map(|s| s.0).sum::<f64>() / samples.len() as f64;
        let calls = samples.iter().map(|s| s.1).max().unwrap_or(0);
        let rounds = samples.iter().map(|s| s.2).max().unwrap_or(0);
        let mut line = format!("{op:<8} {wall:>10.3} {calls:>10} {rounds:>12}");
        if let Some(py) = python {
            let (py_s, py_calls) = py[i];
            line.push_str(&format!(
                " {py_s:>16.3} {py_calls:>6} {:>8.1}x",
                py_s / wall
            ));
        }
        println!("{line}");
    }
    if python.is_none() {
        println!("(no comparison: --python-eden PYTHON measures the Python eden beside; see docs/testing.md)");
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let delay = Duration::from_millis(args.delay_ms);
    let world = World::seed()?;
    let rows = in_process(&world, delay, args.runs).await?;
    // The Python eden in-process, timed the same way (scripts/python-eden/core_bench.py)
    let image = |tag: &str| world.image(tag);
    let python = match &args.python_eden {
        Some(py) => Some(
            python::core(
                py,
                &world.url,
                delay,
                args.runs as usize,
                &world.raw,
                &image,
            )
            .await?,
        ),
        None => None,
    };
    println!(
        "eden benchmark: {} ms added to every AWS request, {} run(s) each, moto emulator",
        delay.as_millis(),
        args.runs
    );
    print_in_process(&rows, python.as_ref());
    if args.cli || args.python_eden.is_some() {
        cli::run(cli::Setup {
            emulator: &world.url,
            delay,
            runs: args.runs as usize,
            prefix: &world.prefix,
            profile: &world.raw,
            image: &image,
            python: args.python_eden,
        })
        .await?;
    }
    Ok(())
}
