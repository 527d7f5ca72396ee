//! Artifacts in a local directory, with MLflow's layout (file names kept as they are).

use std::path::{Path, PathBuf};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use crate::{ArtifactError, ByteStream, Download, FileInfo, Result};

/// Read and write buffer size for streamed files.
const CHUNK: usize = 256 * 1024;

/// A local directory holding artifacts.
#[derive(Debug, Clone)]
pub struct LocalRepo {
    /// Canonical (symlink-free, absolute) root.
    root: PathBuf,
}

impl LocalRepo {
    /// Opens (creating if needed) a directory.
    pub fn open(path: &str) -> Result<Self> {
        let path = Path::new(path);
        std::fs::create_dir_all(path)?;
        Ok(LocalRepo {
            root: path.canonicalize()?,
        })
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn target(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// Refuses paths whose deepest existing part resolves outside the root: a symlink inside
    /// the root that points elsewhere is not followed out.
    async fn guard(&self, target: &Path) -> Result<()> {
        let mut probe = target.to_path_buf();
        loop {
            match tokio::fs::symlink_metadata(&probe).await {
                Ok(_) => break,
                Err(_) => match probe.parent() {
                    Some(parent) if probe != self.root => probe = parent.to_path_buf(),
                    _ => return Err(ArtifactError::OutsideRoot),
                },
            }
        }
        let resolved = match tokio::fs::canonicalize(&probe).await {
            Ok(resolved) => resolved,
            // A dangling symlink: treat it as pointing nowhere we serve.
            Err(_) => return Err(ArtifactError::OutsideRoot),
        };
        if resolved.starts_with(&self.root) {
            Ok(())
        } else {
            Err(ArtifactError::OutsideRoot)
        }
    }

    /// Writes the stream to a temporary file next to the target, then renames it into place.
    pub async fn put(&self, rel: &str, mut body: ByteStream) -> Result<u64> {
        let target = self.target(rel);
        let parent = target
            .parent()
            .ok_or(ArtifactError::OutsideRoot)?
            .to_path_buf();
        self.guard(&parent).await?;
        tokio::fs::create_dir_all(&parent).await?;
        self.guard(&target).await?;
        if tokio::fs::metadata(&target).await.is_ok_and(|m| m.is_dir()) {
            return Err(ArtifactError::Storage(format!("'{rel}' is a directory")));
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = parent.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let result = async {
            let file = tokio::fs::File::create(&temp).await?;
            let mut writer = tokio::io::BufWriter::with_capacity(CHUNK, file);
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                writer.write_all(&chunk).await?;
            }
            writer.flush().await?;
            writer.into_inner().sync_all().await?;
            tokio::fs::rename(&temp, &target).await?;
            Ok::<_, std::io::Error>(size)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        Ok(result?)
    }

    /// Streams a file.
    pub async fn get(&self, rel: &str) -> Result<Download> {
        let target = self.target(rel);
        self.guard(&target).await.map_err(|e| match e {
            ArtifactError::OutsideRoot if !target.exists() => {
                ArtifactError::NotFound(rel.to_string())
            }
            other => other,
        })?;
        let file = match tokio::fs::File::open(&target).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ArtifactError::NotFound(rel.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        let metadata = file.metadata().await?;
        if !metadata.is_file() {
            return Err(ArtifactError::NotFound(rel.to_string()));
        }
        Ok(Download {
            size: Some(metadata.len()),
            body: ReaderStream::with_capacity(file, CHUNK).boxed(),
        })
    }

    /// Lists a directory; `None` when it does not exist or is a file.
    pub async fn list(&self, rel: &str) -> Result<Option<Vec<FileInfo>>> {
        let dir = self.target(rel);
        if self.guard(&dir).await.is_err() {
            return if dir.exists() {
                Err(ArtifactError::OutsideRoot)
            } else {
                Ok(None)
            };
        }
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(_) => return Ok(None),
        };
        let mut out = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            // Hidden temporary files of uploads in progress are not artifacts.
            if name.starts_with('.') && name.ends_with(".tmp") {
                continue;
            }
            if self.guard(&path).await.is_err() {
                continue;
            }
            let Ok(metadata) = tokio::fs::metadata(&path).await else {
                continue;
            };
            out.push(FileInfo {
                name,
                is_dir: metadata.is_dir(),
                file_size: metadata.is_file().then_some(metadata.len()),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(out))
    }

    /// Whether `rel` is a file.
    pub async fn is_file(&self, rel: &str) -> Result<bool> {
        let target = self.target(rel);
        if self.guard(&target).await.is_err() {
            return Ok(false);
        }
        Ok(tokio::fs::metadata(&target)
            .await
            .is_ok_and(|m| m.is_file()))
    }

    /// Deletes a file, or a directory with everything under it (symlinks are removed, never
    /// followed).
    pub async fn delete(&self, rel: &str) -> Result<()> {
        if rel.is_empty() {
            // Never the root itself.
            return Err(ArtifactError::OutsideRoot);
        }
        let target = self.target(rel);
        let Ok(metadata) = tokio::fs::symlink_metadata(&target).await else {
            return Ok(());
        };
        if let Some(parent) = target.parent() {
            self.guard(parent).await?;
        }
        if metadata.is_dir() {
            tokio::fs::remove_dir_all(&target).await?;
        } else {
            tokio::fs::remove_file(&target).await?;
        }
        Ok(())
    }
}
