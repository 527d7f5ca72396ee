//! Artifact paths from clients, made safe before they are joined to a storage root.
//!
//! MLflow's `validate_path_is_safe` decodes a path until it stops changing and refuses `..`,
//! absolute paths and `#`. Trackway applies the same rules and more (backslashes, NUL and other
//! control characters, Windows drive letters), then normalises the result: empty and `.`
//! segments are dropped, so `a//./b` is `a/b`. Whatever comes out contains only plain names
//! separated by `/` and can never leave the root it is joined to.

use crate::error::{Error, Result};

/// MLflow's answer to an unsafe path.
pub fn invalid_path() -> Error {
    Error::invalid("Invalid path")
}

/// Decodes `%XX` escapes once; `None` if nothing changed.
fn percent_decode_once(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut changed = false;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = &bytes[i + 1..i + 3];
            if let (Some(h), Some(l)) =
                ((hex[0] as char).to_digit(16), (hex[1] as char).to_digit(16))
            {
                out.push((h * 16 + l) as u8);
                i += 3;
                changed = true;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    changed.then(|| String::from_utf8_lossy(&out).into_owned())
}

/// Decodes repeatedly (at most ten times, like MLflow), so that double-encoded traversal
/// (`%252e%252e`) is seen for what it is.
pub fn decode_fully(path: &str) -> String {
    let mut current = path.to_string();
    for _ in 0..10 {
        match percent_decode_once(&current) {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

/// Validates and normalises a client-supplied relative artifact path. An empty result means
/// the root itself.
pub fn safe_relative_path(path: &str) -> Result<String> {
    let decoded = decode_fully(path);
    // A file: URI names a local path; MLflow strips the scheme before checking.
    let decoded = decoded.strip_prefix("file://").unwrap_or(&decoded);
    if decoded.contains('#') || decoded.contains('\\') || decoded.chars().any(char::is_control) {
        return Err(invalid_path());
    }
    if decoded.starts_with('/') {
        return Err(invalid_path());
    }
    let bytes = decoded.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return Err(invalid_path());
    }
    let mut parts = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" => {}
            "." | ".." => return Err(invalid_path()),
            name => parts.push(name),
        }
    }
    Ok(parts.join("/"))
}

/// Joins a normalised relative path under a base path, with exactly one `/` between them.
pub fn join(base: &str, rel: &str) -> String {
    let base = base.trim_end_matches('/');
    match (base.is_empty(), rel.is_empty()) {
        (_, true) => base.to_string(),
        (true, false) => rel.to_string(),
        (false, false) => format!("{base}/{rel}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_plain_paths() {
        assert_eq!(safe_relative_path("a/b.txt").unwrap(), "a/b.txt");
        assert_eq!(safe_relative_path("a//b").unwrap(), "a/b");
        assert_eq!(safe_relative_path("").unwrap(), "");
        assert_eq!(safe_relative_path("dir/").unwrap(), "dir");
        assert_eq!(
            safe_relative_path("with space/and%20escape").unwrap(),
            "with space/and escape"
        );
        assert_eq!(
            safe_relative_path("..hidden/x..y").unwrap(),
            "..hidden/x..y"
        );
    }

    #[test]
    fn refuses_traversal_in_every_spelling() {
        for bad in [
            "..",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "%2e%2e/x",
            "%2E%2E%2Fetc",
            "%252e%252e/x",
            "%25252e%25252e%25252fx",
            "a\\..\\b",
            "a/b\u{0}c",
            "a%00b",
            "C:/x",
            "c:\\x",
            "a#b",
            "file:///etc/passwd",
            "%2fetc",
        ] {
            assert!(safe_relative_path(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn joins() {
        assert_eq!(join("1/run/artifacts", "a/b"), "1/run/artifacts/a/b");
        assert_eq!(join("1/run/artifacts/", ""), "1/run/artifacts");
        assert_eq!(join("", "a"), "a");
    }
}
