//! Metric histories: paged, bulk, and evenly sampled for charts.

use std::collections::HashMap;

use sqlx::Row;
use trackway_core::entities::MetricWithRunId;
use trackway_core::search::{decode_page_token_object, encode_page_token_object};
use trackway_core::{Error, Result};

use crate::rows::{self, IN_CHUNK, metric_value};
use crate::sql::SqlBuilder;
use crate::{Store, db_error};

/// One page of a metric's history.
///
/// Its points carry no key: they all belong to the metric the caller asked for. A `Metric`
/// per point cost an allocation and a copy of the key for each of a 25,000-point page's
/// points, 8% of the server's time for a long history.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPage {
    /// Points in (timestamp, step, value) order.
    pub points: Vec<HistoryPoint>,
    /// Token for the next page, when more points remain.
    pub next_page_token: Option<String>,
}

/// One point of a [`MetricPage`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryPoint {
    /// The logged value; NaN, infinities and all.
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The training step it was logged at.
    pub step: i64,
}

/// One point as the database holds it: NaN is `is_nan` with a value of 0.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    timestamp: i64,
    step: i64,
    value: f64,
    is_nan: bool,
}

impl Point {
    /// The point in a rusqlite row's columns `timestamp, step, value, is_nan` from `first` on.
    fn from_sqlite_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Point> {
        Ok(Point {
            timestamp: row.get(first)?,
            step: row.get(first + 1)?,
            value: row.get(first + 2)?,
            is_nan: row.get::<_, i64>(first + 3)? != 0,
        })
    }

    fn history_point(self) -> HistoryPoint {
        HistoryPoint {
            value: metric_value(self.value, i64::from(self.is_nan)),
            timestamp: self.timestamp,
            step: self.step,
        }
    }
}

/// Which points of a run's metric to read, in [`HISTORY_ORDER`].
struct PointQuery {
    run_id: String,
    key: String,
    /// Inclusive step range.
    steps: Option<(i64, i64)>,
    /// `None`: every point.
    limit: Option<i64>,
    offset: i64,
    /// Only points after this one in [`HISTORY_ORDER`].
    after: Option<Point>,
}

/// `get-history`'s order: MLflow's (timestamp, step, value), then `is_nan`, which makes it
/// total (the primary key holds no two points that differ only there), so that a page can
/// start after a point. Trackway's history index serves it (`side.rs`).
const HISTORY_ORDER: &str = "\"timestamp\", step, value, is_nan";

/// [`HISTORY_ORDER`] in Rust.
fn history_order(a: &Point, b: &Point) -> std::cmp::Ordering {
    (a.timestamp, a.step)
        .cmp(&(b.timestamp, b.step))
        .then(total_value_order(a, b))
}

/// `value, is_nan`: total, since stored values are never NaN (NaN is 0 with `is_nan`).
fn total_value_order(a: &Point, b: &Point) -> std::cmp::Ordering {
    a.value
        .partial_cmp(&b.value)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then(a.is_nan.cmp(&b.is_nan))
}

/// A `get-history` token: MLflow's `{"offset": N}`, which Trackway's tokens keep, and the last
/// point of the page, so that the next page starts after that point through the history
/// index instead of reading and skipping the `N` points before it (2 ms for the last of four
/// 25,000-point pages on SQLite). It also keeps pages from repeating or skipping points when
/// points are logged between two pages. MLflow's own tokens are still read.
fn encode_history_token(offset: i64, last: Point) -> String {
    encode_page_token_object(&serde_json::json!({
        "offset": offset,
        "after": [last.timestamp, last.step, last.value, i64::from(last.is_nan)],
    }))
}

/// The offset and, in Trackway's tokens, the point the page starts after.
fn decode_history_token(token: Option<&str>) -> Result<(i64, Option<Point>)> {
    let (offset, object) = decode_page_token_object(token)?;
    let after = object.and_then(|object| {
        let after = object.get("after")?.as_array()?;
        match after.as_slice() {
            [timestamp, step, value, is_nan] => Some(Point {
                timestamp: timestamp.as_i64()?,
                step: step.as_i64()?,
                value: value.as_f64()?,
                is_nan: is_nan.as_i64()? != 0,
            }),
            _ => None,
        }
    });
    Ok((offset, after))
}

/// The order the UI's sampled charts walk, MLflow's `step, timestamp, value, is_nan`.
///
/// Applied in Rust to points read in [`HISTORY_ORDER`]: no index serves this order, so the
/// database would sort every point of the run first. For 100,000 points SQLite took 79 ms
/// for bulk-interval that way and takes 26 ms this way (PostgreSQL: 265 ms either way, bound
/// then by the text it built for the points; it now sends them as binary). Points are mostly
/// logged in step order, and Rust's sort of an almost sorted list is one pass.
fn sampling_order(a: &Point, b: &Point) -> std::cmp::Ordering {
    (a.step, a.timestamp)
        .cmp(&(b.step, b.timestamp))
        .then(total_value_order(a, b))
}

/// Bytes of one point in the value PostgreSQL joins a page into: the binary `send` forms of
/// `timestamp`, `step` (`int8`, 8 bytes), `value` (`float8`, 8) and `is_nan` (`bool`, 1),
/// big-endian.
const POINT_BYTES: usize = 25;

/// The points of a page PostgreSQL joined into one binary value.
fn parse_points(bytes: &[u8]) -> Result<Vec<Point>> {
    fn point(bytes: &[u8]) -> Option<Point> {
        let (timestamp, rest) = bytes.split_first_chunk::<8>()?;
        let (step, rest) = rest.split_first_chunk::<8>()?;
        let (value, rest) = rest.split_first_chunk::<8>()?;
        let [is_nan] = rest else { return None };
        Some(Point {
            timestamp: i64::from_be_bytes(*timestamp),
            step: i64::from_be_bytes(*step),
            value: f64::from_be_bytes(*value),
            is_nan: *is_nan != 0,
        })
    }
    let bad = || {
        Error::internal(format!(
            "unreadable metric points from the database ({} bytes)",
            bytes.len()
        ))
    };
    if !bytes.len().is_multiple_of(POINT_BYTES) {
        return Err(bad());
    }
    bytes
        .chunks_exact(POINT_BYTES)
        .map(|p| point(p).ok_or_else(bad))
        .collect()
}

/// The first row of each of `buckets` buckets that SQL's `NTILE(buckets)` makes of `n` ordered
/// rows: the first `n % buckets` buckets hold one row more than the others. With no more rows
/// than buckets, every row is its own bucket.
fn bucket_starts(n: usize, buckets: usize) -> impl Iterator<Item = usize> {
    let (size, longer) = if n <= buckets {
        (1, 0)
    } else {
        (n / buckets, n % buckets)
    };
    (0..buckets.min(n)).map(move |b| b * size + b.min(longer))
}

/// Positions, in sampling order, of the points MLflow's sample of `n` points keeps: the first
/// of each of `buckets` `NTILE` buckets, then the last point in place of the final sample
/// when it is not already there.
fn sample_positions(n: usize, buckets: usize) -> Vec<usize> {
    let mut positions: Vec<usize> = bucket_starts(n, buckets).collect();
    if let Some(last) = n.checked_sub(1)
        && positions.last() != Some(&last)
    {
        if positions.len() >= buckets {
            positions.pop();
        }
        positions.push(last);
    }
    positions
}

/// The step range of a rusqlite read, `first` and `second` naming its placeholders; empty
/// without a range.
fn step_range_sql(steps: Option<(i64, i64)>, first: &str, second: &str) -> String {
    steps.map_or(String::new(), |_| {
        format!(" AND step >= {first} AND step <= {second}")
    })
}

/// One run's bulk-interval sample on SQLite without reading every point whole, or `None` when
/// the points' steps do not rise with their history order (the caller then reads them all).
///
/// The sample needs the points in sampling order ([`sampling_order`]), which no index holds,
/// and all of them counted, but only a few hundred of them whole. When the steps never fall
/// along [`HISTORY_ORDER`], which the history index serves, the two orders are the same (equal
/// steps leave both to timestamp, value, `is_nan`); that is how points are logged during
/// training. So the first read takes each point's step and rowid from the index, stopping at
/// the first step that falls, and the second reads the sampled rows by rowid, in the same read
/// transaction. Reading 4 columns of each of 100,000 points through rusqlite had been two
/// thirds of the server's CPU in such a request (`sqlite3VdbeExec` 30%, the column reads 36%).
async fn sample_in_history_order(
    reader: &std::sync::Arc<crate::sqlite_direct::SqliteReader>,
    run_id: &str,
    key: &str,
    steps: Option<(i64, i64)>,
    buckets: usize,
) -> Result<Option<Vec<Point>>> {
    let sql = format!(
        "SELECT step, rowid FROM metrics WHERE run_uuid = ?1 AND \"key\" = ?2{} \
         ORDER BY {HISTORY_ORDER}",
        step_range_sql(steps, "?3", "?4"),
    );
    let (run_id, key) = (run_id.to_string(), key.to_string());
    reader
        .read(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let mut rowids = Vec::new();
            {
                let mut statement = tx.prepare_cached(&sql)?;
                let mut rows = match steps {
                    Some((first, last)) => statement.query((&run_id, &key, first, last))?,
                    None => statement.query((&run_id, &key))?,
                };
                let mut previous = i64::MIN;
                while let Some(row) = rows.next()? {
                    let step: i64 = row.get(0)?;
                    if step < previous {
                        return Ok(None);
                    }
                    previous = step;
                    rowids.push(row.get::<_, i64>(1)?);
                }
            }
            let chosen: Vec<i64> = sample_positions(rowids.len(), buckets)
                .into_iter()
                .map(|i| rowids[i])
                .collect();
            if chosen.is_empty() {
                return Ok(Some(Vec::new()));
            }
            let mut statement = tx.prepare(&format!(
                "SELECT rowid, \"timestamp\", step, value, is_nan FROM metrics \
                 WHERE rowid IN ({})",
                vec!["?"; chosen.len()].join(", ")
            ))?;
            let mut found = HashMap::with_capacity(chosen.len());
            let mut rows = statement.query(rusqlite::params_from_iter(&chosen))?;
            while let Some(row) = rows.next()? {
                found.insert(row.get::<_, i64>(0)?, Point::from_sqlite_row(row, 1)?);
            }
            Ok(chosen
                .iter()
                .map(|rowid| found.get(rowid).copied())
                .collect::<Option<Vec<Point>>>())
        })
        .await
}

impl Store {
    /// Points of one run's metric in [`HISTORY_ORDER`].
    ///
    /// Rows cross sqlx's driver one at a time, which for a 100,000-point history costs far
    /// more than the query. On SQLite they are read through [`crate::sqlite_direct`]; on
    /// PostgreSQL the database joins them into one binary value (see [`POINT_BYTES`]) and Rust
    /// splits it. Binary, because turning 100,000 points into text and back took twice as long
    /// in the database as the query itself, and the Rust side parsed 3.3 MB of text.
    ///
    /// The page's `ORDER BY` chooses its points; Rust then puts them in order, not the
    /// aggregate: PostgreSQL 15 sorts an aggregate's input again even when it arrives
    /// sorted (100,000 points in `psql`: 107 ms with the aggregate's `ORDER BY`, 60 ms
    /// without). Without it the aggregate joins rows in the order they arrive, which
    /// PostgreSQL does not promise, so Rust sorts them; its sort of points already in order
    /// is one pass.
    async fn points(&self, query: PointQuery) -> Result<Vec<Point>> {
        // A row value comparison over the order's own columns, so that "after" means after
        // in the page's order; both engines answer it from the history index.
        let after_sql = |first: &str, second: &str, third: &str, fourth: &str| {
            query.after.map_or(String::new(), |_| {
                format!(" AND ({HISTORY_ORDER}) > ({first}, {second}, {third}, {fourth})")
            })
        };
        if let crate::RowReader::Sqlite(reader) = &self.reader {
            let sql = format!(
                "SELECT \"timestamp\", step, value, is_nan FROM metrics WHERE run_uuid = ?1 \
                 AND \"key\" = ?2{}{} ORDER BY {HISTORY_ORDER} LIMIT ?3 OFFSET ?4",
                step_range_sql(query.steps, "?5", "?6"),
                after_sql("?7", "?8", "?9", "?10"),
            );
            return reader
                .read(move |conn| {
                    let mut statement = conn.prepare_cached(&sql)?;
                    let (first, last) = query.steps.unwrap_or_default();
                    // SQLite reads a negative LIMIT as none.
                    let limit = query.limit.unwrap_or(-1);
                    let mut params: Vec<(&str, &dyn rusqlite::ToSql)> = vec![
                        ("?1", &query.run_id),
                        ("?2", &query.key),
                        ("?3", &limit),
                        ("?4", &query.offset),
                    ];
                    if query.steps.is_some() {
                        params.extend([("?5", &first as &dyn rusqlite::ToSql), ("?6", &last)]);
                    }
                    if let Some(after) = &query.after {
                        params.extend([
                            ("?7", &after.timestamp as &dyn rusqlite::ToSql),
                            ("?8", &after.step),
                            ("?9", &after.value),
                            ("?10", &after.is_nan),
                        ]);
                    }
                    let mut rows = statement.query(params.as_slice())?;
                    // Sized for a page up front: growing the vector copied it again and again.
                    let mut points = Vec::with_capacity(
                        usize::try_from(limit).map_or(1024, |limit| limit.min(1 << 16)),
                    );
                    while let Some(row) = rows.next()? {
                        points.push(Point::from_sqlite_row(row, 0)?);
                    }
                    Ok(points)
                })
                .await;
        }
        let mut qb = SqlBuilder::for_backend(
            self.pools.backend,
            "SELECT string_agg(int8send(\"timestamp\") || int8send(step) || \
             float8send(value) || boolsend(is_nan), ''::bytea) \
             FROM (SELECT \"timestamp\", step, is_nan, value \
             FROM metrics WHERE run_uuid = ",
        );
        qb.push_bind(query.run_id);
        qb.push(" AND \"key\" = ");
        qb.push_bind(query.key);
        if let Some((first, last)) = query.steps {
            qb.push(" AND step >= ");
            qb.push_bind(first);
            qb.push(" AND step <= ");
            qb.push_bind(last);
        }
        if let Some(after) = query.after {
            qb.push(format!(" AND ({HISTORY_ORDER}) > ("));
            qb.push_bind(after.timestamp);
            qb.sep().push_bind(after.step);
            qb.sep().push_bind(after.value);
            qb.sep().push_bind(after.is_nan);
            qb.push(")");
        }
        qb.push(format!(" ORDER BY {HISTORY_ORDER}"));
        if let Some(limit) = query.limit {
            qb.push(" LIMIT ");
            qb.push_bind(limit);
        }
        qb.push(" OFFSET ");
        qb.push_bind(query.offset);
        qb.push(") page");
        let bytes: Option<Vec<u8>> = qb
            .build()
            .fetch_one(&self.pools.read)
            .await
            .map_err(db_error)?
            .try_get(0)
            .map_err(db_error)?;
        let mut points = parse_points(bytes.as_deref().unwrap_or_default())?;
        points.sort_by(history_order);
        Ok(points)
    }

    /// Every point logged for `key` in a run, or one page of them when `max_results` is given.
    /// An unknown run or key has an empty history, as in MLflow.
    pub async fn get_metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<MetricPage> {
        let (offset, after) = decode_history_token(page_token)?;
        let mut points = self
            .points(PointQuery {
                run_id: run_id.to_string(),
                key: key.to_string(),
                steps: None,
                limit: max_results.map(|max| max.saturating_add(1)),
                // The offset counts the points before `after`.
                offset: if after.is_some() { 0 } else { offset },
                after,
            })
            .await?;
        let next_page_token = match max_results {
            Some(max) if points.len() as i64 > max => {
                points.truncate(max as usize);
                points
                    .last()
                    .map(|&last| encode_history_token(offset.saturating_add(max), last))
            }
            _ => None,
        };
        Ok(MetricPage {
            points: points.into_iter().map(Point::history_point).collect(),
            next_page_token,
        })
    }

    /// Up to `max_results` points per run, sampled evenly over (step, timestamp, value) order,
    /// keeping each run's first and last point: what the UI's charts ask for. The sample is
    /// MLflow's: the first point of each of `max_results` `NTILE` buckets, then the last point
    /// in place of the final sample when it is not already there.
    pub async fn get_metric_history_bulk_interval(
        &self,
        run_ids: &[String],
        key: &str,
        max_results: i64,
        steps: Option<(i64, i64)>,
    ) -> Result<Vec<MetricWithRunId>> {
        let buckets = usize::try_from(max_results.max(1)).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for run_id in run_ids {
            // The sampled rows are read by an `IN` list of rowids, so its length is bounded.
            let sampled = match &self.reader {
                crate::RowReader::Sqlite(reader) if buckets < IN_CHUNK => {
                    sample_in_history_order(reader, run_id, key, steps, buckets).await?
                }
                _ => None,
            };
            let sample = match sampled {
                Some(sample) => sample,
                None => {
                    let mut points = self
                        .points(PointQuery {
                            run_id: run_id.clone(),
                            key: key.to_string(),
                            steps,
                            limit: None,
                            offset: 0,
                            after: None,
                        })
                        .await?;
                    points.sort_by(sampling_order);
                    sample_positions(points.len(), buckets)
                        .into_iter()
                        .map(|i| points[i])
                        .collect()
                }
            };
            out.extend(sample.into_iter().map(|p| {
                let p = p.history_point();
                MetricWithRunId {
                    key: key.to_string(),
                    value: p.value,
                    timestamp: p.timestamp,
                    step: p.step,
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

#[cfg(test)]
mod tests {
    use super::{Point, bucket_starts, history_order, parse_points};

    #[test]
    fn points_are_read_from_postgresqls_binary_forms() {
        // What int8send, float8send and boolsend print: big-endian, bool as one byte.
        let mut bytes = Vec::new();
        for (timestamp, step, value, is_nan) in [
            (1_700_000_000_000_i64, -3_i64, 0.1_f64, 0_u8),
            (-1, i64::MAX, f64::INFINITY, 1),
        ] {
            bytes.extend(timestamp.to_be_bytes());
            bytes.extend(step.to_be_bytes());
            bytes.extend(value.to_be_bytes());
            bytes.push(is_nan);
        }
        let points = parse_points(&bytes).unwrap();
        assert_eq!(
            points,
            vec![
                Point {
                    timestamp: 1_700_000_000_000,
                    step: -3,
                    value: 0.1,
                    is_nan: false
                },
                Point {
                    timestamp: -1,
                    step: i64::MAX,
                    value: f64::INFINITY,
                    is_nan: true
                },
            ]
        );
        assert!(parse_points(&[]).unwrap().is_empty());
        assert!(parse_points(&bytes[..30]).is_err());
    }

    /// What PostgreSQL's `ORDER BY "timestamp", step, value, is_nan` gives, whatever order
    /// the points come in.
    #[test]
    fn history_order_is_the_databases() {
        let point = |timestamp, step, value, is_nan| Point {
            timestamp,
            step,
            value,
            is_nan,
        };
        let ordered = vec![
            point(1, 5, 0.0, false),
            point(1, 5, 0.0, true),
            point(1, 5, 2.0, false),
            point(1, 6, -1.0, false),
            point(2, 0, f64::MIN, false),
            point(2, 0, f64::MAX, false),
        ];
        let mut shuffled = ordered.clone();
        shuffled.reverse();
        shuffled.swap(0, 3);
        shuffled.sort_by(history_order);
        assert_eq!(shuffled, ordered);
    }

    #[test]
    fn bucket_starts_follow_ntile() {
        // NTILE(3) over 10 rows: buckets of 4, 3 and 3.
        assert_eq!(bucket_starts(10, 3).collect::<Vec<_>>(), vec![0, 4, 7]);
        assert_eq!(bucket_starts(9, 3).collect::<Vec<_>>(), vec![0, 3, 6]);
        // No more rows than buckets: every row.
        assert_eq!(bucket_starts(3, 5).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(bucket_starts(0, 5).count(), 0);
    }
}
