//! Starting each server as a user would, on a fresh or seeded database, and reading its
//! resident memory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::{AssertSqlSafe, Connection};

use crate::Args;
use crate::workload::{Client, Sizes, seed_search};

/// How long after a spawn `/health` is polled finely (see [`ServerSpec::start`]).
const FINE_POLLING: Duration = Duration::from_millis(100);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// This project.
    Trackway,
    /// `mlflow server` 3.17.2, default workers.
    Mlflow,
    /// `fml server`.
    FastTrackMl,
}

impl Kind {
    /// Name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Trackway => "Trackway",
            Kind::Mlflow => "MLflow",
            Kind::FastTrackMl => "FastTrackML",
        }
    }
}

/// Which database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// A SQLite file.
    Sqlite,
    /// A database on the PostgreSQL server.
    Postgres,
}

impl Db {
    /// Name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Db::Sqlite => "SQLite",
            Db::Postgres => "PostgreSQL",
        }
    }
}

/// How to start one server.
pub struct ServerSpec {
    /// Which server.
    pub kind: Kind,
    /// Which database.
    pub db: Db,
    exe: PathBuf,
    dir: PathBuf,
    pg_url: String,
}

/// The seeded search database of one engine.
pub struct Seed {
    /// SQLite file or PostgreSQL database name holding the seeded data.
    pub location: String,
    /// The experiment with the seeded runs.
    pub experiment_id: String,
    /// The run whose `loss` metric has the long history.
    pub history_run: String,
}

/// A running server.
pub struct Running {
    child: Child,
    /// Base URL.
    pub url: String,
    /// Seconds from spawn to the first `200` on `/health`.
    pub start_secs: f64,
}

impl ServerSpec {
    /// The spec of one server from the command line.
    pub fn new(args: &Args, kind: Kind, db: Db, work: &Path) -> Self {
        let exe = match kind {
            Kind::Trackway => args.trackway.clone(),
            Kind::Mlflow => args.mlflow.clone(),
            Kind::FastTrackMl => args.fml.clone(),
        };
        let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
        let dir = work.join(format!("{}-{}", kind.label(), db.label()).to_lowercase());
        ServerSpec {
            kind,
            db,
            exe,
            dir,
            pg_url: args.pg_url.clone(),
        }
    }

    /// A fresh, empty database for this server.
    pub async fn fresh_database(&self, tag: &str) -> anyhow::Result<String> {
        match self.db {
            Db::Sqlite => {
                std::fs::create_dir_all(&self.dir)?;
                Ok(self.dir.join(format!("{tag}.db")).display().to_string())
            }
            Db::Postgres => create_pg_database(&self.pg_url, None).await,
        }
    }

    /// The seeded search database for this server: a copy of the shared seed (MLflow reads
    /// Trackway's database as its own), or for FastTrackML, whose schema differs and whose
    /// `fml import` only reads its own, the same data seeded through its REST API.
    pub async fn seeded_database(&self, seed: &Seed, sizes: &Sizes) -> anyhow::Result<Seed> {
        std::fs::create_dir_all(&self.dir)?;
        let location = match (self.db, self.kind) {
            (_, Kind::FastTrackMl) => {
                let location = self.fresh_database("seeded").await?;
                let mut server = self.start(&location).await?;
                let client = Client::new(&server.url);
                let (experiment_id, history_run) = seed_search(&client, sizes).await?;
                server.stop();
                return Ok(Seed {
                    location,
                    experiment_id,
                    history_run,
                });
            }
            (Db::Postgres, _) => create_pg_database(&self.pg_url, Some(&seed.location)).await?,
            (Db::Sqlite, _) => {
                let out = self
                    .dir
                    .join(format!("seeded-{}.db", self.kind.label().to_lowercase()));
                std::fs::copy(&seed.location, &out)?;
                out.display().to_string()
            }
        };
        Ok(Seed {
            location,
            experiment_id: seed.experiment_id.clone(),
            history_run: seed.history_run.clone(),
        })
    }

    fn database_uri(&self, location: &str) -> String {
        match (self.db, self.kind) {
            (Db::Sqlite, Kind::FastTrackMl) => format!("sqlite://{location}"),
            (Db::Sqlite, _) => format!("sqlite:///{location}"),
            (Db::Postgres, _) => replace_database(&self.pg_url, location),
        }
    }

    /// Starts the server on a database and waits for `/health`.
    pub async fn start(&self, location: &str) -> anyhow::Result<Running> {
        std::fs::create_dir_all(&self.dir)?;
        let port = free_port()?;
        let uri = self.database_uri(location);
        let mut command = Command::new(&self.exe);
        match self.kind {
            Kind::Trackway => {
                command.args([
                    "server",
                    "--port",
                    &port.to_string(),
                    "--backend-store-uri",
                    &uri,
                ]);
            }
            Kind::Mlflow => {
                command.args([
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--backend-store-uri",
                    &uri,
                ]);
            }
            Kind::FastTrackMl => {
                command.args([
                    "server",
                    "-a",
                    &format!("127.0.0.1:{port}"),
                    "-d",
                    &uri,
                    "-l",
                    "warn",
                ]);
            }
        }
        let log = std::fs::File::create(self.dir.join(format!("server-{port}.log")))?;
        // Made before the clock starts: building it is the harness's work, not the server's.
        let client = reqwest::Client::new();
        let started = Instant::now();
        let child = command
            .current_dir(&self.dir)
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.exe.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let mut running = Running {
            child,
            url: url.clone(),
            start_secs: 0.0,
        };
        loop {
            if started.elapsed() > crate::START_TIMEOUT {
                running.stop();
                bail!("{} did not become healthy", self.kind.label());
            }
            if let Some(status) = running.child.try_wait()? {
                bail!(
                    "{} exited with {status}; see {}",
                    self.kind.label(),
                    self.dir.display()
                );
            }
            if let Ok(r) = client.get(format!("{url}/health")).send().await
                && r.status().is_success()
            {
                break;
            }
            // A start of 10 ms measured at tokio's 1 ms timer resolution came out 10 to 12 ms
            // (2 ms between polls). Polls 0.5 ms apart for the first 0.1 s put each server's
            // figure within 0.5 ms of its first answer; the thread sleep stalls nothing, as this
            // single-threaded runtime has no other work while a server starts.
            if started.elapsed() < FINE_POLLING {
                std::thread::sleep(Duration::from_micros(500));
            } else {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        running.start_secs = started.elapsed().as_secs_f64();
        Ok(running)
    }
}

impl Running {
    /// Resident memory of the server and every process it started, in MiB.
    pub fn tree_rss_mib(&self) -> f64 {
        tree_rss_kib(self.child.id()) as f64 / 1024.0
    }

    /// Stops the server and the processes it started (MLflow runs workers): SIGTERM to each
    /// of them by pid, then SIGKILL to what is left after 30 s. Only positive pids found under
    /// the child in /proc are ever signalled.
    pub fn stop(&mut self) {
        let signal = |name: &str, pids: &[u32]| {
            if pids.is_empty() {
                return;
            }
            let mut command = Command::new("kill");
            command.args(["-s", name, "--"]);
            command.args(pids.iter().map(u32::to_string));
            let _ = command.stderr(Stdio::null()).status();
        };
        let tree = process_tree(self.child.id());
        signal("TERM", &tree);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                // Workers exit with their parent; make sure none lingers.
                std::thread::sleep(Duration::from_millis(200));
                let left: Vec<u32> = tree
                    .iter()
                    .copied()
                    .filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
                    .collect();
                signal("KILL", &left);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal("KILL", &tree);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// A process and all its descendants, from /proc (never pid 0 or 1).
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The command name may hold spaces; fields after its closing parenthesis are fixed.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree.retain(|pid| *pid > 1);
    tree
}

/// VmRSS of a process and all its descendants, in KiB.
fn tree_rss_kib(root: u32) -> u64 {
    process_tree(root)
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .sum()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The PostgreSQL databases this run created, dropped at the end unless `--keep` (a full run
/// leaves about 2 GB of them).
static CREATED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Creates a database on the PostgreSQL server, empty or as a copy of `template`.
async fn create_pg_database(admin_url: &str, template: Option<&str>) -> anyhow::Result<String> {
    let name = format!("trackway_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connect to PostgreSQL")?;
    let sql = match template {
        Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
        None => format!("CREATE DATABASE {name}"),
    };
    sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await?;
    conn.close().await.ok();
    if let Ok(mut created) = CREATED.lock() {
        created.push(name.clone());
    }
    Ok(name)
}

/// Drops the databases [`create_pg_database`] created (every server is stopped by then).
pub async fn drop_pg_databases(admin_url: &str) -> anyhow::Result<()> {
    let names = std::mem::take(&mut *CREATED.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    if names.is_empty() {
        return Ok(());
    }
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connect to PostgreSQL")?;
    for name in names {
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await?;
    }
    conn.close().await.ok();
    Ok(())
}

/// Vacuums a seeded PostgreSQL database, as autovacuum would a minute after the seeding on a
/// server with PostgreSQL's defaults. Some run with autovacuum off (this machine's did): their
/// tables keep no visibility map, so an index-only scan also reads the table for every row it
/// returns, and the planner may prefer other plans: on one such copy a 25,000-point history
/// page took 41 to 63 ms in `psql` (a bitmap scan and a sort), 9 to 12 ms once vacuumed. Every
/// server on PostgreSQL reads a copy of the same vacuumed seed.
async fn vacuum(url: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("connect to PostgreSQL")?;
    sqlx::query("VACUUM (ANALYZE)").execute(&mut conn).await?;
    conn.close().await.ok();
    Ok(())
}

/// Swaps the database name of a PostgreSQL URL.
fn replace_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    match url[scheme_end..].find('/') {
        Some(slash) => format!("{}/{name}", &url[..scheme_end + slash]),
        None => format!("{url}/{name}"),
    }
}

/// Seeds the search experiment and the long metric history once per engine, through
/// Trackway's REST API, into a database every server then reads.
pub async fn seed_search_database(
    args: &Args,
    db: Db,
    work: &Path,
    sizes: &Sizes,
) -> anyhow::Result<Seed> {
    let spec = ServerSpec::new(args, Kind::Trackway, db, &work.join("seed"));
    let location = spec.fresh_database("seed").await?;
    let mut server = spec.start(&location).await?;
    let started = Instant::now();
    let client = Client::new(&server.url);
    let (experiment_id, history_run) = seed_search(&client, sizes).await?;
    server.stop();
    if db == Db::Postgres {
        vacuum(&replace_database(&args.pg_url, &location)).await?;
    }
    println!(
        "seeded {} runs and a {}-point history on {} in {:.1} s",
        sizes.search_runs,
        sizes.history_points,
        db.label(),
        started.elapsed().as_secs_f64()
    );
    Ok(Seed {
        location,
        experiment_id,
        history_run,
    })
}
