//! `trackway-bench`: Trackway side by side with MLflow's own server and FastTrackML.
//!
//! One run starts each server as a user would, on a fresh database, drives the same workload
//! through the public MLflow REST API with a Rust client (so the load generator is not the
//! bottleneck), and prints one table with each figure and Trackway's ratio to each peer; the
//! table is also written as JSON. See `bench/README.md`.
//!
//! The 20,000-run experiment of the search step is seeded once, through Trackway's REST API,
//! into a database that every server then opens: MLflow reads Trackway's database as its own
//! (same schema), and FastTrackML gets a copy through `fml import`.

mod servers;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

use servers::{Db, Kind, ServerSpec};
use workload::{Figures, Sizes};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "trackway-bench",
    about = "Benchmark Trackway against MLflow and FastTrackML"
)]
struct Args {
    /// A few seconds of each step, Trackway only (what CI runs to prove the harness works).
    #[arg(long)]
    small: bool,
    /// Concurrent writers in the concurrent log-batch step (the issue asks for 16).
    #[arg(long, default_value_t = 16)]
    writers: usize,
    /// Runs in the search experiment (the issue asks for 20,000; fewer makes a quicker run when
    /// only the writing steps matter).
    #[arg(long, default_value_t = 20_000)]
    search_runs: usize,
    /// Servers to run: any of trackway, mlflow, fasttrackml (default: all three, or Trackway
    /// alone with --small).
    #[arg(long, value_delimiter = ',')]
    servers: Option<Vec<String>>,
    /// Databases: sqlite, postgres (Trackway and MLflow only).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    databases: Vec<String>,
    /// The trackway binary (a release build for real figures).
    #[arg(long, default_value = "target/release/trackway")]
    trackway: PathBuf,
    /// MLflow's `mlflow` executable (3.17.2).
    #[arg(long, default_value = ".venv/mlflow-3.17.2/bin/mlflow")]
    mlflow: PathBuf,
    /// FastTrackML's `fml` executable.
    #[arg(long, default_value = ".venv/fasttrackml/bin/fml")]
    fml: PathBuf,
    /// A PostgreSQL server to create benchmark databases on.
    #[arg(
        long,
        env = "TRACKWAY_TEST_DATABASE_URL",
        default_value = "postgresql://postgres@127.0.0.1:5432/postgres"
    )]
    pg_url: String,
    /// Keep the databases and server logs (in the work directory) for a closer look.
    #[arg(long)]
    keep: bool,
    /// Where the JSON results go.
    #[arg(long, default_value = "bench/results.json")]
    out: PathBuf,
}

// One thread, as wrk's event loop: a client on tokio's multi-threaded runtime woke a second
// worker thread around each request, on the two cores the server under test also runs on.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    trackway_artifacts::install_crypto_provider();
    let mut sizes = if args.small {
        Sizes::small()
    } else {
        Sizes::full()
    };
    if !args.small {
        sizes.writers = args.writers;
        sizes.search_runs = args.search_runs;
    }
    let servers = match (&args.servers, args.small) {
        (Some(list), _) => list.clone(),
        (None, true) => vec!["trackway".to_string()],
        (None, false) => vec!["trackway".into(), "mlflow".into(), "fasttrackml".into()],
    };
    let work = std::env::temp_dir().join(format!("trackway-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let machine = machine_description();
    println!(
        "trackway-bench: {machine}; {} mode; work dir {}",
        if args.small { "small" } else { "full" },
        work.display()
    );

    let outcome = run_all(&args, &work, &sizes, &machine, &servers).await;
    if args.keep {
        println!("kept {} and the PostgreSQL databases", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
        servers::drop_pg_databases(&args.pg_url).await?;
    }
    outcome
}

/// Every server on every database, then the table and its JSON.
async fn run_all(
    args: &Args,
    work: &std::path::Path,
    sizes: &Sizes,
    machine: &str,
    servers: &[String],
) -> anyhow::Result<()> {
    let mut results: Vec<(String, Figures)> = Vec::new();
    for db in &args.databases {
        let db = match db.as_str() {
            "sqlite" => Db::Sqlite,
            "postgres" => Db::Postgres,
            other => bail!("unknown database {other}"),
        };
        // One seeded search database per engine, shared by every server.
        let seed = servers::seed_search_database(args, db, work, sizes).await?;
        for name in servers {
            let kind = match name.as_str() {
                "trackway" => Kind::Trackway,
                "mlflow" => Kind::Mlflow,
                "fasttrackml" => Kind::FastTrackMl,
                other => bail!("unknown server {other}"),
            };
            if kind == Kind::FastTrackMl && db == Db::Postgres {
                continue;
            }
            let spec = ServerSpec::new(args, kind, db, work);
            let label = format!("{} ({})", kind.label(), db.label());
            println!("== {label}");
            let figures = workload::run(&spec, &seed, sizes)
                .await
                .with_context(|| format!("benchmark of {label}"))?;
            results.push((label, figures));
        }
    }
    let table = workload::table(&results);
    println!("\n{table}");
    let json = workload::json(&results, machine, args.small);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&json)?)?;
    println!("results written to {}", args.out.display());
    Ok(())
}

/// CPU model, core count and memory, for the table's heading.
fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cpu}, {cores} cores, {mem_gib:.0} GiB")
}

/// How long to wait for a server to answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(180);
