//! The workload: the same REST requests for every server, and the figures they give.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::servers::{Running, Seed, ServerSpec};

/// How much of each step to run.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Time limit of each timed step.
    pub step: Duration,
    /// Most run lifecycles in step 1.
    pub lifecycles: usize,
    /// Most single log-metric requests in step 2.
    pub log_metrics: usize,
    /// Most 1,000-metric batches in step 3.
    pub batches: usize,
    /// Concurrent writers in step 4.
    pub writers: usize,
    /// Runs in the search experiment (step 5).
    pub search_runs: usize,
    /// Searches timed in step 5.
    pub searches: usize,
    /// Points of the long history (step 6).
    pub history_points: usize,
    /// History reads timed in step 6.
    pub history_reads: usize,
    /// Starts on a fresh database in step 7, each on a database of its own; the figure is
    /// their median.
    pub starts: usize,
}

impl Sizes {
    /// What the issue asks for.
    pub fn full() -> Self {
        Sizes {
            step: Duration::from_secs(10),
            lifecycles: 20_000,
            log_metrics: 20_000,
            batches: 2_000,
            writers: 16,
            search_runs: 20_000,
            searches: 50,
            history_points: 100_000,
            history_reads: 20,
            starts: 3,
        }
    }

    /// A few seconds in all: proves the harness works.
    pub fn small() -> Self {
        Sizes {
            step: Duration::from_millis(300),
            lifecycles: 50,
            log_metrics: 100,
            batches: 10,
            writers: 4,
            search_runs: 200,
            searches: 5,
            history_points: 2_000,
            history_reads: 3,
            starts: 1,
        }
    }
}

/// The figures of one server, by row name; `None` where the server does not support the
/// operation.
pub type Figures = Vec<(&'static str, Option<f64>)>;

/// Rows: name, unit, and whether higher is better.
const ROWS: &[(&str, &str, bool)] = &[
    ("lifecycle", "runs/s", true),
    ("log-metric", "req/s", true),
    ("log-metric p50", "ms", false),
    ("log-metric p99", "ms", false),
    ("log-batch", "metrics/s", true),
    ("concurrent log-batch", "metrics/s", true),
    ("concurrent errors", "count", false),
    ("search p50", "ms", false),
    ("search p99", "ms", false),
    ("history p50", "ms", false),
    ("bulk-interval p50", "ms", false),
    ("RSS idle", "MiB", false),
    ("RSS peak", "MiB", false),
    ("start to healthy", "s", false),
];

/// A JSON client of one server's REST API.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

/// A log-batch body of `points` metrics over `keys` keys (`m0`, `m1`, ...), all at time `t`,
/// the steps counting up from `first_step` (one step per round of keys), written straight
/// into JSON text. Building it as a `serde_json::Value` tree (a map and a formatted key per
/// point) was client time inside the timed loop; with the single-threaded runtime, Trackway's
/// log-batch figure went from 100,600-121,800 to 130,400-135,500 metrics/s here.
fn metric_batch(run: &str, t: i64, points: usize, keys: usize, first_step: usize) -> Vec<u8> {
    use std::fmt::Write;
    let mut body = String::with_capacity(64 + points * 64);
    let _ = write!(body, r#"{{"run_id":"{run}","metrics":["#);
    for i in 0..points {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(
            body,
            r#"{sep}{{"key":"m{}","value":{i},"timestamp":{t},"step":{}}}"#,
            i % keys,
            first_step + i / keys
        );
    }
    body.push_str("]}");
    body.into_bytes()
}

/// The harness's own CPU time so far (user and system, all its threads), from `/proc`, which
/// counts in units of 1/100 s on Linux. Each writing step prints its share of one core, to
/// show that the load generator is not what bounds the figure.
fn client_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after the command name (in parentheses, and it may hold spaces) start at
    // the third; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The client's CPU since `cpu0` as a share of one core over `wall` seconds.
fn client_share(cpu0: f64, wall: f64) -> f64 {
    100.0 * (client_cpu_secs() - cpu0) / wall.max(1e-9)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Client {
    /// A client of the server at `base`.
    pub fn new(base: &str) -> Self {
        Client {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap_or_default(),
            base: base.to_string(),
        }
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let answer = self.post_bytes(path, body).await?;
        Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
    }

    /// A POST whose JSON answer is read into `T`, a typed shape that skips what it does not
    /// need (see [`Client::get`]): a page of 100 searched runs is 260 kB, and building it as
    /// a `Value` tree cost the client more than the server's own JSON encoding of it.
    async fn post_as<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<T> {
        Ok(serde_json::from_slice(&self.post_bytes(path, body).await?)?)
    }

    async fn post_bytes(&self, path: &str, body: &Value) -> anyhow::Result<bytes::Bytes> {
        self.post_body(path, serde_json::to_vec(body)?).await
    }

    /// A POST of a body already encoded (see [`metric_batch`]).
    async fn post_body(&self, path: &str, body: Vec<u8>) -> anyhow::Result<bytes::Bytes> {
        let r = self
            .http
            .post(format!("{}/api/2.0/mlflow/{path}", self.base))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = r.status();
        let answer = r.bytes().await?;
        if !status.is_success() {
            bail!("POST {path}: {status} {}", String::from_utf8_lossy(&answer));
        }
        Ok(answer)
    }

    /// A GET whose JSON answer is read into `T`: a typed shape that skips what it does not
    /// need, so the client's parsing of a 6 MB history stays small next to the server's work.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<T> {
        let mut url = format!("{}/{path}?", self.base);
        for (k, v) in query {
            let v: String = form_urlencoded_value(v);
            url.push_str(&format!("{k}={v}&"));
        }
        let r = self.http.get(url).send().await?;
        let status = r.status();
        // Bytes, not text: reqwest's text decoding copied a 2 MB history page once more; the
        // client's own time per 25,000-point page fell from about 8 ms to 3.5 without it.
        let body = r.bytes().await?;
        if !status.is_success() {
            bail!("GET {path}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body)?)
    }

    async fn create_experiment(&self, name: &str) -> anyhow::Result<String> {
        let r = self
            .post("experiments/create", &json!({ "name": name }))
            .await?;
        r["experiment_id"]
            .as_str()
            .map(str::to_string)
            .context("no experiment_id")
    }

    async fn create_run(&self, experiment_id: &str) -> anyhow::Result<String> {
        let r = self
            .post(
                "runs/create",
                &json!({ "experiment_id": experiment_id, "start_time": now_ms() }),
            )
            .await?;
        r["run"]["info"]["run_id"]
            .as_str()
            .map(str::to_string)
            .context("no run_id")
    }
}

fn form_urlencoded_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A deterministic pseudo-random stream in [0, 1), so every server gets the same data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Seeds the search experiment (runs with 20 params, 20 metrics and 10 tags) and one run
/// whose `loss` has the long history; returns the experiment and that run.
pub async fn seed_search(client: &Client, sizes: &Sizes) -> anyhow::Result<(String, String)> {
    let experiment = client.create_experiment("search").await?;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let client = client.clone();
        let experiment = experiment.clone();
        let next = next.clone();
        let total = sizes.search_runs as u64;
        tasks.push(tokio::spawn(async move {
            let mut rng = Lcg(task + 1);
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let run = client.create_run(&experiment).await?;
                let params: Vec<Value> = (0..20)
                    .map(|i| json!({"key": format!("p{i}"), "value": format!("v{}", (rng.next() * 5.0) as u32)}))
                    .collect();
                let metrics: Vec<Value> = (0..20)
                    .map(|i| json!({"key": format!("m{i}"), "value": rng.next(), "timestamp": 1000, "step": 0}))
                    .collect();
                let tags: Vec<Value> = (0..10)
                    .map(|i| json!({"key": format!("t{i}"), "value": format!("tag-{}", (rng.next() * 10.0) as u32)}))
                    .collect();
                client
                    .post(
                        "runs/log-batch",
                        &json!({"run_id": run, "params": params, "metrics": metrics, "tags": tags}),
                    )
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let history_experiment = client.create_experiment("history").await?;
    let run = client.create_run(&history_experiment).await?;
    let mut rng = Lcg(99);
    for chunk in 0..sizes.history_points.div_ceil(1000) {
        let metrics: Vec<Value> = (0..1000)
            .map(|i| chunk * 1000 + i)
            .take_while(|step| *step < sizes.history_points)
            .map(|step| json!({"key": "loss", "value": rng.next(), "timestamp": 1000 + step, "step": step}))
            .collect();
        client
            .post(
                "runs/log-batch",
                &json!({"run_id": run, "metrics": metrics}),
            )
            .await?;
    }
    Ok((experiment, run))
}

fn percentile(samples: &mut [f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    Some(samples[rank.min(samples.len() - 1)])
}

/// Runs the whole workload against one server.
pub async fn run(spec: &ServerSpec, seed: &Seed, sizes: &Sizes) -> anyhow::Result<Figures> {
    let mut figures: Figures = Vec::new();

    // 7a. Starts on fresh databases (one sample moved by tens of percent between runs; the
    // median of a few does not), then idle memory of the last, which goes on to step 1.
    let mut start_secs = Vec::new();
    let mut server = loop {
        let fresh = spec
            .fresh_database(&format!("fresh-{}", start_secs.len()))
            .await?;
        let mut server = spec.start(&fresh).await?;
        start_secs.push(server.start_secs);
        if start_secs.len() >= sizes.starts {
            break server;
        }
        server.stop();
    };
    println!(
        "  starts: {} s",
        start_secs
            .iter()
            .map(|s| format!("{s:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    figures.push(("start to healthy", percentile(&mut start_secs, 50.0)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    figures.push(("RSS idle", Some(server.tree_rss_mib())));
    let client = Client::new(&server.url);
    let experiment = client.create_experiment("bench").await?;

    // 1. Run lifecycle: create, log 3 params + 5 metrics + 1 tag, end. Each request's own
    // latency is printed too, to show where a lifecycle's time goes.
    let started = Instant::now();
    let cpu0 = client_cpu_secs();
    let mut steps: [Vec<f64>; 3] = Default::default();
    while steps[2].len() < sizes.lifecycles && started.elapsed() < sizes.step {
        let t0 = Instant::now();
        let run = client.create_run(&experiment).await?;
        let t1 = Instant::now();
        let t = now_ms();
        client
            .post(
                "runs/log-batch",
                &json!({
                    "run_id": run,
                    "params": (0..3).map(|i| json!({"key": format!("p{i}"), "value": "1"})).collect::<Vec<_>>(),
                    "metrics": (0..5).map(|i| json!({"key": format!("m{i}"), "value": i, "timestamp": t, "step": 0})).collect::<Vec<_>>(),
                    "tags": [{"key": "t", "value": "v"}],
                }),
            )
            .await?;
        let t2 = Instant::now();
        client
            .post(
                "runs/update",
                &json!({"run_id": run, "status": "FINISHED", "end_time": now_ms()}),
            )
            .await?;
        for (samples, (from, to)) in
            steps
                .iter_mut()
                .zip([(t0, t1), (t1, t2), (t2, Instant::now())])
        {
            samples.push((to - from).as_secs_f64() * 1000.0);
        }
    }
    let done = steps[2].len();
    let wall = started.elapsed().as_secs_f64();
    figures.push(("lifecycle", Some(done as f64 / wall)));
    let [create, batch, update] = steps.each_mut().map(|s| percentile(s, 50.0).unwrap_or(0.0));
    println!(
        "  lifecycle: {done} runs; p50 create {create:.3} ms, log-batch {batch:.3}, update \
         {update:.3}; client CPU {:.0}% of a core",
        client_share(cpu0, wall)
    );

    // 2. Single log-metric requests from one client.
    let run = client.create_run(&experiment).await?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    let cpu0 = client_cpu_secs();
    while latencies.len() < sizes.log_metrics && started.elapsed() < sizes.step {
        let step = latencies.len();
        let t0 = Instant::now();
        client
            .post(
                "runs/log-metric",
                &json!({"run_id": run, "key": "loss", "value": 0.5, "timestamp": now_ms(), "step": step}),
            )
            .await?;
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let wall = started.elapsed().as_secs_f64();
    figures.push(("log-metric", Some(latencies.len() as f64 / wall)));
    figures.push(("log-metric p50", percentile(&mut latencies, 50.0)));
    figures.push(("log-metric p99", percentile(&mut latencies, 99.0)));
    println!(
        "  log-metric: {} requests; client CPU {:.0}% of a core",
        latencies.len(),
        client_share(cpu0, wall)
    );

    // 3. log-batch of 1,000 metrics per request.
    let run = client.create_run(&experiment).await?;
    let started = Instant::now();
    let cpu0 = client_cpu_secs();
    let mut batches = 0usize;
    while batches < sizes.batches && started.elapsed() < sizes.step {
        let body = metric_batch(&run, now_ms(), 1000, 10, batches * 100);
        client.post_body("runs/log-batch", body).await?;
        batches += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    figures.push(("log-batch", Some(batches as f64 * 1000.0 / wall)));
    println!(
        "  log-batch: {batches} batches; client CPU {:.0}% of a core",
        client_share(cpu0, wall)
    );

    // 4. Concurrent writers, each to its own run, with the memory peak sampled meanwhile.
    let (rate, errors, peak) = concurrent_writers(&client, &server, &experiment, sizes).await?;
    figures.push(("concurrent log-batch", Some(rate)));
    figures.push(("concurrent errors", Some(errors as f64)));
    figures.push(("RSS peak", Some(peak)));
    server.stop();

    // 5 and 6 on the seeded database.
    let seed = spec.seeded_database(seed, sizes).await?;
    let server = spec.start(&seed.location).await?;
    let client = Client::new(&server.url);
    let (p50, p99) = search(&client, &seed.experiment_id, sizes).await?;
    figures.push(("search p50", p50));
    figures.push(("search p99", p99));
    let (history, bulk) = history(&client, &seed.history_run, sizes).await;
    figures.push(("history p50", history));
    figures.push(("bulk-interval p50", bulk));
    drop(server);
    Ok(figures)
}

async fn concurrent_writers(
    client: &Client,
    server: &Running,
    experiment: &str,
    sizes: &Sizes,
) -> anyhow::Result<(f64, u64, f64)> {
    let mut runs = Vec::new();
    for _ in 0..sizes.writers {
        runs.push(client.create_run(experiment).await?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let cpu0 = client_cpu_secs();
    let mut tasks = Vec::new();
    for run in runs {
        let client = client.clone();
        let (stop, written, errors) = (stop.clone(), written.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut batch = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let body = metric_batch(&run, now_ms(), 200, 4, batch * 50);
                match client.post_body("runs/log-batch", body).await {
                    Ok(_) => {
                        written.fetch_add(200, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                batch += 1;
            }
        }));
    }
    let mut peak: f64 = 0.0;
    while started.elapsed() < sizes.step {
        peak = peak.max(server.tree_rss_mib());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    peak = peak.max(server.tree_rss_mib());
    let written = written.load(Ordering::Relaxed);
    println!(
        "  {} writers: {written} metrics; client CPU {:.0}% of a core",
        sizes.writers,
        client_share(cpu0, elapsed)
    );
    Ok((
        written as f64 / elapsed,
        errors.load(Ordering::Relaxed),
        peak,
    ))
}

async fn search(
    client: &Client,
    experiment: &str,
    sizes: &Sizes,
) -> anyhow::Result<(Option<f64>, Option<f64>)> {
    let body = json!({
        "experiment_ids": [experiment],
        "filter": "metrics.m1 > 0.5 and params.p1 = 'v1'",
        "order_by": ["metrics.m2 DESC"],
        "max_results": 100,
    });
    let mut samples = Vec::new();
    let started = Instant::now();
    for _ in 0..sizes.searches {
        if samples.len() >= 3 && started.elapsed() > sizes.step * 3 {
            break;
        }
        let t0 = Instant::now();
        let page: SearchPage = client.post_as("runs/search", &body).await?;
        samples.push(t0.elapsed().as_secs_f64() * 1000.0);
        if page.runs.is_empty() {
            bail!("the search found no runs");
        }
    }
    Ok((
        percentile(&mut samples, 50.0),
        percentile(&mut samples, 99.0),
    ))
}

/// A page of `runs/search`, counted but not read run by run.
#[derive(serde::Deserialize)]
struct SearchPage {
    #[serde(default)]
    runs: Vec<serde::de::IgnoredAny>,
}

/// A page of `get-history`, counted but not read point by point.
#[derive(serde::Deserialize)]
struct HistoryPage {
    #[serde(default)]
    metrics: Vec<serde::de::IgnoredAny>,
    next_page_token: Option<String>,
}

/// Full history (all pages) and the UI's sampled read; `None` for an operation the server
/// refuses.
async fn history(client: &Client, run: &str, sizes: &Sizes) -> (Option<f64>, Option<f64>) {
    let mut full = Vec::new();
    let started = Instant::now();
    for _ in 0..sizes.history_reads {
        if full.len() >= 3 && started.elapsed() > sizes.step * 3 {
            break;
        }
        let t0 = Instant::now();
        let mut token: Option<String> = None;
        let mut points = 0usize;
        loop {
            let mut query = vec![
                ("run_id", run.to_string()),
                ("metric_key", "loss".to_string()),
                ("max_results", "25000".to_string()),
            ];
            if let Some(t) = &token {
                query.push(("page_token", t.clone()));
            }
            let Ok(page) = client
                .get::<HistoryPage>("api/2.0/mlflow/metrics/get-history", &query)
                .await
            else {
                break;
            };
            points += page.metrics.len();
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        if points == sizes.history_points {
            full.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let mut bulk = Vec::new();
    let started = Instant::now();
    for _ in 0..sizes.history_reads {
        if bulk.len() >= 3 && started.elapsed() > sizes.step * 3 {
            break;
        }
        let t0 = Instant::now();
        let query = [
            ("run_ids", run.to_string()),
            ("metric_key", "loss".to_string()),
            ("max_results", "320".to_string()),
        ];
        if client
            .get::<serde::de::IgnoredAny>(
                "ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
                &query,
            )
            .await
            .is_ok()
        {
            bulk.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    (percentile(&mut full, 50.0), percentile(&mut bulk, 50.0))
}

fn value(figures: &Figures, row: &str) -> Option<f64> {
    figures
        .iter()
        .find(|(r, _)| *r == row)
        .and_then(|(_, v)| *v)
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(v) if v >= 1000.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        // Three decimals below 1: starts of 0.024 and 0.033 s had printed as 0.02 and 0.03.
        Some(v) if v >= 1.0 || v == 0.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// Trackway's advantage over a peer on one row: > 1 means Trackway is better.
fn ratio(row: &str, trackway: Option<f64>, peer: Option<f64>) -> Option<f64> {
    let higher_better = ROWS
        .iter()
        .find(|(r, _, _)| *r == row)
        .is_some_and(|(_, _, h)| *h);
    match (trackway, peer) {
        (Some(t), Some(p)) if row.ends_with("errors") => (t == p).then_some(1.0),
        (Some(t), Some(p)) if higher_better && p > 0.0 => Some(t / p),
        (Some(t), Some(p)) if !higher_better && t > 0.0 => Some(p / t),
        _ => None,
    }
}

/// The results as one text table: a column per server, then Trackway's ratio to each peer on
/// the same database.
pub fn table(results: &[(String, Figures)]) -> String {
    let mut header = vec!["".to_string(), "unit".to_string()];
    header.extend(results.iter().map(|(label, _)| label.clone()));
    let peers: Vec<(usize, usize)> = pairs(results);
    for (_, p) in &peers {
        header.push(format!("TW/{}", results[*p].0));
    }
    let mut rows = vec![header];
    for (row, unit, _) in ROWS {
        let mut line = vec![row.to_string(), unit.to_string()];
        line.extend(results.iter().map(|(_, f)| fmt(value(f, row))));
        for (t, p) in &peers {
            line.push(
                match ratio(row, value(&results[*t].1, row), value(&results[*p].1, row)) {
                    Some(r) => format!("{r:.1}x"),
                    None => "n/a".into(),
                },
            );
        }
        rows.push(line);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(c, cell)| format!("{cell:<w$}", w = widths[c]))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// (Trackway, peer) indices on the same database.
fn pairs(results: &[(String, Figures)]) -> Vec<(usize, usize)> {
    let db = |label: &str| label.split_once('(').map_or("", |(_, d)| d).to_string();
    let mut out = Vec::new();
    for (t, (tl, _)) in results.iter().enumerate() {
        if !tl.starts_with("Trackway") {
            continue;
        }
        for (p, (pl, _)) in results.iter().enumerate() {
            if !pl.starts_with("Trackway") && db(pl) == db(tl) {
                out.push((t, p));
            }
        }
    }
    out
}

/// The results as JSON: figures per server, ratios per pair.
pub fn json(results: &[(String, Figures)], machine: &str, small: bool) -> Value {
    let servers: Vec<Value> = results
        .iter()
        .map(|(label, figures)| {
            let map: serde_json::Map<String, Value> = figures
                .iter()
                .map(|(row, v)| (row.to_string(), v.map_or(Value::Null, |v| json!(v))))
                .collect();
            json!({"server": label, "figures": map})
        })
        .collect();
    let ratios: Vec<Value> = pairs(results)
        .into_iter()
        .map(|(t, p)| {
            let map: serde_json::Map<String, Value> = ROWS
                .iter()
                .map(|(row, _, _)| {
                    let r = ratio(row, value(&results[t].1, row), value(&results[p].1, row));
                    (row.to_string(), r.map_or(Value::Null, |r| json!(r)))
                })
                .collect();
            json!({"trackway": results[t].0, "peer": results[p].0, "trackway_advantage": map})
        })
        .collect();
    json!({
        "date": now_ms(),
        "machine": machine,
        "mode": if small { "small" } else { "full" },
        "units": ROWS.iter().map(|(r, u, h)| json!({"row": r, "unit": u, "higher_is_better": h})).collect::<Vec<_>>(),
        "servers": servers,
        "ratios": ratios,
    })
}
