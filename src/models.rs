//! `trackway models resolve`: which version a `models:/` URI names and where its files
//! physically are, asked of a running server.
//!
//! The answer comes from the server because only the server knows where its proxied
//! `mlflow-artifacts:` locations are stored (`--artifacts-destination`); a client sees only the
//! logical URI.

use anyhow::{Context, bail};

use crate::cli::ResolveArgs;

/// Prints the physical location (or, with `--json`, the whole answer) for one model URI.
pub async fn resolve(args: ResolveArgs) -> anyhow::Result<()> {
    trackway_artifacts::install_crypto_provider();
    let base = args.tracking_uri.trim_end_matches('/');
    if !base.starts_with("http://") && !base.starts_with("https://") {
        bail!(
            "the tracking URI must be the server's http(s) address, got '{}'",
            args.tracking_uri
        );
    }
    let encoded: String = form_urlencoded::byte_serialize(args.model_uri.as_bytes()).collect();
    let url = format!("{base}/api/2.0/trackway/models/resolve?uri={encoded}");
    let response = reqwest::Client::new()
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach the tracking server at {base}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .with_context(|| format!("cannot read the answer of {base}"))?;
    let answer: serde_json::Value = serde_json::from_str(&body).with_context(|| {
        format!("{base} answered {status} without JSON; is it a Trackway server?")
    })?;
    if !status.is_success() {
        let code = answer["error_code"].as_str().unwrap_or("ERROR");
        let message = answer["message"].as_str().unwrap_or(&body);
        bail!("{code}: {message}");
    }
    if args.json {
        let out = serde_json::json!({
            "name": answer["name"],
            "version": answer["version"],
            "run_id": answer["run_id"],
            "source": answer["source"],
            "artifact_uri": answer["artifact_uri"],
            "location": answer["location"],
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let location = answer["location"]
            .as_str()
            .context("the server's answer has no location")?;
        println!("{location}");
    }
    Ok(())
}
