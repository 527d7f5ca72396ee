//! Search: MLflow filter clauses and `order_by` lists turned into one SQL statement each, with
//! every value bound as a parameter.
//!
//! Each metric, param or tag condition on a value is an inner join on its table. A run holds
//! at most one row per key there (the primary key is (`key`, `run_uuid`)), so the join keeps
//! exactly the runs an `EXISTS` would, but the planner may start from the most selective
//! condition (through the side indexes on (`key`, `value`)) instead of probing every run of
//! the experiment: 44 ms became 9 ms for two conditions over 20,000 runs. `IS NULL` and
//! dataset conditions stay `EXISTS` subqueries. Each sort key is a `LEFT JOIN`, so runs
//! without the key stay in the result and sort last, as in MLflow.
//!
//! A search ordered by one metric is first tried the other way round: from that metric's
//! index, in order, over a bounded number of rows (`Store::search_by_sort_key`).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use trackway_core::Result;
use trackway_core::entities::{Experiment, Run, ViewType};
use trackway_core::search::{
    Clause, Comparator, EntityType, OrderBy, Value, decode_page_token, encode_page_token,
    parse_experiment_filter, parse_experiment_order_by, parse_run_filter, parse_run_order_by_list,
};
use trackway_core::validation::{parse_experiment_id, parse_experiment_ids, validate_max_results};

use crate::db::Backend;
use crate::rows::{self, EXPERIMENT_COLUMNS, RUN_COLUMNS, RUN_NAME_TAG};
use crate::sql::SqlBuilder;
use crate::{Page, Store, db_error};

/// Appends `<column> <comparator> <value>` with the engine's spelling of case-insensitive
/// matching (`LIKE` is case-sensitive on both engines: see `db::SQLITE_PRAGMAS`).
fn push_string_comparison(
    qb: &mut SqlBuilder,
    backend: Backend,
    column: &str,
    comparator: Comparator,
    value: &Value,
) {
    match (comparator, value) {
        (Comparator::In | Comparator::NotIn, Value::List(items)) => {
            qb.push(format!(" {column} {} (", comparator.as_str()));
            qb.push_bind_list(items.iter().cloned());
            qb.push(")");
        }
        (Comparator::ILike, Value::Str(s)) => match backend {
            Backend::Postgres => {
                qb.push(format!(" {column} ILIKE "));
                qb.push_bind(s.clone());
            }
            Backend::Sqlite => {
                qb.push(format!(" LOWER({column}) LIKE LOWER("));
                qb.push_bind(s.clone());
                qb.push(")");
            }
        },
        (_, Value::Str(s)) => {
            qb.push(format!(" {column} {} ", comparator.as_str()));
            qb.push_bind(s.clone());
        }
        (_, Value::Number(n)) => {
            qb.push(format!(" {column} {} ", comparator.as_str()));
            qb.push_bind(*n);
        }
        // The parser only pairs lists with IN/NOT IN and no value with IS [NOT] NULL, which
        // callers handle before getting here.
        _ => {
            qb.push(" FALSE");
        }
    }
}

fn push_numeric_attribute(qb: &mut SqlBuilder, column: &str, clause: &Clause) {
    if let Value::Number(n) = clause.value {
        qb.push(format!(" {column} {} ", clause.comparator.as_str()));
        // Integral values are compared as integers so that the comparison stays exact.
        if n.fract() == 0.0 && n.abs() < 9.0e15 {
            qb.push_bind(n as i64);
        } else {
            qb.push_bind(n);
        }
    }
}

/// Columns of `runs` that attributes name.
fn run_column(key: &str) -> &'static str {
    match key {
        "run_id" => "r.run_uuid",
        "run_name" => "r.name",
        "status" => "r.status",
        "user_id" => "r.user_id",
        "artifact_uri" => "r.artifact_uri",
        "start_time" => "r.start_time",
        "end_time" => "r.end_time",
        _ => "r.lifecycle_stage",
    }
}

/// The table that holds a run's metrics (their latest values), params or tags.
fn keyed_table(entity: EntityType) -> Option<&'static str> {
    match entity {
        EntityType::Metric => Some("latest_metrics"),
        EntityType::Param => Some("params"),
        EntityType::Tag => Some("tags"),
        EntityType::Attribute | EntityType::Dataset => None,
    }
}

/// The table a metric, param or tag clause is joined on, or `None` for a clause that stays in
/// the `WHERE` (attributes, datasets, and `IS NULL`, which asks for a missing row).
fn joined_table(clause: &Clause) -> Option<&'static str> {
    if clause.comparator == Comparator::IsNull {
        return None;
    }
    keyed_table(clause.entity)
}

/// Appends ` JOIN <table> f<i> ...` for a clause [`joined_table`] names, joined on the run of
/// the `previous` joined clause (or the run itself for the first); returns whether it did.
///
/// Joining each condition to the one before, not only to `runs`, lets SQLite's planner see
/// that the conditions can be checked against each other before the run is looked up (two
/// seeks a run, by its key then its row): 8.5 ms became 6.2 ms for two conditions over
/// 20,000 runs, and its newer planner then also picks the covering index for the sort key.
fn push_filter_join(
    qb: &mut SqlBuilder,
    backend: Backend,
    (join, first): (&str, &str),
    i: usize,
    previous: Option<usize>,
    clause: &Clause,
) -> bool {
    let Some(table) = joined_table(clause) else {
        return false;
    };
    let anchor = previous.map_or_else(|| first.to_string(), |p| format!("f{p}"));
    qb.push(format!(
        " {join} {table} f{i} ON f{i}.run_uuid = {anchor}.run_uuid AND f{i}.\"key\" = "
    ));
    qb.push_bind(clause.key.clone());
    let column = format!("f{i}.value");
    match clause.comparator {
        Comparator::IsNotNull => {}
        comparator if clause.entity == EntityType::Metric => {
            // NaN is stored as 0 with is_nan set: it matches only `!=`.
            qb.push(" AND (");
            push_string_comparison(qb, backend, &column, comparator, &clause.value);
            if comparator == Comparator::Ne {
                qb.push(format!(" OR f{i}.is_nan = TRUE)"));
            } else {
                qb.push(format!(" AND f{i}.is_nan = FALSE)"));
            }
        }
        comparator => {
            qb.push(" AND");
            push_string_comparison(qb, backend, &column, comparator, &clause.value);
        }
    }
    true
}

/// Appends ` AND <condition>` for a clause that is not joined.
fn push_run_clause(qb: &mut SqlBuilder, backend: Backend, clause: &Clause) {
    if joined_table(clause).is_some() {
        return;
    }
    qb.push(" AND");
    match clause.entity {
        EntityType::Attribute if clause.key == "run_name" => {
            // MLflow matches run names against the tag: runs logged by MLflow 1.29 and older
            // have no name column value.
            qb.push(" EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid AND t.\"key\" = ");
            qb.push_bind(RUN_NAME_TAG.to_string());
            qb.push(" AND");
            push_string_comparison(qb, backend, "t.value", clause.comparator, &clause.value);
            qb.push(")");
        }
        EntityType::Attribute if clause.key == "start_time" || clause.key == "end_time" => {
            push_numeric_attribute(qb, run_column(&clause.key), clause);
        }
        EntityType::Attribute => {
            push_string_comparison(
                qb,
                backend,
                run_column(&clause.key),
                clause.comparator,
                &clause.value,
            );
        }
        EntityType::Metric | EntityType::Param | EntityType::Tag => {
            // Only `IS NULL` gets here: no row for the key.
            let table = keyed_table(clause.entity).unwrap_or("tags");
            qb.push(format!(
                " NOT EXISTS (SELECT 1 FROM {table} x WHERE x.run_uuid = r.run_uuid AND x.\"key\" = "
            ));
            qb.push_bind(clause.key.clone());
            qb.push(")");
        }
        EntityType::Dataset => {
            qb.push(
                " EXISTS (SELECT 1 FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id",
            );
            if clause.key == "context" {
                qb.push(" JOIN input_tags it ON it.input_uuid = i.input_uuid AND it.name = ");
                qb.push_bind("mlflow.data.context".to_string());
            }
            qb.push(
                " WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' \
                 AND i.destination_id = r.run_uuid AND",
            );
            let column = match clause.key.as_str() {
                "context" => "it.value",
                "digest" => "d.digest",
                _ => "d.name",
            };
            push_string_comparison(qb, backend, column, clause.comparator, &clause.value);
            qb.push(")");
        }
    }
}

/// Rows of the sort key's index [`Store::search_by_sort_key`] may read for each run of the
/// page (and the pages before it).
const SORT_KEY_WINDOW_PER_RUN: i64 = 20;

/// Rows per run of the short first read of [`Store::search_by_sort_key`].
const SORT_KEY_PROBE_PER_RUN: i64 = 2;

/// Runs a page may reach, offset included, for [`Store::search_by_sort_key`] to be tried:
/// its reads are then at most 600 and 6,000 index rows, the most a search can lose to them
/// when they do not hold the page (2,020 rows cost 1.8 to 3.8 ms on SQLite). A larger page
/// (the Python client asks 1,000 runs at a time) goes straight to the usual statement.
const SORT_KEY_MAX_RUNS: i64 = 300;

/// One read of the sort key's index by [`Store::search_by_sort_key`]: rows worse than `after`
/// (when given) and at least as good as `bound` (when given), at most `limit` runs.
struct SortKeyRead<'a> {
    key: &'a OrderBy,
    after: Option<f64>,
    bound: Option<f64>,
    limit: i64,
}

/// A parsed `runs/search` request.
struct RunQuery<'a> {
    backend: Backend,
    experiment_ids: &'a [i64],
    view: ViewType,
    clauses: &'a [Clause],
    order: &'a [OrderBy],
    max_results: i64,
    offset: i64,
}

impl RunQuery<'_> {
    /// The page's statement, asking one row more than the page to tell whether another
    /// follows. With `sort_key`, the join starts from the first order key's rows, in order,
    /// within the read's bounds, and asks for the read's `limit` rows from the first (see
    /// [`Store::search_by_sort_key`]).
    fn statement(&self, sort_key: Option<&SortKeyRead>) -> SqlBuilder {
        let backend = self.backend;
        let mut qb = SqlBuilder::for_backend(backend, format!("SELECT {RUN_COLUMNS} FROM "));
        // The sort key's rows drive, each checked against the filters before its run is
        // looked up. CROSS JOIN is SQLite's way to keep that order; PostgreSQL's takes no
        // `ON`, and keeps the written order from `join_collapse_limit` instead (see
        // [`Store::search_by_sort_key`]).
        let (from, join) = match (sort_key, backend) {
            (Some(_), Backend::Sqlite) => (("latest_metrics o0", "o0"), "CROSS JOIN"),
            (Some(_), Backend::Postgres) => (("latest_metrics o0", "o0"), "JOIN"),
            (None, _) => (("runs r", "r"), "JOIN"),
        };
        qb.push(from.0);
        let mut previous = None;
        for (i, clause) in self.clauses.iter().enumerate() {
            if push_filter_join(&mut qb, backend, (join, from.1), i, previous, clause) {
                previous = Some(i);
            }
        }
        if sort_key.is_some() {
            qb.push(format!(" {join} runs r ON r.run_uuid = o0.run_uuid"));
        } else {
            for (i, o) in self.order.iter().enumerate() {
                let Some(table) = keyed_table(o.entity) else {
                    continue;
                };
                qb.push(format!(
                    " LEFT JOIN {table} o{i} ON o{i}.run_uuid = r.run_uuid AND o{i}.\"key\" = "
                ));
                qb.push_bind(o.key.clone());
            }
        }
        qb.push(" WHERE");
        if let Some(read) = sort_key {
            let (worse, at_least) = if read.key.ascending {
                (">", "<=")
            } else {
                ("<", ">=")
            };
            qb.push(" o0.\"key\" = ");
            qb.push_bind(read.key.key.clone());
            qb.push(" AND o0.is_nan = FALSE");
            if let Some(after) = read.after {
                qb.push(format!(" AND o0.value {worse} "));
                qb.push_bind(after);
            }
            if let Some(bound) = read.bound {
                qb.push(format!(" AND o0.value {at_least} "));
                qb.push_bind(bound);
            }
            qb.push(" AND");
        }
        qb.push(" r.experiment_id IN (");
        qb.push_bind_list(self.experiment_ids.iter().copied());
        qb.push(") AND r.lifecycle_stage IN (");
        qb.push_bind_list(self.view.stages().iter().map(|s| s.to_string()));
        qb.push(")");
        for clause in self.clauses {
            push_run_clause(&mut qb, backend, clause);
        }
        match sort_key {
            // The only order key, and only numbers: MLflow's NaN-and-missing-last prefix is
            // the same for every row, so the index's order serves the first sort key.
            Some(read) => {
                let direction = if read.key.ascending { "ASC" } else { "DESC" };
                qb.push(format!(
                    " ORDER BY o0.value {direction}, r.start_time DESC, r.run_uuid ASC LIMIT "
                ));
                qb.push_bind(read.limit);
            }
            None => {
                push_run_order(&mut qb, self.order);
                qb.push(" LIMIT ");
                qb.push_bind(self.max_results + 1);
                qb.push(" OFFSET ");
                qb.push_bind(self.offset);
            }
        }
        qb
    }
}

impl Store {
    /// `runs/search`: runs of the given experiments matching a filter, sorted and paged.
    pub async fn search_runs(
        &self,
        experiment_ids: &[String],
        filter: &str,
        view: ViewType,
        max_results: i64,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<Page<Run>> {
        validate_max_results(max_results)?;
        let clauses = parse_run_filter(filter)?;
        let order = parse_run_order_by_list(order_by)?;
        let offset = decode_page_token(page_token)?;
        let experiment_ids = parse_experiment_ids(experiment_ids)?;
        if experiment_ids.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: None,
            });
        }
        let query = RunQuery {
            backend: self.pools.backend,
            experiment_ids: &experiment_ids,
            view,
            clauses: &clauses,
            order: &order,
            max_results,
            offset,
        };
        let found = match self.search_by_sort_key(&query).await? {
            Some(found) => found,
            None => query
                .statement(None)
                .build()
                .fetch_all(&self.pools.read)
                .await
                .map_err(db_error)?,
        };
        let mut infos = found
            .iter()
            .map(rows::run_info)
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = if infos.len() as i64 > max_results {
            infos.truncate(max_results as usize);
            Some(encode_page_token(offset + max_results))
        } else {
            None
        };
        let items = rows::load_runs(&self.pools.read, &self.reader, infos).await?;
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// The page of a search ordered by one metric, read in that metric's order, or `None`
    /// when the page cannot be told this way (the caller then runs the usual statement).
    ///
    /// The usual statement starts from the most selective filter and sorts every run that
    /// matches, and neither engine's planner reads the sort key's index in order by itself.
    /// Read in the key's order instead, the page is found once enough runs match, each row
    /// checked against the filters before its run is looked up. What this may read is
    /// bounded: the best [`SORT_KEY_WINDOW_PER_RUN`] index rows per run the page needs. When
    /// those hold the page, no run outside them can come before it (each has a worse value,
    /// or NaN, or none, all of which MLflow sorts after), so the page is exact, whatever was
    /// written between the statements; when they do not (few runs match, or the page reaches
    /// NaN and missing values), the read was wasted.
    ///
    /// So the window is first read a tenth as wide ([`SORT_KEY_PROBE_PER_RUN`]). That read
    /// holds the page when the filters match often (no filter, `metrics.m1 > 0.5`); otherwise
    /// the runs it matched tell whether the whole window is likely to, and a search whose
    /// filters match too few runs gives up after the short read instead of the long one. The
    /// second read goes on below the first (values worse than its bound), not from the top.
    ///
    /// Measured over 20,000 runs (20 params, 20 metrics, 10 tags each), pages of 100 ordered
    /// by `metrics.m2`, the answers byte for byte the same as the usual statement's. SQLite
    /// (p50 of 40), before the short pass: no filter 24.6 -> 6.4 ms; `metrics.m1 > 0.5`
    /// 27.9 -> 5.9 ms; `metrics.m1 > 0.5 and params.p1 = 'v1'` 15.9 -> 7.8 ms; but where the
    /// window does not hold the page, `params.p1 = 'v1' and metrics.m1 > 0.99` (41 runs)
    /// 6.3 -> 8.1 ms and three param filters 15.9 -> 19.7 ms. PostgreSQL (p50 of 30, two
    /// rounds each, on a noisy machine), the usual statement -> this with the short pass:
    /// no filter 69.4, 65.6 -> 18.0, 16.6 ms; `metrics.m1 > 0.5` 73.9, 58.1 -> 23.1, 19.8;
    /// the benchmark's filter 41.7, 61.1 -> 37.2, 33.0; 41 runs 14.5, 21.5 -> 24.5, 20.7
    /// (36.2 and 43.7 without the short pass); three param filters 37.9, 58.3 -> 45.7, 50.2
    /// (59.3 to 70.6 without it). The short pass took SQLite's two from 14.2, 13.8 to 9.1,
    /// 9.9 ms and from 26.0, 25.4 to 18.9, 22.2. Going on below the short read instead of
    /// reading the window again from the top (p50 of 100, two rounds): the benchmark's
    /// filter 31.6, 30.1 -> 29.6, 27.7 ms on PostgreSQL, 14.1, 11.0 -> 12.4, 10.1 on SQLite.
    async fn search_by_sort_key(&self, query: &RunQuery<'_>) -> Result<Option<Vec<AnyRow>>> {
        let [key] = query.order else {
            return Ok(None);
        };
        let runs = query
            .offset
            .saturating_add(query.max_results)
            .saturating_add(1);
        if key.entity != EntityType::Metric || runs > SORT_KEY_MAX_RUNS {
            return Ok(None);
        }
        match query.backend {
            Backend::Sqlite => {
                let mut conn = self.pools.read.acquire().await.map_err(db_error)?;
                sort_key_page(&mut conn, query, key, runs).await
            }
            // PostgreSQL's planner reorders joins as it estimates best, and read this way it
            // started from a filter's rows and sorted: the benchmark's search took 13.8 to
            // 18.2 ms in PostgreSQL instead of 9.4 to 11.5 in the written order.
            Backend::Postgres => {
                let mut tx = self.pools.read.begin().await.map_err(db_error)?;
                sqlx::raw_sql("SET LOCAL join_collapse_limit = 1")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let found = sort_key_page(&mut tx, query, key, runs).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(found)
            }
        }
    }

    /// `experiments/search`.
    pub async fn search_experiments(
        &self,
        view: ViewType,
        max_results: i64,
        filter: &str,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<Page<Experiment>> {
        validate_max_results(max_results)?;
        let clauses = parse_experiment_filter(filter)?;
        let mut order = if order_by.is_empty() {
            vec![
                parse_experiment_order_by("creation_time DESC")?,
                parse_experiment_order_by("experiment_id ASC")?,
            ]
        } else {
            order_by
                .iter()
                .map(|o| parse_experiment_order_by(o))
                .collect::<Result<Vec<_>>>()?
        };
        if !order.iter().any(|o| o.key == "experiment_id") {
            order.push(OrderBy {
                entity: EntityType::Attribute,
                key: "experiment_id".into(),
                ascending: false,
            });
        }
        let offset = decode_page_token(page_token)?;
        let backend = self.pools.backend;

        let mut qb = SqlBuilder::for_backend(
            self.pools.backend,
            format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments e WHERE e.lifecycle_stage IN ("),
        );
        qb.push_bind_list(view.stages().iter().map(|s| s.to_string()));
        qb.push(")");
        for clause in &clauses {
            qb.push(" AND");
            match (clause.entity, clause.key.as_str()) {
                (EntityType::Tag, key) => {
                    let negate = clause.comparator == Comparator::IsNull;
                    qb.push(format!(
                        "{} EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = \
                         e.experiment_id AND t.\"key\" = ",
                        if negate { " NOT" } else { "" }
                    ));
                    qb.push_bind(key.to_string());
                    if !matches!(
                        clause.comparator,
                        Comparator::IsNull | Comparator::IsNotNull
                    ) {
                        qb.push(" AND");
                        push_string_comparison(
                            &mut qb,
                            backend,
                            "t.value",
                            clause.comparator,
                            &clause.value,
                        );
                    }
                    qb.push(")");
                }
                (_, "experiment_id") => {
                    let ids: Vec<i64> = match &clause.value {
                        Value::Str(s) => vec![parse_experiment_id(s)?],
                        Value::List(items) => parse_experiment_ids(items)?,
                        _ => Vec::new(),
                    };
                    let op = match clause.comparator {
                        Comparator::Eq | Comparator::In => "IN",
                        _ => "NOT IN",
                    };
                    qb.push(format!(" e.experiment_id {op} ("));
                    qb.push_bind_list(ids);
                    qb.push(")");
                }
                (_, key @ ("creation_time" | "last_update_time")) => {
                    push_numeric_attribute(&mut qb, &format!("e.{key}"), clause);
                }
                _ => push_string_comparison(
                    &mut qb,
                    backend,
                    "e.name",
                    clause.comparator,
                    &clause.value,
                ),
            }
        }
        let keys: Vec<String> = order
            .iter()
            .map(|o| format!("e.{} {}", o.key, if o.ascending { "ASC" } else { "DESC" }))
            .collect();
        qb.push(format!(" ORDER BY {}", keys.join(", ")));
        qb.push(" LIMIT ");
        qb.push_bind(max_results + 1);
        qb.push(" OFFSET ");
        qb.push_bind(offset);

        let found = qb
            .build()
            .fetch_all(&self.pools.read)
            .await
            .map_err(db_error)?;
        let mut items = found
            .iter()
            .map(rows::experiment)
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = if items.len() as i64 > max_results {
            items.truncate(max_results as usize);
            Some(encode_page_token(offset + max_results))
        } else {
            None
        };
        rows::attach_experiment_tags(&self.pools.read, &mut items).await?;
        Ok(Page {
            items,
            next_page_token,
        })
    }
}

/// The two passes of [`Store::search_by_sort_key`] on one connection.
async fn sort_key_page(
    conn: &mut AnyConnection,
    query: &RunQuery<'_>,
    key: &OrderBy,
    runs: i64,
) -> Result<Option<Vec<AnyRow>>> {
    let direction = if key.ascending { "ASC" } else { "DESC" };
    let nth = |key: u8, offset: u8| {
        format!(
            "(SELECT value FROM latest_metrics WHERE \"key\" = ${key} AND is_nan = FALSE \
             ORDER BY value {direction} LIMIT 1 OFFSET ${offset})"
        )
    };
    let bounds = sqlx::query(AssertSqlSafe(format!(
        "SELECT {}, {}",
        nth(1, 2),
        nth(3, 4)
    )))
    .bind(key.key.clone())
    .bind(runs * SORT_KEY_PROBE_PER_RUN - 1)
    .bind(key.key.clone())
    .bind(runs * SORT_KEY_WINDOW_PER_RUN - 1)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    let probe: Option<f64> = bounds.try_get(0).map_err(db_error)?;
    let window: Option<f64> = bounds.try_get(1).map_err(db_error)?;
    // The page's runs from the first, in order, then the page cut from them: the second pass
    // goes on where the first stopped, so it needs the count of what the first matched.
    let read = |after, bound, limit| SortKeyRead {
        key,
        after,
        bound,
        limit,
    };
    let mut found = query
        .statement(Some(&read(None, probe, runs)))
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let matched = found.len() as i64;
    if matched < runs {
        // Without a bound the short read was the whole index; otherwise the rest of the
        // window is read only when the short read matched at a rate that would fill the page.
        if probe.is_none() || matched * (SORT_KEY_WINDOW_PER_RUN / SORT_KEY_PROBE_PER_RUN) < runs {
            return Ok(None);
        }
        found.extend(
            query
                .statement(Some(&read(probe, window, runs - matched)))
                .build()
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?,
        );
        if (found.len() as i64) < runs {
            return Ok(None);
        }
    }
    Ok(Some(found.split_off(query.offset as usize)))
}

/// Appends MLflow's run ordering: the requested keys (missing values last, NaN metrics after
/// numbers), then `start_time DESC` unless requested, then `run_uuid`.
fn push_run_order(qb: &mut SqlBuilder, order: &[OrderBy]) {
    qb.push(" ORDER BY ");
    let mut keys = Vec::new();
    for (i, o) in order.iter().enumerate() {
        let direction = if o.ascending { "ASC" } else { "DESC" };
        match o.entity {
            EntityType::Metric => {
                keys.push(format!(
                    "CASE WHEN o{i}.is_nan = TRUE THEN 1 WHEN o{i}.value IS NULL THEN 2 ELSE 0 END"
                ));
                keys.push(format!("o{i}.value {direction}"));
            }
            EntityType::Param | EntityType::Tag => {
                keys.push(format!("CASE WHEN o{i}.value IS NULL THEN 1 ELSE 0 END"));
                keys.push(format!("o{i}.value {direction}"));
            }
            // The same order as the `CASE` prefix above, in a form an index can serve (the
            // web UI sorts by `attributes.start_time DESC`; see `side`).
            _ => keys.push(format!("{} {direction} NULLS LAST", run_column(&o.key))),
        }
    }
    if !order
        .iter()
        .any(|o| o.entity == EntityType::Attribute && o.key == "start_time")
    {
        keys.push("r.start_time DESC".into());
    }
    keys.push("r.run_uuid ASC".into());
    qb.push(keys.join(", "));
}
