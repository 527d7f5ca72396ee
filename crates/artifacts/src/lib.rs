//! Trackway's artifact storage: a local directory or S3-compatible object storage, streamed in
//! both directions.
//!
//! # Design
//!
//! [`ArtifactRepo`] is one storage root. Callers hand it paths that
//! [`trackway_core::paths::safe_relative_path`] has already normalised (no `..`, no absolute
//! paths); the repo adds its own guard for what a string check cannot see, symlinks inside a
//! local root that point out of it. Bodies are streams of `Bytes` in and out: nothing is held
//! whole in memory, whatever the file size.
//!
//! - [`local::LocalRepo`] is written here on `tokio::fs` rather than taken from
//!   `object_store`'s `LocalFileSystem`, because the latter percent-encodes characters such as
//!   `{` and `^` in file names: files MLflow wrote under `./mlartifacts` would not be found.
//!   Writes go to a temporary file that is renamed into place, so readers never see half a file.
//! - [`object::ObjectRepo`] is `object_store`'s S3 client (endpoint from
//!   `MLFLOW_S3_ENDPOINT_URL` or `AWS_ENDPOINT_URL`; credentials from the environment, a shared
//!   profile, web identity or the instance role), with uploads switching to multipart by
//!   themselves above a few MiB.
//!
//! The two are variants of one enum instead of implementations of a trait: there are exactly
//! two, and an enum needs no boxed futures. The same test suite runs against both.

mod credentials;
pub use credentials::install_crypto_provider;
pub mod local;
pub mod object;

use std::io;

use bytes::Bytes;
use futures::stream::BoxStream;

/// A byte stream, as uploads arrive and downloads leave.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The entry's name (no directory part).
    pub name: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Size in bytes, for files.
    pub file_size: Option<u64>,
}

/// A file being downloaded.
pub struct Download {
    /// Its size, when the storage knows it up front.
    pub size: Option<u64>,
    /// Its bytes.
    pub body: ByteStream,
}

/// Why an artifact operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Nothing at that path.
    #[error("No such artifact: '{0}'")]
    NotFound(String),
    /// The path would leave the root (e.g. through a symlink).
    #[error("Invalid path")]
    OutsideRoot,
    /// The root URI is not a storage Trackway can use.
    #[error("unsupported artifact location '{0}': use a local path, file:// or s3://")]
    Unsupported(String),
    /// The storage failed.
    #[error("artifact storage error: {0}")]
    Storage(String),
}

impl From<io::Error> for ArtifactError {
    fn from(e: io::Error) -> Self {
        ArtifactError::Storage(e.to_string())
    }
}

impl From<object_store::Error> for ArtifactError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => ArtifactError::NotFound(path),
            other => ArtifactError::Storage(other.to_string()),
        }
    }
}

/// Result of artifact operations.
pub type Result<T, E = ArtifactError> = std::result::Result<T, E>;

/// One storage root.
#[derive(Debug, Clone)]
pub enum ArtifactRepo {
    /// A directory on this machine.
    Local(local::LocalRepo),
    /// An S3 bucket (and key prefix).
    Object(object::ObjectRepo),
}

/// Whether a URI names a local path (a plain path or `file://`).
pub fn is_local_uri(uri: &str) -> bool {
    uri.starts_with("file:") || !uri.contains("://")
}

impl ArtifactRepo {
    /// Opens the storage a URI names: `/path`, `./path`, `file:///path` or `s3://bucket/prefix`.
    /// A local root is created if missing.
    pub fn open(uri: &str) -> Result<Self> {
        if let Some(rest) = uri.strip_prefix("s3://") {
            return Ok(ArtifactRepo::Object(object::ObjectRepo::s3(rest)?));
        }
        if is_local_uri(uri) {
            let path = uri.strip_prefix("file://").unwrap_or(uri);
            return Ok(ArtifactRepo::Local(local::LocalRepo::open(path)?));
        }
        Err(ArtifactError::Unsupported(uri.to_string()))
    }

    /// The root, as a URI (`/abs/path` or `s3://bucket/prefix`).
    pub fn uri(&self) -> String {
        match self {
            ArtifactRepo::Local(r) => r.root().to_string_lossy().into_owned(),
            ArtifactRepo::Object(r) => r.uri(),
        }
    }

    /// Stores a file, replacing any file at that path; returns its size.
    pub async fn put(&self, path: &str, body: ByteStream) -> Result<u64> {
        match self {
            ArtifactRepo::Local(r) => r.put(path, body).await,
            ArtifactRepo::Object(r) => r.put(path, body).await,
        }
    }

    /// Streams a file.
    pub async fn get(&self, path: &str) -> Result<Download> {
        match self {
            ArtifactRepo::Local(r) => r.get(path).await,
            ArtifactRepo::Object(r) => r.get(path).await,
        }
    }

    /// Lists a directory, sorted by name; `None` when there is no such directory.
    pub async fn list(&self, dir: &str) -> Result<Option<Vec<FileInfo>>> {
        match self {
            ArtifactRepo::Local(r) => r.list(dir).await,
            ArtifactRepo::Object(r) => r.list(dir).await,
        }
    }

    /// Whether a file (not a directory) exists at `path`.
    pub async fn is_file(&self, path: &str) -> Result<bool> {
        match self {
            ArtifactRepo::Local(r) => r.is_file(path).await,
            ArtifactRepo::Object(r) => r.is_file(path).await,
        }
    }

    /// Deletes a file or a whole directory; deleting nothing is not an error.
    pub async fn delete(&self, path: &str) -> Result<()> {
        match self {
            ArtifactRepo::Local(r) => r.delete(path).await,
            ArtifactRepo::Object(r) => r.delete(path).await,
        }
    }
}
