//! The command line, declared once with clap; flags and variables mirror `mlflow server`.

use clap::{Args, Parser, Subcommand};

/// Trackway: an MLflow-compatible tracking server in one binary.
///
/// Trackway serves MLflow's REST API, so the official MLflow clients (Python 2.x and 3.x,
/// the `mlflow` CLI) work against it unchanged. It stores metadata in MLflow's own SQL schema,
/// in an embedded SQLite file by default or in PostgreSQL, so existing MLflow databases are
/// served as they are.
#[derive(Debug, Parser)]
#[command(
    name = "trackway",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Trackway's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the tracking server (a drop-in replacement for `mlflow server`).
    ///
    /// With no flags it serves sqlite:///mlflow.db in the current directory on
    /// http://127.0.0.1:5000, like MLflow 3. Point clients at it with
    /// MLFLOW_TRACKING_URI=http://127.0.0.1:5000. Stop it with Ctrl-C or SIGTERM: requests in
    /// flight finish first.
    ///
    /// Examples:
    ///   trackway server
    ///   trackway server --backend-store-uri postgresql://mlflow@db/mlflow --host 0.0.0.0
    #[command(verbatim_doc_comment, disable_help_flag = true)]
    Server(Box<ServerArgs>),

    /// Permanently delete runs in the deleted lifecycle stage, and their artifacts.
    ///
    /// Deleting a run (from a client or the UI) only marks it deleted; its metadata and
    /// artifacts stay until this command removes them, like `mlflow gc`. Run it against the same
    /// database and artifact settings as the server.
    ///
    /// Examples:
    ///   trackway gc --older-than 30d
    ///   trackway gc --run-ids 0f1e...,9a8b... --artifacts-destination s3://bucket/mlflow
    #[command(verbatim_doc_comment)]
    Gc(GcArgs),

    /// Work with registered models on a running server.
    #[command(subcommand)]
    Models(ModelsCommand),

    /// Install MLflow's web UI for `trackway server` to serve.
    #[command(subcommand)]
    Ui(UiCommand),
}

/// `trackway ui` subcommands.
#[derive(Debug, Subcommand)]
pub enum UiCommand {
    /// Download MLflow 3.17.2's web UI and install it in the data directory.
    ///
    /// Fetches the pinned mlflow wheel from the Python package index (PIP_INDEX_URL or
    /// --index-url, default PyPI), checks its SHA-256 against the one built into Trackway, and
    /// extracts only the built UI (mlflow/server/js/build) into DATA_DIR/ui/mlflow-3.17.2.
    /// `trackway server` then serves it at /. Prints the directory it installed.
    ///
    /// Examples:
    ///   trackway ui install
    ///   trackway ui install --data-dir /var/lib/trackway --index-url https://mirror/simple
    #[command(verbatim_doc_comment)]
    Install(UiInstallArgs),
}

/// `trackway ui install`'s flags.
#[derive(Debug, Args)]
pub struct UiInstallArgs {
    /// Trackway's data directory (default: $XDG_DATA_HOME/trackway or
    /// ~/.local/share/trackway).
    #[arg(long, env = "TRACKWAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,

    /// The Python package index to download from (a PEP 503 "simple" index).
    #[arg(
        long,
        env = "PIP_INDEX_URL",
        value_name = "URL",
        default_value = "https://pypi.org/simple"
    )]
    pub index_url: String,

    /// Install again even if the UI is already installed.
    #[arg(long)]
    pub force: bool,
}

/// `trackway models` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Print where a registered model version's files physically are.
    ///
    /// Resolves models:/NAME@ALIAS, models:/NAME/VERSION, models:/NAME/STAGE or
    /// models:/NAME/latest to one version and prints the storage location of its files, such
    /// as s3://bucket/prefix/1/models/m-.../artifacts when the server proxies artifacts to S3:
    /// the value a KServe InferenceService needs as storageUri. --json prints the name,
    /// version, run, source and location.
    ///
    /// Examples:
    ///   trackway models resolve models:/churn@production
    ///   trackway models resolve models:/churn/3 --json --tracking-uri http://mlflow:5000
    #[command(verbatim_doc_comment)]
    Resolve(ResolveArgs),
}

/// `trackway models resolve`'s arguments.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The model URI: models:/NAME@ALIAS, models:/NAME/VERSION, models:/NAME/STAGE or
    /// models:/NAME/latest.
    #[arg(value_name = "MODEL_URI")]
    pub model_uri: String,

    /// The running server to ask.
    #[arg(
        long,
        env = "MLFLOW_TRACKING_URI",
        value_name = "URL",
        default_value = "http://127.0.0.1:5000"
    )]
    pub tracking_uri: String,

    /// Print name, version, run, source and location as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `trackway gc`'s flags.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Database whose deleted runs are removed.
    #[arg(
        long,
        env = "MLFLOW_BACKEND_STORE_URI",
        value_name = "URI",
        default_value = "sqlite:///mlflow.db"
    )]
    pub backend_store_uri: String,

    /// Where the server stores proxied artifacts (mlflow-artifacts:/ locations).
    #[arg(
        long,
        env = "MLFLOW_ARTIFACTS_DESTINATION",
        value_name = "URI",
        default_value = "./mlartifacts"
    )]
    pub artifacts_destination: String,

    /// The server's default artifact root, when runs store artifacts there directly.
    #[arg(long, env = "MLFLOW_DEFAULT_ARTIFACT_ROOT", value_name = "URI")]
    pub default_artifact_root: Option<String>,

    /// Only runs deleted at least this long ago, e.g. 30d, 12h, 1d2h30m, 90s (default: all).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub older_than: Option<i64>,

    /// Only these runs (comma-separated); each must be deleted.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub run_ids: Vec<String>,
}

/// Parses `1d2h3m4s`-style durations into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: i64 = match c {
            'd' => 86_400_000,
            'h' => 3_600_000,
            'm' => 60_000,
            's' => 1_000,
            _ => return Err(format!("unknown unit {c:?} in {text:?}: use d, h, m and s")),
        };
        let value: i64 = number
            .parse()
            .map_err(|_| format!("expected a number before {c:?} in {text:?}"))?;
        total = total.saturating_add(value.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() || text.trim().is_empty() {
        return Err(format!("{text:?} is not a duration like 30d or 1d2h3m4s"));
    }
    Ok(total)
}

/// `trackway server`'s flags: `mlflow server`'s, with the same environment variables.
#[derive(Debug, Args)]
#[command(next_help_heading = "Storage")]
pub struct ServerArgs {
    /// Database for experiments and runs: sqlite:///relative.db, sqlite:////absolute.db or
    /// postgresql://user[:password]@host[:port]/database. An empty database gets MLflow
    /// 3.17.2's schema; one made by MLflow 3.17.2 is served as it is.
    #[arg(
        long,
        env = "MLFLOW_BACKEND_STORE_URI",
        value_name = "URI",
        default_value = "sqlite:///mlflow.db"
    )]
    pub backend_store_uri: String,

    /// Database for the model registry; only the backend store is supported for now, so this
    /// must be unset or equal to --backend-store-uri.
    #[arg(long, env = "MLFLOW_REGISTRY_STORE_URI", value_name = "URI")]
    pub registry_store_uri: Option<String>,

    /// Artifact root of new experiments. Defaults to mlflow-artifacts:/ (proxied through this
    /// server) with --serve-artifacts, else ./mlruns.
    #[arg(long, env = "MLFLOW_DEFAULT_ARTIFACT_ROOT", value_name = "URI")]
    pub default_artifact_root: Option<String>,

    /// Where proxied artifacts are stored (used with --serve-artifacts).
    #[arg(
        long,
        env = "MLFLOW_ARTIFACTS_DESTINATION",
        value_name = "URI",
        default_value = "./mlartifacts"
    )]
    pub artifacts_destination: String,

    /// Proxy artifact uploads and downloads through this server (the default).
    #[arg(long, overrides_with = "no_serve_artifacts")]
    pub serve_artifacts: bool,

    /// Let clients read and write the default artifact root directly instead
    /// (MLFLOW_SERVE_ARTIFACTS=false does the same).
    #[arg(long)]
    pub no_serve_artifacts: bool,

    /// Serve only the artifact proxy, not the tracking API.
    #[arg(long, env = "MLFLOW_ARTIFACTS_ONLY")]
    pub artifacts_only: bool,

    /// Read-only replica for reads (accepted for compatibility; reads use the backend store).
    #[arg(
        long,
        env = "MLFLOW_READ_REPLICA_BACKEND_STORE_URI",
        value_name = "URI"
    )]
    pub read_replica_backend_store_uri: Option<String>,

    /// Network interface to listen on; 0.0.0.0 for all.
    #[arg(
        long,
        short = 'h',
        env = "MLFLOW_HOST",
        default_value = "127.0.0.1",
        help_heading = "Network"
    )]
    pub host: String,

    /// Port to listen on.
    #[arg(
        long,
        short = 'p',
        env = "MLFLOW_PORT",
        default_value_t = 5000,
        help_heading = "Network"
    )]
    pub port: u16,

    /// Accepted for compatibility: one Trackway process serves requests concurrently on all
    /// cores, so there are no worker processes to configure.
    #[arg(long, short = 'w', env = "MLFLOW_WORKERS", help_heading = "Network")]
    pub workers: Option<String>,

    /// Path prefix for every route, e.g. /mlflow.
    #[arg(long, env = "MLFLOW_STATIC_PREFIX", help_heading = "Network")]
    pub static_prefix: Option<String>,

    /// Serve the web UI from this directory (a built MLflow UI holding index.html). Default:
    /// the one `trackway ui install` installed, else the mlflow package of `python3`, else
    /// none (/ then says how to install it).
    #[arg(
        long,
        env = "TRACKWAY_UI_DIR",
        value_name = "DIR",
        help_heading = "Web UI"
    )]
    pub ui_dir: Option<std::path::PathBuf>,

    /// Trackway's data directory, where `trackway ui install` puts the UI.
    #[arg(
        long,
        env = "TRACKWAY_DATA_DIR",
        value_name = "DIR",
        help_heading = "Web UI"
    )]
    pub data_dir: Option<std::path::PathBuf>,

    /// Accepted for compatibility; Trackway does not check Host headers yet.
    #[arg(long, help_heading = "Security")]
    pub allowed_hosts: Option<String>,

    /// Accepted for compatibility; Trackway sends no CORS headers yet.
    #[arg(long, help_heading = "Security")]
    pub cors_allowed_origins: Option<String>,

    /// Accepted for compatibility.
    #[arg(long, help_heading = "Security")]
    pub disable_security_middleware: bool,

    /// Accepted for compatibility.
    #[arg(long, help_heading = "Security")]
    pub x_frame_options: Option<String>,

    /// Python server options; accepted and ignored (there is no Python server).
    #[arg(long, env = "MLFLOW_GUNICORN_OPTS", help_heading = "Compatibility")]
    pub gunicorn_opts: Option<String>,

    /// Python server options; accepted and ignored.
    #[arg(long, env = "MLFLOW_UVICORN_OPTS", help_heading = "Compatibility")]
    pub uvicorn_opts: Option<String>,

    /// Python server options; accepted and ignored.
    #[arg(long, help_heading = "Compatibility")]
    pub waitress_opts: Option<String>,

    /// Accepted for compatibility (debug logs: set RUST_LOG=debug instead).
    #[arg(long, help_heading = "Compatibility")]
    pub dev: bool,

    /// Prometheus metrics directory; not supported yet.
    #[arg(long, env = "MLFLOW_EXPOSE_PROMETHEUS", help_heading = "Compatibility")]
    pub expose_prometheus: Option<String>,

    /// Alternative application, e.g. basic-auth; not supported yet.
    #[arg(long, help_heading = "Compatibility")]
    pub app_name: Option<String>,

    /// Print help (-h is --host, as in `mlflow server`).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

impl ServerArgs {
    /// Whether artifacts are proxied: the flags win, then MLFLOW_SERVE_ARTIFACTS, then on.
    pub fn serve_artifacts(&self) -> bool {
        if self.serve_artifacts || self.no_serve_artifacts {
            return self.serve_artifacts;
        }
        match std::env::var("MLFLOW_SERVE_ARTIFACTS") {
            Ok(v) => !matches!(
                v.to_ascii_lowercase().as_str(),
                "false" | "0" | "no" | "off"
            ),
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30d"), Ok(30 * 86_400_000));
        assert_eq!(
            parse_duration_ms("1d2h3m4s"),
            Ok(86_400_000 + 2 * 3_600_000 + 3 * 60_000 + 4_000)
        );
        assert_eq!(parse_duration_ms("0s"), Ok(0));
        assert!(parse_duration_ms("30").is_err());
        assert!(parse_duration_ms("3w").is_err());
    }

    #[test]
    fn defaults_match_mlflow() {
        let cli = Cli::try_parse_from(["trackway", "server"]).unwrap();
        let Command::Server(args) = cli.command else {
            panic!("expected the server command")
        };
        assert_eq!(args.backend_store_uri, "sqlite:///mlflow.db");
        assert_eq!(args.host, "127.0.0.1");
        assert_eq!(args.port, 5000);
        assert!(args.serve_artifacts());
        let cli = Cli::try_parse_from([
            "trackway",
            "server",
            "--no-serve-artifacts",
            "-p",
            "6000",
            "--workers",
            "4",
        ])
        .unwrap();
        let Command::Server(args) = cli.command else {
            panic!("expected the server command")
        };
        assert!(!args.serve_artifacts());
        assert_eq!(args.port, 6000);
    }
}
