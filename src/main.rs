//! `eden`: argument parsing and dispatch only.

use clap::Parser;
use eden::cli::{run, Cli};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    // `eden serve` sets up its own logging (text or JSON, from its configuration).
    if matches!(cli.command, eden::cli::Command::Serve(_)) {
        std::process::exit(match run(cli).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {}", one_line(&e));
                1
            }
        });
    }
    let filter = if cli.global.verbose {
        "eden=info,warn"
    } else {
        "eden=warn,error"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EDEN_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
    if let Err(e) = eden::cancel::install() {
        eprintln!("warning: cannot listen for SIGINT/SIGTERM: {e}");
    }
    let code = match run(cli).await {
        Ok(0) => 0,
        // A run that reported its failure itself (`eden action`: the comment, `::error::`)
        // after a signal: the signal's code.
        Ok(code) => eden::cancel::received().map_or(code, |s| s.exit_code()),
        Err(e) => match eden::cancel::received() {
            // Asked to stop: 130 (SIGINT) or 143 (SIGTERM), whatever stopped the run.
            Some(signal) => {
                eprintln!("eden: interrupted by {}: {}", signal.name(), one_line(&e));
                signal.exit_code()
            }
            None => {
                eprintln!("error: {}", one_line(&e));
                eden::report::exit_code(eden::engine::Error::kind_of(&e))
            }
        },
    };
    std::process::exit(code);
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}
