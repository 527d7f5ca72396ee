//! The model registry: registered models, their versions, tags and aliases, in MLflow's
//! `registered_models`, `model_versions`, `registered_model_tags`, `model_version_tags` and
//! `registered_model_aliases` tables.
//!
//! Version numbers come from `MAX(version) + 1` inside a write transaction that first updates
//! the registered model's row: on PostgreSQL that row lock serialises every creator of
//! versions of one model, across server processes; on SQLite the transaction holds the write
//! lock from its start. A unique-key conflict is retried anyway, as MLflow does.
//!
//! A deleted version keeps its row (stage `Deleted_Internal`, fields redacted) so its number is
//! never handed out again, as in MLflow.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use trackway_core::entities::{
    KeyValue, ModelVersion, RegisteredModel, RegisteredModelAlias, STAGE_DELETED_INTERNAL, Stage,
};
use trackway_core::search::{
    Clause, EntityType, RegistryOrderKey, RegistrySearch, Value, decode_page_token,
    encode_page_token, parse_model_version_order_by, parse_registered_model_order_by,
    parse_registry_filter,
};
use trackway_core::validation::{
    SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD, SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
    missing_value, parse_model_version, validate_alias_name, validate_alias_not_reserved,
    validate_key_name, validate_model_name, validate_registry_tag,
};
use trackway_core::{Error, ErrorCode, Result};

use crate::rows::for_each_in_chunks;
use crate::sql::{SqlBuilder, push_value_comparison};
use crate::{Page, Store, db_error, is_unique_violation, now_ms};

/// The tag that marks a registered model (and its versions) as a prompt.
pub const IS_PROMPT_TAG: &str = "mlflow.prompt.is_prompt";
/// The logged-model tag listing the registered versions made from it.
const MODEL_VERSIONS_TAG: &str = "mlflow.modelVersions";
/// Attempts at a version number before giving up, as MLflow's `CREATE_MODEL_VERSION_RETRIES`.
const CREATE_VERSION_ATTEMPTS: usize = 3;

const VERSION_COLUMNS: &str = "mv.name, mv.version, mv.creation_time, mv.last_updated_time, \
     mv.description, mv.current_stage, mv.source, mv.run_id, mv.status, mv.status_message, \
     mv.run_link, mv.storage_location";

/// What `model-versions/create` stores, after the HTTP layer checked the source.
#[derive(Debug, Clone, Default)]
pub struct NewModelVersion<'a> {
    /// Registered model.
    pub name: &'a str,
    /// Source URI as the client sent it (after `models:/X@alias` was resolved).
    pub source: &'a str,
    /// Where the files are, when it differs from `source` (a `models:/` source).
    pub storage_location: Option<&'a str>,
    /// Run, `""` when none.
    pub run_id: Option<&'a str>,
    /// Tags.
    pub tags: &'a [KeyValue],
    /// Run link.
    pub run_link: &'a str,
    /// Description.
    pub description: &'a str,
    /// The logged model registered, whose `mlflow.modelVersions` tag records this version.
    pub model_id: Option<&'a str>,
}

fn model_not_found(name: &str) -> Error {
    Error::not_found(format!("Registered Model with name={name} not found"))
}

fn version_not_found(name: &str, version: impl std::fmt::Display) -> Error {
    Error::not_found(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

fn model_version(row: &AnyRow) -> Result<ModelVersion> {
    let version: i64 = row.try_get("version").map_err(db_error)?;
    let status_message: Option<String> = row.try_get("status_message").map_err(db_error)?;
    Ok(ModelVersion {
        name: row.try_get("name").map_err(db_error)?,
        version: version.to_string(),
        creation_timestamp: row
            .try_get::<Option<i64>, _>("creation_time")
            .map_err(db_error)?
            .unwrap_or_default(),
        last_updated_timestamp: row.try_get("last_updated_time").map_err(db_error)?,
        current_stage: row.try_get("current_stage").map_err(db_error)?,
        description: row.try_get("description").map_err(db_error)?,
        source: row.try_get("source").map_err(db_error)?,
        run_id: row.try_get("run_id").map_err(db_error)?,
        status: row.try_get("status").map_err(db_error)?,
        status_message: status_message.filter(|m| !m.is_empty()),
        tags: Vec::new(),
        run_link: row.try_get("run_link").map_err(db_error)?,
        aliases: Vec::new(),
        storage_location: row.try_get("storage_location").map_err(db_error)?,
    })
}

fn registered_model(row: &AnyRow) -> Result<RegisteredModel> {
    let description: Option<String> = row.try_get("description").map_err(db_error)?;
    Ok(RegisteredModel {
        name: row.try_get("name").map_err(db_error)?,
        creation_timestamp: row.try_get("creation_time").map_err(db_error)?,
        last_updated_timestamp: row
            .try_get::<Option<i64>, _>("last_updated_time")
            .map_err(db_error)?
            .filter(|t| *t != 0),
        description: description.filter(|d| !d.is_empty()),
        latest_versions: Vec::new(),
        tags: Vec::new(),
        aliases: Vec::new(),
    })
}

/// Whether a filter asks for prompts rather than models (`tag.mlflow.prompt.is_prompt =
/// 'true'`); searches hide prompts otherwise.
fn querying_prompts(clauses: &[Clause]) -> bool {
    clauses
        .iter()
        .find(|c| c.entity == EntityType::Tag && c.key == IS_PROMPT_TAG)
        .is_some_and(|c| match (&c.value, c.comparator.as_str()) {
            (Value::Str(v), "=") => v.eq_ignore_ascii_case("true"),
            (Value::Str(v), "!=") => v.eq_ignore_ascii_case("false"),
            _ => false,
        })
}

/// Appends the tag conditions of a registry filter (all conditions on one key must hold for the
/// same tag row) and hides prompts unless the filter asks for them. When it does not, the
/// conditions on the prompt tag are dropped: models lack that tag, and `is_prompt != 'true'`
/// must still match them, as in MLflow.
fn push_tag_filters(
    qb: &mut SqlBuilder,
    backend: crate::Backend,
    clauses: &[Clause],
    table: &str,
    row_join: &str,
    model_join: &str,
) {
    let prompts = querying_prompts(clauses);
    let mut by_key: Vec<(&str, Vec<&Clause>)> = Vec::new();
    for clause in clauses
        .iter()
        .filter(|c| c.entity == EntityType::Tag && (prompts || c.key != IS_PROMPT_TAG))
    {
        match by_key.iter_mut().find(|(k, _)| *k == clause.key) {
            Some((_, list)) => list.push(clause),
            None => by_key.push((&clause.key, vec![clause])),
        }
    }
    for (key, conditions) in by_key {
        qb.push(format!(
            " AND EXISTS (SELECT 1 FROM {table} t WHERE {row_join} AND t.key = "
        ));
        qb.push_bind(key.to_string());
        for clause in conditions {
            qb.push(" AND");
            push_value_comparison(qb, backend, "t.value", clause);
        }
        qb.push(")");
    }
    if !prompts {
        // For model versions, one version tagged as a prompt hides every version of its model,
        // as MLflow's anti-join on the name does.
        qb.push(format!(
            " AND NOT EXISTS (SELECT 1 FROM {table} p WHERE {model_join} \
             AND p.key = '{IS_PROMPT_TAG}' AND p.value = 'true')"
        ));
    }
}

fn next_token(fetched: usize, max_results: i64, offset: i64) -> Option<String> {
    (fetched as i64 == max_results + 1).then(|| encode_page_token(offset + max_results))
}

/// Python's `json.dumps` of a `mlflow.modelVersions` list, so the tag reads the same as one
/// MLflow wrote.
fn python_json(value: &serde_json::Value) -> String {
    use trackway_core::validation::json_dumps_str;
    match value {
        serde_json::Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(python_json).collect();
            format!("[{}]", inner.join(", "))
        }
        serde_json::Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", json_dumps_str(k), python_json(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        serde_json::Value::String(s) => json_dumps_str(s),
        other => other.to_string(),
    }
}

impl Store {
    async fn require_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        validate_model_name(name)?;
        let row = sqlx::query(
            "SELECT name, creation_time, last_updated_time, description FROM registered_models \
             WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pools.read)
        .await
        .map_err(db_error)?
        .ok_or_else(|| model_not_found(name))?;
        registered_model(&row)
    }

    /// Creates a registered model.
    pub async fn create_registered_model(
        &self,
        name: &str,
        tags: &[KeyValue],
        description: &str,
    ) -> Result<RegisteredModel> {
        validate_model_name(name)?;
        for tag in tags {
            validate_registry_tag(&tag.key, &tag.value)?;
        }
        let now = now_ms();
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        let inserted = sqlx::query(
            "INSERT INTO registered_models (name, creation_time, last_updated_time, description) \
             VALUES ($1, $2, $2, $3)",
        )
        .bind(name)
        .bind(now)
        .bind(description)
        .execute(&mut **tx)
        .await;
        if let Err(e) = inserted {
            if !is_unique_violation(&e) {
                return Err(db_error(e));
            }
            drop(tx);
            let existing = self.get_registered_model(name).await?;
            let existing_prompt = existing.tags.iter().any(|t| t.key == IS_PROMPT_TAG);
            let new_prompt = tags.iter().any(|t| t.key == IS_PROMPT_TAG);
            let entity = |prompt: bool| if prompt { "Prompt" } else { "Registered Model" };
            if existing_prompt != new_prompt {
                return Err(Error::new(
                    ErrorCode::ResourceAlreadyExists,
                    format!(
                        "Tried to create a {} with name {}, but the name is already taken by a \
                         {}. MLflow does not allow creating a model and a prompt with the same \
                         name.",
                        entity(new_prompt).to_lowercase(),
                        trackway_core::validation::py_repr(name),
                        entity(existing_prompt).to_lowercase()
                    ),
                ));
            }
            return Err(Error::new(
                ErrorCode::ResourceAlreadyExists,
                format!("{} (name={name}) already exists.", entity(new_prompt)),
            ));
        }
        for tag in dedup_last(tags) {
            sqlx::query("INSERT INTO registered_model_tags (key, value, name) VALUES ($1, $2, $3)")
                .bind(&tag.key)
                .bind(&tag.value)
                .bind(name)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        self.get_registered_model(name).await
    }

    /// Gets a registered model with its latest versions, tags and aliases.
    pub async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let model = self.require_registered_model(name).await?;
        let mut models = self.load_registered_models(vec![model]).await?;
        models.pop().ok_or_else(|| model_not_found(name))
    }

    async fn load_registered_models(
        &self,
        mut models: Vec<RegisteredModel>,
    ) -> Result<Vec<RegisteredModel>> {
        if models.is_empty() {
            return Ok(models);
        }
        let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
        let mut latest = self.latest_versions(&names).await?;
        let mut tags: HashMap<String, Vec<KeyValue>> = HashMap::new();
        for_each_in_chunks(
            &self.pools.read,
            "SELECT name, key, value FROM registered_model_tags WHERE name IN (",
            " ORDER BY name, key",
            &names,
            |row| {
                let value: Option<String> = row.try_get(2).map_err(db_error)?;
                tags.entry(row.try_get(0).map_err(db_error)?)
                    .or_default()
                    .push(KeyValue {
                        key: row.try_get(1).map_err(db_error)?,
                        value: value.unwrap_or_default(),
                    });
                Ok(())
            },
        )
        .await?;
        let mut aliases: HashMap<String, Vec<RegisteredModelAlias>> = HashMap::new();
        for_each_in_chunks(
            &self.pools.read,
            "SELECT name, alias, version FROM registered_model_aliases WHERE name IN (",
            " ORDER BY name, alias",
            &names,
            |row| {
                let version: i64 = row.try_get(2).map_err(db_error)?;
                aliases
                    .entry(row.try_get(0).map_err(db_error)?)
                    .or_default()
                    .push(RegisteredModelAlias {
                        alias: row.try_get(1).map_err(db_error)?,
                        version: version.to_string(),
                    });
                Ok(())
            },
        )
        .await?;
        for model in &mut models {
            model.latest_versions = latest.remove(&model.name).unwrap_or_default();
            model.tags = tags.remove(&model.name).unwrap_or_default();
            model.aliases = aliases.remove(&model.name).unwrap_or_default();
        }
        Ok(models)
    }

    /// The highest live version in each stage, per model, with tags (no aliases: MLflow does
    /// not print them there).
    async fn latest_versions(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, Vec<ModelVersion>>> {
        let mut versions = Vec::new();
        for_each_in_chunks(
            &self.pools.read,
            &format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions mv \
                 WHERE mv.current_stage != '{STAGE_DELETED_INTERNAL}' AND mv.name IN ("
            ),
            " AND mv.version = (SELECT MAX(m2.version) FROM model_versions m2 \
             WHERE m2.workspace = mv.workspace AND m2.name = mv.name \
             AND m2.current_stage = mv.current_stage) ORDER BY mv.name, mv.version",
            names,
            |row| {
                versions.push(model_version(row)?);
                Ok(())
            },
        )
        .await?;
        let versions = self.load_version_tags(versions).await?;
        let mut out: HashMap<String, Vec<ModelVersion>> = HashMap::new();
        for v in versions {
            out.entry(v.name.clone()).or_default().push(v);
        }
        Ok(out)
    }

    async fn load_version_tags(
        &self,
        mut versions: Vec<ModelVersion>,
    ) -> Result<Vec<ModelVersion>> {
        if versions.is_empty() {
            return Ok(versions);
        }
        let mut names: Vec<String> = versions.iter().map(|v| v.name.clone()).collect();
        names.sort();
        names.dedup();
        let mut tags: HashMap<(String, String), Vec<KeyValue>> = HashMap::new();
        for_each_in_chunks(
            &self.pools.read,
            "SELECT name, version, key, value FROM model_version_tags WHERE name IN (",
            " ORDER BY name, version, key",
            &names,
            |row| {
                let version: i64 = row.try_get(1).map_err(db_error)?;
                let value: Option<String> = row.try_get(3).map_err(db_error)?;
                tags.entry((row.try_get(0).map_err(db_error)?, version.to_string()))
                    .or_default()
                    .push(KeyValue {
                        key: row.try_get(2).map_err(db_error)?,
                        value: value.unwrap_or_default(),
                    });
                Ok(())
            },
        )
        .await?;
        for v in &mut versions {
            v.tags = tags
                .remove(&(v.name.clone(), v.version.clone()))
                .unwrap_or_default();
        }
        Ok(versions)
    }

    /// Sets a registered model's description (the last update time moves).
    pub async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel> {
        self.require_registered_model(name).await?;
        sqlx::query(
            "UPDATE registered_models SET description = $1, last_updated_time = $2 WHERE name = $3",
        )
        .bind(description)
        .bind(now_ms())
        .bind(name)
        .execute(&mut *self.pools.write().await.map_err(db_error)?)
        .await
        .map_err(db_error)?;
        self.get_registered_model(name).await
    }

    /// Renames a registered model; versions, tags and aliases follow through the schema's
    /// `ON UPDATE CASCADE` keys.
    pub async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        if new_name.trim().is_empty() {
            return Err(Error::invalid(missing_value("new_name")));
        }
        validate_model_name(new_name)?;
        self.require_registered_model(name).await?;
        let now = now_ms();
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        sqlx::query(
            "UPDATE registered_models SET name = $1, last_updated_time = $2 WHERE name = $3",
        )
        .bind(new_name)
        .bind(now)
        .bind(name)
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::new(
                    ErrorCode::ResourceAlreadyExists,
                    format!("Registered Model (name={new_name}) already exists. Error: {e}"),
                )
            } else {
                db_error(e)
            }
        })?;
        sqlx::query("UPDATE model_versions SET last_updated_time = $1 WHERE name = $2")
            .bind(now)
            .bind(new_name)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        self.get_registered_model(new_name).await
    }

    /// Deletes a registered model with its versions, tags and aliases.
    pub async fn delete_registered_model(&self, name: &str) -> Result<()> {
        self.require_registered_model(name).await?;
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        for table in [
            "model_version_tags",
            "registered_model_aliases",
            "model_versions",
            "registered_model_tags",
            "registered_models",
        ] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE name = $1"
            )))
            .bind(name)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    /// `registered-models/search`.
    pub async fn search_registered_models(
        &self,
        filter: Option<&str>,
        max_results: i64,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<Page<RegisteredModel>> {
        if max_results > SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD {
            return Err(Error::invalid(format!(
                "Invalid value for request parameter max_results. It must be at most \
                 {SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD}, but got value {max_results}"
            )));
        }
        let clauses =
            parse_registry_filter(RegistrySearch::RegisteredModels, filter.unwrap_or_default())?;
        let order = parse_registered_model_order_by(order_by)?;
        let offset = decode_page_token(page_token)?;
        let backend = self.pools.backend;
        let mut qb = SqlBuilder::for_backend(
            self.pools.backend,
            "SELECT rm.name, rm.creation_time, rm.last_updated_time, rm.description \
             FROM registered_models rm WHERE 1 = 1",
        );
        for clause in clauses.iter().filter(|c| c.entity == EntityType::Attribute) {
            qb.push(" AND");
            push_value_comparison(&mut qb, backend, "rm.name", clause);
        }
        push_tag_filters(
            &mut qb,
            backend,
            &clauses,
            "registered_model_tags",
            "t.workspace = rm.workspace AND t.name = rm.name",
            "p.workspace = rm.workspace AND p.name = rm.name",
        );
        qb.push(" ORDER BY ");
        let order_sql: Vec<String> = order
            .iter()
            .map(|(key, ascending)| {
                let column = match key {
                    RegistryOrderKey::Name => "rm.name",
                    _ => "rm.last_updated_time",
                };
                format!("{column} {}", if *ascending { "ASC" } else { "DESC" })
            })
            .collect();
        qb.push(order_sql.join(", "));
        qb.push(" LIMIT ");
        qb.push_bind((max_results + 1).max(0));
        qb.push(" OFFSET ");
        qb.push_bind(offset);
        let rows = qb
            .build()
            .fetch_all(&self.pools.read)
            .await
            .map_err(db_error)?;
        let next_page_token = next_token(rows.len(), max_results, offset);
        let models = rows
            .iter()
            .take(max_results.max(0) as usize)
            .map(registered_model)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items: self.load_registered_models(models).await?,
            next_page_token,
        })
    }

    /// The latest version in each of `stages` (every stage when empty), with aliases.
    pub async fn get_latest_versions(
        &self,
        name: &str,
        stages: &[String],
    ) -> Result<Vec<ModelVersion>> {
        let model = self.get_registered_model(name).await?;
        let wanted = if stages.is_empty() {
            Stage::ALL.to_vec()
        } else {
            stages
                .iter()
                .map(|s| Stage::parse(s))
                .collect::<Result<Vec<_>>>()?
        };
        let mut versions: Vec<ModelVersion> = model
            .latest_versions
            .into_iter()
            .filter(|v| {
                wanted
                    .iter()
                    .any(|s| v.current_stage.as_deref() == Some(s.as_str()))
            })
            .collect();
        for v in &mut versions {
            v.aliases = model
                .aliases
                .iter()
                .filter(|a| a.version == v.version)
                .map(|a| a.alias.clone())
                .collect();
        }
        Ok(versions)
    }

    /// The highest of the latest versions in `stage` (in any stage when `None`), with aliases:
    /// what `models:/NAME/Stage`, `models:/NAME/latest` and the `latest` alias name.
    pub async fn highest_latest_version(
        &self,
        name: &str,
        stage: Option<&str>,
    ) -> Result<Option<ModelVersion>> {
        let stages: Vec<String> = stage.map(str::to_string).into_iter().collect();
        Ok(self
            .get_latest_versions(name, &stages)
            .await?
            .into_iter()
            .max_by_key(|v| v.version.parse::<i64>().unwrap_or_default()))
    }

    /// Sets a tag on a registered model.
    pub async fn set_registered_model_tag(&self, name: &str, tag: &KeyValue) -> Result<()> {
        validate_model_name(name)?;
        validate_registry_tag(&tag.key, &tag.value)?;
        self.require_registered_model(name).await?;
        sqlx::query(
            "INSERT INTO registered_model_tags (key, value, name) VALUES ($1, $2, $3) \
             ON CONFLICT (workspace, key, name) DO UPDATE SET value = excluded.value",
        )
        .bind(&tag.key)
        .bind(&tag.value)
        .bind(name)
        .execute(&mut *self.pools.write().await.map_err(db_error)?)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    /// Deletes a tag of a registered model; an absent tag is not an error.
    pub async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        validate_model_name(name)?;
        validate_key_name(key, "key")?;
        self.require_registered_model(name).await?;
        sqlx::query("DELETE FROM registered_model_tags WHERE name = $1 AND key = $2")
            .bind(name)
            .bind(key)
            .execute(&mut *self.pools.write().await.map_err(db_error)?)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Creates the next version of a registered model.
    pub async fn create_model_version(&self, new: NewModelVersion<'_>) -> Result<ModelVersion> {
        validate_model_name(new.name)?;
        for tag in new.tags {
            validate_registry_tag(&tag.key, &tag.value)?;
        }
        let tags = dedup_last(new.tags);
        for attempt in 1..=CREATE_VERSION_ATTEMPTS {
            match self.insert_model_version(&new, &tags).await {
                Ok(version) => return self.get_model_version(new.name, &version.to_string()).await,
                Err(InsertError::Conflict) if attempt < CREATE_VERSION_ATTEMPTS => continue,
                Err(InsertError::Conflict) => break,
                Err(InsertError::Other(e)) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorCode::InternalError,
            format!(
                "Model Version creation error (name={}). Giving up after \
                 {CREATE_VERSION_ATTEMPTS} attempts.",
                new.name
            ),
        ))
    }

    async fn insert_model_version(
        &self,
        new: &NewModelVersion<'_>,
        tags: &[&KeyValue],
    ) -> std::result::Result<i64, InsertError> {
        let now = now_ms();
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        // Updating the model's row first takes its lock (PostgreSQL) before the maximum is
        // read, so concurrent creators wait for each other instead of picking the same number.
        let touched =
            sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE name = $2")
                .bind(now)
                .bind(new.name)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        if touched.rows_affected() == 0 {
            return Err(model_not_found(new.name).into());
        }
        let max: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM model_versions WHERE name = $1")
                .bind(new.name)
                .fetch_one(&mut **tx)
                .await
                .map_err(db_error)?;
        let version = max.unwrap_or(0) + 1;
        let inserted = sqlx::query(
            "INSERT INTO model_versions (name, version, creation_time, last_updated_time, \
             description, current_stage, source, run_id, status, run_link, storage_location) \
             VALUES ($1, $2, $3, $3, $4, 'None', $5, $6, 'READY', $7, $8)",
        )
        .bind(new.name)
        .bind(version)
        .bind(now)
        .bind(new.description)
        .bind(new.source)
        .bind(new.run_id)
        .bind(new.run_link)
        .bind(new.storage_location.unwrap_or(new.source))
        .execute(&mut **tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(InsertError::Conflict),
            Err(e) => return Err(db_error(e).into()),
            Ok(_) => {}
        }
        for tag in tags {
            sqlx::query(
                "INSERT INTO model_version_tags (key, value, name, version) VALUES ($1, $2, $3, $4)",
            )
            .bind(&tag.key)
            .bind(&tag.value)
            .bind(new.name)
            .bind(version)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        if let Some(model_id) = new.model_id {
            record_version_on_logged_model(&mut tx, model_id, new.name, version).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(version)
    }

    async fn version_row(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions mv WHERE mv.name = $1 AND mv.version = $2 \
             AND mv.current_stage != '{STAGE_DELETED_INTERNAL}'"
        )))
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pools.read)
        .await
        .map_err(db_error)?
        .ok_or_else(|| version_not_found(name, version))?;
        model_version(&row)
    }

    /// Gets a live model version with its tags and aliases.
    pub async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        validate_model_name(name)?;
        let number = parse_model_version(version)?;
        let found = self.version_row(name, number).await?;
        let mut found = self
            .load_version_tags(vec![found])
            .await?
            .pop()
            .ok_or_else(|| version_not_found(name, number))?;
        found.aliases = sqlx::query_scalar(
            "SELECT alias FROM registered_model_aliases WHERE name = $1 AND version = $2 ORDER BY alias",
        )
        .bind(name)
        .bind(number)
        .fetch_all(&self.pools.read)
        .await
        .map_err(db_error)?;
        Ok(found)
    }

    /// Sets (or, with `None`, clears) a version's description.
    pub async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: Option<&str>,
    ) -> Result<ModelVersion> {
        let number = parse_model_version(version)?;
        validate_model_name(name)?;
        self.version_row(name, number).await?;
        sqlx::query(
            "UPDATE model_versions SET description = $1, last_updated_time = $2 \
             WHERE name = $3 AND version = $4",
        )
        .bind(description)
        .bind(now_ms())
        .bind(name)
        .bind(number)
        .execute(&mut *self.pools.write().await.map_err(db_error)?)
        .await
        .map_err(db_error)?;
        self.get_model_version(name, version).await
    }

    /// Moves a version to a stage; with `archive_existing_versions`, the other versions in that
    /// stage move to Archived in the same transaction.
    pub async fn transition_model_version_stage(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion> {
        let target = Stage::parse(stage)?;
        if archive_existing_versions && !target.is_active() {
            return Err(Error::new(
                ErrorCode::InternalError,
                format!(
                    "Model version transition cannot archive existing model versions because \
                     '{stage}' is not an Active stage. Valid stages are ['Staging', 'Production']"
                ),
            ));
        }
        validate_model_name(name)?;
        let number = parse_model_version(version)?;
        let now = now_ms();
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        let moved = sqlx::query(AssertSqlSafe(format!(
            "UPDATE model_versions SET current_stage = $1, last_updated_time = $2 \
             WHERE name = $3 AND version = $4 AND current_stage != '{STAGE_DELETED_INTERNAL}'"
        )))
        .bind(target.as_str())
        .bind(now)
        .bind(name)
        .bind(number)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        if moved.rows_affected() == 0 {
            return Err(version_not_found(name, number));
        }
        if archive_existing_versions {
            // The version is bound as an integer, so PostgreSQL compares integers (MLflow
            // 3.17.2 binds text here and fails on PostgreSQL).
            sqlx::query(
                "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = $1 \
                 WHERE name = $2 AND version != $3 AND current_stage = $4",
            )
            .bind(now)
            .bind(name)
            .bind(number)
            .bind(target.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE name = $2")
            .bind(now)
            .bind(name)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        self.get_model_version(name, version).await
    }

    /// Deletes a version: its row stays, redacted and hidden, so the number is not reused;
    /// its aliases go.
    pub async fn delete_model_version(&self, name: &str, version: &str) -> Result<()> {
        let number = parse_model_version(version)?;
        validate_model_name(name)?;
        self.version_row(name, number).await?;
        let now = now_ms();
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        sqlx::query("DELETE FROM registered_model_aliases WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(number)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE model_versions SET current_stage = '{STAGE_DELETED_INTERNAL}', \
             last_updated_time = $1, description = NULL, user_id = NULL, \
             source = 'REDACTED-SOURCE-PATH', run_id = 'REDACTED-RUN-ID', \
             run_link = 'REDACTED-RUN-LINK', status_message = NULL \
             WHERE name = $2 AND version = $3"
        )))
        .bind(now)
        .bind(name)
        .bind(number)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE name = $2")
            .bind(now)
            .bind(name)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    /// Where a version's files are: its storage location, or its source.
    pub async fn get_model_version_download_uri(
        &self,
        name: &str,
        version: &str,
    ) -> Result<String> {
        validate_model_name(name)?;
        let number = parse_model_version(version)?;
        let found = self.version_row(name, number).await?;
        Ok(found
            .storage_location
            .filter(|s| !s.is_empty())
            .or(found.source)
            .unwrap_or_default())
    }

    /// `model-versions/search`.
    pub async fn search_model_versions(
        &self,
        filter: Option<&str>,
        max_results: i64,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<Page<ModelVersion>> {
        if max_results < 1 {
            return Err(Error::invalid(format!(
                "Invalid value for max_results. It must be a positive integer, but got {max_results}"
            )));
        }
        if max_results > SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD {
            return Err(Error::invalid(format!(
                "Invalid value for request parameter max_results. It must be at most \
                 {SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD}, but got value {max_results}"
            )));
        }
        let clauses =
            parse_registry_filter(RegistrySearch::ModelVersions, filter.unwrap_or_default())?;
        let order = parse_model_version_order_by(order_by)?;
        let offset = decode_page_token(page_token)?;
        let backend = self.pools.backend;
        let mut qb = SqlBuilder::for_backend(
            self.pools.backend,
            format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions mv WHERE mv.current_stage != '{STAGE_DELETED_INTERNAL}'"
            ),
        );
        for clause in clauses.iter().filter(|c| c.entity == EntityType::Attribute) {
            qb.push(" AND");
            match (clause.key.as_str(), &clause.value) {
                ("version_number", Value::Number(n)) => {
                    qb.push(format!(" mv.version {} ", clause.comparator.as_str()));
                    qb.push_bind(*n as i64);
                }
                ("source_path", _) => push_value_comparison(&mut qb, backend, "mv.source", clause),
                ("run_id", _) => push_value_comparison(&mut qb, backend, "mv.run_id", clause),
                _ => push_value_comparison(&mut qb, backend, "mv.name", clause),
            }
        }
        push_tag_filters(
            &mut qb,
            backend,
            &clauses,
            "model_version_tags",
            "t.workspace = mv.workspace AND t.name = mv.name AND t.version = mv.version",
            "p.workspace = mv.workspace AND p.name = mv.name",
        );
        qb.push(" ORDER BY ");
        let order_sql: Vec<String> = order
            .iter()
            .map(|(key, ascending)| {
                let column = match key {
                    RegistryOrderKey::Name => "mv.name",
                    RegistryOrderKey::Version => "mv.version",
                    RegistryOrderKey::CreationTime => "mv.creation_time",
                    RegistryOrderKey::LastUpdatedTime => "mv.last_updated_time",
                };
                format!("{column} {}", if *ascending { "ASC" } else { "DESC" })
            })
            .collect();
        qb.push(order_sql.join(", "));
        qb.push(" LIMIT ");
        qb.push_bind(max_results + 1);
        qb.push(" OFFSET ");
        qb.push_bind(offset);
        let rows = qb
            .build()
            .fetch_all(&self.pools.read)
            .await
            .map_err(db_error)?;
        let next_page_token = next_token(rows.len(), max_results, offset);
        let versions = rows
            .iter()
            .take(max_results as usize)
            .map(model_version)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items: self.load_version_tags(versions).await?,
            next_page_token,
        })
    }

    /// Sets a tag on a live model version.
    pub async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        tag: &KeyValue,
    ) -> Result<()> {
        validate_model_name(name)?;
        let number = parse_model_version(version)?;
        validate_registry_tag(&tag.key, &tag.value)?;
        self.version_row(name, number).await?;
        sqlx::query(
            "INSERT INTO model_version_tags (key, value, name, version) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (workspace, key, name, version) DO UPDATE SET value = excluded.value",
        )
        .bind(&tag.key)
        .bind(&tag.value)
        .bind(name)
        .bind(number)
        .execute(&mut *self.pools.write().await.map_err(db_error)?)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    /// Deletes a tag of a model version; an absent tag is not an error.
    pub async fn delete_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
    ) -> Result<()> {
        validate_model_name(name)?;
        let number = parse_model_version(version)?;
        validate_key_name(key, "key")?;
        self.version_row(name, number).await?;
        sqlx::query("DELETE FROM model_version_tags WHERE name = $1 AND version = $2 AND key = $3")
            .bind(name)
            .bind(number)
            .bind(key)
            .execute(&mut *self.pools.write().await.map_err(db_error)?)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Points an alias at a live version (moving it if it exists).
    pub async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<()> {
        validate_model_name(name)?;
        validate_alias_name(alias)?;
        validate_alias_not_reserved(alias)?;
        let number = parse_model_version(version)?;
        self.version_row(name, number).await?;
        sqlx::query(
            "INSERT INTO registered_model_aliases (alias, version, name) VALUES ($1, $2, $3) \
             ON CONFLICT (workspace, name, alias) DO UPDATE SET version = excluded.version",
        )
        .bind(alias)
        .bind(number)
        .bind(name)
        .execute(&mut *self.pools.write().await.map_err(db_error)?)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    /// Removes an alias; an absent one is not an error.
    pub async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()> {
        validate_model_name(name)?;
        validate_alias_name(alias)?;
        self.require_registered_model(name).await?;
        sqlx::query("DELETE FROM registered_model_aliases WHERE name = $1 AND alias = $2")
            .bind(name)
            .bind(alias)
            .execute(&mut *self.pools.write().await.map_err(db_error)?)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// The version an alias points to; `latest` (any case) is the highest live version.
    pub async fn get_model_version_by_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion> {
        validate_model_name(name)?;
        validate_alias_name(alias)?;
        if alias.eq_ignore_ascii_case("latest") {
            return self
                .highest_latest_version(name, None)
                .await?
                .ok_or_else(|| {
                    Error::not_found(format!("Latest version not found for model {name}."))
                });
        }
        self.require_registered_model(name).await?;
        let version: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM registered_model_aliases WHERE name = $1 AND alias = $2",
        )
        .bind(name)
        .bind(alias)
        .fetch_optional(&self.pools.read)
        .await
        .map_err(db_error)?;
        match version {
            Some(version) => self.get_model_version(name, &version.to_string()).await,
            None => Err(Error::invalid(format!(
                "Registered model alias {alias} not found."
            ))),
        }
    }
}

/// Why inserting a version failed: a number conflict is retried, anything else is not.
enum InsertError {
    Conflict,
    Other(Error),
}

impl From<Error> for InsertError {
    fn from(e: Error) -> Self {
        InsertError::Other(e)
    }
}

/// Tags as MLflow stores them: a key given twice keeps its last value.
fn dedup_last(tags: &[KeyValue]) -> Vec<&KeyValue> {
    let mut out: Vec<&KeyValue> = Vec::new();
    for tag in tags {
        match out.iter_mut().find(|t| t.key == tag.key) {
            Some(slot) => *slot = tag,
            None => out.push(tag),
        }
    }
    out
}

/// Appends `{"name": ..., "version": N}` to the logged model's `mlflow.modelVersions` tag, as
/// MLflow's server does when a version is registered from a logged model.
async fn record_version_on_logged_model(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    model_id: &str,
    name: &str,
    version: i64,
) -> Result<()> {
    let row = sqlx::query("SELECT experiment_id FROM logged_models WHERE model_id = $1")
        .bind(model_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?;
    let Some(row) = row else {
        return Ok(());
    };
    let experiment_id: i64 = row.try_get(0).map_err(db_error)?;
    let existing: Option<Option<String>> = sqlx::query_scalar(
        "SELECT tag_value FROM logged_model_tags WHERE model_id = $1 AND tag_key = $2",
    )
    .bind(model_id)
    .bind(MODEL_VERSIONS_TAG)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)?;
    let entry = serde_json::json!({"name": name, "version": version});
    let mut list = existing
        .flatten()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    if !list.contains(&entry) {
        list.push(entry);
    }
    let value = python_json(&serde_json::Value::Array(list));
    sqlx::query(
        "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (model_id, tag_key) DO UPDATE SET \
         tag_value = excluded.tag_value",
    )
    .bind(model_id)
    .bind(experiment_id)
    .bind(MODEL_VERSIONS_TAG)
    .bind(&value)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}
