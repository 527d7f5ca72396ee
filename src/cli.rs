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
    Server(ServerArgs),
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
    fn defaults_match_mlflow() {
        let cli = Cli::try_parse_from(["trackway", "server"]).unwrap();
        let Command::Server(args) = cli.command;
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
        let Command::Server(args) = cli.command;
        assert!(!args.serve_artifacts());
        assert_eq!(args.port, 6000);
    }
}
