//! Metric histories: paged, bulk, and evenly sampled for charts.

use sqlx::Row;
use trackway_core::entities::{Metric, MetricWithRunId};
use trackway_core::search::{decode_page_token, encode_page_token};
use trackway_core::{Error, Result};

use crate::rows::{self, IN_CHUNK, metric_value};
use crate::sql::SqlBuilder;
use crate::{Store, db_error};

/// One page of a metric's history.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPage {
    /// Points in (timestamp, step, value) order.
    pub metrics: Vec<Metric>,
    /// Token for the next page, when more points remain.
    pub next_page_token: Option<String>,
}

/// One `timestamp step is_nan value` line of a joined history page.
fn parse_point(key: &str, line: &str) -> Result<Metric> {
    let bad = || Error::internal(format!("unreadable metric point from the database: {line}"));
    let mut parts = line.split(' ');
    let mut next = || parts.next().ok_or_else(bad);
    let timestamp: i64 = next()?.parse().map_err(|_| bad())?;
    let step: i64 = next()?.parse().map_err(|_| bad())?;
    let is_nan: i64 = next()?.parse().map_err(|_| bad())?;
    let value: f64 = next()?.parse().map_err(|_| bad())?;
    Ok(Metric {
        key: key.to_string(),
        value: metric_value(value, is_nan),
        timestamp,
        step,
    })
}

impl Store {
    /// Every point logged for `key` in a run, or one page of them when `max_results` is given.
    /// An unknown run or key has an empty history, as in MLflow.
    pub async fn get_metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<MetricPage> {
        let offset = decode_page_token(page_token)?;
        // Rows cross sqlx's driver one at a time (on SQLite a channel hop and a column list per
        // row), which for a 100,000-point history cost far more than the query. The database
        // joins the page into one text value instead, each double printed exactly (17
        // significant digits on SQLite, PostgreSQL's shortest exact form), and Rust splits it.
        let joined = match self.pools.backend {
            crate::Backend::Sqlite => {
                "group_concat(\"timestamp\" || ' ' || step || ' ' || is_nan || ' ' || \
                 printf('%!.17g', value), char(10) ORDER BY \"timestamp\", step, value)"
            }
            crate::Backend::Postgres => {
                "string_agg(\"timestamp\" || ' ' || step || ' ' || \
                 (CASE WHEN is_nan THEN 1 ELSE 0 END) || ' ' || value::text, E'\\n' \
                 ORDER BY \"timestamp\", step, value)"
            }
        };
        let mut qb = SqlBuilder::for_backend(
            self.pools.backend,
            format!(
                "SELECT {joined} FROM (SELECT \"timestamp\", step, is_nan, value FROM metrics \
                 WHERE run_uuid = "
            ),
        );
        qb.push_bind(run_id.to_string());
        qb.push(" AND \"key\" = ");
        qb.push_bind(key.to_string());
        qb.push(" ORDER BY \"timestamp\", step, value");
        // SQLite needs a LIMIT before an OFFSET; "no limit" is the largest one.
        qb.push(" LIMIT ");
        qb.push_bind(max_results.map_or(i64::MAX, |max| max.saturating_add(1)));
        qb.push(" OFFSET ");
        qb.push_bind(offset);
        qb.push(") page");
        let text: Option<String> = qb
            .build()
            .fetch_one(&self.pools.read)
            .await
            .map_err(db_error)?
            .try_get(0)
            .map_err(db_error)?;
        let mut metrics = text
            .as_deref()
            .unwrap_or_default()
            .lines()
            .map(|line| parse_point(key, line))
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = match max_results {
            Some(max) if metrics.len() as i64 > max => {
                metrics.truncate(max as usize);
                Some(encode_page_token(offset + max))
            }
            _ => None,
        };
        Ok(MetricPage {
            metrics,
            next_page_token,
        })
    }

    /// Up to `max_results` points per run, sampled evenly over (step, timestamp, value) order,
    /// keeping each run's first and last point: what the UI's charts ask for.
    pub async fn get_metric_history_bulk_interval(
        &self,
        run_ids: &[String],
        key: &str,
        max_results: i64,
        steps: Option<(i64, i64)>,
    ) -> Result<Vec<MetricWithRunId>> {
        let max_results = max_results.max(1);
        let mut out = Vec::new();
        for run_id in run_ids {
            // NTILE puts the ordered rows into `max_results` buckets; the first row of each
            // bucket is kept. With fewer rows than buckets, every row is kept.
            let mut qb = SqlBuilder::for_backend(
                self.pools.backend,
                "SELECT value, \"timestamp\", step, is_nan FROM (SELECT value, \"timestamp\", \
                 step, is_nan, ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY step, \
                 \"timestamp\", value, is_nan) AS rn FROM (SELECT value, \"timestamp\", step, \
                 CASE WHEN is_nan THEN 1 ELSE 0 END AS is_nan, NTILE(CAST(",
            );
            qb.push_bind(max_results);
            qb.push(" AS INTEGER)");
            qb.push(
                ") OVER (ORDER BY step, \"timestamp\", value, is_nan) AS bucket FROM metrics \
                 WHERE run_uuid = ",
            );
            qb.push_bind(run_id.clone());
            qb.push(" AND \"key\" = ");
            qb.push_bind(key.to_string());
            if let Some((start, end)) = steps {
                qb.push(" AND step >= ");
                qb.push_bind(start);
                qb.push(" AND step <= ");
                qb.push_bind(end);
            }
            qb.push(") b) r WHERE rn = 1 ORDER BY step, \"timestamp\", value, is_nan");
            let mut points: Vec<(i64, i64, f64, i64)> = qb
                .build()
                .fetch_all(&self.pools.read)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| {
                    Ok((
                        row.try_get("step")?,
                        row.try_get::<Option<i64>, _>("timestamp")?.unwrap_or(0),
                        row.try_get("value")?,
                        row.try_get("is_nan")?,
                    ))
                })
                .collect::<sqlx::Result<_>>()
                .map_err(db_error)?;

            // The buckets' first rows may miss the overall last point; keep it, replacing the
            // last sample when the page is full.
            let mut qb = SqlBuilder::for_backend(
                self.pools.backend,
                "SELECT value, \"timestamp\", step, CASE WHEN is_nan THEN 1 ELSE 0 END AS is_nan \
                 FROM metrics WHERE run_uuid = ",
            );
            qb.push_bind(run_id.clone());
            qb.push(" AND \"key\" = ");
            qb.push_bind(key.to_string());
            if let Some((start, end)) = steps {
                qb.push(" AND step >= ");
                qb.push_bind(start);
                qb.push(" AND step <= ");
                qb.push_bind(end);
            }
            qb.push(" ORDER BY step DESC, \"timestamp\" DESC, value DESC, is_nan DESC LIMIT 1");
            if let Some(row) = qb
                .build()
                .fetch_optional(&self.pools.read)
                .await
                .map_err(db_error)?
            {
                let last: (i64, i64, f64, i64) = (
                    row.try_get("step").map_err(db_error)?,
                    row.try_get::<Option<i64>, _>("timestamp")
                        .map_err(db_error)?
                        .unwrap_or(0),
                    row.try_get("value").map_err(db_error)?,
                    row.try_get("is_nan").map_err(db_error)?,
                );
                if points.last() != Some(&last) {
                    if points.len() as i64 >= max_results {
                        points.pop();
                    }
                    points.push(last);
                }
            }
            out.extend(points.into_iter().map(|(step, timestamp, value, is_nan)| {
                MetricWithRunId {
                    key: key.to_string(),
                    value: metric_value(value, is_nan),
                    timestamp,
                    step,
                    run_id: run_id.clone(),
                }
            }));
        }
        Ok(out)
    }

    /// Every point of `key` for several runs, by run then (timestamp, step, value), at most
    /// `max_results` in all (the UI's older `get-history-bulk`).
    pub async fn get_metric_history_bulk(
        &self,
        run_ids: &[String],
        key: &str,
        max_results: i64,
    ) -> Result<Vec<MetricWithRunId>> {
        if run_ids.len() > IN_CHUNK {
            return Err(Error::invalid("too many run ids"));
        }
        let mut qb = SqlBuilder::for_backend(
            self.pools.backend,
            "SELECT run_uuid, \"key\", value, \"timestamp\", step, CASE WHEN is_nan THEN 1 ELSE 0 \
             END AS is_nan FROM metrics WHERE \"key\" = ",
        );
        qb.push_bind(key.to_string());
        qb.push(" AND run_uuid IN (");
        qb.push_bind_list(run_ids.iter().cloned());
        qb.push(") ORDER BY run_uuid, \"timestamp\", step, value LIMIT ");
        qb.push_bind(max_results);
        qb.build()
            .fetch_all(&self.pools.read)
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| {
                let m = rows::metric(row)?;
                Ok(MetricWithRunId {
                    key: m.key,
                    value: m.value,
                    timestamp: m.timestamp,
                    step: m.step,
                    run_id: row.try_get("run_uuid").map_err(db_error)?,
                })
            })
            .collect()
    }
}
