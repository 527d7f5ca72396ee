//! Artifact URI arithmetic shared by experiments and runs.

/// Appends POSIX path segments to a URI's path, as MLflow's `append_to_uri_path` does:
/// `mlflow-artifacts:/` + `1` is `mlflow-artifacts:/1`, `s3://b/p` + `1` is `s3://b/p/1`, and a
/// query string stays at the end.
pub fn append_to_uri_path(uri: &str, segments: &[&str]) -> String {
    let (base, query) = match uri.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (uri, None),
    };
    let mut out = base.to_string();
    for segment in segments {
        let segment = segment.trim_matches('/');
        if segment.is_empty() {
            continue;
        }
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(segment);
    }
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::append_to_uri_path;

    #[test]
    fn appends_like_mlflow() {
        assert_eq!(
            append_to_uri_path("mlflow-artifacts:/", &["1"]),
            "mlflow-artifacts:/1"
        );
        assert_eq!(
            append_to_uri_path("mlflow-artifacts:/1", &["abc", "artifacts"]),
            "mlflow-artifacts:/1/abc/artifacts"
        );
        assert_eq!(append_to_uri_path("s3://b/p", &["1"]), "s3://b/p/1");
        assert_eq!(append_to_uri_path("/abs/mlruns/", &["0"]), "/abs/mlruns/0");
        assert_eq!(append_to_uri_path("s3://b/p?x=1", &["1"]), "s3://b/p/1?x=1");
    }
}
