//! The store suite: every test is written once and runs on SQLite and on PostgreSQL.

mod common;

use std::collections::HashMap;

use common::TestDb;
use trackway_core::ErrorCode;
use trackway_core::entities::{Dataset, KeyValue, LifecycleStage, RunStatus, ViewType};
use trackway_core::search::encode_page_token;
use trackway_store::{DatasetInputSpec, MetricSpec, SchemaState, Store};
use trackway_store::{NewModelVersion, NewRun};

/// Expands each listed test once per backend.
macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::common::sqlite().await;
                    crate::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = crate::common::postgres().await else { return };
                    crate::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

store_suite!(
    schema_is_created_then_reused,
    experiments_lifecycle,
    experiment_tags,
    run_creation_rules,
    run_update_and_lifecycle,
    params_are_immutable,
    metrics_special_values_and_latest,
    batch_values_are_stored_exactly,
    a_batch_sent_again_stores_each_point_once,
    large_batch_in_any_order_is_stored_whole,
    batch_is_atomic_and_bounded,
    batch_to_a_deleted_or_missing_run_writes_nothing,
    batch_at_mlflow_maxima,
    run_tags,
    search_runs_filters,
    search_runs_order_and_paging,
    search_by_one_metric_pages_as_a_full_sort,
    search_by_attributes_pages_as_a_full_sort,
    search_experiments,
    metric_history_paging_and_sampling,
    metric_history_pages_start_after_their_last_point,
    dataset_inputs,
    concurrent_writers_lose_nothing,
    concurrent_failures_change_nothing,
    registry_models_and_versions,
    registry_stages_and_archiving,
    registry_aliases,
    registry_search,
    registry_version_numbers_are_unique_across_servers,
);

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue::new(k, v)
}

fn metric(key: &str, value: f64, timestamp: i64, step: i64) -> MetricSpec {
    MetricSpec::new(key, value, timestamp, step)
}

async fn new_run(store: &Store, experiment_id: &str) -> String {
    store
        .create_run(NewRun {
            experiment_id,
            user_id: "u",
            start_time: Some(1000),
            ..Default::default()
        })
        .await
        .expect("create run")
        .info
        .run_id
}

async fn schema_is_created_then_reused(db: &TestDb) {
    assert_eq!(db.store.schema_state(), SchemaState::Created);
    let default = db.store.get_experiment("0").await.unwrap();
    assert_eq!(default.name, "Default");
    assert_eq!(default.artifact_location, "mlflow-artifacts:/0");
    let again = Store::open(&db.uri, common::ARTIFACT_ROOT).await.unwrap();
    assert_eq!(again.schema_state(), SchemaState::Current);
    again.close().await;
}

/// A PostgreSQL schema creation cut short (its marker table still there) is cleared and done
/// again at the next start; tables without the marker are someone else's and are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_creation_cut_short_is_redone() {
    use sqlx::Connection;
    let Some((uri, pg_drop)) = common::empty_postgres().await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect(&uri).await.unwrap();
    // What a start that died after its first share leaves: the marker, the trigger's function,
    // a table with its sequence, and no `alembic_version`.
    sqlx::raw_sql(
        "CREATE TABLE trackway_unfinished_schema (started BIGINT); \
         CREATE FUNCTION prevent_secrets_aad_mutation() RETURNS trigger LANGUAGE plpgsql \
         AS $$ BEGIN RETURN NEW; END; $$; \
         CREATE TABLE experiments (experiment_id integer NOT NULL); \
         CREATE SEQUENCE experiments_experiment_id_seq OWNED BY experiments.experiment_id",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let store = Store::open(&uri, common::ARTIFACT_ROOT).await.unwrap();
    assert_eq!(store.schema_state(), SchemaState::Created);
    assert_eq!(store.get_experiment("0").await.unwrap().name, "Default");
    let id = store.create_experiment("after", None, &[]).await.unwrap();
    assert_eq!(id, "1");
    store.close().await;
    let left: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name LIKE 'trackway%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(left, []);
    let again = Store::open(&uri, common::ARTIFACT_ROOT).await.unwrap();
    assert_eq!(again.schema_state(), SchemaState::Current);
    assert_eq!(again.get_experiment(&id).await.unwrap().name, "after");
    again.close().await;
    conn.close().await.unwrap();
    common::drop_postgres(pg_drop).await;

    let Some((uri, pg_drop)) = common::empty_postgres().await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect(&uri).await.unwrap();
    sqlx::raw_sql("CREATE TABLE experiments (experiment_id integer NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    let refused = Store::open(&uri, common::ARTIFACT_ROOT)
        .await
        .err()
        .unwrap();
    assert!(refused.to_string().contains("(experiments)"), "{refused}");
    conn.close().await.unwrap();
    common::drop_postgres(pg_drop).await;
}

/// A new SQLite file is written from the build's template, a file that exists (even empty) gets
/// the schema script at run time; both must hold the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_template_is_what_the_schema_script_makes() {
    let dir = tempfile::tempdir().unwrap();
    let templated = dir.path().join("templated.db");
    assert!(trackway_store::schema::create_sqlite_from_template(&templated).unwrap());
    // Never over a file that is there.
    assert!(!trackway_store::schema::create_sqlite_from_template(&templated).unwrap());
    let scripted = dir.path().join("scripted.db");
    std::fs::File::create(&scripted).unwrap();
    for (path, made) in [
        (&templated, SchemaState::Current),
        (&scripted, SchemaState::Created),
    ] {
        let store = Store::open(
            &format!("sqlite:///{}", path.display()),
            common::ARTIFACT_ROOT,
        )
        .await
        .unwrap();
        assert_eq!(store.schema_state(), made, "{}", path.display());
        assert_eq!(store.get_experiment("0").await.unwrap().name, "Default");
        store.close().await;
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".trackway-new-"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());

    let describe = |path: &std::path::Path| {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut lines: Vec<String> = conn
            .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap()
            .query_map([], |row| {
                let sql: Option<String> = row.get(3)?;
                Ok(format!(
                    "{} {} {} {sql:?}",
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for pragma in [
            "page_size",
            "auto_vacuum",
            "encoding",
            "journal_mode",
            "user_version",
        ] {
            let value: rusqlite::types::Value = conn
                .query_row(&format!("PRAGMA {pragma}"), [], |row| row.get(0))
                .unwrap();
            lines.push(format!("{pragma} = {value:?}"));
        }
        for table in ["alembic_version", "workspaces"] {
            let rows: Vec<String> = conn
                .prepare(&format!("SELECT * FROM {table}"))
                .unwrap()
                .query_map([], |row| {
                    Ok(format!("{:?}", row.get::<_, rusqlite::types::Value>(0)?))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            lines.push(format!("{table}: {rows:?}"));
        }
        lines
    };
    let from_template = describe(&templated);
    assert!(from_template.len() > 200, "{from_template:#?}");
    assert!(from_template.contains(&"journal_mode = Text(\"wal\")".to_string()));
    assert_eq!(from_template, describe(&scripted));
}

async fn experiments_lifecycle(db: &TestDb) {
    let s = &db.store;
    let id = s
        .create_experiment("exp-a", None, &[kv("owner", "ci")])
        .await
        .unwrap();
    let e = s.get_experiment(&id).await.unwrap();
    assert_eq!(e.name, "exp-a");
    assert_eq!(e.artifact_location, format!("mlflow-artifacts:/{id}"));
    assert_eq!(e.tags, vec![kv("owner", "ci")]);
    assert_eq!(e.lifecycle_stage, LifecycleStage::Active);
    assert!(e.creation_time.is_some());

    let err = s.create_experiment("exp-a", None, &[]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceAlreadyExists);
    assert_eq!(
        s.create_experiment("", None, &[]).await.unwrap_err().code,
        ErrorCode::InvalidParameterValue
    );
    let custom = s
        .create_experiment("exp-b", Some("s3://bucket/x"), &[])
        .await
        .unwrap();
    assert_eq!(
        s.get_experiment(&custom).await.unwrap().artifact_location,
        "s3://bucket/x"
    );

    let by_name = s.get_experiment_by_name("exp-a").await.unwrap().unwrap();
    assert_eq!(by_name.experiment_id, id);
    assert!(s.get_experiment_by_name("nope").await.unwrap().is_none());
    assert_eq!(
        s.get_experiment("999999").await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
    assert_eq!(
        s.get_experiment("abc").await.unwrap_err().code,
        ErrorCode::InvalidParameterValue
    );

    let run = new_run(s, &id).await;
    s.delete_experiment(&id).await.unwrap();
    assert_eq!(
        s.get_experiment(&id).await.unwrap().lifecycle_stage,
        LifecycleStage::Deleted
    );
    assert_eq!(
        s.get_run(&run).await.unwrap().info.lifecycle_stage,
        LifecycleStage::Deleted
    );
    assert_eq!(
        s.rename_experiment(&id, "x").await.unwrap_err().code,
        ErrorCode::InvalidState
    );
    // A deleted experiment keeps its name reserved and refuses new runs.
    assert_eq!(
        s.create_experiment("exp-a", None, &[])
            .await
            .unwrap_err()
            .code,
        ErrorCode::ResourceAlreadyExists
    );
    let err = s
        .create_run(NewRun {
            experiment_id: &id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    assert_eq!(
        s.delete_experiment(&id).await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );

    s.restore_experiment(&id).await.unwrap();
    assert_eq!(
        s.get_run(&run).await.unwrap().info.lifecycle_stage,
        LifecycleStage::Active
    );
    s.rename_experiment(&id, "exp-a2").await.unwrap();
    assert_eq!(s.get_experiment(&id).await.unwrap().name, "exp-a2");
    assert_eq!(
        s.rename_experiment(&id, "exp-b").await.unwrap_err().code,
        ErrorCode::ResourceAlreadyExists
    );
}

async fn experiment_tags(db: &TestDb) {
    let s = &db.store;
    let id = s.create_experiment("tags", None, &[]).await.unwrap();
    s.set_experiment_tag(&id, "k", "v1").await.unwrap();
    s.set_experiment_tag(&id, "k", "v2").await.unwrap();
    assert_eq!(
        s.get_experiment(&id).await.unwrap().tags,
        vec![kv("k", "v2")]
    );
    s.delete_experiment_tag(&id, "k").await.unwrap();
    assert!(s.get_experiment(&id).await.unwrap().tags.is_empty());
    assert_eq!(
        s.delete_experiment_tag(&id, "k").await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
    let long = "v".repeat(20001);
    assert_eq!(
        s.set_experiment_tag(&id, "k", &long)
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidParameterValue
    );
}

async fn run_creation_rules(db: &TestDb) {
    let s = &db.store;
    let id = s.create_experiment("runs", None, &[]).await.unwrap();
    let run = s
        .create_run(NewRun {
            experiment_id: &id,
            user_id: "alice",
            start_time: Some(42),
            tags: &[kv("mlflow.runName", "from-tag"), kv("team", "a")],
            run_name: None,
        })
        .await
        .unwrap();
    assert_eq!(run.info.run_name, "from-tag");
    assert_eq!(run.info.run_id.len(), 32);
    assert_eq!(
        run.info.artifact_uri,
        format!("mlflow-artifacts:/{id}/{}/artifacts", run.info.run_id)
    );
    assert_eq!(run.info.status, RunStatus::Running);
    let got = s.get_run(&run.info.run_id).await.unwrap();
    assert_eq!(got.info, run.info);
    assert_eq!(got.data.tags, run.data.tags);

    let generated = s
        .create_run(NewRun {
            experiment_id: &id,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!generated.info.run_name.is_empty() && generated.info.run_name.len() <= 20);
    assert_eq!(generated.info.start_time, Some(0));
    assert!(
        generated
            .data
            .tags
            .iter()
            .any(|t| t.key == "mlflow.runName" && t.value == generated.info.run_name)
    );

    let err = s
        .create_run(NewRun {
            experiment_id: &id,
            tags: &[kv("mlflow.runName", "a")],
            run_name: Some("b"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    let err = s
        .create_run(NewRun {
            experiment_id: "424242",
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceDoesNotExist);
    // The experiment is checked before the request's own fields, as in MLflow.
    let err = s
        .create_run(NewRun {
            experiment_id: "424242",
            tags: &[kv("mlflow.runName", "a")],
            run_name: Some("b"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceDoesNotExist);
    assert_eq!(err.message, "No Experiment with id=424242 exists");
    let err = s
        .create_run(NewRun {
            experiment_id: "x1",
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    let gone = s
        .create_experiment("runs-deleted", None, &[])
        .await
        .unwrap();
    s.delete_experiment(&gone).await.unwrap();
    let err = s
        .create_run(NewRun {
            experiment_id: &gone,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    assert_eq!(
        err.message,
        format!("The experiment {gone} must be in the 'active' state. Current state is deleted.")
    );
    s.restore_experiment(&gone).await.unwrap();
    let restored = s
        .create_run(NewRun {
            experiment_id: &gone,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(restored.info.experiment_id, gone);
    // An empty experiment id means the Default experiment.
    let default_run = s.create_run(NewRun::default()).await.unwrap();
    assert_eq!(default_run.info.experiment_id, "0");
    assert_eq!(
        s.get_run(&"0".repeat(32)).await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
}

async fn run_update_and_lifecycle(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    let info = s
        .update_run(&run, Some(RunStatus::Finished), Some(5000), None)
        .await
        .unwrap();
    assert_eq!(info.status, RunStatus::Finished);
    assert_eq!(info.end_time, Some(5000));
    let info = s
        .update_run(&run, None, None, Some("renamed"))
        .await
        .unwrap();
    assert_eq!(info.run_name, "renamed");
    assert_eq!(info.status, RunStatus::Finished);
    let tags = s.get_run(&run).await.unwrap().data.tags;
    assert!(tags.contains(&kv("mlflow.runName", "renamed")));

    s.delete_run(&run).await.unwrap();
    assert_eq!(
        s.get_run(&run).await.unwrap().info.lifecycle_stage,
        LifecycleStage::Deleted
    );
    let err = s.log_param(&run, "p", "1").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    assert!(
        err.message.contains("must be in the 'active' state"),
        "{}",
        err.message
    );
    assert_eq!(
        s.update_run(&run, Some(RunStatus::Failed), None, None)
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidParameterValue
    );
    s.restore_run(&run).await.unwrap();
    s.log_param(&run, "p", "1").await.unwrap();
    assert_eq!(
        s.delete_run(&"f".repeat(32)).await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
}

async fn params_are_immutable(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    s.log_param(&run, "lr", "0.1").await.unwrap();
    s.log_param(&run, "lr", "0.1").await.unwrap();
    let err = s.log_param(&run, "lr", "0.2").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    assert!(
        err.message
            .starts_with("Changing param values is not allowed"),
        "{}",
        err.message
    );
    assert_eq!(
        s.get_run(&run).await.unwrap().data.params,
        vec![kv("lr", "0.1")]
    );
    // Over-long values are truncated to MLflow's limit, over-long keys refused.
    s.log_param(&run, "long", &"x".repeat(7000)).await.unwrap();
    let params = s.get_run(&run).await.unwrap().data.params;
    assert_eq!(
        params.iter().find(|p| p.key == "long").unwrap().value.len(),
        6000
    );
    assert_eq!(
        s.log_param(&run, &"k".repeat(251), "v")
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        s.log_param(&run, "../x", "v").await.unwrap_err().code,
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        s.log_param(&"a".repeat(32), "k", "v")
            .await
            .unwrap_err()
            .code,
        ErrorCode::ResourceDoesNotExist
    );
}

async fn metrics_special_values_and_latest(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    s.log_metric(&run, &metric("nan", f64::NAN, 1, 0))
        .await
        .unwrap();
    s.log_metric(&run, &metric("inf", f64::INFINITY, 1, 0))
        .await
        .unwrap();
    s.log_metric(&run, &metric("ninf", f64::NEG_INFINITY, 1, 0))
        .await
        .unwrap();
    for (step, value) in [(0, 1.0), (2, 3.0), (1, 2.0)] {
        s.log_metric(&run, &metric("loss", value, 10, step))
            .await
            .unwrap();
    }
    // Same point twice is stored once.
    s.log_metric(&run, &metric("loss", 3.0, 10, 2))
        .await
        .unwrap();
    let data = s.get_run(&run).await.unwrap().data;
    let m: HashMap<_, _> = data.metrics.iter().map(|m| (m.key.as_str(), m)).collect();
    assert!(m["nan"].value.is_nan());
    assert!(m["inf"].value >= 1.7e308);
    assert!(m["ninf"].value <= -1.7e308);
    assert_eq!((m["loss"].value, m["loss"].step), (3.0, 2));
    let history = s
        .get_metric_history(&run, "loss", None, None)
        .await
        .unwrap();
    assert_eq!(history.points.len(), 3);
    assert!(history.next_page_token.is_none());
    let nan_history = s.get_metric_history(&run, "nan", None, None).await.unwrap();
    assert!(nan_history.points[0].value.is_nan());
    // A later step wins over a later timestamp.
    s.log_metric(&run, &metric("loss", -1.0, 5, 3))
        .await
        .unwrap();
    let loss = s
        .get_run(&run)
        .await
        .unwrap()
        .data
        .metrics
        .into_iter()
        .find(|m| m.key == "loss")
        .unwrap();
    assert_eq!((loss.value, loss.step), (-1.0, 3));
    let err = s
        .log_metric(&run, &metric("x", 1.0, -1, 0))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
}

/// Asserts that `key`'s history in `run` holds exactly the batch's distinct points of that key
/// (step, timestamp and value, the value compared as `bits` makes it), and returns how many.
async fn assert_history_holds_batch(
    s: &Store,
    run: &str,
    batch: &[MetricSpec],
    key: &str,
    bits: impl Fn(f64) -> u64,
) -> usize {
    let history = s.get_metric_history(run, key, None, None).await.unwrap();
    let mut got: Vec<(i64, i64, u64)> = history
        .points
        .iter()
        .map(|p| (p.step, p.timestamp, bits(p.value)))
        .collect();
    let mut sent: Vec<(i64, i64, u64)> = batch
        .iter()
        .filter(|m| m.key == key)
        .map(|m| (m.step, m.timestamp, bits(m.value)))
        .collect();
    got.sort_unstable();
    sent.sort_unstable();
    sent.dedup();
    assert_eq!(got, sent, "{key}");
    sent.len()
}

/// A batch sent again (a client retrying) with new points, a new param and a changed tag: the
/// points it repeats are stored once, the rest is written; with a changed param it is refused
/// whole.
async fn a_batch_sent_again_stores_each_point_once(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    let first: Vec<MetricSpec> = (0..10)
        .map(|i| metric("loss", i as f64, 100 + i, i))
        .collect();
    s.log_batch(&run, &first, &[kv("lr", "0.1")], &[kv("t", "v")])
        .await
        .unwrap();
    let mut again = first.clone();
    again.extend((10..15).map(|i| metric("loss", i as f64, 100 + i, i)));
    s.log_batch(&run, &again, &[kv("epochs", "3")], &[kv("t", "v2")])
        .await
        .unwrap();
    let steps = || async {
        let points = all_pages(s, &run, "loss", 100, None).await;
        points
            .into_iter()
            .map(|(_, step, _)| step)
            .collect::<Vec<_>>()
    };
    assert_eq!(steps().await, (0..15).collect::<Vec<_>>());
    let data = s.get_run(&run).await.unwrap().data;
    assert_eq!(data.tags.iter().find(|t| t.key == "t").unwrap().value, "v2");
    assert_eq!(data.params.len(), 2);

    let refused = s
        .log_batch(
            &run,
            &[first[0].clone(), metric("loss", 99.0, 999, 99)],
            &[kv("lr", "0.2")],
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused.code,
        ErrorCode::InvalidParameterValue,
        "{}",
        refused.message
    );
    assert_eq!(steps().await, (0..15).collect::<Vec<_>>());
}

/// A batch's points read back bit for bit: thirds, subnormals, the extremes of `f64` and of
/// the step, non-ASCII keys, and a point repeated within the batch (stored once).
async fn batch_values_are_stored_exactly(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    let values = [
        0.1,
        1.0 / 3.0,
        -0.0,
        1e-300,
        f64::from_bits(1), // the smallest subnormal
        f64::EPSILON,
        f64::MAX,
        -f64::MAX,
        123_456_789.123_456_79,
        -2.5e-7,
    ];
    let steps = [i64::MIN, -1, 0, 1, 2, 3, 4, 5, i64::MAX, 6];
    let keys = ["plain", "ünï/cødé", "a space: colon.dot-dash_x"];
    let mut batch = Vec::new();
    for (i, (value, step)) in values.iter().zip(steps).enumerate() {
        for key in keys {
            batch.push(metric(key, *value, 1_700_000_000_000 + i as i64, step));
        }
    }
    batch.push(batch[0].clone());
    s.log_batch(&run, &batch, &[], &[]).await.unwrap();
    // SQLite stores a zero without its sign, as it does for MLflow.
    let bits = |v: f64| if v == 0.0 { 0 } else { v.to_bits() };
    for key in keys {
        assert_history_holds_batch(s, &run, &batch, key, bits).await;
    }
    let latest = s.get_run(&run).await.unwrap().data.metrics;
    assert_eq!(latest.len(), keys.len());
    for m in latest {
        assert_eq!(
            (m.step, m.value.to_bits()),
            (i64::MAX, values[8].to_bits()),
            "{}",
            m.key
        );
    }
}

/// A batch larger than one multi-row statement (SQLite inserts points in key order, in
/// statements of 100 rows, then the rest one by one): points sent out of order, NaN and
/// infinities, and points repeated far apart in the batch all read back as sent, once each.
async fn large_batch_in_any_order_is_stored_whole(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    let keys = ["z", "a", "m"];
    let special = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    let mut batch: Vec<MetricSpec> = (0..351i64)
        .map(|i| {
            let step = (i * 7919) % 351; // every step once, out of order
            let value = if i % 50 == 0 {
                special[(i / 50) as usize % 3]
            } else {
                step as f64 / 4.0
            };
            metric(
                keys[(i % 3) as usize],
                value,
                1_700_000_000_000 + i % 5,
                step,
            )
        })
        .collect();
    batch.extend([batch[3].clone(), batch[250].clone(), batch[0].clone()]);
    s.log_batch(&run, &batch, &[], &[]).await.unwrap();
    // NaN reads back as NaN, infinities as MLflow stores them.
    let stored_bits = |v: f64| {
        if v.is_nan() {
            u64::MAX
        } else if v.is_infinite() {
            (v.signum() * f64::MAX).to_bits()
        } else {
            v.to_bits()
        }
    };
    for key in keys {
        let points = assert_history_holds_batch(s, &run, &batch, key, stored_bits).await;
        assert_eq!(points, 117, "{key}");
    }
}

async fn batch_is_atomic_and_bounded(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    s.log_batch(&run, &[], &[kv("p", "1")], &[]).await.unwrap();
    let err = s
        .log_batch(
            &run,
            &[metric("m", 1.0, 1, 0)],
            &[kv("p", "2"), kv("q", "1")],
            &[kv("t", "x")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    assert!(
        err.message.contains("'old_value': '1', 'new_value': '2'"),
        "{}",
        err.message
    );
    let run_data = s.get_run(&run).await.unwrap().data;
    assert!(
        run_data.metrics.is_empty(),
        "a refused batch stores nothing"
    );
    assert_eq!(run_data.params, vec![kv("p", "1")]);
    assert!(!run_data.tags.iter().any(|t| t.key == "t"));
    // A param logged again with its value is no conflict: the rest of the batch is stored.
    s.log_batch(
        &run,
        &[metric("m", 1.0, 1, 0)],
        &[kv("p", "1"), kv("q", "1")],
        &[kv("t", "x")],
    )
    .await
    .unwrap();
    let run_data = s.get_run(&run).await.unwrap().data;
    assert_eq!(run_data.metrics.len(), 1);
    let mut params = run_data.params;
    params.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(params, vec![kv("p", "1"), kv("q", "1")]);
    assert!(run_data.tags.contains(&kv("t", "x")));

    let too_many: Vec<MetricSpec> = (0..1001).map(|i| metric("m", i as f64, 1, i)).collect();
    let err = s.log_batch(&run, &too_many, &[], &[]).await.unwrap_err();
    assert!(
        err.message.contains("at most 1000 metrics"),
        "{}",
        err.message
    );
    let params: Vec<KeyValue> = (0..101).map(|i| kv(&format!("p{i}"), "v")).collect();
    assert!(s.log_batch(&run, &[], &params, &[]).await.is_err());
    let err = s
        .log_batch(&run, &[], &[kv("a", "1"), kv("a", "1")], &[])
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("Duplicate parameter keys"),
        "{}",
        err.message
    );

    s.log_batch(
        &run,
        &[metric("m", f64::NAN, 1, 0), metric("m", 2.0, 1, 1)],
        &[kv("p", "1")],
        &[kv("mlflow.runName", "batch-named"), kv("t", "x")],
    )
    .await
    .unwrap();
    let got = s.get_run(&run).await.unwrap();
    assert_eq!(got.info.run_name, "batch-named");
    assert_eq!(got.data.metrics[0].value, 2.0);
}

/// A batch or a point to a deleted run is refused and stores nothing, nor does one to a
/// missing run; a tag key given twice in a batch keeps its last value.
async fn batch_to_a_deleted_or_missing_run_writes_nothing(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    s.delete_run(&run).await.unwrap();
    let batch = (
        [metric("m", 1.0, 1, 0), metric("m", 2.0, 2, 1)],
        [kv("p", "1")],
        [kv("t", "x"), kv("t", "y")],
    );
    let err = s
        .log_batch(&run, &batch.0, &batch.1, &batch.2)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    assert!(
        err.message.contains("must be in the 'active' state"),
        "{}",
        err.message
    );
    // Without params (on PostgreSQL a statement that commits by itself) and a single point.
    let err = s
        .log_batch(&run, &batch.0, &[], &batch.2)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    let err = s.log_metric(&run, &batch.0[0]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    s.restore_run(&run).await.unwrap();
    let data = s.get_run(&run).await.unwrap().data;
    assert!(data.metrics.is_empty() && data.params.is_empty());
    assert!(!data.tags.iter().any(|t| t.key == "t"), "{:?}", data.tags);
    let history = s.get_metric_history(&run, "m", None, None).await.unwrap();
    assert!(history.points.is_empty());

    let missing = "f".repeat(32);
    let err = s
        .log_batch(&missing, &batch.0, &batch.1, &batch.2)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceDoesNotExist);
    let err = s.log_metric(&missing, &batch.0[0]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceDoesNotExist);

    s.log_batch(&run, &batch.0, &batch.1, &batch.2)
        .await
        .unwrap();
    let data = s.get_run(&run).await.unwrap().data;
    assert_eq!(data.params, vec![kv("p", "1")]);
    assert_eq!((data.metrics[0].value, data.metrics[0].step), (2.0, 1));
    let t: Vec<_> = data.tags.iter().filter(|t| t.key == "t").collect();
    assert_eq!(t, vec![&kv("t", "y")]);
}

async fn batch_at_mlflow_maxima(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    let metrics: Vec<MetricSpec> = (0..1000)
        .map(|i| metric(&format!("m{}", i % 250), i as f64, 1, i))
        .collect();
    s.log_batch(&run, &metrics, &[], &[]).await.unwrap();
    let params: Vec<KeyValue> = (0..100)
        .map(|i| kv(&format!("p{i}"), &"v".repeat(6000)))
        .collect();
    let tags: Vec<KeyValue> = (0..100)
        .map(|i| kv(&format!("t{i}"), &"v".repeat(8000)))
        .collect();
    s.log_batch(&run, &metrics[..800], &params, &tags)
        .await
        .unwrap();
    let data = s.get_run(&run).await.unwrap().data;
    assert_eq!(data.metrics.len(), 250);
    assert_eq!(data.params.len(), 100);
    assert!(data.tags.len() >= 100);
    let history = s.get_metric_history(&run, "m7", None, None).await.unwrap();
    assert_eq!(history.points.len(), 4);
}

async fn run_tags(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    s.set_tag(&run, "t", "1").await.unwrap();
    s.set_tag(&run, "t", "2").await.unwrap();
    s.set_tag(&run, "mlflow.runName", "named").await.unwrap();
    let got = s.get_run(&run).await.unwrap();
    assert!(got.data.tags.contains(&kv("t", "2")));
    assert_eq!(got.info.run_name, "named");
    s.delete_tag(&run, "t").await.unwrap();
    assert_eq!(
        s.delete_tag(&run, "t").await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
    s.set_tag(&run, "long", &"x".repeat(9000)).await.unwrap();
    let got = s.get_run(&run).await.unwrap();
    assert_eq!(
        got.data
            .tags
            .iter()
            .find(|t| t.key == "long")
            .unwrap()
            .value
            .len(),
        8000
    );
}

/// Twelve runs like the acceptance scenario: score = i, parity tag, lr param.
async fn seed_search(s: &Store) -> (String, Vec<String>) {
    let exp = s.create_experiment("search", None, &[]).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..12 {
        let run = s
            .create_run(NewRun {
                experiment_id: &exp,
                start_time: Some(1000 + i),
                tags: &[kv("parity", if i % 2 == 0 { "even" } else { "odd" })],
                run_name: Some(&format!("run-{i}")),
                ..Default::default()
            })
            .await
            .unwrap();
        let id = run.info.run_id;
        s.log_param(&id, "lr", ["0.0", "0.1", "0.2"][i as usize % 3])
            .await
            .unwrap();
        s.log_metric(&id, &metric("score", i as f64, 1, 0))
            .await
            .unwrap();
        let status = if i < 10 {
            RunStatus::Finished
        } else {
            RunStatus::Failed
        };
        s.update_run(&id, Some(status), Some(2000), None)
            .await
            .unwrap();
        ids.push(id);
    }
    (exp, ids)
}

async fn search_runs_filters(db: &TestDb) {
    let s = &db.store;
    let (exp, ids) = seed_search(s).await;
    let exps = [exp.clone()];
    let count = |filter: &'static str| {
        let exps = exps.clone();
        async move {
            s.search_runs(&exps, filter, ViewType::ActiveOnly, 1000, &[], None)
                .await
                .unwrap_or_else(|e| panic!("{filter}: {e}"))
                .items
                .len()
        }
    };
    assert_eq!(count("metrics.score >= 6").await, 6);
    assert_eq!(count("metrics.score > 2 AND tags.parity = 'odd'").await, 5);
    assert_eq!(count("attributes.status = 'FAILED'").await, 2);
    assert_eq!(count("tags.parity LIKE 'ev%'").await, 6);
    assert_eq!(
        count("tags.parity LIKE 'EV%'").await,
        0,
        "LIKE is case-sensitive"
    );
    assert_eq!(count("tags.parity ILIKE 'EV%'").await, 6);
    assert_eq!(count("attributes.run_name ILIKE 'RUN-1%'").await, 3);
    assert_eq!(count("params.lr = '0.0'").await, 4);
    assert_eq!(count("params.lr != '0.0'").await, 8);
    assert_eq!(count("params.missing IS NULL").await, 12);
    assert_eq!(count("params.lr IS NOT NULL").await, 12);
    assert_eq!(count("metrics.score != 3").await, 11);
    assert_eq!(count("attributes.start_time >= 1010").await, 2);
    assert_eq!(count("tags.`mlflow.runName` = 'run-3'").await, 1);
    let pair = format!("attributes.run_id IN ('{}', '{}')", ids[0], ids[1]);
    let found = s
        .search_runs(&exps, &pair, ViewType::ActiveOnly, 1000, &[], None)
        .await
        .unwrap();
    assert_eq!(found.items.len(), 2);
    let not_in = format!("attributes.run_id NOT IN ('{}')", ids[0]);
    assert_eq!(
        s.search_runs(&exps, &not_in, ViewType::ActiveOnly, 1000, &[], None)
            .await
            .unwrap()
            .items
            .len(),
        11
    );
    let err = s
        .search_runs(
            &exps,
            "metrics.score >>> 3",
            ViewType::ActiveOnly,
            1000,
            &[],
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);

    // NaN metrics match only `!=`.
    s.log_metric(&ids[0], &metric("score", f64::NAN, 2, 5))
        .await
        .unwrap();
    assert_eq!(count("metrics.score >= 0").await, 11);
    assert_eq!(count("metrics.score != 100").await, 12);

    s.delete_run(&ids[11]).await.unwrap();
    assert_eq!(count("").await, 11);
    let deleted = s
        .search_runs(&exps, "", ViewType::DeletedOnly, 1000, &[], None)
        .await
        .unwrap();
    assert_eq!(deleted.items.len(), 1);
    let all = s
        .search_runs(&exps, "", ViewType::All, 1000, &[], None)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 12);
    let none = s
        .search_runs(&[], "", ViewType::All, 1000, &[], None)
        .await
        .unwrap();
    assert!(none.items.is_empty());
}

async fn search_runs_order_and_paging(db: &TestDb) {
    let s = &db.store;
    let (exp, _ids) = seed_search(s).await;
    let exps = [exp];
    let scores = |runs: &[trackway_core::entities::Run]| -> Vec<f64> {
        runs.iter()
            .map(|r| {
                r.data
                    .metrics
                    .iter()
                    .find(|m| m.key == "score")
                    .map_or(-1.0, |m| m.value)
            })
            .collect()
    };
    let desc = s
        .search_runs(
            &exps,
            "",
            ViewType::ActiveOnly,
            3,
            &["metrics.score DESC".into()],
            None,
        )
        .await
        .unwrap();
    assert_eq!(scores(&desc.items), vec![11.0, 10.0, 9.0]);
    let order = ["metrics.score ASC".to_string()];
    let page1 = s
        .search_runs(&exps, "", ViewType::ActiveOnly, 5, &order, None)
        .await
        .unwrap();
    let page2 = s
        .search_runs(
            &exps,
            "",
            ViewType::ActiveOnly,
            5,
            &order,
            page1.next_page_token.as_deref(),
        )
        .await
        .unwrap();
    let page3 = s
        .search_runs(
            &exps,
            "",
            ViewType::ActiveOnly,
            5,
            &order,
            page2.next_page_token.as_deref(),
        )
        .await
        .unwrap();
    assert_eq!(scores(&page1.items), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    assert_eq!(scores(&page2.items), vec![5.0, 6.0, 7.0, 8.0, 9.0]);
    assert_eq!(scores(&page3.items), vec![10.0, 11.0]);
    assert!(page3.next_page_token.is_none());

    // A run without the metric sorts last both ways; a NaN sorts after numbers.
    let extra = new_run(s, &exps[0]).await;
    let nan_run = new_run(s, &exps[0]).await;
    s.log_metric(&nan_run, &metric("score", f64::NAN, 1, 0))
        .await
        .unwrap();
    for direction in ["ASC", "DESC"] {
        let all = s
            .search_runs(
                &exps,
                "",
                ViewType::ActiveOnly,
                100,
                &[format!("metrics.score {direction}")],
                None,
            )
            .await
            .unwrap();
        let n = all.items.len();
        assert_eq!(all.items[n - 1].info.run_id, extra, "{direction}");
        assert_eq!(all.items[n - 2].info.run_id, nan_run, "{direction}");
    }
    // Default order: newest start time first.
    let default = s
        .search_runs(&exps, "", ViewType::ActiveOnly, 100, &[], None)
        .await
        .unwrap();
    let starts: Vec<i64> = default
        .items
        .iter()
        .map(|r| r.info.start_time.unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]));
    let by_param = s
        .search_runs(
            &exps,
            "",
            ViewType::ActiveOnly,
            100,
            &["params.lr DESC".into(), "attributes.run_name".into()],
            None,
        )
        .await
        .unwrap();
    assert_eq!(by_param.items[0].data.params[0].value, "0.2");
    assert_eq!(
        s.search_runs(&exps, "", ViewType::ActiveOnly, 0, &[], None)
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidParameterValue
    );
    assert!(
        s.search_runs(&exps, "", ViewType::ActiveOnly, 50001, &[], None)
            .await
            .is_err()
    );
    assert!(
        s.search_runs(&exps, "", ViewType::ActiveOnly, 5, &[], Some("garbage"))
            .await
            .is_err()
    );
}

/// The run ids of an active-runs search read page by page, following the page tokens; stops
/// once it holds more than `expected` runs, so a paging bug that repeats runs cannot loop.
async fn searched_page_by_page(
    s: &Store,
    exps: &[String],
    filter: &str,
    order: &[String],
    page_size: i64,
    expected: usize,
) -> Vec<String> {
    let mut got: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s
            .search_runs(
                exps,
                filter,
                ViewType::ActiveOnly,
                page_size,
                order,
                token.as_deref(),
            )
            .await
            .unwrap();
        got.extend(page.items.into_iter().map(|r| r.info.run_id));
        token = page.next_page_token;
        if token.is_none() || got.len() > expected {
            return got;
        }
    }
}

/// Searches ordered by one metric (which may be answered from the metric's index, reading a
/// bounded number of its best rows, a short read first; see `Store::search_by_sort_key`),
/// paged in small pages so that those rows often do not hold the page, and the short read
/// sometimes does: every page matches a full sort of the runs
/// by MLflow's rules (value, then NaN, then missing; ties by newest start, then run id).
/// Another experiment's runs hold the best values both ways, some runs are deleted, values
/// and start times tie, and one filter matches a single run.
async fn search_by_one_metric_pages_as_a_full_sort(db: &TestDb) {
    let s = &db.store;
    let exp = s.create_experiment("sorted", None, &[]).await.unwrap();
    let other = s
        .create_experiment("sorted-other", None, &[])
        .await
        .unwrap();
    // (run id, start time, value: None when missing, kind)
    let mut runs: Vec<(String, i64, Option<f64>, &str)> = Vec::new();
    for i in 0..60i64 {
        let start = 1000 + i % 7;
        let id = s
            .create_run(NewRun {
                experiment_id: &exp,
                start_time: Some(start),
                ..Default::default()
            })
            .await
            .unwrap()
            .info
            .run_id;
        let kind = match i {
            5 => "rare",
            _ if i % 3 == 0 => "b",
            _ => "a",
        };
        s.log_param(&id, "kind", kind).await.unwrap();
        let value = match i % 10 {
            0 => Some(f64::NAN),
            1 => None,
            _ => Some((i % 9) as f64 / 2.0),
        };
        if let Some(v) = value {
            s.log_metric(&id, &metric("m", v, 1, 0)).await.unwrap();
        }
        if i % 11 == 4 {
            s.delete_run(&id).await.unwrap();
        } else {
            runs.push((id, start, value, kind));
        }
    }
    for i in 0..30i64 {
        let id = new_run(s, &other).await;
        let v = if i % 2 == 0 {
            100.0 + i as f64
        } else {
            -100.0 - i as f64
        };
        s.log_metric(&id, &metric("m", v, 1, 0)).await.unwrap();
    }
    let exps = [exp];
    for (filter, kinds) in [
        ("", &["a", "b", "rare"][..]),
        ("params.kind = 'a'", &["a"][..]),
        ("params.kind = 'rare'", &["rare"][..]),
    ] {
        for ascending in [true, false] {
            let mut expected: Vec<&(String, i64, Option<f64>, &str)> =
                runs.iter().filter(|r| kinds.contains(&r.3)).collect();
            expected.sort_by(|a, b| {
                let group = |v: Option<f64>| match v {
                    Some(v) if v.is_nan() => 1,
                    Some(_) => 0,
                    None => 2,
                };
                let value = |v: Option<f64>| v.filter(|v| !v.is_nan()).unwrap_or(0.0);
                let by_value = value(a.2).total_cmp(&value(b.2));
                group(a.2)
                    .cmp(&group(b.2))
                    .then(if ascending {
                        by_value
                    } else {
                        by_value.reverse()
                    })
                    .then(b.1.cmp(&a.1))
                    .then(a.0.cmp(&b.0))
            });
            let expected: Vec<&str> = expected.iter().map(|r| r.0.as_str()).collect();
            let order = [format!(
                "metrics.m {}",
                if ascending { "ASC" } else { "DESC" }
            )];
            for page_size in [1, 2, 3, 7, 100] {
                let got =
                    searched_page_by_page(s, &exps, filter, &order, page_size, expected.len())
                        .await;
                assert_eq!(got, expected, "{filter:?} {order:?}, pages of {page_size}");
            }
        }
    }
}

/// Searches ordered by a run attribute (which the side index on `runs` may serve in order for
/// `start_time`), paged: every page matches a full sort by MLflow's rules (values in the
/// asked direction, missing values last, then newest start, then run id), with ties in start
/// time, unfinished runs without an end time, a deleted run and another experiment's runs.
async fn search_by_attributes_pages_as_a_full_sort(db: &TestDb) {
    let s = &db.store;
    let exp = s.create_experiment("by-attr", None, &[]).await.unwrap();
    let other = s
        .create_experiment("by-attr-other", None, &[])
        .await
        .unwrap();
    // (run id, start time, end time)
    let mut runs: Vec<(String, i64, Option<i64>)> = Vec::new();
    for i in 0..25i64 {
        let start = 5000 - (i % 6) * 10;
        let id = s
            .create_run(NewRun {
                experiment_id: &exp,
                start_time: Some(start),
                ..Default::default()
            })
            .await
            .unwrap()
            .info
            .run_id;
        let end = (i % 3 != 0).then_some(9000 + i % 4);
        if let Some(end) = end {
            s.update_run(&id, Some(RunStatus::Finished), Some(end), None)
                .await
                .unwrap();
        }
        if i == 7 {
            s.delete_run(&id).await.unwrap();
        } else {
            runs.push((id, start, end));
        }
    }
    for i in 0..5 {
        s.create_run(NewRun {
            experiment_id: &other,
            start_time: Some(1_000_000 + i),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let exps = [exp];
    for (order, key) in [
        ("attributes.start_time DESC", "start"),
        ("attributes.start_time ASC", "start"),
        ("attributes.end_time DESC", "end"),
        ("attributes.end_time ASC", "end"),
        ("", "none"),
    ] {
        let mut expected: Vec<&(String, i64, Option<i64>)> = runs.iter().collect();
        let ascending = order.ends_with("ASC");
        expected.sort_by(|a, b| {
            let value = |r: &(String, i64, Option<i64>)| match key {
                "start" => Some(r.1),
                "end" => r.2,
                _ => None,
            };
            let by_value = match (value(a), value(b)) {
                (Some(x), Some(y)) if ascending => x.cmp(&y),
                (Some(x), Some(y)) => y.cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            let by_start = if key == "start" {
                std::cmp::Ordering::Equal
            } else {
                b.1.cmp(&a.1)
            };
            by_value.then(by_start).then(a.0.cmp(&b.0))
        });
        let expected: Vec<&str> = expected.iter().map(|r| r.0.as_str()).collect();
        let order_by: Vec<String> = [order]
            .iter()
            .filter(|o| !o.is_empty())
            .map(|o| o.to_string())
            .collect();
        for page_size in [1, 4, 100] {
            let got =
                searched_page_by_page(s, &exps, "", &order_by, page_size, expected.len()).await;
            assert_eq!(got, expected, "{order:?}, pages of {page_size}");
        }
    }
}

async fn search_experiments(db: &TestDb) {
    let s = &db.store;
    for name in ["alpha", "beta", "Gamma"] {
        // Distinct creation times, so that the default order (newest first) is defined.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let id = s
            .create_experiment(name, None, &[kv("team", name)])
            .await
            .unwrap();
        if name == "beta" {
            s.delete_experiment(&id).await.unwrap();
        }
    }
    let names = |page: &trackway_store::Page<trackway_core::entities::Experiment>| -> Vec<String> {
        page.items.iter().map(|e| e.name.clone()).collect()
    };
    let active = s
        .search_experiments(ViewType::ActiveOnly, 100, "", &[], None)
        .await
        .unwrap();
    assert_eq!(names(&active), vec!["Gamma", "alpha", "Default"]);
    let all = s
        .search_experiments(ViewType::All, 100, "", &["name ASC".into()], None)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 4);
    let like = s
        .search_experiments(ViewType::All, 100, "name LIKE 'a%'", &[], None)
        .await
        .unwrap();
    assert_eq!(names(&like), vec!["alpha"]);
    let ilike = s
        .search_experiments(ViewType::All, 100, "name ILIKE 'g%'", &[], None)
        .await
        .unwrap();
    assert_eq!(names(&ilike), vec!["Gamma"]);
    let tagged = s
        .search_experiments(ViewType::All, 100, "tags.team = 'beta'", &[], None)
        .await
        .unwrap();
    assert_eq!(names(&tagged), vec!["beta"]);
    let untagged = s
        .search_experiments(ViewType::All, 100, "tags.team IS NULL", &[], None)
        .await
        .unwrap();
    assert_eq!(names(&untagged), vec!["Default"]);
    let by_id = s
        .search_experiments(ViewType::All, 100, "experiment_id IN ('0', '1')", &[], None)
        .await
        .unwrap();
    assert_eq!(by_id.items.len(), 2);
    let page1 = s
        .search_experiments(ViewType::All, 2, "", &["name ASC".into()], None)
        .await
        .unwrap();
    let page2 = s
        .search_experiments(
            ViewType::All,
            2,
            "",
            &["name ASC".into()],
            page1.next_page_token.as_deref(),
        )
        .await
        .unwrap();
    assert_eq!(page1.items.len() + page2.items.len(), 4);
    assert!(page2.next_page_token.is_none());
    assert!(
        s.search_experiments(ViewType::All, 10, "name > 'a'", &[], None)
            .await
            .is_err()
    );
}

/// Every point in (timestamp, step, value) order once, across pages.
async fn all_pages(
    s: &Store,
    run: &str,
    key: &str,
    max: i64,
    first: Option<String>,
) -> Vec<(i64, i64, f64)> {
    let mut seen = Vec::new();
    let mut token = first;
    loop {
        let page = s
            .get_metric_history(run, key, Some(max), token.as_deref())
            .await
            .unwrap();
        seen.extend(page.points.iter().map(|m| (m.timestamp, m.step, m.value)));
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => return seen,
        }
    }
}

async fn metric_history_pages_start_after_their_last_point(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    // Ties in (timestamp, step): NaN (stored as 0) beside a real 0, equal values, and a page
    // boundary falling between them.
    let points = vec![
        metric("m", 0.0, 10, 1),
        metric("m", f64::NAN, 10, 1),
        metric("m", -1.0, 10, 1),
        metric("m", 2.0, 10, 0),
        metric("m", 5.0, 9, 7),
        metric("m", f64::INFINITY, 11, 0),
        metric("m", 1.0, 11, 0),
    ];
    s.log_batch(&run, &points, &[], &[]).await.unwrap();
    let whole = s.get_metric_history(&run, "m", None, None).await.unwrap();
    let whole: Vec<(i64, i64, f64)> = whole
        .points
        .iter()
        .map(|m| (m.timestamp, m.step, m.value))
        .collect();
    assert_eq!(whole.len(), 7);
    assert_eq!(whole[0], (9, 7, 5.0));
    assert_eq!(whole[1], (10, 0, 2.0));
    for max in 1..=3 {
        let paged = all_pages(s, &run, "m", max, None).await;
        assert_eq!(format!("{paged:?}"), format!("{whole:?}"), "pages of {max}");
    }

    // A page token from MLflow (an offset) still pages from there.
    let from_mlflow = all_pages(s, &run, "m", 2, Some(encode_page_token(3))).await;
    assert_eq!(format!("{from_mlflow:?}"), format!("{:?}", &whole[3..]));

    // Points logged between two pages before the page boundary neither repeat a point nor
    // push one out: the next page starts after the last point seen.
    let first = s
        .get_metric_history(&run, "m", Some(3), None)
        .await
        .unwrap();
    s.log_batch(&run, &[metric("m", 0.5, 1, 0)], &[], &[])
        .await
        .unwrap();
    let rest = all_pages(s, &run, "m", 3, first.next_page_token).await;
    assert_eq!(format!("{rest:?}"), format!("{:?}", &whole[3..]));
}

async fn metric_history_paging_and_sampling(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    let points: Vec<MetricSpec> = (0..1000)
        .map(|i| metric("loss", i as f64, 1000 + i, i))
        .collect();
    s.log_batch(&run, &points, &[], &[]).await.unwrap();
    let seen: Vec<i64> = all_pages(s, &run, "loss", 300, None)
        .await
        .into_iter()
        .map(|(_, step, _)| step)
        .collect();
    assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    assert!(
        s.get_metric_history(&run, "nope", None, None)
            .await
            .unwrap()
            .points
            .is_empty()
    );

    let sampled = s
        .get_metric_history_bulk_interval(std::slice::from_ref(&run), "loss", 10, None)
        .await
        .unwrap();
    assert_eq!(sampled.len(), 10);
    assert_eq!(sampled.first().unwrap().step, 0);
    assert_eq!(sampled.last().unwrap().step, 999);
    assert!(sampled.windows(2).all(|w| w[0].step < w[1].step));
    // NTILE(7) over 1,000 points: six buckets of 143 and one of 142; each bucket's first
    // point, with the last point in place of the final sample.
    let uneven = s
        .get_metric_history_bulk_interval(std::slice::from_ref(&run), "loss", 7, None)
        .await
        .unwrap();
    assert_eq!(
        uneven.iter().map(|m| m.step).collect::<Vec<_>>(),
        vec![0, 143, 286, 429, 572, 715, 999]
    );
    let window = s
        .get_metric_history_bulk_interval(std::slice::from_ref(&run), "loss", 2500, Some((10, 19)))
        .await
        .unwrap();
    assert_eq!(
        window.iter().map(|m| m.step).collect::<Vec<_>>(),
        (10..20).collect::<Vec<_>>()
    );
    // NTILE(4) over the window's 10 points: buckets of 3, 3, 2 and 2, then the last point.
    let sampled_window = s
        .get_metric_history_bulk_interval(std::slice::from_ref(&run), "loss", 4, Some((10, 19)))
        .await
        .unwrap();
    assert_eq!(
        sampled_window.iter().map(|m| m.step).collect::<Vec<_>>(),
        vec![10, 13, 16, 19]
    );
    let bulk = s
        .get_metric_history_bulk(std::slice::from_ref(&run), "loss", 5)
        .await
        .unwrap();
    assert_eq!(bulk.len(), 5);

    // Sampling walks (step, timestamp, value) order, whatever order the points were logged
    // in: here later timestamps carry earlier steps, and one step has two values.
    let backwards = new_run(s, "0").await;
    let mut points: Vec<MetricSpec> = (0..10)
        .map(|i| metric("loss", i as f64, 1000 + i, 9 - i))
        .collect();
    points.push(metric("loss", -1.0, 1000, 4));
    s.log_batch(&backwards, &points, &[], &[]).await.unwrap();
    let sampled = s
        .get_metric_history_bulk_interval(std::slice::from_ref(&backwards), "loss", 100, None)
        .await
        .unwrap();
    assert_eq!(
        sampled
            .iter()
            .map(|m| (m.step, m.timestamp, m.value))
            .collect::<Vec<_>>(),
        vec![
            (0, 1009, 9.0),
            (1, 1008, 8.0),
            (2, 1007, 7.0),
            (3, 1006, 6.0),
            (4, 1000, -1.0),
            (4, 1005, 5.0),
            (5, 1004, 4.0),
            (6, 1003, 3.0),
            (7, 1002, 2.0),
            (8, 1001, 1.0),
            (9, 1000, 0.0),
        ]
    );
}

async fn dataset_inputs(db: &TestDb) {
    let s = &db.store;
    let exp = s.create_experiment("lineage", None, &[]).await.unwrap();
    let run = new_run(s, &exp).await;
    let dataset = Dataset {
        name: "students".into(),
        digest: "abc123".into(),
        source_type: "s3".into(),
        source: "{\"uri\": \"s3://bucket/data.csv\"}".into(),
        schema: Some("{}".into()),
        profile: None,
    };
    let input = DatasetInputSpec {
        dataset: dataset.clone(),
        tags: vec![kv("mlflow.data.context", "training")],
    };
    s.log_inputs(&run, &[input.clone(), input.clone()], &[])
        .await
        .unwrap();
    s.log_inputs(&run, std::slice::from_ref(&input), &[])
        .await
        .unwrap();
    let got = s.get_run(&run).await.unwrap();
    assert_eq!(got.inputs.dataset_inputs.len(), 1);
    assert_eq!(got.inputs.dataset_inputs[0].dataset, dataset);
    assert_eq!(
        got.inputs.dataset_inputs[0].tags,
        vec![kv("mlflow.data.context", "training")]
    );
    // Another run of the experiment reuses the dataset row.
    let other = new_run(s, &exp).await;
    s.log_inputs(&other, &[input], &[]).await.unwrap();
    let exps = [exp.clone()];
    for filter in [
        "datasets.name = 'students'",
        "datasets.context = 'training'",
        "datasets.digest IN ('abc123')",
    ] {
        let found = s
            .search_runs(&exps, filter, ViewType::ActiveOnly, 10, &[], None)
            .await
            .unwrap();
        assert_eq!(found.items.len(), 2, "{filter}");
    }
    let summaries = s.search_datasets(&exps).await.unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].context.as_deref(), Some("training"));
    let too_long = DatasetInputSpec {
        dataset: Dataset {
            digest: "d".repeat(37),
            ..dataset
        },
        tags: vec![],
    };
    assert_eq!(
        s.log_inputs(&run, &[too_long], &[]).await.unwrap_err().code,
        ErrorCode::InvalidParameterValue
    );
}

async fn concurrent_writers_lose_nothing(db: &TestDb) {
    let s = &db.store;
    let mut runs = Vec::new();
    for _ in 0..16 {
        runs.push(new_run(s, "0").await);
    }
    let mut tasks = Vec::new();
    for run in runs.clone() {
        let store = s.clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0..5 {
                let metrics: Vec<MetricSpec> =
                    (0..200).map(|i| metric("m", i as f64, batch, i)).collect();
                store.log_batch(&run, &metrics, &[], &[]).await?;
                store.set_tag(&run, "batch", &batch.to_string()).await?;
            }
            Ok::<_, trackway_core::Error>(())
        }));
    }
    for task in tasks {
        task.await
            .expect("task")
            .expect("no write fails under concurrency");
    }
    for run in runs {
        let history = s.get_metric_history(&run, "m", None, None).await.unwrap();
        assert_eq!(history.points.len(), 1000);
    }
}

/// A write that fails among concurrent writers (which SQLite commits in groups) changes
/// nothing, and the writes committed beside it are kept.
async fn concurrent_failures_change_nothing(db: &TestDb) {
    let s = &db.store;
    let mut runs = Vec::new();
    for _ in 0..8 {
        let run = new_run(s, "0").await;
        s.log_param(&run, "p", "1").await.unwrap();
        runs.push(run);
    }
    let mut tasks = Vec::new();
    for run in runs.clone() {
        let store = s.clone();
        tasks.push(tokio::spawn(async move {
            for step in 0..10 {
                // Odd steps change the param, so their whole batch must fail.
                let value = if step % 2 == 0 { "1" } else { "2" };
                let result = store
                    .log_batch(
                        &run,
                        &[metric("m", 1.0, 1, step)],
                        &[kv("p", value)],
                        &[kv("t", &step.to_string())],
                    )
                    .await;
                assert_eq!(result.is_ok(), step % 2 == 0, "step {step}: {result:?}");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    for run in runs {
        let history = s.get_metric_history(&run, "m", None, None).await.unwrap();
        let steps: Vec<i64> = history.points.iter().map(|m| m.step).collect();
        assert_eq!(steps, vec![0, 2, 4, 6, 8]);
        let data = s.get_run(&run).await.unwrap().data;
        assert_eq!(data.tags.iter().find(|t| t.key == "t"), Some(&kv("t", "8")));
        assert_eq!(data.params, vec![kv("p", "1")]);
    }
}

fn version_from<'a>(name: &'a str, source: &'a str) -> NewModelVersion<'a> {
    NewModelVersion {
        name,
        source,
        run_id: Some(""),
        ..Default::default()
    }
}

async fn registry_models_and_versions(db: &TestDb) {
    let s = &db.store;
    let model = s
        .create_registered_model("churn", &[kv("team", "a"), kv("team", "b")], "first")
        .await
        .unwrap();
    assert_eq!(
        model.tags,
        vec![kv("team", "b")],
        "a key given twice keeps its last value"
    );
    assert_eq!(model.description.as_deref(), Some("first"));
    let err = s
        .create_registered_model("churn", &[], "")
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceAlreadyExists);
    for bad in ["a/b", "a:b", "  ", ".."] {
        let err = s.create_registered_model(bad, &[], "").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParameterValue, "{bad}");
    }

    for i in 1..=3 {
        let v = s
            .create_model_version(NewModelVersion {
                tags: &[kv("i", &i.to_string())],
                ..version_from("churn", "s3://bucket/model")
            })
            .await
            .unwrap();
        assert_eq!(v.version, i.to_string());
        assert_eq!(v.status.as_deref(), Some("READY"));
        assert_eq!(v.current_stage.as_deref(), Some("None"));
    }
    let unknown = s
        .create_model_version(version_from("nope", "s3://b/m"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code, ErrorCode::ResourceDoesNotExist);

    let model = s.get_registered_model("churn").await.unwrap();
    assert_eq!(model.latest_versions.len(), 1);
    assert_eq!(model.latest_versions[0].version, "3");
    assert_eq!(model.latest_versions[0].tags, vec![kv("i", "3")]);

    // Deleting a version keeps its number taken and hides it.
    s.delete_model_version("churn", "3").await.unwrap();
    assert_eq!(
        s.get_model_version("churn", "3").await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
    let v = s
        .create_model_version(version_from("churn", "s3://bucket/model"))
        .await
        .unwrap();
    assert_eq!(v.version, "4");

    // A description update without a description clears it.
    let v = s
        .update_model_version("churn", "4", Some("d"))
        .await
        .unwrap();
    assert_eq!(v.description.as_deref(), Some("d"));
    let v = s.update_model_version("churn", "4", None).await.unwrap();
    assert_eq!(v.description, None);

    // Renaming moves versions, tags and aliases with the model.
    s.set_registered_model_alias("churn", "prod", "2")
        .await
        .unwrap();
    s.set_model_version_tag("churn", "2", &kv("ok", "yes"))
        .await
        .unwrap();
    s.create_registered_model("other", &[], "").await.unwrap();
    let err = s
        .rename_registered_model("churn", "other")
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceAlreadyExists);
    let renamed = s
        .rename_registered_model("churn", "churn-v2")
        .await
        .unwrap();
    assert_eq!(renamed.tags, vec![kv("team", "b")]);
    assert_eq!(renamed.aliases.len(), 1);
    let v2 = s.get_model_version("churn-v2", "2").await.unwrap();
    assert_eq!(v2.aliases, vec!["prod".to_string()]);
    assert!(v2.tags.contains(&kv("ok", "yes")));
    assert_eq!(
        s.get_registered_model("churn").await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );

    // Deleting the model removes everything; a new model of that name starts at 1.
    s.delete_registered_model("churn-v2").await.unwrap();
    assert_eq!(
        s.get_model_version("churn-v2", "2").await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
    s.create_registered_model("churn-v2", &[], "")
        .await
        .unwrap();
    let v = s
        .create_model_version(version_from("churn-v2", "s3://b/m"))
        .await
        .unwrap();
    assert_eq!(v.version, "1");
    assert!(
        s.get_registered_model("churn-v2")
            .await
            .unwrap()
            .aliases
            .is_empty()
    );
}

async fn registry_stages_and_archiving(db: &TestDb) {
    let s = &db.store;
    s.create_registered_model("credit", &[], "").await.unwrap();
    for _ in 0..3 {
        s.create_model_version(version_from("credit", "s3://b/m"))
            .await
            .unwrap();
    }
    s.transition_model_version_stage("credit", "1", "production", false)
        .await
        .unwrap();
    s.transition_model_version_stage("credit", "2", "Staging", false)
        .await
        .unwrap();
    // Archiving compares the integer version column with an integer on both databases.
    let v = s
        .transition_model_version_stage("credit", "2", "Production", true)
        .await
        .unwrap();
    assert_eq!(v.current_stage.as_deref(), Some("Production"));
    let v1 = s.get_model_version("credit", "1").await.unwrap();
    assert_eq!(v1.current_stage.as_deref(), Some("Archived"));
    let latest = s
        .get_latest_versions("credit", &["Production".into()])
        .await
        .unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].version, "2");
    let all = s.get_latest_versions("credit", &[]).await.unwrap();
    let mut stages: Vec<_> = all
        .iter()
        .map(|v| (v.current_stage.clone().unwrap(), v.version.clone()))
        .collect();
    stages.sort();
    assert_eq!(
        stages,
        vec![
            ("Archived".to_string(), "1".to_string()),
            ("None".to_string(), "3".to_string()),
            ("Production".to_string(), "2".to_string())
        ]
    );

    let err = s
        .transition_model_version_stage("credit", "3", "Archived", true)
        .await
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::InternalError,
        "MLflow answers 500 here"
    );
    let err = s
        .transition_model_version_stage("credit", "3", "bogus", false)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    let err = s
        .transition_model_version_stage("credit", "9", "Staging", false)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceDoesNotExist);
    // A failed transition changed nothing.
    let v3 = s.get_model_version("credit", "3").await.unwrap();
    assert_eq!(v3.current_stage.as_deref(), Some("None"));
}

async fn registry_aliases(db: &TestDb) {
    let s = &db.store;
    s.create_registered_model("iris", &[], "").await.unwrap();
    for _ in 0..2 {
        s.create_model_version(version_from("iris", "s3://b/m"))
            .await
            .unwrap();
    }
    s.set_registered_model_alias("iris", "champion", "1")
        .await
        .unwrap();
    assert_eq!(
        s.get_model_version_by_alias("iris", "champion")
            .await
            .unwrap()
            .version,
        "1"
    );
    s.set_registered_model_alias("iris", "champion", "2")
        .await
        .unwrap();
    let v = s
        .get_model_version_by_alias("iris", "champion")
        .await
        .unwrap();
    assert_eq!(
        (v.version.as_str(), v.aliases.clone()),
        ("2", vec!["champion".to_string()])
    );
    assert_eq!(
        s.get_model_version_by_alias("iris", "LATEST")
            .await
            .unwrap()
            .version,
        "2"
    );
    for reserved in ["latest", "Latest", "v1", "V12", "bad alias"] {
        let err = s
            .set_registered_model_alias("iris", reserved, "1")
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParameterValue, "{reserved}");
    }
    let err = s
        .set_registered_model_alias("iris", "ghost", "7")
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceDoesNotExist);
    let err = s
        .get_model_version_by_alias("iris", "nope")
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    // Deleting the version deletes its aliases.
    s.delete_model_version("iris", "2").await.unwrap();
    assert!(
        s.get_model_version_by_alias("iris", "champion")
            .await
            .is_err()
    );
    assert!(
        s.get_registered_model("iris")
            .await
            .unwrap()
            .aliases
            .is_empty()
    );
    s.delete_registered_model_alias("iris", "never-set")
        .await
        .unwrap();
}

async fn registry_search(db: &TestDb) {
    let s = &db.store;
    let run = new_run(s, "0").await;
    for (name, team) in [("alpha", "red"), ("beta", "blue"), ("Gamma", "red")] {
        s.create_registered_model(name, &[kv("team", team)], "")
            .await
            .unwrap();
        s.create_model_version(NewModelVersion {
            run_id: Some(&run),
            tags: &[kv("team", team)],
            ..version_from(name, "s3://b/m")
        })
        .await
        .unwrap();
    }
    s.create_registered_model("prompt-1", &[kv("mlflow.prompt.is_prompt", "true")], "")
        .await
        .unwrap();
    let names = |page: trackway_store::Page<trackway_core::entities::RegisteredModel>| {
        page.items.into_iter().map(|m| m.name).collect::<Vec<_>>()
    };

    let all = s
        .search_registered_models(None, 100, &[], None)
        .await
        .unwrap();
    assert_eq!(
        names(all),
        ["Gamma", "alpha", "beta"],
        "bytewise name order, prompts hidden"
    );
    let red = s
        .search_registered_models(Some("tags.team = 'red'"), 100, &[], None)
        .await
        .unwrap();
    assert_eq!(names(red), ["Gamma", "alpha"]);
    let like = s
        .search_registered_models(Some("name ILIKE 'g%'"), 100, &[], None)
        .await
        .unwrap();
    assert_eq!(names(like), ["Gamma"]);
    let prompts = s
        .search_registered_models(
            Some("tags.`mlflow.prompt.is_prompt` = 'true'"),
            100,
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(names(prompts), ["prompt-1"]);
    let models = s
        .search_registered_models(
            Some("tags.`mlflow.prompt.is_prompt` != 'true'"),
            100,
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(names(models).len(), 3);

    let first = s
        .search_registered_models(None, 2, &[], None)
        .await
        .unwrap();
    let token = first.next_page_token.clone().expect("a second page");
    let second = s
        .search_registered_models(None, 2, &[], Some(&token))
        .await
        .unwrap();
    assert_eq!(names(first), ["Gamma", "alpha"]);
    assert_eq!(names(second.clone()), ["beta"]);
    assert!(second.next_page_token.is_none());
    let desc = s
        .search_registered_models(None, 100, &["name DESC".into()], None)
        .await
        .unwrap();
    assert_eq!(names(desc), ["beta", "alpha", "Gamma"]);

    s.create_model_version(version_from("alpha", "s3://b/m2"))
        .await
        .unwrap();
    let versions = |filter: &str| {
        let filter = filter.to_string();
        async move {
            s.search_model_versions(Some(&filter), 100, &[], None)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|v| format!("{}/{}", v.name, v.version))
                .collect::<Vec<_>>()
        }
    };
    let mut alpha = versions("name = 'alpha'").await;
    alpha.sort();
    assert_eq!(alpha, ["alpha/1", "alpha/2"]);
    assert_eq!(
        versions("name = 'alpha' AND version_number > 1").await,
        ["alpha/2"]
    );
    assert_eq!(versions("version_number = '2'").await, ["alpha/2"]);
    assert_eq!(
        versions(&format!("run_id IN ('{run}') AND tags.team = 'blue'")).await,
        ["beta/1"]
    );
    assert_eq!(versions("source_path = 's3://b/m2'").await, ["alpha/2"]);
    let err = s
        .search_model_versions(Some("version_number LIKE '1'"), 100, &[], None)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    let err = s
        .search_model_versions(None, 100, &["name".into(), "name DESC".into()], None)
        .await
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::InternalError,
        "MLflow answers 500 here"
    );
}

/// Two stores on one database stand for two server processes: creating versions of one model
/// from both at once must hand out every number exactly once.
async fn registry_version_numbers_are_unique_across_servers(db: &TestDb) {
    let first = db.store.clone();
    let second = Store::open(&db.uri, common::ARTIFACT_ROOT).await.unwrap();
    first
        .create_registered_model("busy", &[], "")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for store in [first.clone(), second.clone()] {
        for _ in 0..6 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..5 {
                    let v = store
                        .create_model_version(version_from("busy", "s3://b/m"))
                        .await?;
                    got.push(v.version.parse::<i64>().unwrap());
                }
                Ok::<_, trackway_core::Error>(got)
            }));
        }
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task").expect("no creation fails"));
    }
    all.sort();
    assert_eq!(all, (1..=60).collect::<Vec<i64>>());
    second.close().await;
}
