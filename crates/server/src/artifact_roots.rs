//! Which storage an artifact URI is served from, and the rule that keeps every read and write
//! inside the server's artifact roots.
//!
//! A run's `artifact_uri` (and an experiment's `artifact_location`, and later a model version's
//! `source`) comes from the database, where any client may have put anything. The server only
//! touches storage under its own roots: the proxied destination (`--artifacts-destination`,
//! for `mlflow-artifacts:` URIs) and the default artifact root when it names a local directory
//! or a bucket. Any other location is refused with `INVALID_PARAMETER_VALUE`, which closes the
//! path-traversal family of MLflow's CVE-2023-1177 and CVE-2023-6977.

use trackway_artifacts::ArtifactRepo;
use trackway_core::paths::{join, safe_relative_path};
use trackway_core::{Error, Result};

/// The storage roots this server may read and write.
#[derive(Debug, Clone, Default)]
pub struct ArtifactRoots {
    /// The proxied destination, when `--serve-artifacts` is on.
    pub proxy: Option<ArtifactRepo>,
    /// The default artifact root, when it is local or S3 (served directly).
    pub default_root: Option<ArtifactRepo>,
}

/// The path of a proxied `mlflow-artifacts` location within the destination, if the URI is one:
/// `mlflow-artifacts:/p`, `mlflow-artifacts://host/p`, or an `http(s)` URL of this service.
pub fn proxied_path(uri: &str) -> Option<&str> {
    if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
        let rest = match rest.strip_prefix("//") {
            Some(authority_and_path) => authority_and_path
                .find('/')
                .map_or("", |i| &authority_and_path[i..]),
            None => rest,
        };
        return Some(rest.trim_start_matches('/'));
    }
    if uri.starts_with("http://") || uri.starts_with("https://") {
        const SERVICE: &str = "/api/2.0/mlflow-artifacts/artifacts";
        let at = uri.find(SERVICE)?;
        return Some(uri[at + SERVICE.len()..].trim_start_matches('/'));
    }
    None
}

fn outside(uri: &str) -> Error {
    Error::invalid(format!(
        "The artifact location '{uri}' is outside this server's artifact roots; Trackway only \
         serves artifacts stored under its --artifacts-destination or --default-artifact-root"
    ))
}

/// `rest` of `uri` after `root`, if `uri` lies under `root` (whole path segments only).
fn under<'a>(uri: &'a str, root: &str) -> Option<&'a str> {
    let root = root.trim_end_matches('/');
    let rest = uri.strip_prefix(root)?;
    if rest.is_empty() || rest.starts_with('/') {
        Some(rest.trim_start_matches('/'))
    } else {
        None
    }
}

impl ArtifactRoots {
    /// The repository and the path within it where `uri` (a run's or model's artifact root)
    /// lives, with `rel` (already normalised) appended.
    pub fn resolve(&self, uri: &str, rel: &str) -> Result<(&ArtifactRepo, String)> {
        if let Some(path) = proxied_path(uri) {
            let repo = self.proxy.as_ref().ok_or_else(|| {
                Error::invalid(format!(
                    "'{uri}' is a proxied artifact location, but this server runs with \
                     --no-serve-artifacts"
                ))
            })?;
            let base = safe_relative_path(path).map_err(|_| outside(uri))?;
            return Ok((repo, join(&base, rel)));
        }
        let repo = self.default_root.as_ref().ok_or_else(|| outside(uri))?;
        let root = repo.uri();
        let location = match repo {
            ArtifactRepo::Local(_) => uri.strip_prefix("file://").unwrap_or(uri),
            ArtifactRepo::Object(_) => uri,
        };
        let rest = under(location, &root).ok_or_else(|| outside(uri))?;
        // The stored location itself must not climb out of the root either.
        let base = safe_relative_path(rest).map_err(|_| outside(uri))?;
        Ok((repo, join(&base, rel)))
    }

    /// Where the files of `uri` physically are: a proxied `mlflow-artifacts:` location becomes
    /// the destination's URI (`s3://bucket/prefix/...` or a local path); anything else is
    /// already physical. A proxied path that climbs out of the destination is refused.
    pub fn physical_location(&self, uri: &str) -> Result<String> {
        match (proxied_path(uri), &self.proxy) {
            (Some(path), Some(repo)) => {
                let path = safe_relative_path(path).map_err(|_| outside(uri))?;
                let root = repo.uri();
                let root = root.trim_end_matches('/');
                Ok(if path.is_empty() {
                    root.to_string()
                } else {
                    format!("{root}/{path}")
                })
            }
            _ => Ok(uri.to_string()),
        }
    }

    /// The proxied destination, or the error MLflow gives when artifacts are not served.
    pub fn proxy(&self) -> Result<&ArtifactRepo> {
        self.proxy.as_ref().ok_or_else(|| {
            Error::new(
                trackway_core::ErrorCode::TemporarilyUnavailable,
                "Endpoint: /api/2.0/mlflow-artifacts disabled due to the mlflow server running \
                 with `--no-serve-artifacts`. To enable artifacts server functionality, run \
                 `mlflow server` with `--serve-artifacts`",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_uris() {
        assert_eq!(
            proxied_path("mlflow-artifacts:/1/abc/artifacts"),
            Some("1/abc/artifacts")
        );
        assert_eq!(
            proxied_path("mlflow-artifacts://host:5000/1/abc"),
            Some("1/abc")
        );
        assert_eq!(
            proxied_path("http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts"),
            Some("1/r/artifacts")
        );
        assert_eq!(proxied_path("s3://b/k"), None);
        assert_eq!(proxied_path("/tmp/x"), None);
    }

    #[test]
    fn locations_outside_the_roots_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let repo = ArtifactRepo::open(dir.path().to_str().unwrap()).unwrap();
        let root = repo.uri();
        let roots = ArtifactRoots {
            proxy: Some(repo.clone()),
            default_root: Some(repo),
        };
        let (_, path) = roots
            .resolve("mlflow-artifacts:/1/r/artifacts", "a.txt")
            .unwrap();
        assert_eq!(path, "1/r/artifacts/a.txt");
        let (_, path) = roots.resolve(&format!("{root}/2/r/artifacts"), "").unwrap();
        assert_eq!(path, "2/r/artifacts");
        let (_, path) = roots
            .resolve(&format!("file://{root}/3/r/artifacts"), "m")
            .unwrap();
        assert_eq!(path, "3/r/artifacts/m");
        for bad in [
            "/etc".to_string(),
            "file:///etc/passwd".to_string(),
            format!("{root}/../other"),
            format!("{root}-sibling/x"),
            "mlflow-artifacts:/../../etc".to_string(),
            "s3://other-bucket/x".to_string(),
            "ftp://host/x".to_string(),
        ] {
            let err = roots.resolve(&bad, "").unwrap_err();
            assert_eq!(
                err.code,
                trackway_core::ErrorCode::InvalidParameterValue,
                "{bad}"
            );
        }
    }

    #[test]
    fn physical_locations() {
        let dir = tempfile::tempdir().unwrap();
        let repo = ArtifactRepo::open(dir.path().to_str().unwrap()).unwrap();
        let root = repo.uri();
        let roots = ArtifactRoots {
            proxy: Some(repo),
            default_root: None,
        };
        assert_eq!(
            roots
                .physical_location("mlflow-artifacts:/1/models/m-1/artifacts")
                .unwrap(),
            format!("{root}/1/models/m-1/artifacts")
        );
        assert_eq!(
            roots.physical_location("s3://other/key").unwrap(),
            "s3://other/key"
        );
        assert!(roots.physical_location("mlflow-artifacts:/../etc").is_err());
    }
}
