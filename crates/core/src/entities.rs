//! The tracking entities, shaped as MLflow's REST API prints them.
//!
//! Serialising these types yields MLflow's JSON exactly: snake_case names, int64 values as JSON
//! numbers, enums by name, unset fields left out, and non-finite doubles as the strings `"NaN"`,
//! `"Infinity"` and `"-Infinity"` (proto3 JSON, which `serde_json` alone cannot write).

use serde::{Serialize, Serializer};

/// A key/value pair: experiment tags, run tags, params and input tags all print this way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

impl KeyValue {
    /// A pair from anything string-like.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Whether an experiment or run is live or soft-deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LifecycleStage {
    /// Visible in searches, writable.
    Active,
    /// Soft-deleted: readable by id, hidden from default searches, not writable.
    Deleted,
}

impl LifecycleStage {
    /// The stored and printed spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::Active => "active",
            LifecycleStage::Deleted => "deleted",
        }
    }

    /// Parses the stored spelling; anything unknown reads as active, as MLflow's entity does.
    pub fn parse(s: &str) -> Self {
        if s == "deleted" {
            LifecycleStage::Deleted
        } else {
            LifecycleStage::Active
        }
    }
}

/// Which lifecycle stages a search includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViewType {
    /// Only active entities (the default).
    #[default]
    ActiveOnly,
    /// Only deleted entities.
    DeletedOnly,
    /// Both.
    All,
}

impl ViewType {
    /// Parses a proto enum given by name or number, as MLflow's JSON parser accepts both.
    pub fn from_proto(name_or_number: &str) -> Option<Self> {
        match name_or_number {
            "ACTIVE_ONLY" | "1" => Some(ViewType::ActiveOnly),
            "DELETED_ONLY" | "2" => Some(ViewType::DeletedOnly),
            "ALL" | "3" => Some(ViewType::All),
            _ => None,
        }
    }

    /// The stages this view includes.
    pub fn stages(self) -> &'static [&'static str] {
        match self {
            ViewType::ActiveOnly => &["active"],
            ViewType::DeletedOnly => &["deleted"],
            ViewType::All => &["active", "deleted"],
        }
    }
}

/// A run's status (`RunStatus` in MLflow's protos).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    /// Running.
    Running,
    /// Scheduled.
    Scheduled,
    /// Finished.
    Finished,
    /// Failed.
    Failed,
    /// Killed.
    Killed,
}

impl RunStatus {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Scheduled => "SCHEDULED",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// Parses a proto enum given by name or number.
    pub fn from_proto(name_or_number: &str) -> Option<Self> {
        Some(match name_or_number {
            "RUNNING" | "1" => RunStatus::Running,
            "SCHEDULED" | "2" => RunStatus::Scheduled,
            "FINISHED" | "3" => RunStatus::Finished,
            "FAILED" | "4" => RunStatus::Failed,
            "KILLED" | "5" => RunStatus::Killed,
            _ => return None,
        })
    }
}

/// Writes a double the way proto3 JSON does: non-finite values as strings.
pub fn serialize_double<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_nan() {
        serializer.serialize_str("NaN")
    } else if value.is_infinite() {
        serializer.serialize_str(if *value > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        })
    } else {
        serializer.serialize_f64(*value)
    }
}

/// An experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    /// Decimal id; `"0"` is the Default experiment.
    pub experiment_id: String,
    /// Unique name.
    pub name: String,
    /// Root URI under which runs store artifacts.
    pub artifact_location: String,
    /// Active or deleted.
    pub lifecycle_stage: LifecycleStage,
    /// Milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<i64>,
    /// Milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<i64>,
    /// Experiment tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    /// MLflow 3's workspace; always `default` without multi-tenancy.
    pub workspace: String,
}

/// A metric data point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    /// Metric name.
    pub key: String,
    /// Value; NaN and infinities are allowed.
    #[serde(serialize_with = "serialize_double")]
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Training step.
    pub step: i64,
}

/// A metric point with the run it belongs to, as the bulk history endpoints print it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricWithRunId {
    /// Metric name.
    pub key: String,
    /// Value.
    #[serde(serialize_with = "serialize_double")]
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Training step.
    pub step: i64,
    /// The run.
    pub run_id: String,
}

/// A run's metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// Deprecated alias of `run_id`, still printed by MLflow.
    pub run_uuid: String,
    /// Experiment the run belongs to.
    pub experiment_id: String,
    /// Display name (mirrors the `mlflow.runName` tag).
    pub run_name: String,
    /// Who created it.
    pub user_id: String,
    /// Status.
    pub status: RunStatus,
    /// Milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    /// Milliseconds since the epoch, unset while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    /// Root URI of the run's artifacts.
    pub artifact_uri: String,
    /// Active or deleted.
    pub lifecycle_stage: LifecycleStage,
    /// 32 lowercase hex characters.
    pub run_id: String,
}

/// A run's logged data: the latest value of each metric, params and tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunData {
    /// Latest value per metric key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// Params.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValue>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
}

/// A dataset as recorded against an experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataset {
    /// Name.
    pub name: String,
    /// Content digest.
    pub digest: String,
    /// Kind of source (`local`, `s3`, `http`, ...).
    pub source_type: String,
    /// Source description, usually JSON.
    pub source: String,
    /// Schema, usually JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Profile, usually JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// A dataset used by a run, with tags such as `mlflow.data.context`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetInput {
    /// Input tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    /// The dataset.
    pub dataset: Dataset,
}

/// A logged model a run consumed (MLflow 3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInput {
    /// Logged model id.
    pub model_id: String,
}

/// A logged model a run produced (MLflow 3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelOutput {
    /// Logged model id.
    pub model_id: String,
    /// Step at which it was produced.
    pub step: i64,
}

/// A run's inputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunInputs {
    /// Datasets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dataset_inputs: Vec<DatasetInput>,
    /// Logged models (MLflow 3).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_inputs: Vec<ModelInput>,
}

/// A run's outputs (MLflow 3).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunOutputs {
    /// Logged models.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_outputs: Vec<ModelOutput>,
}

/// A run with everything MLflow prints about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// Metadata.
    pub info: RunInfo,
    /// Metrics, params, tags.
    pub data: RunData,
    /// Inputs.
    pub inputs: RunInputs,
    /// Outputs; MLflow leaves them out of the run that `runs/create` returns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<RunOutputs>,
}

/// One dataset summary of `search-datasets`, which the UI uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetSummary {
    /// Experiment.
    pub experiment_id: String,
    /// Dataset name.
    pub name: String,
    /// Dataset digest.
    pub digest: String,
    /// The `mlflow.data.context` input tag, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// A logged model's state (`LoggedModelStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LoggedModelStatus {
    /// Never set.
    #[serde(rename = "LOGGED_MODEL_STATUS_UNSPECIFIED")]
    Unspecified,
    /// Created, files being uploaded.
    #[serde(rename = "LOGGED_MODEL_PENDING")]
    Pending,
    /// Files uploaded.
    #[serde(rename = "LOGGED_MODEL_READY")]
    Ready,
    /// The upload failed.
    #[serde(rename = "LOGGED_MODEL_UPLOAD_FAILED")]
    UploadFailed,
}

impl LoggedModelStatus {
    /// The integer stored in `logged_models.status`.
    pub fn to_int(self) -> i64 {
        match self {
            LoggedModelStatus::Unspecified => 0,
            LoggedModelStatus::Pending => 1,
            LoggedModelStatus::Ready => 2,
            LoggedModelStatus::UploadFailed => 3,
        }
    }

    /// From the stored integer.
    pub fn from_int(value: i64) -> Self {
        match value {
            1 => LoggedModelStatus::Pending,
            2 => LoggedModelStatus::Ready,
            3 => LoggedModelStatus::UploadFailed,
            _ => LoggedModelStatus::Unspecified,
        }
    }

    /// Parses a proto enum given by name or number.
    pub fn from_proto(name_or_number: &str) -> Option<Self> {
        Some(match name_or_number {
            "LOGGED_MODEL_STATUS_UNSPECIFIED" | "0" => LoggedModelStatus::Unspecified,
            "LOGGED_MODEL_PENDING" | "1" => LoggedModelStatus::Pending,
            "LOGGED_MODEL_READY" | "2" => LoggedModelStatus::Ready,
            "LOGGED_MODEL_UPLOAD_FAILED" | "3" => LoggedModelStatus::UploadFailed,
            _ => return None,
        })
    }
}

/// A metric linked to a logged model, with the run and dataset it was computed on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelMetric {
    /// Metric name.
    pub key: String,
    /// Value.
    #[serde(serialize_with = "serialize_double")]
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Step.
    pub step: i64,
    /// Dataset name, when the metric is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    /// Dataset digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    /// The model.
    pub model_id: String,
    /// The run that logged it.
    pub run_id: String,
}

/// A logged model's metadata (`LoggedModelInfo`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedModelInfo {
    /// `m-` and 32 hex characters.
    pub model_id: String,
    /// Experiment.
    pub experiment_id: String,
    /// Name within the run.
    pub name: String,
    /// Milliseconds since the epoch.
    pub creation_timestamp_ms: i64,
    /// Milliseconds since the epoch.
    pub last_updated_timestamp_ms: i64,
    /// Root URI of the model's files.
    pub artifact_uri: String,
    /// Upload state.
    pub status: LoggedModelStatus,
    /// Flavor family, e.g. `sklearn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// The run that logged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    /// Why the status is what it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
}

/// A logged model's params and metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoggedModelData {
    /// Params.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValue>,
    /// Metrics.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<ModelMetric>,
}

/// An MLflow 3 logged model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedModel {
    /// Metadata.
    pub info: LoggedModelInfo,
    /// Params and metrics.
    pub data: LoggedModelData,
}

/// An alias of a registered model, as the model prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredModelAlias {
    /// The alias.
    pub alias: String,
    /// The version it points to, as a string.
    pub version: String,
}

/// A version of a registered model (`ModelVersion`).
///
/// Optional fields print only when set, as MLflow's entity does: a version created through the
/// API always has a description and a run link (possibly empty), one updated without a
/// description has none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelVersion {
    /// Registered model name.
    pub name: String,
    /// Version number, printed as a string.
    pub version: String,
    /// Milliseconds since the epoch.
    pub creation_timestamp: i64,
    /// Milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_timestamp: Option<i64>,
    /// `None`, `Staging`, `Production` or `Archived`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_stage: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the client said the files are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The run that produced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Always `READY`: registration copies nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Why the status is what it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    /// Link to the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_link: Option<String>,
    /// Aliases pointing here; MLflow fills them only on single-version answers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Where the files are, after resolving `models:/` sources (not printed by MLflow).
    #[serde(skip)]
    pub storage_location: Option<String>,
}

/// A registered model with its latest version per stage, tags and aliases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisteredModel {
    /// Unique name.
    pub name: String,
    /// Milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<i64>,
    /// Milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_timestamp: Option<i64>,
    /// Description; an empty one is not printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The highest version in each stage.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub latest_versions: Vec<ModelVersion>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    /// Aliases.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<RegisteredModelAlias>,
}

/// A model version's stage. MLflow accepts any capitalisation and stores the canonical one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not staged.
    None,
    /// Staging.
    Staging,
    /// Production.
    Production,
    /// Archived.
    Archived,
}

impl Stage {
    /// Every stage a client may name, in MLflow's order.
    pub const ALL: [Stage; 4] = [
        Stage::None,
        Stage::Staging,
        Stage::Production,
        Stage::Archived,
    ];

    /// The stored and printed spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "None",
            Stage::Staging => "Staging",
            Stage::Production => "Production",
            Stage::Archived => "Archived",
        }
    }

    /// Parses a stage name in any capitalisation, with MLflow's message for anything else.
    pub fn parse(name: &str) -> crate::Result<Stage> {
        Stage::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                crate::Error::invalid(format!(
                    "Invalid Model Version stage: {name}. Value must be one of None, Staging, \
                     Production, Archived."
                ))
            })
    }

    /// Whether `archive_existing_versions` may be used when moving into this stage.
    pub fn is_active(self) -> bool {
        matches!(self, Stage::Staging | Stage::Production)
    }
}

/// The stage MLflow gives a deleted version, whose row stays so that its number is never
/// reused.
pub const STAGE_DELETED_INTERNAL: &str = "Deleted_Internal";
