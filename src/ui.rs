//! `trackway ui install` and where the server finds the web UI.
//!
//! The UI is MLflow's own React build, shipped inside the `mlflow` wheel (Apache-2.0). It is
//! not copied into this repository: `trackway ui install` downloads the pinned wheel from a
//! Python package index, checks it against the SHA-256 recorded here (so a changed or
//! truncated download is refused, whatever the index says), and extracts only
//! `mlflow/server/js/build/` into the data directory. Text assets also get a gzip copy beside
//! them, which the server sends to browsers that accept it, so the 4 MB main bundle crosses the
//! network as about 1 MB without compressing on every request.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use trackway_server::ui::UiDir;

use crate::cli::UiInstallArgs;

/// The MLflow release whose UI Trackway serves: the same release whose API it speaks.
pub const MLFLOW_UI_VERSION: &str = trackway_server::MLFLOW_VERSION;
/// The wheel's file name on the index.
const WHEEL: &str = "mlflow-3.17.2-py3-none-any.whl";
/// SHA-256 of that wheel as published on PyPI.
const WHEEL_SHA256: &str = "4e44c03791beb518d8b0a40b0982d958c2634d902f46d67d7907c82107f21fac";
/// Where the built UI sits inside the wheel.
const BUILD_PREFIX: &str = "mlflow/server/js/build/";
/// How long `python3` may take to say where its mlflow package is.
const PYTHON_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Extensions of assets worth a gzip copy.
const COMPRESSIBLE: &[&str] = &["js", "css", "html", "json", "svg", "map", "txt"];

/// Trackway's data directory: `--data-dir`/`TRACKWAY_DATA_DIR`, else `$XDG_DATA_HOME/trackway`,
/// else `~/.local/share/trackway`.
pub fn data_dir(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("trackway"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("no data directory: set --data-dir or TRACKWAY_DATA_DIR (HOME is not set)")?;
    Ok(PathBuf::from(home).join(".local/share/trackway"))
}

/// Where `trackway ui install` puts the UI inside the data directory.
pub fn installed_dir(data_dir: &Path) -> PathBuf {
    data_dir
        .join("ui")
        .join(format!("mlflow-{MLFLOW_UI_VERSION}"))
}

/// The UI the server serves: `--ui-dir` if given (it must hold a build), else the installed
/// one, else the `mlflow` package of the active Python environment (looked up when a UI page
/// is first asked for, so start-up does not run Python), else none.
pub fn locate(ui_dir: Option<&Path>, data_flag: Option<&Path>) -> anyhow::Result<UiDir> {
    if let Some(dir) = ui_dir {
        if !trackway_server::ui::is_ui_dir(dir) {
            bail!(
                "--ui-dir {} holds no index.html: point it at a built MLflow UI \
                 (such as the directory `trackway ui install` prints)",
                dir.display()
            );
        }
        tracing::info!("web UI from {}", dir.display());
        return Ok(UiDir::known(Some(dir.to_path_buf())));
    }
    if let Ok(data) = data_dir(data_flag) {
        let installed = installed_dir(&data);
        if trackway_server::ui::is_ui_dir(&installed) {
            tracing::info!("web UI from {}", installed.display());
            return Ok(UiDir::known(Some(installed)));
        }
    }
    Ok(UiDir::lazy(async {
        let found = python_package_ui().await;
        match &found {
            Some(dir) => tracing::info!("web UI from {}", dir.display()),
            None => tracing::info!("no web UI installed (`trackway ui install` adds it)"),
        }
        found
    }))
}

/// The UI inside the `mlflow` package that `python3` on the PATH would import. `find_spec`
/// locates the package without importing it, which would take a second or more; a Python that
/// does not answer within a few seconds counts as none.
async fn python_package_ui() -> Option<PathBuf> {
    let probe = tokio::process::Command::new("python3")
        .args([
            "-c",
            "import importlib.util as u; s = u.find_spec('mlflow'); \
             print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PYTHON_PROBE_TIMEOUT, probe)
        .await
        .ok()?
        .ok()?;
    let package = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    if package.as_os_str().is_empty() {
        return None;
    }
    let build = trackway_server::ui::build_dir_of_package(&package);
    if !trackway_server::ui::is_ui_dir(&build) {
        return None;
    }
    let version = std::fs::read_to_string(package.join("version.py")).unwrap_or_default();
    if !version.contains(&format!("\"{MLFLOW_UI_VERSION}\"")) {
        tracing::warn!(
            "serving the web UI of the mlflow package in {}, which is not MLflow \
             {MLFLOW_UI_VERSION}: some pages may call APIs Trackway does not serve; \
             `trackway ui install` gets the matching UI",
            package.display()
        );
    }
    Some(build)
}

/// `trackway ui install`: download, verify and extract the pinned UI.
pub async fn install(args: UiInstallArgs) -> anyhow::Result<()> {
    trackway_artifacts::install_crypto_provider();
    let data = data_dir(args.data_dir.as_deref())?;
    let target = installed_dir(&data);
    if trackway_server::ui::is_ui_dir(&target) && !args.force {
        println!("{}", target.display());
        eprintln!(
            "MLflow {MLFLOW_UI_VERSION}'s web UI is already installed (--force reinstalls it)."
        );
        return Ok(());
    }
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let client = reqwest::Client::new();
    let url = wheel_url(&client, &args.index_url).await?;
    eprintln!("Downloading {url}");
    let staging = tempfile::Builder::new()
        .prefix(".ui-install-")
        .tempdir_in(&data)
        .with_context(|| format!("cannot write in {}", data.display()))?;
    let wheel_path = staging.path().join(WHEEL);
    download(&client, &url, &wheel_path).await?;
    let build = staging.path().join("build");
    let files = tokio::task::spawn_blocking({
        let wheel_path = wheel_path.clone();
        let build = build.clone();
        move || extract(&wheel_path, &build)
    })
    .await
    .context("the extraction task failed")??;
    if !trackway_server::ui::is_ui_dir(&build) {
        bail!("the wheel holds no {BUILD_PREFIX}index.html");
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .with_context(|| format!("cannot replace {}", target.display()))?;
    }
    std::fs::rename(&build, &target)
        .with_context(|| format!("cannot move the UI into {}", target.display()))?;
    eprintln!(
        "Installed MLflow {MLFLOW_UI_VERSION}'s web UI ({files} files, SHA-256 verified); \
         `trackway server` serves it at /."
    );
    println!("{}", target.display());
    Ok(())
}

/// The wheel's download address, from the index's project page: PEP 691 JSON when the index
/// offers it, else the PEP 503 HTML page that every index serves.
async fn wheel_url(client: &reqwest::Client, index_url: &str) -> anyhow::Result<reqwest::Url> {
    let page = reqwest::Url::parse(&format!("{}/mlflow/", index_url.trim_end_matches('/')))
        .with_context(|| format!("--index-url {index_url} is not a URL"))?;
    let response = client
        .get(page.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
        )
        .send()
        .await
        .with_context(|| format!("cannot reach the package index at {page}"))?;
    if !response.status().is_success() {
        bail!(
            "the package index answered {} for {page}",
            response.status()
        );
    }
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let body = response
        .text()
        .await
        .context("cannot read the index page")?;
    let href = if is_json {
        let page_json: serde_json::Value =
            serde_json::from_str(&body).context("the index page is not JSON")?;
        page_json["files"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["filename"] == WHEEL)
            .and_then(|f| f["url"].as_str())
            .map(str::to_string)
    } else {
        html_link(&body, WHEEL)
    };
    let href =
        href.with_context(|| format!("the package index at {page} does not list {WHEEL}"))?;
    page.join(&href)
        .with_context(|| format!("the index gave a bad address for {WHEEL}: {href}"))
}

/// The `href` of the anchor for `file` in a PEP 503 page: one `<a href="...">file</a>` per
/// file, so a plain search finds it.
fn html_link(page: &str, file: &str) -> Option<String> {
    page.split("<a ").skip(1).find_map(|anchor| {
        let (attributes, rest) = anchor.split_once('>')?;
        if !rest.starts_with(file) {
            return None;
        }
        let start = attributes.find("href=\"")? + "href=\"".len();
        let end = attributes[start..].find('"')? + start;
        Some(attributes[start..end].replace("&amp;", "&"))
    })
}

/// Streams `url` into `path`, checking the pinned SHA-256 on the way.
async fn download(client: &reqwest::Client, url: &reqwest::Url, path: &Path) -> anyhow::Result<()> {
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("cannot download {url}"))?;
    if !response.status().is_success() {
        bail!("downloading {url} answered {}", response.status());
    }
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("the download of {url} failed"))?
    {
        hasher.update(&chunk);
        file.write_all(&chunk)?;
    }
    file.sync_all()?;
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != WHEEL_SHA256 {
        bail!(
            "{WHEEL} from {url} has SHA-256 {digest}, expected {WHEEL_SHA256}: refusing to install it"
        );
    }
    Ok(())
}

/// Extracts the built UI from the wheel into `target`; returns how many files it wrote.
fn extract(wheel: &Path, target: &Path) -> anyhow::Result<usize> {
    let file = std::fs::File::open(wheel)?;
    let mut archive = zip::ZipArchive::new(file).context("the wheel is not a zip archive")?;
    let mut written = 0;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        // `enclosed_name` refuses absolute names and `..`, so nothing lands outside `target`.
        let Some(name) = entry.enclosed_name() else {
            continue;
        };
        let Ok(relative) = name.strip_prefix(BUILD_PREFIX) else {
            continue;
        };
        if entry.is_dir() || relative.as_os_str().is_empty() {
            continue;
        }
        let out_path = target.join(relative);
        if let Some(parent) = out_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut content = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut content)?;
        std::fs::write(&out_path, &content)?;
        let compressible = relative
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| COMPRESSIBLE.contains(&e));
        if compressible && content.len() > 1024 {
            let mut gz_name = out_path.clone().into_os_string();
            gz_name.push(".gz");
            let gz = std::fs::File::create(PathBuf::from(gz_name))?;
            let mut encoder = flate2::write::GzEncoder::new(gz, flate2::Compression::default());
            encoder.write_all(&content)?;
            encoder.finish()?;
        }
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_wheel_in_a_pep_503_page() {
        let page = "<html><body>\n\
            <a href=\"../../packages/aa/mlflow-3.17.1-py3-none-any.whl#sha256=00\">mlflow-3.17.1-py3-none-any.whl</a><br/>\n\
            <a href=\"https://files.example/mlflow-3.17.2-py3-none-any.whl#sha256=4e&amp;x=1\" data-requires-python=\"&gt;=3.10\">mlflow-3.17.2-py3-none-any.whl</a><br/>\n\
            </body></html>";
        assert_eq!(
            html_link(page, WHEEL).as_deref(),
            Some("https://files.example/mlflow-3.17.2-py3-none-any.whl#sha256=4e&x=1")
        );
        assert_eq!(html_link(page, "mlflow-9.9.9-py3-none-any.whl"), None);
    }

    #[test]
    fn data_dir_prefers_the_flag() {
        assert_eq!(
            data_dir(Some(Path::new("/srv/trackway"))).unwrap(),
            PathBuf::from("/srv/trackway")
        );
        assert!(installed_dir(Path::new("/d")).ends_with("ui/mlflow-3.17.2"));
    }
}
