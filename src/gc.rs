//! `trackway gc`: permanently removes deleted runs and their artifacts.

use anyhow::Context;
use trackway_store::Store;

use crate::cli::GcArgs;
use crate::server::{absolute_local, artifact_roots};

/// Runs garbage collection once and reports what it removed.
pub async fn run(args: GcArgs) -> anyhow::Result<()> {
    let default_root = match &args.default_artifact_root {
        Some(root) => absolute_local(root)?,
        None => "mlflow-artifacts:/".to_string(),
    };
    let roots = artifact_roots(Some(&args.artifacts_destination), &default_root)?;
    // The store's default root only matters for new experiments, which gc never creates.
    let store = Store::open(&args.backend_store_uri, &default_root)
        .await
        .with_context(|| {
            format!(
                "cannot open {}",
                trackway_store::db::redact(&args.backend_store_uri)
            )
        })?;
    let runs = store
        .deleted_runs(args.older_than.unwrap_or(0), &args.run_ids)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let mut purged = 0;
    for run in &runs {
        match roots.resolve(&run.artifact_uri, "") {
            Ok((repo, path)) => repo.delete(&path).await.with_context(|| {
                format!(
                    "cannot delete the artifacts of run {} at {}",
                    run.run_id, run.artifact_uri
                )
            })?,
            // Artifacts outside the server's roots are not the server's to delete.
            Err(e) => eprintln!(
                "trackway gc: keeping artifacts of run {}: {}",
                run.run_id, e.message
            ),
        }
        store
            .purge_run(&run.run_id)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        println!("Run with ID {} has been permanently deleted.", run.run_id);
        purged += 1;
    }
    println!("{purged} run(s) permanently deleted.");
    store.close().await;
    Ok(())
}
