//! `trackway server`: settings from the command line, then the store and the HTTP server.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use trackway_artifacts::ArtifactRepo;
use trackway_server::artifact_roots::ArtifactRoots;
use trackway_server::{AppState, ServerConfig};
use trackway_store::Store;

use crate::cli::ServerArgs;

/// Makes a relative local path absolute (as MLflow does for artifact roots), leaving URIs alone.
pub fn absolute_local(location: &str) -> anyhow::Result<String> {
    let has_scheme = location
        .split_once("://")
        .is_some_and(|(scheme, _)| !scheme.is_empty())
        || location.starts_with("mlflow-artifacts:");
    if has_scheme || Path::new(location).is_absolute() {
        return Ok(location.to_string());
    }
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    Ok(cwd
        .join(location.trim_start_matches("./"))
        .to_string_lossy()
        .into_owned())
}

/// Tells the user about flags that are accepted for compatibility but change nothing.
fn warn_about_compatibility_flags(args: &ServerArgs) {
    let ignored = [
        ("--workers", args.workers.is_some()),
        ("--gunicorn-opts", args.gunicorn_opts.is_some()),
        ("--uvicorn-opts", args.uvicorn_opts.is_some()),
        ("--waitress-opts", args.waitress_opts.is_some()),
        ("--allowed-hosts", args.allowed_hosts.is_some()),
        (
            "--cors-allowed-origins",
            args.cors_allowed_origins.is_some(),
        ),
        ("--x-frame-options", args.x_frame_options.is_some()),
        (
            "--disable-security-middleware",
            args.disable_security_middleware,
        ),
        ("--dev", args.dev),
        ("--expose-prometheus", args.expose_prometheus.is_some()),
        (
            "--read-replica-backend-store-uri",
            args.read_replica_backend_store_uri.is_some(),
        ),
    ];
    for (flag, given) in ignored {
        if given {
            tracing::warn!(
                "{flag} is accepted for compatibility with `mlflow server` and has no effect"
            );
        }
    }
}

/// Opens the storage roots the server may use: the proxied destination and, when it names a
/// local directory or a bucket, the default artifact root.
pub fn artifact_roots(
    artifacts_destination: Option<&str>,
    default_artifact_root: &str,
) -> anyhow::Result<ArtifactRoots> {
    let proxy = if let Some(destination) = artifacts_destination {
        let destination = absolute_local(destination)?;
        Some(
            ArtifactRepo::open(&destination)
                .with_context(|| format!("cannot open --artifacts-destination {destination}"))?,
        )
    } else {
        None
    };
    let default_root = if default_artifact_root.starts_with("mlflow-artifacts:")
        || default_artifact_root.starts_with("http://")
        || default_artifact_root.starts_with("https://")
    {
        None
    } else {
        Some(ArtifactRepo::open(default_artifact_root).with_context(|| {
            format!("cannot open --default-artifact-root {default_artifact_root}")
        })?)
    };
    Ok(ArtifactRoots {
        proxy,
        default_root,
    })
}

/// Validates the flags into the server's settings.
fn config(args: &ServerArgs) -> anyhow::Result<(ServerConfig, String)> {
    if let Some(app) = &args.app_name {
        bail!(
            "--app-name {app} is not supported yet: Trackway has no authentication app; refusing to start without the protection it would give"
        );
    }
    if args.artifacts_only {
        bail!("--artifacts-only is not supported yet");
    }
    if let Some(registry) = &args.registry_store_uri
        && registry != &args.backend_store_uri
    {
        bail!(
            "a separate --registry-store-uri is not supported: leave it unset or equal to --backend-store-uri"
        );
    }
    warn_about_compatibility_flags(args);
    let serve_artifacts = args.serve_artifacts();
    let default_artifact_root = match &args.default_artifact_root {
        Some(root) => absolute_local(root)?,
        None if serve_artifacts => "mlflow-artifacts:/".to_string(),
        None => absolute_local("./mlruns")?,
    };
    let static_prefix = match args
        .static_prefix
        .as_deref()
        .map(|p| p.trim_end_matches('/'))
    {
        None | Some("") => String::new(),
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => bail!("--static-prefix must begin with a '/', got {p:?}"),
    };
    Ok((
        ServerConfig {
            static_prefix,
            serve_artifacts,
            ui: Default::default(),
        },
        default_artifact_root,
    ))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Runs the store's upkeep now and then every hour, in the background: a failure is logged
/// and serving goes on, only slower.
async fn maintain(store: Store) {
    let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        let started = std::time::Instant::now();
        match store.maintain().await {
            Ok(()) => tracing::debug!("store upkeep took {:?}", started.elapsed()),
            Err(e) => tracing::warn!("store upkeep (side indexes, statistics) failed: {e}"),
        }
    }
}

/// Runs the server until it is told to stop.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let (mut config, default_artifact_root) = config(&args)?;
    let destination = args
        .serve_artifacts()
        .then_some(args.artifacts_destination.as_str());
    let artifacts = artifact_roots(destination, &default_artifact_root)?;
    config.ui = crate::ui::locate(args.ui_dir.as_deref(), args.data_dir.as_deref())?;
    let store = Store::open(&args.backend_store_uri, &default_artifact_root)
        .await
        .with_context(|| {
            format!(
                "cannot open the backend store {}",
                trackway_store::db::redact(&args.backend_store_uri)
            )
        })?;
    let address = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(
        "Trackway {} serving {} ({:?} schema) on http://{} with artifact root {}",
        env!("CARGO_PKG_VERSION"),
        trackway_store::db::redact(&args.backend_store_uri),
        store.schema_state(),
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or(address),
        default_artifact_root
    );
    tokio::spawn(maintain(store.clone()));
    let state = AppState {
        store: store.clone(),
        artifacts: Arc::new(artifacts),
        config: Arc::new(config),
    };
    trackway_server::serve(listener, trackway_server::app(state), shutdown_signal())
        .await
        .context("the HTTP server failed")?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
