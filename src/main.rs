//! `trackway`: a self-hosted ML lifecycle server, wire-compatible with MLflow's tracking server.
//!
//! The binary parses the command line ([`cli`]), sets up logging, and runs the chosen command.
//! `trackway server` takes the same flags and `MLFLOW_*` variables as `mlflow server`, so a
//! start script changes by one word.

mod cli;
mod gc;
mod models;
mod server;
mod ui;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("trackway: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            cli::Command::Server(args) => server::run(*args).await,
            cli::Command::Gc(args) => gc::run(args).await,
            cli::Command::Models(cli::ModelsCommand::Resolve(args)) => models::resolve(args).await,
            cli::Command::Ui(cli::UiCommand::Install(args)) => ui::install(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trackway: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Info-level logs from Trackway (one line per request), warnings from everything else;
/// `RUST_LOG` overrides.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,trackway=info,trackway_server=info,trackway_store=info",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}
