//! Artifacts in S3-compatible object storage, through `object_store`.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use crate::{ArtifactError, ByteStream, Download, FileInfo, Result};

/// Where S3 requests go when not to AWS itself: MLflow's variable first, then the AWS SDKs'.
const ENDPOINT_VARIABLES: &[&str] = &[
    "MLFLOW_S3_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
];

/// Size of the parts of a multipart upload.
const PART_SIZE: usize = 8 << 20;

/// An S3 bucket and key prefix.
#[derive(Debug, Clone)]
pub struct ObjectRepo {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
}

/// Turns a normalised relative path into an object key. Keys keep the characters they were
/// given (as boto3 writes them for MLflow); only if `object_store` refuses the raw key is it
/// escaped.
fn key(prefix: &str, rel: &str) -> Path {
    let full = trackway_core::paths::join(prefix, rel);
    Path::parse(&full).unwrap_or_else(|_| Path::from(full.as_str()))
}

impl ObjectRepo {
    /// `bucket/prefix` (the part of an `s3://` URI after the scheme).
    pub fn s3(location: &str) -> Result<Self> {
        crate::credentials::install_crypto_provider();
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return Err(ArtifactError::Unsupported(format!("s3://{location}")));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = ENDPOINT_VARIABLES
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|e| !e.is_empty()))
        {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            builder = builder.with_region("us-east-1");
        }
        if let Some(provider) = crate::credentials::profile_provider() {
            builder = builder.with_credentials(provider);
        }
        let store = builder
            .build()
            .map_err(|e| ArtifactError::Storage(e.to_string()))?;
        Ok(ObjectRepo {
            store: Arc::new(store),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// `s3://bucket/prefix`.
    pub fn uri(&self) -> String {
        trackway_core::paths::join(&format!("s3://{}", self.bucket), &self.prefix)
    }

    /// Streams an upload; `BufWriter` switches to a multipart upload past its buffer, so memory
    /// stays bounded whatever the size.
    pub async fn put(&self, rel: &str, mut body: ByteStream) -> Result<u64> {
        // Parts of 8 MiB (S3's minimum is 5 MiB), two in flight: memory stays near 24 MiB per
        // upload whatever the file size.
        let mut writer =
            BufWriter::with_capacity(self.store.clone(), key(&self.prefix, rel), PART_SIZE)
                .with_max_concurrency(2);
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(e.into());
                }
            };
            size += chunk.len() as u64;
            if let Err(e) = writer.write_all(&chunk).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
        }
        writer.shutdown().await?;
        Ok(size)
    }

    /// Streams a download.
    pub async fn get(&self, rel: &str) -> Result<Download> {
        let result = self
            .store
            .get(&key(&self.prefix, rel))
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => ArtifactError::NotFound(rel.to_string()),
                other => other.into(),
            })?;
        let size = result.meta.size;
        Ok(Download {
            size: Some(size),
            body: result.into_stream().map_err(std::io::Error::other).boxed(),
        })
    }

    /// Lists one level under `rel`; `None` when nothing is stored under it.
    pub async fn list(&self, rel: &str) -> Result<Option<Vec<FileInfo>>> {
        let dir = trackway_core::paths::join(&self.prefix, rel);
        let dir_path = if dir.is_empty() {
            None
        } else {
            Some(key("", &dir))
        };
        let listing = self.store.list_with_delimiter(dir_path.as_ref()).await?;
        let mut out: Vec<FileInfo> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .map(|name| FileInfo {
                name,
                is_dir: true,
                file_size: None,
            })
            .chain(listing.objects.iter().filter_map(|o| {
                o.location.filename().map(|name| FileInfo {
                    name: name.to_string(),
                    is_dir: false,
                    file_size: Some(o.size),
                })
            }))
            .collect();
        if out.is_empty() {
            return Ok(None);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(out))
    }

    /// Whether an object exists at `rel`.
    pub async fn is_file(&self, rel: &str) -> Result<bool> {
        match self.store.head(&key(&self.prefix, rel)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the object at `rel` and every object under `rel/`.
    pub async fn delete(&self, rel: &str) -> Result<()> {
        if rel.is_empty() {
            // Never the whole root.
            return Err(ArtifactError::OutsideRoot);
        }
        let target = key(&self.prefix, rel);
        match self.store.delete(&target).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let under: Vec<Path> = self
            .store
            .list(Some(&target))
            .map_ok(|o| o.location)
            .try_collect()
            .await?;
        for location in under {
            match self.store.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
