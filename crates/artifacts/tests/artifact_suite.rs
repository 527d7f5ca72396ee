//! The artifact suite: every test is written once and runs on a local directory and on an
//! S3-compatible server (the one `TRACKWAY_TEST_S3_ENDPOINT` names, with a new bucket per test).

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use trackway_artifacts::{ArtifactError, ArtifactRepo, ByteStream, FileInfo};

struct Root {
    repo: ArtifactRepo,
    _dir: Option<tempfile::TempDir>,
}

fn local() -> Root {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo =
        ArtifactRepo::open(dir.path().join("artifacts").to_str().unwrap()).expect("local repo");
    Root {
        repo,
        _dir: Some(dir),
    }
}

/// A fresh bucket on the test S3 server; `None` when S3 is deliberately skipped.
async fn s3() -> Option<Root> {
    let endpoint = match std::env::var("TRACKWAY_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ if std::env::var("TRACKWAY_SKIP_S3").is_ok_and(|v| v == "1") => return None,
        _ => panic!(
            "TRACKWAY_TEST_S3_ENDPOINT is not set: the test command starts an S3 server and sets it \
             (with MLFLOW_S3_ENDPOINT_URL and AWS keys); set TRACKWAY_SKIP_S3=1 to skip on purpose"
        ),
    };
    let bucket = format!("trackway-test-{}", uuid::Uuid::new_v4().simple());
    let status = tokio::process::Command::new("curl")
        .args(["-sf", "-X", "PUT", &format!("{endpoint}/{bucket}")])
        .status()
        .await
        .expect("curl");
    assert!(
        status.success(),
        "cannot create bucket {bucket} on {endpoint}"
    );
    let repo = ArtifactRepo::open(&format!("s3://{bucket}/some/prefix")).expect("s3 repo");
    Some(Root { repo, _dir: None })
}

macro_rules! artifact_suite {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $name() {
                    let root = crate::local();
                    crate::$name(&root.repo).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(root) = crate::s3().await else { return };
                    crate::$name(&root.repo).await;
                }
            )*
        }
    };
}

artifact_suite!(
    round_trips_bytes,
    lists_one_level_sorted,
    overwrites,
    deletes_files_and_trees,
    missing_is_not_found,
    keeps_unusual_names,
    streams_large_files,
);

fn body(data: &[u8]) -> ByteStream {
    let chunks: Vec<std::io::Result<Bytes>> = data
        .chunks(7919)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(chunks).boxed()
}

async fn read(repo: &ArtifactRepo, path: &str) -> Vec<u8> {
    let download = repo
        .get(path)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let chunks: Vec<Bytes> = download.body.try_collect().await.expect("read");
    chunks.concat()
}

async fn round_trips_bytes(repo: &ArtifactRepo) {
    let binary: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
    assert_eq!(
        repo.put("1/run/artifacts/data.bin", body(&binary))
            .await
            .unwrap(),
        100_000
    );
    assert_eq!(read(repo, "1/run/artifacts/data.bin").await, binary);
    repo.put("empty.txt", body(b"")).await.unwrap();
    assert_eq!(read(repo, "empty.txt").await, b"");
    let download = repo.get("1/run/artifacts/data.bin").await.unwrap();
    assert_eq!(download.size, Some(100_000));
    assert!(repo.is_file("1/run/artifacts/data.bin").await.unwrap());
    assert!(!repo.is_file("1/run/artifacts").await.unwrap());
}

async fn lists_one_level_sorted(repo: &ArtifactRepo) {
    for path in ["r/b.txt", "r/a.txt", "r/dir/x.txt", "r/dir/sub/y.txt"] {
        repo.put(path, body(b"12345")).await.unwrap();
    }
    let listing = repo.list("r").await.unwrap().expect("listing");
    assert_eq!(
        listing,
        vec![
            FileInfo {
                name: "a.txt".into(),
                is_dir: false,
                file_size: Some(5)
            },
            FileInfo {
                name: "b.txt".into(),
                is_dir: false,
                file_size: Some(5)
            },
            FileInfo {
                name: "dir".into(),
                is_dir: true,
                file_size: None
            },
        ]
    );
    let nested = repo.list("r/dir").await.unwrap().unwrap();
    assert_eq!(
        nested.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["sub", "x.txt"]
    );
    assert!(repo.list("r/missing").await.unwrap().is_none());
    let root = repo.list("").await.unwrap().unwrap();
    assert_eq!(
        root,
        vec![FileInfo {
            name: "r".into(),
            is_dir: true,
            file_size: None
        }]
    );
}

async fn overwrites(repo: &ArtifactRepo) {
    repo.put("f.txt", body(b"first version")).await.unwrap();
    repo.put("f.txt", body(b"second")).await.unwrap();
    assert_eq!(read(repo, "f.txt").await, b"second");
    assert_eq!(
        repo.list("").await.unwrap().unwrap().len(),
        1,
        "no temporary files left behind"
    );
}

async fn deletes_files_and_trees(repo: &ArtifactRepo) {
    for path in ["d/keep.txt", "d/tree/a.txt", "d/tree/deeper/b.txt"] {
        repo.put(path, body(b"x")).await.unwrap();
    }
    repo.delete("d/tree").await.unwrap();
    assert!(repo.list("d/tree").await.unwrap().is_none());
    repo.delete("d/keep.txt").await.unwrap();
    assert!(!repo.is_file("d/keep.txt").await.unwrap());
    repo.delete("d/never-existed").await.unwrap();
    assert!(matches!(
        repo.delete("").await,
        Err(ArtifactError::OutsideRoot)
    ));
}

async fn missing_is_not_found(repo: &ArtifactRepo) {
    match repo.get("no/such/file.txt").await {
        Err(ArtifactError::NotFound(path)) => assert_eq!(path, "no/such/file.txt"),
        Err(other) => panic!("expected NotFound, got {other}"),
        Ok(_) => panic!("expected NotFound, got a file"),
    }
}

async fn keeps_unusual_names(repo: &ArtifactRepo) {
    let names = [
        "model{1}.pkl",
        "caret^name",
        "sp ace.txt",
        "ünïcødé.txt",
        "x=y&z.csv",
    ];
    for name in names {
        repo.put(&format!("u/{name}"), body(name.as_bytes()))
            .await
            .unwrap();
    }
    let listed: Vec<String> = repo
        .list("u")
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    for name in names {
        assert_eq!(read(repo, &format!("u/{name}")).await, name.as_bytes());
    }
}

async fn streams_large_files(repo: &ArtifactRepo) {
    // 24 MiB in 1 MiB chunks: past the size at which S3 uploads become multipart.
    let chunk = Bytes::from(vec![7u8; 1 << 20]);
    let chunks = (0..24).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    assert_eq!(
        repo.put("big.bin", stream::iter(chunks).boxed())
            .await
            .unwrap(),
        24 << 20
    );
    let mut download = repo.get("big.bin").await.unwrap();
    let mut total = 0usize;
    while let Some(part) = download.body.next().await {
        let part = part.unwrap();
        assert!(part.iter().all(|b| *b == 7));
        total += part.len();
    }
    assert_eq!(total, 24 << 20);
}

#[cfg(unix)]
mod symlinks {
    use super::*;

    #[tokio::test]
    async fn links_out_of_a_local_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
        let root = crate::local();
        let ArtifactRepo::Local(local) = &root.repo else {
            unreachable!()
        };
        std::fs::create_dir_all(local.root().join("run")).unwrap();
        std::os::unix::fs::symlink(outside.path(), local.root().join("run/escape")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            local.root().join("run/file-link"),
        )
        .unwrap();

        assert!(matches!(
            root.repo.get("run/escape/secret.txt").await,
            Err(ArtifactError::OutsideRoot)
        ));
        assert!(matches!(
            root.repo.get("run/file-link").await,
            Err(ArtifactError::OutsideRoot)
        ));
        assert!(root.repo.list("run/escape").await.is_err());
        assert!(
            root.repo
                .put("run/escape/planted.txt", body(b"x"))
                .await
                .is_err()
        );
        assert!(!outside.path().join("planted.txt").exists());
        let listing = root.repo.list("run").await.unwrap().unwrap();
        assert!(
            listing.is_empty(),
            "links out of the root are not listed: {listing:?}"
        );
        // Deleting the link removes the link, never the target.
        root.repo.delete("run/escape").await.unwrap();
        assert!(outside.path().join("secret.txt").exists());
    }

    #[tokio::test]
    async fn links_within_the_root_work() {
        let root = crate::local();
        let ArtifactRepo::Local(local) = &root.repo else {
            unreachable!()
        };
        root.repo
            .put("real/file.txt", body(b"inside"))
            .await
            .unwrap();
        std::os::unix::fs::symlink(local.root().join("real"), local.root().join("alias")).unwrap();
        assert_eq!(read(&root.repo, "alias/file.txt").await, b"inside");
    }
}
