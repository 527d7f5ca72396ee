//! MLflow 3 logged models: create, finalize, read, tag, search, and the metrics linked to them.

use std::collections::HashMap;

use base64::Engine as _;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use trackway_core::entities::{
    KeyValue, LoggedModel, LoggedModelData, LoggedModelInfo, LoggedModelStatus, ModelMetric,
};
use trackway_core::search::{Clause, EntityType, Value, parse_logged_model_filter};
use trackway_core::validation::parse_experiment_ids;
use trackway_core::{Error, Result};

use crate::rows::for_each_in_chunks;
use crate::sql::{SqlBuilder, push_value_comparison};
use crate::uri::append_to_uri_path;
use crate::{Page, Store, db_error, now_ms};

/// What `POST /logged-models` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewLoggedModel<'a> {
    /// Experiment.
    pub experiment_id: &'a str,
    /// Name; a random one when absent.
    pub name: Option<&'a str>,
    /// Flavor family.
    pub model_type: Option<&'a str>,
    /// The run that logs it.
    pub source_run_id: Option<&'a str>,
    /// Params.
    pub params: &'a [KeyValue],
    /// Tags.
    pub tags: &'a [KeyValue],
}

/// One element of `logged-models/search`'s structured `order_by`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModelOrder {
    /// A column (aliases resolved) or `metrics.<name>`.
    pub field_name: String,
    /// Direction.
    pub ascending: bool,
    /// For metrics: only values on this dataset.
    pub dataset_name: Option<String>,
    /// For metrics: only values on this dataset digest.
    pub dataset_digest: Option<String>,
}

/// A dataset restriction of `logged-models/search`.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetFilter {
    /// Dataset name.
    pub dataset_name: String,
    /// Dataset digest, if restricted.
    pub dataset_digest: Option<String>,
}

const COLUMNS: &str = "lm.model_id, lm.experiment_id, lm.name, lm.artifact_location, \
     lm.creation_timestamp_ms, lm.last_updated_timestamp_ms, lm.status, lm.lifecycle_stage, \
     lm.model_type, lm.source_run_id, lm.status_message";

fn not_found(model_id: &str) -> Error {
    Error::not_found(format!("Logged model with ID '{model_id}' not found."))
}

fn validate_name(name: &str) -> Result<()> {
    const BAD: [char; 6] = ['/', ':', '.', '%', '"', '\''];
    if name.is_empty() || name.contains(BAD) {
        return Err(Error::invalid(format!(
            "Invalid model name ('{name}') provided. Model name must be a non-empty string and \
             cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")"
        )));
    }
    Ok(())
}

fn info(row: &AnyRow) -> Result<(LoggedModelInfo, String)> {
    let experiment_id: i64 = row.try_get("experiment_id").map_err(db_error)?;
    let stage: Option<String> = row.try_get("lifecycle_stage").map_err(db_error)?;
    Ok((
        LoggedModelInfo {
            model_id: row.try_get("model_id").map_err(db_error)?,
            experiment_id: experiment_id.to_string(),
            name: row.try_get("name").map_err(db_error)?,
            creation_timestamp_ms: row.try_get("creation_timestamp_ms").map_err(db_error)?,
            last_updated_timestamp_ms: row
                .try_get("last_updated_timestamp_ms")
                .map_err(db_error)?,
            artifact_uri: row.try_get("artifact_location").map_err(db_error)?,
            status: LoggedModelStatus::from_int(row.try_get("status").map_err(db_error)?),
            model_type: row.try_get("model_type").map_err(db_error)?,
            source_run_id: row.try_get("source_run_id").map_err(db_error)?,
            status_message: row.try_get("status_message").map_err(db_error)?,
            tags: Vec::new(),
        },
        stage.unwrap_or_default(),
    ))
}

/// Base64 of MLflow's own token JSON, so tokens carry the query they belong to.
fn encode_token(
    experiment_ids: &[String],
    filter: Option<&str>,
    order_by: &serde_json::Value,
    offset: i64,
) -> String {
    let json = serde_json::json!({
        "experiment_ids": experiment_ids,
        "filter_string": filter,
        "order_by": order_by,
        "offset": offset,
    });
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

fn decode_token(
    token: &str,
    experiment_ids: &[String],
    filter: Option<&str>,
    order_by: &serde_json::Value,
) -> Result<i64> {
    let invalid = || Error::invalid(format!("Invalid page token: {token}."));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| invalid())?;
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let ids: Vec<String> = parsed["experiment_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if ids != experiment_ids {
        return Err(Error::invalid(format!(
            "Experiment IDs in the page token do not match the requested experiment IDs. \
             Expected: {experiment_ids:?}. Found: {ids:?}"
        )));
    }
    let token_filter = parsed["filter_string"].as_str().filter(|f| !f.is_empty());
    if token_filter != filter.filter(|f| !f.is_empty()) {
        return Err(Error::invalid(
            "Filter string in the page token does not match the requested filter string.",
        ));
    }
    let token_order = if parsed["order_by"].is_null() {
        serde_json::json!([])
    } else {
        parsed["order_by"].clone()
    };
    let requested = if order_by.is_null() {
        serde_json::json!([])
    } else {
        order_by.clone()
    };
    if token_order != requested {
        return Err(Error::invalid(
            "Order by in the page token does not match the requested order by.",
        ));
    }
    Ok(parsed["offset"].as_i64().unwrap_or(0).max(0))
}

impl Store {
    /// Creates a logged model (status PENDING) in an active experiment.
    pub async fn create_logged_model(&self, new: NewLoggedModel<'_>) -> Result<LoggedModel> {
        if let Some(name) = new.name {
            validate_name(name)?;
        }
        let experiment = self.experiment_for_new_run(new.experiment_id).await?;
        let model_id = format!("m-{}", uuid::Uuid::new_v4().simple());
        let artifact_uri = append_to_uri_path(
            &experiment.artifact_location,
            &["models", &model_id, "artifacts"],
        );
        let name = new
            .name
            .map(str::to_string)
            .unwrap_or_else(crate::runs::generate_run_name);
        let experiment_id: i64 = experiment.experiment_id.parse().unwrap_or_default();
        let now = now_ms();
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, \
             creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, model_type, \
             source_run_id, status_message) VALUES ($1, $2, $3, $4, $5, $5, $6, 'active', $7, $8, NULL)",
        )
        .bind(&model_id)
        .bind(experiment_id)
        .bind(&name)
        .bind(&artifact_uri)
        .bind(now)
        .bind(LoggedModelStatus::Pending.to_int())
        .bind(new.model_type)
        .bind(new.source_run_id)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        for (table, key_col, value_col, items) in [
            (
                "logged_model_params",
                "param_key",
                "param_value",
                new.params,
            ),
            ("logged_model_tags", "tag_key", "tag_value", new.tags),
        ] {
            for kv in items {
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {table} (model_id, experiment_id, {key_col}, {value_col}) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (model_id, {key_col}) DO UPDATE SET \
                     {value_col} = excluded.{value_col}"
                )))
                .bind(&model_id)
                .bind(experiment_id)
                .bind(&kv.key)
                .bind(&kv.value)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            }
        }
        tx.commit().await.map_err(db_error)?;
        self.get_logged_model(&model_id, false).await
    }

    /// Gets a logged model; a deleted one only with `allow_deleted`.
    pub async fn get_logged_model(
        &self,
        model_id: &str,
        allow_deleted: bool,
    ) -> Result<LoggedModel> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM logged_models lm WHERE lm.model_id = $1"
        )))
        .bind(model_id)
        .fetch_optional(&self.pools.read)
        .await
        .map_err(db_error)?
        .ok_or_else(|| not_found(model_id))?;
        let (info, stage) = info(&row)?;
        if stage == "deleted" && !allow_deleted {
            return Err(not_found(model_id));
        }
        let mut models = self.load_logged_models(vec![info]).await?;
        models.pop().ok_or_else(|| not_found(model_id))
    }

    async fn require_logged_model(&self, model_id: &str) -> Result<i64> {
        sqlx::query("SELECT experiment_id FROM logged_models WHERE model_id = $1")
            .bind(model_id)
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?
            .map(|row| row.try_get::<i64, _>(0).map_err(db_error))
            .transpose()?
            .ok_or_else(|| not_found(model_id))
    }

    /// Sets a logged model's final status.
    pub async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        self.require_logged_model(model_id).await?;
        sqlx::query("UPDATE logged_models SET status = $1, last_updated_timestamp_ms = $2 WHERE model_id = $3")
            .bind(status.to_int())
            .bind(now_ms())
            .bind(model_id)
            .execute(&mut *self.pools.write().await.map_err(db_error)?)
            .await
            .map_err(db_error)?;
        self.get_logged_model(model_id, true).await
    }

    /// Soft-deletes a logged model.
    pub async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        self.require_logged_model(model_id).await?;
        sqlx::query(
            "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp_ms = $1 \
             WHERE model_id = $2",
        )
        .bind(now_ms())
        .bind(model_id)
        .execute(&mut *self.pools.write().await.map_err(db_error)?)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    /// Sets tags on a logged model (a key given twice keeps its last value).
    pub async fn set_logged_model_tags(&self, model_id: &str, tags: &[KeyValue]) -> Result<()> {
        let experiment_id = self.require_logged_model(model_id).await?;
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        for tag in tags {
            sqlx::query(
                "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (model_id, tag_key) DO UPDATE SET \
                 tag_value = excluded.tag_value",
            )
            .bind(model_id)
            .bind(experiment_id)
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    /// Deletes a tag of a logged model.
    pub async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        self.require_logged_model(model_id).await?;
        let deleted =
            sqlx::query("DELETE FROM logged_model_tags WHERE model_id = $1 AND tag_key = $2")
                .bind(model_id)
                .bind(key)
                .execute(&mut *self.pools.write().await.map_err(db_error)?)
                .await
                .map_err(db_error)?;
        if deleted.rows_affected() == 0 {
            return Err(Error::not_found(format!(
                "No tag with key '{key}' found for model with ID '{model_id}'."
            )));
        }
        Ok(())
    }

    /// Adds params to a logged model.
    pub async fn log_logged_model_params(&self, model_id: &str, params: &[KeyValue]) -> Result<()> {
        let experiment_id = self.require_logged_model(model_id).await?;
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        for param in params {
            // A logged model's params cannot change, as in MLflow (which reports the primary
            // key violation as BAD_REQUEST).
            let inserted = sqlx::query(
                "INSERT INTO logged_model_params (model_id, experiment_id, param_key, param_value) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(model_id)
            .bind(experiment_id)
            .bind(&param.key)
            .bind(&param.value)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            if inserted.rows_affected() == 0 {
                return Err(Error::new(
                    trackway_core::ErrorCode::BadRequest,
                    format!(
                        "Param '{}' was already logged for model '{model_id}'.",
                        param.key
                    ),
                ));
            }
        }
        tx.commit().await.map_err(db_error)
    }

    /// `logged-models/search`.
    #[allow(clippy::too_many_arguments)]
    pub async fn search_logged_models(
        &self,
        experiment_ids: &[String],
        filter: Option<&str>,
        datasets: &[DatasetFilter],
        max_results: Option<i64>,
        order_by: &[LoggedModelOrder],
        order_by_json: &serde_json::Value,
        page_token: Option<&str>,
    ) -> Result<Page<LoggedModel>> {
        let clauses = parse_logged_model_filter(filter.unwrap_or_default())?;
        let ids = parse_experiment_ids(experiment_ids)?;
        let offset = match page_token.filter(|t| !t.is_empty()) {
            Some(token) => decode_token(token, experiment_ids, filter, order_by_json)?,
            None => 0,
        };
        let max_results = max_results.filter(|m| *m > 0).unwrap_or(100);
        if ids.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: None,
            });
        }
        let backend = self.pools.backend;
        let dataset_condition = |qb: &mut SqlBuilder| {
            qb.push(" AND (");
            for (i, d) in datasets.iter().enumerate() {
                if i > 0 {
                    qb.push(" OR ");
                }
                qb.push("(m.dataset_name = ");
                qb.push_bind(d.dataset_name.clone());
                if let Some(digest) = &d.dataset_digest {
                    qb.push(" AND m.dataset_digest = ");
                    qb.push_bind(digest.clone());
                }
                qb.push(")");
            }
            qb.push(")");
        };

        let mut qb = SqlBuilder::new(format!(
            "SELECT {COLUMNS} FROM logged_models lm WHERE lm.lifecycle_stage != 'deleted' AND lm.experiment_id IN ("
        ));
        qb.push_bind_list(ids);
        qb.push(")");
        let mut has_metric_filter = false;
        for clause in &clauses {
            qb.push(" AND");
            match clause.entity {
                EntityType::Attribute if clause.key == "status" => {
                    // Stored as an integer; MLflow's names are accepted too.
                    let as_int =
                        |s: &str| LoggedModelStatus::from_proto(s).map_or(-1, |st| st.to_int());
                    let clause = match &clause.value {
                        Value::Str(s) => Clause {
                            value: Value::Number(as_int(s) as f64),
                            ..clause.clone()
                        },
                        _ => clause.clone(),
                    };
                    push_value_comparison(&mut qb, backend, "lm.status", &clause);
                }
                EntityType::Attribute if clause.key == "experiment_id" => {
                    let clause = match &clause.value {
                        Value::Str(s) => Clause {
                            value: Value::Number(s.parse::<f64>().unwrap_or(-1.0)),
                            ..clause.clone()
                        },
                        _ => clause.clone(),
                    };
                    push_value_comparison(&mut qb, backend, "lm.experiment_id", &clause);
                }
                EntityType::Attribute => {
                    push_value_comparison(&mut qb, backend, &format!("lm.{}", clause.key), clause);
                }
                EntityType::Metric => {
                    has_metric_filter = true;
                    qb.push(" EXISTS (SELECT 1 FROM logged_model_metrics m WHERE m.model_id = lm.model_id AND m.metric_name = ");
                    qb.push_bind(clause.key.clone());
                    qb.push(" AND");
                    push_value_comparison(&mut qb, backend, "m.metric_value", clause);
                    if !datasets.is_empty() {
                        dataset_condition(&mut qb);
                    }
                    qb.push(")");
                }
                EntityType::Param | EntityType::Tag => {
                    let (table, key, value) = if clause.entity == EntityType::Param {
                        ("logged_model_params", "param_key", "param_value")
                    } else {
                        ("logged_model_tags", "tag_key", "tag_value")
                    };
                    qb.push(format!(" EXISTS (SELECT 1 FROM {table} x WHERE x.model_id = lm.model_id AND x.{key} = "));
                    qb.push_bind(clause.key.clone());
                    qb.push(" AND");
                    push_value_comparison(&mut qb, backend, &format!("x.{value}"), clause);
                    qb.push(")");
                }
                EntityType::Dataset => {
                    qb.push(" TRUE");
                }
            }
        }
        if !datasets.is_empty() && !has_metric_filter {
            qb.push(
                " AND EXISTS (SELECT 1 FROM logged_model_metrics m WHERE m.model_id = lm.model_id",
            );
            dataset_condition(&mut qb);
            qb.push(")");
        }
        let mut keys = Vec::new();
        let mut has_creation = false;
        let mut has_model_id = false;
        qb.push(" ORDER BY ");
        for o in order_by {
            let direction = if o.ascending { "ASC" } else { "DESC" };
            if let Some(metric) = o.field_name.strip_prefix("metrics.") {
                // The latest value of the metric per model (newest timestamp, then step).
                let mut expr = String::from(
                    "(SELECT m.metric_value FROM logged_model_metrics m WHERE m.model_id = lm.model_id AND m.metric_name = ",
                );
                expr.push_str(&qb.placeholder_for(metric.to_string()));
                if let Some(name) = &o.dataset_name {
                    expr.push_str(" AND m.dataset_name = ");
                    expr.push_str(&qb.placeholder_for(name.clone()));
                }
                if let Some(digest) = &o.dataset_digest {
                    expr.push_str(" AND m.dataset_digest = ");
                    expr.push_str(&qb.placeholder_for(digest.clone()));
                }
                expr.push_str(" ORDER BY m.metric_timestamp_ms DESC, m.metric_step DESC, m.run_id ASC LIMIT 1)");
                keys.push(format!("CASE WHEN {expr} IS NULL THEN 1 ELSE 0 END ASC"));
                keys.push(format!("{expr} {direction}"));
            } else {
                let column = trackway_core::search::logged_model_column(&o.field_name);
                if !trackway_core::search::LOGGED_MODEL_COLUMNS.contains(&column) {
                    return Err(Error::invalid(format!(
                        "Invalid order by field name: {}",
                        o.field_name
                    ))
                    .attribute_not_found());
                }
                has_creation |= column == "creation_timestamp_ms";
                has_model_id |= column == "model_id";
                keys.push(format!(
                    "CASE WHEN lm.{column} IS NULL THEN 1 ELSE 0 END ASC"
                ));
                keys.push(format!("lm.{column} {direction}"));
            }
        }
        if !has_creation {
            keys.push("lm.creation_timestamp_ms DESC".into());
        }
        if !has_model_id {
            keys.push("lm.model_id ASC".into());
        }
        qb.push(keys.join(", "));
        qb.push(" LIMIT ");
        qb.push_bind(max_results + 1);
        qb.push(" OFFSET ");
        qb.push_bind(offset);
        let rows = qb
            .build()
            .fetch_all(&self.pools.read)
            .await
            .map_err(db_error)?;
        let mut infos = rows
            .iter()
            .map(|r| info(r).map(|(i, _)| i))
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = if infos.len() as i64 > max_results {
            infos.truncate(max_results as usize);
            Some(encode_token(
                experiment_ids,
                filter,
                order_by_json,
                offset + max_results,
            ))
        } else {
            None
        };
        let items = self.load_logged_models(infos).await?;
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// Adds tags, params and metrics to logged models, keeping their order.
    async fn load_logged_models(&self, infos: Vec<LoggedModelInfo>) -> Result<Vec<LoggedModel>> {
        let ids: Vec<String> = infos.iter().map(|i| i.model_id.clone()).collect();
        let index: HashMap<String, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let mut models: Vec<LoggedModel> = infos
            .into_iter()
            .map(|info| LoggedModel {
                info,
                data: LoggedModelData::default(),
            })
            .collect();
        if models.is_empty() {
            return Ok(models);
        }
        let pool = &self.pools.read;
        for_each_in_chunks(
            pool,
            "SELECT model_id, tag_key, tag_value FROM logged_model_tags WHERE model_id IN (",
            "",
            &ids,
            |row| {
                let id: String = row.try_get("model_id").map_err(db_error)?;
                if let Some(&i) = index.get(&id) {
                    models[i].info.tags.push(KeyValue {
                        key: row.try_get("tag_key").map_err(db_error)?,
                        value: row.try_get("tag_value").map_err(db_error)?,
                    });
                }
                Ok(())
            },
        )
        .await?;
        for_each_in_chunks(
            pool,
            "SELECT model_id, param_key, param_value FROM logged_model_params WHERE model_id IN (",
            "",
            &ids,
            |row| {
                let id: String = row.try_get("model_id").map_err(db_error)?;
                if let Some(&i) = index.get(&id) {
                    models[i].data.params.push(KeyValue {
                        key: row.try_get("param_key").map_err(db_error)?,
                        value: row.try_get("param_value").map_err(db_error)?,
                    });
                }
                Ok(())
            },
        )
        .await?;
        for_each_in_chunks(
            pool,
            "SELECT model_id, metric_name, metric_timestamp_ms, metric_step, metric_value, run_id, \
             dataset_name, dataset_digest FROM logged_model_metrics WHERE model_id IN (",
            "",
            &ids,
            |row| {
                let id: String = row.try_get("model_id").map_err(db_error)?;
                if let Some(&i) = index.get(&id) {
                    models[i].data.metrics.push(ModelMetric {
                        key: row.try_get("metric_name").map_err(db_error)?,
                        value: row
                            .try_get::<Option<f64>, _>("metric_value")
                            .map_err(db_error)?
                            .unwrap_or(f64::NAN),
                        timestamp: row.try_get("metric_timestamp_ms").map_err(db_error)?,
                        step: row.try_get("metric_step").map_err(db_error)?,
                        dataset_name: row.try_get("dataset_name").map_err(db_error)?,
                        dataset_digest: row.try_get("dataset_digest").map_err(db_error)?,
                        model_id: id,
                        run_id: row.try_get("run_id").map_err(db_error)?,
                    });
                }
                Ok(())
            },
        )
        .await?;
        Ok(models)
    }
}
