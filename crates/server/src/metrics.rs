//! Metric history endpoints.

use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use trackway_core::Error;

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
    Ok(reply_page("metrics", &page.metrics, page.next_page_token))
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
