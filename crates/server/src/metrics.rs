//! Metric history endpoints.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use trackway_core::Error;
use trackway_core::entities::serialize_double;
use trackway_store::HistoryPoint;

use crate::error::ApiResult;
use crate::request::{Fields, missing};
use crate::{AppState, reply, reply_page};

/// Most runs per bulk request.
const MAX_RUNS_PER_BULK_REQUEST: usize = 100;
/// Most points per run that `get-history-bulk-interval` returns.
const MAX_RESULTS_PER_RUN: i64 = 2500;
/// Most points `get-history-bulk` returns.
const MAX_BULK_HISTORY_RESULTS: i64 = 25000;

/// `GET /metrics/get-history`
pub async fn get_history(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    let key = fields.required_string("metric_key")?;
    let token = fields.string("page_token")?;
    // A max_results that is not a number is dropped (MLflow's proto parsing leaves it unset),
    // which means "every point".
    let max_results = fields.i64("max_results").ok().flatten();
    if let Some(max) = max_results.filter(|m| *m <= 0) {
        return Err(Error::invalid(format!(
            "Invalid value {max} for parameter 'max_results' supplied. It must be a positive integer."
        ))
        .into());
    }
    let page = state
        .store
        .get_metric_history(&run_id, &key, max_results, token.as_deref())
        .await?;
    Ok(history_page(
        &key,
        &page.points,
        page.next_page_token.as_deref(),
    ))
}

/// A `get-history` page as [`reply_page`] prints it, written by hand into a buffer sized for
/// it. Through serde every point paid for a map, four escaped field names, its key escaped
/// again and the buffer's regrowth: about a third of the server's time for a 25,000-point
/// page. Numbers still go through serde_json's own formatting, so the text is the same.
fn history_page(key: &str, points: &[HistoryPoint], next_page_token: Option<&str>) -> Response {
    // Writing into a `Vec` cannot fail, so the serializer's results are ignored.
    fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
        let _ = serde_json::to_writer(out, value);
    }
    // What every point starts with, its key escaped once for the page.
    let mut prefix = b"{\"key\":".to_vec();
    write_json(&mut prefix, key);
    prefix.extend_from_slice(b",\"value\":");
    // A point's numbers and the rest of its text are about 60 bytes; room for 72 means the
    // buffer is rarely copied to grow.
    let mut out = Vec::with_capacity(64 + points.len() * (prefix.len() + 72));
    out.push(b'{');
    if !points.is_empty() {
        out.extend_from_slice(b"\"metrics\":[");
        for (i, point) in points.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&prefix);
            let _ = serialize_double(&point.value, &mut serde_json::Serializer::new(&mut out));
            out.extend_from_slice(b",\"timestamp\":");
            write_json(&mut out, &point.timestamp);
            out.extend_from_slice(b",\"step\":");
            write_json(&mut out, &point.step);
            out.push(b'}');
        }
        out.push(b']');
    }
    if let Some(token) = next_page_token {
        if !points.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"next_page_token\":");
        write_json(&mut out, token);
    }
    out.push(b'}');
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        out,
    )
        .into_response()
}

/// `GET /metrics/get-history-bulk-interval`: sampled histories for the UI's charts.
pub async fn get_history_bulk_interval(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let run_ids = fields.string_list("run_ids")?;
    if run_ids.is_empty() {
        return Err(missing("run_ids").into());
    }
    if run_ids.len() > MAX_RUNS_PER_BULK_REQUEST {
        return Err(Error::invalid(format!(
            "GetMetricHistoryBulkInterval request must specify at most \
             {MAX_RUNS_PER_BULK_REQUEST} run_ids. Received {} run_ids. See the API docs for more \
             information about request parameters.",
            run_ids.len()
        ))
        .into());
    }
    let key = fields.required_string("metric_key")?;
    let start_step = fields.i64("start_step")?;
    let end_step = fields.i64("end_step")?;
    let max_results = fields.i64("max_results")?;
    if max_results.is_some_and(|m| !(1..=MAX_RESULTS_PER_RUN).contains(&m)) {
        return Err(Error::invalid(format!(
            "max_results must be between 1 and {MAX_RESULTS_PER_RUN}. See the API docs for more \
             information about request parameters."
        ))
        .into());
    }
    let steps = match (start_step, end_step) {
        (Some(start), Some(end)) if start > end => {
            return Err(Error::invalid(format!(
                "end_step must be greater than start_step. Found start_step={start} and \
                 end_step={end}."
            ))
            .into());
        }
        (Some(start), Some(end)) => Some((start, end)),
        (None, None) => None,
        _ => {
            return Err(Error::invalid(
                "If either start step or end step are specified, both must be specified.",
            )
            .into());
        }
    };
    let metrics = state
        .store
        .get_metric_history_bulk_interval(
            &run_ids,
            &key,
            max_results.unwrap_or(MAX_RESULTS_PER_RUN),
            steps,
        )
        .await?;
    Ok(reply_page("metrics", &metrics, None))
}

/// `GET /ajax-api/2.0/mlflow/metrics/get-history-bulk` (the UI's older bulk endpoint).
pub async fn get_history_bulk(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let run_ids = fields.string_list("run_id")?;
    if run_ids.is_empty() {
        return Err(Error::invalid(
            "GetMetricHistoryBulk request must specify at least one run_id.",
        )
        .into());
    }
    if run_ids.len() > MAX_RUNS_PER_BULK_REQUEST {
        return Err(Error::invalid(format!(
            "GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_PER_BULK_REQUEST} \
             run_ids. Received {} run_ids.",
            run_ids.len()
        ))
        .into());
    }
    let Some(key) = fields.string("metric_key")? else {
        return Err(
            Error::invalid("GetMetricHistoryBulk request must specify a metric_key.").into(),
        );
    };
    let max_results = fields
        .i64("max_results")?
        .unwrap_or(MAX_BULK_HISTORY_RESULTS)
        .min(MAX_BULK_HISTORY_RESULTS);
    let metrics = state
        .store
        .get_metric_history_bulk(&run_ids, &key, max_results)
        .await?;
    Ok(reply(json!({ "metrics": metrics })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trackway_core::entities::Metric;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn point(value: f64, timestamp: i64, step: i64) -> HistoryPoint {
        HistoryPoint {
            value,
            timestamp,
            step,
        }
    }

    #[tokio::test]
    async fn history_pages_print_as_serde_prints_them() {
        let points = [
            point(0.1 + 0.2, 1_700_000_000_000, 0),
            point(f64::NAN, -1, -5),
            point(f64::INFINITY, 0, i64::MAX),
            point(f64::NEG_INFINITY, i64::MIN, 1),
            point(-0.0, 2, 2),
            point(1e300, 3, 3),
            point(5.0, 4, 4),
        ];
        for key in ["loss \"x\"\n é", "other"] {
            for (points, token) in [
                (&points[..], Some("eyJvZmZzZXQiOiA3fQ==")),
                (&points[..], None),
                (&points[..1], None),
                (&[][..], Some("t")),
                (&[][..], None),
            ] {
                let metrics: Vec<Metric> = points
                    .iter()
                    .map(|p| Metric {
                        key: key.to_string(),
                        value: p.value,
                        timestamp: p.timestamp,
                        step: p.step,
                    })
                    .collect();
                let expected =
                    body(reply_page("metrics", &metrics, token.map(str::to_string))).await;
                let printed = body(history_page(key, points, token)).await;
                assert_eq!(printed, expected);
                serde_json::from_str::<serde_json::Value>(&printed).unwrap();
            }
        }
    }
}
