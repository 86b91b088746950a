//! `--cli`: the same three operations through whole processes — `eden create | delete` from
//! start to exit, the way a terminal or a CI step runs them — with the delay added on the wire
//! by a loopback proxy ([`DelayProxy`]), so that any CLI can be measured the same way. With
//! `--python-eden PYTHON` the Python eden's CLI runs beside ours, against the same emulator,
//! seed and proxy, and the ratio is measured, not recalled.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use eden::profile::RawProfile;
use tokio::process::Command;

use crate::proxy::DelayProxy;

pub struct Setup<'a> {
    pub emulator: &'a str,
    pub delay: Duration,
    pub runs: usize,
    pub prefix: &'a str,
    /// The seed's `api` profile, written as an eden config file.
    pub profile: &'a RawProfile,
    pub image: &'a dyn Fn(&str) -> String,
    /// The interpreter of a virtualenv with the Python eden (scripts/python-eden/setup.sh).
    pub python: Option<PathBuf>,
}

/// One CLI: the argv that starts it and the state table it keeps (each its own: the Python
/// eden's table has another key schema).
struct Tool {
    label: &'static str,
    argv: Vec<String>,
    table: String,
    env_prefix: &'static str,
    /// Printed on success, for a CLI that exits 0 when it failed (the Python eden does).
    success: Option<&'static str>,
}

/// (wall seconds, requests) of one process.
type Sample = (f64, usize);

pub async fn run(s: Setup<'_>) -> Result<()> {
    let proxy = DelayProxy::start(s.emulator, s.delay).await?;
    let dir = std::env::temp_dir().join(format!("eden-bench-{}", s.prefix));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config");
    let mut ini = String::from("[api]\n");
    for (k, v) in s.profile {
        ini.push_str(&format!("{k} = {v}\n"));
    }
    std::fs::write(&config, ini)?;
    let tools = tools(&s)?;
    let samples = measure(&s, &tools, &config, &proxy).await;
    let _ = std::fs::remove_dir_all(&dir);
    print(&s, &samples?);
    Ok(())
}

fn tools(s: &Setup<'_>) -> Result<Vec<Tool>> {
    let mut tools = vec![Tool {
        label: "eden",
        argv: vec![eden_binary()?.display().to_string()],
        table: format!("{}-eden", s.prefix),
        env_prefix: "cli",
        success: None,
    }];
    if let Some(python) = &s.python {
        tools.push(Tool {
            label: "Python eden",
            argv: crate::python::cli_argv(python),
            table: format!("{}-pyeden", s.prefix),
            env_prefix: "py",
            success: Some("Successfully finished"),
        });
    }
    Ok(tools)
}

/// samples[tool][op], the tools taking turns run by run.
async fn measure(
    s: &Setup<'_>,
    tools: &[Tool],
    config: &Path,
    proxy: &DelayProxy,
) -> Result<Vec<Vec<Vec<Sample>>>> {
    let mut samples = vec![vec![Vec::new(); 3]; tools.len()];
    for tool in tools {
        // warm-up, outside the measurement: the page cache, and the Python eden's table
        let warm = format!("{}-warm", tool.env_prefix);
        invoke(
            tool,
            config,
            proxy,
            "create",
            &warm,
            Some(&(s.image)("sha-0")),
        )
        .await?;
        invoke(tool, config, proxy, "delete", &warm, None).await?;
    }
    for i in 0..s.runs {
        for (t, tool) in tools.iter().enumerate() {
            let env = format!("{}-{i}", tool.env_prefix);
            let steps = [
                ("create", Some((s.image)("sha-1"))),
                ("create", Some((s.image)("sha-2"))),
                ("delete", None),
            ];
            for (op, (verb, image)) in steps.iter().enumerate() {
                proxy.take_count();
                let t0 = Instant::now();
                invoke(tool, config, proxy, verb, &env, image.as_deref()).await?;
                samples[t][op].push((t0.elapsed().as_secs_f64(), proxy.take_count()));
            }
        }
    }
    Ok(samples)
}

fn print(s: &Setup<'_>, samples: &[Vec<Vec<Sample>>]) {
    println!();
    println!(
        "CLI, process start to exit, {} ms added to every request by a loopback proxy, {} run(s)",
        s.delay.as_millis(),
        s.runs
    );
    let mut header = format!("{:<8} {:>10} {:>6}", "op", "eden (s)", "calls");
    if samples.len() > 1 {
        header.push_str(&format!(
            " {:>16} {:>6} {:>9}",
            "Python eden (s)", "calls", "ratio"
        ));
    }
    println!("{header}");
    for (op, name) in ["create", "deploy", "delete"].iter().enumerate() {
        let mean = |t: usize| {
            let v = &samples[t][op];
            let wall = v.iter().map(|x| x.0).sum::<f64>() / v.len() as f64;
            (wall, v.iter().map(|x| x.1).max().unwrap_or(0))
        };
        let (ours, calls) = mean(0);
        let mut line = format!("{name:<8} {ours:>10.3} {calls:>6}");
        if samples.len() > 1 {
            let (py, py_calls) = mean(1);
            line.push_str(&format!(" {py:>16.3} {py_calls:>6} {:>8.1}x", py / ours));
        }
        println!("{line}");
    }
    if samples.len() == 1 {
        println!(
            "(the Python eden's CLI was not measured: --python-eden PYTHON, see docs/testing.md)"
        );
    }
}

/// `eden` beside this benchmark's own executable (target/release/).
fn eden_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let eden = exe.with_file_name(format!("eden{}", std::env::consts::EXE_SUFFIX));
    if !eden.exists() {
        bail!(
            "{} is not built: run `cargo build --release --features testing --bins` first",
            eden.display()
        );
    }
    Ok(eden)
}

async fn invoke(
    tool: &Tool,
    config: &Path,
    proxy: &DelayProxy,
    verb: &str,
    env: &str,
    image: Option<&str>,
) -> Result<()> {
    let mut cmd = Command::new(&tool.argv[0]);
    cmd.args(&tool.argv[1..])
        .args([verb, "-p", "api", "-c"])
        .arg(config)
        .args(["--name", env, "--remote-table-name", &tool.table]);
    if let Some(image) = image {
        cmd.args(["--image-uri", image]);
    }
    let out = cmd
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", crate::REGION)
        .env("AWS_REGION", crate::REGION)
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("starting {}", tool.argv[0]))?;
    let said = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || tool.success.is_some_and(|m| !said.contains(m)) {
        bail!(
            "{} {verb} {env} failed ({}): {}{}",
            tool.label,
            out.status,
            said,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
