//! `/graphql`: the GraphQL endpoint MLflow's web UI queries for runs, experiments and charts.
//!
//! MLflow generates its GraphQL schema from its protos and resolves each root field by calling
//! the same function as the matching REST RPC, then lets graphene read the fields off the
//! protobuf response. Trackway does the same in two steps: a root field calls the REST handler
//! with the field's `input` (so validation and errors are the RPC's own), and the JSON answer is
//! projected onto the query's selection with the schema below. Absent fields print as protobuf
//! defaults (`""`, `"0"`, `[]`, an empty message), because that is what graphene reads off an
//! unset proto2 field; int64 fields print as strings (MLflow's `LongString`).
//!
//! A GraphQL server library would need the whole schema written again as Rust types with
//! resolvers; the schema here is a table and the executor is short, so only the query parser
//! comes from a crate (`graphql-parser`).

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use futures::future::BoxFuture;
use graphql_parser::query as q;
use serde_json::{Map, Value, json};

use crate::error::ApiResult;
use crate::request::Fields;
use crate::{AppState, experiments, metrics, registry, reply, runs};

/// Deepest selection accepted, as MLflow's query-safety check.
const MAX_DEPTH: usize = 10;
/// Most selections in one query, as MLflow's query-safety check.
const MAX_SELECTIONS: usize = 1000;
/// Largest REST answer a root field may read back.
const MAX_INNER_BODY: usize = 256 * 1024 * 1024;

/// A field's GraphQL type.
#[derive(Clone, Copy)]
enum Ty {
    String,
    /// int64, printed as a string.
    Long,
    Float,
    Boolean,
    /// An enum; an unset field reads as the first value.
    Enum(&'static [&'static str]),
    Object(&'static Object),
    List(&'static Ty),
    /// `MlflowRun.experiment`, resolved by a second call.
    RunExperiment,
    /// `MlflowRun.modelVersions`, resolved by a model-version search.
    RunModelVersions,
    /// `apiError`: never set, as in MLflow (errors go to the `errors` list).
    ApiError,
    /// A float that is `null` when it is NaN (MLflow's `MlflowMetricExtension.value`).
    MetricValue,
}

/// An object type: its name and fields by their proto (snake_case) names.
struct Object {
    name: &'static str,
    fields: &'static [(&'static str, Ty)],
}

impl Object {
    fn field(&self, snake: &str) -> Option<Ty> {
        self.fields
            .iter()
            .find(|(name, _)| *name == snake)
            .map(|(_, ty)| *ty)
    }
}

const TAG: &[(&str, Ty)] = &[("key", Ty::String), ("value", Ty::String)];
static EXPERIMENT_TAG: Object = Object {
    name: "MlflowExperimentTag",
    fields: TAG,
};
static RUN_TAG: Object = Object {
    name: "MlflowRunTag",
    fields: TAG,
};
static PARAM: Object = Object {
    name: "MlflowParam",
    fields: TAG,
};
static INPUT_TAG: Object = Object {
    name: "MlflowInputTag",
    fields: TAG,
};
static MODEL_VERSION_TAG: Object = Object {
    name: "MlflowModelVersionTag",
    fields: TAG,
};

static EXPERIMENT: Object = Object {
    name: "MlflowExperiment",
    fields: &[
        ("experiment_id", Ty::String),
        ("name", Ty::String),
        ("artifact_location", Ty::String),
        ("lifecycle_stage", Ty::String),
        ("last_update_time", Ty::Long),
        ("creation_time", Ty::Long),
        ("tags", Ty::List(&Ty::Object(&EXPERIMENT_TAG))),
        ("effective_trace_archival_retention", Ty::String),
        ("workspace", Ty::String),
    ],
};

static METRIC: Object = Object {
    name: "MlflowMetricExtension",
    fields: &[
        ("key", Ty::String),
        ("value", Ty::MetricValue),
        ("timestamp", Ty::Long),
        ("step", Ty::Long),
        ("dataset_name", Ty::String),
        ("dataset_digest", Ty::String),
        ("model_id", Ty::String),
        ("run_id", Ty::String),
    ],
};

static RUN_INFO: Object = Object {
    name: "MlflowRunInfo",
    fields: &[
        ("run_id", Ty::String),
        ("run_uuid", Ty::String),
        ("run_name", Ty::String),
        ("experiment_id", Ty::String),
        ("user_id", Ty::String),
        (
            "status",
            Ty::Enum(&["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]),
        ),
        ("start_time", Ty::Long),
        ("end_time", Ty::Long),
        ("artifact_uri", Ty::String),
        ("lifecycle_stage", Ty::String),
    ],
};

static RUN_DATA: Object = Object {
    name: "MlflowRunData",
    fields: &[
        ("metrics", Ty::List(&Ty::Object(&METRIC))),
        ("params", Ty::List(&Ty::Object(&PARAM))),
        ("tags", Ty::List(&Ty::Object(&RUN_TAG))),
    ],
};

static DATASET: Object = Object {
    name: "MlflowDataset",
    fields: &[
        ("name", Ty::String),
        ("digest", Ty::String),
        ("source_type", Ty::String),
        ("source", Ty::String),
        ("schema", Ty::String),
        ("profile", Ty::String),
    ],
};

static DATASET_INPUT: Object = Object {
    name: "MlflowDatasetInput",
    fields: &[
        ("tags", Ty::List(&Ty::Object(&INPUT_TAG))),
        ("dataset", Ty::Object(&DATASET)),
    ],
};

static MODEL_INPUT: Object = Object {
    name: "MlflowModelInput",
    fields: &[("model_id", Ty::String)],
};

static RUN_INPUTS: Object = Object {
    name: "MlflowRunInputs",
    fields: &[
        ("dataset_inputs", Ty::List(&Ty::Object(&DATASET_INPUT))),
        ("model_inputs", Ty::List(&Ty::Object(&MODEL_INPUT))),
    ],
};

static MODEL_OUTPUT: Object = Object {
    name: "MlflowModelOutput",
    fields: &[("model_id", Ty::String), ("step", Ty::Long)],
};

static RUN_OUTPUTS: Object = Object {
    name: "MlflowRunOutputs",
    fields: &[("model_outputs", Ty::List(&Ty::Object(&MODEL_OUTPUT)))],
};

static RUN: Object = Object {
    name: "MlflowRunExtension",
    fields: &[
        ("info", Ty::Object(&RUN_INFO)),
        ("data", Ty::Object(&RUN_DATA)),
        ("inputs", Ty::Object(&RUN_INPUTS)),
        ("outputs", Ty::Object(&RUN_OUTPUTS)),
        ("experiment", Ty::RunExperiment),
        ("model_versions", Ty::RunModelVersions),
    ],
};

static MODEL_PARAM: Object = Object {
    name: "MlflowModelParam",
    fields: &[("name", Ty::String), ("value", Ty::String)],
};

static MODEL_METRIC: Object = Object {
    name: "MlflowModelMetric",
    fields: &[
        ("key", Ty::String),
        ("value", Ty::Float),
        ("timestamp", Ty::Long),
        ("step", Ty::Long),
        ("dataset_name", Ty::String),
        ("dataset_digest", Ty::String),
        ("model_id", Ty::String),
        ("run_id", Ty::String),
    ],
};

static DEPLOYMENT_JOB_STATE: Object = Object {
    name: "MlflowModelVersionDeploymentJobState",
    fields: &[
        ("job_id", Ty::String),
        ("run_id", Ty::String),
        (
            "job_state",
            Ty::Enum(&[
                "DEPLOYMENT_JOB_CONNECTION_STATE_UNSPECIFIED",
                "NOT_SET_UP",
                "CONNECTED",
                "NOT_FOUND",
                "REQUIRED_PARAMETERS_CHANGED",
            ]),
        ),
        (
            "run_state",
            Ty::Enum(&[
                "DEPLOYMENT_JOB_RUN_STATE_UNSPECIFIED",
                "NO_VALID_DEPLOYMENT_JOB_FOUND",
                "RUNNING",
                "SUCCEEDED",
                "FAILED",
                "PENDING",
                "APPROVAL",
            ]),
        ),
        ("current_task_name", Ty::String),
    ],
};

static MODEL_VERSION: Object = Object {
    name: "MlflowModelVersion",
    fields: &[
        ("name", Ty::String),
        ("version", Ty::String),
        ("creation_timestamp", Ty::Long),
        ("last_updated_timestamp", Ty::Long),
        ("user_id", Ty::String),
        ("current_stage", Ty::String),
        ("description", Ty::String),
        ("source", Ty::String),
        ("run_id", Ty::String),
        (
            "status",
            Ty::Enum(&["PENDING_REGISTRATION", "FAILED_REGISTRATION", "READY"]),
        ),
        ("status_message", Ty::String),
        ("tags", Ty::List(&Ty::Object(&MODEL_VERSION_TAG))),
        ("run_link", Ty::String),
        ("aliases", Ty::List(&Ty::String)),
        ("model_id", Ty::String),
        ("model_params", Ty::List(&Ty::Object(&MODEL_PARAM))),
        ("model_metrics", Ty::List(&Ty::Object(&MODEL_METRIC))),
        ("deployment_job_state", Ty::Object(&DEPLOYMENT_JOB_STATE)),
    ],
};

static METRIC_WITH_RUN_ID: Object = Object {
    name: "MlflowMetricWithRunId",
    fields: &[
        ("key", Ty::String),
        ("value", Ty::Float),
        ("timestamp", Ty::Long),
        ("step", Ty::Long),
        ("run_id", Ty::String),
    ],
};

static FILE_INFO: Object = Object {
    name: "MlflowFileInfo",
    fields: &[
        ("path", Ty::String),
        ("is_dir", Ty::Boolean),
        ("file_size", Ty::Long),
    ],
};

static DATASET_SUMMARY: Object = Object {
    name: "MlflowDatasetSummary",
    fields: &[
        ("experiment_id", Ty::String),
        ("name", Ty::String),
        ("digest", Ty::String),
        ("context", Ty::String),
    ],
};

static GET_EXPERIMENT_RESPONSE: Object = Object {
    name: "MlflowGetExperimentResponse",
    fields: &[
        ("experiment", Ty::Object(&EXPERIMENT)),
        ("apiError", Ty::ApiError),
    ],
};

static BULK_INTERVAL_RESPONSE: Object = Object {
    name: "MlflowGetMetricHistoryBulkIntervalResponse",
    fields: &[
        ("metrics", Ty::List(&Ty::Object(&METRIC_WITH_RUN_ID))),
        ("apiError", Ty::ApiError),
    ],
};

static GET_RUN_RESPONSE: Object = Object {
    name: "MlflowGetRunResponse",
    fields: &[("run", Ty::Object(&RUN)), ("apiError", Ty::ApiError)],
};

static LIST_ARTIFACTS_RESPONSE: Object = Object {
    name: "MlflowListArtifactsResponse",
    fields: &[
        ("root_uri", Ty::String),
        ("files", Ty::List(&Ty::Object(&FILE_INFO))),
        ("next_page_token", Ty::String),
        ("apiError", Ty::ApiError),
    ],
};

static SEARCH_MODEL_VERSIONS_RESPONSE: Object = Object {
    name: "MlflowSearchModelVersionsResponse",
    fields: &[
        ("model_versions", Ty::List(&Ty::Object(&MODEL_VERSION))),
        ("next_page_token", Ty::String),
        ("apiError", Ty::ApiError),
    ],
};

static SEARCH_DATASETS_RESPONSE: Object = Object {
    name: "MlflowSearchDatasetsResponse",
    fields: &[
        ("dataset_summaries", Ty::List(&Ty::Object(&DATASET_SUMMARY))),
        ("apiError", Ty::ApiError),
    ],
};

static SEARCH_RUNS_RESPONSE: Object = Object {
    name: "MlflowSearchRunsResponse",
    fields: &[
        ("runs", Ty::List(&Ty::Object(&RUN))),
        ("next_page_token", Ty::String),
        ("apiError", Ty::ApiError),
    ],
};

static ECHO: Object = Object {
    name: "Test",
    fields: &[("output", Ty::String)],
};

/// The RPC behind a root field.
#[derive(Clone, Copy)]
enum Rpc {
    GetExperiment,
    BulkInterval,
    GetRun,
    ListArtifacts,
    SearchModelVersions,
    SearchDatasets,
    SearchRuns,
    Echo,
}

/// A root field: its name, RPC, input type name and fields, and answer type.
struct RootField {
    name: &'static str,
    rpc: Rpc,
    input_type: &'static str,
    input_fields: &'static [&'static str],
    answer: &'static Object,
}

const SEARCH_RUNS: RootField = RootField {
    name: "mlflowSearchRuns",
    rpc: Rpc::SearchRuns,
    input_type: "MlflowSearchRunsInput",
    input_fields: &[
        "experiment_ids",
        "filter",
        "run_view_type",
        "max_results",
        "order_by",
        "page_token",
    ],
    answer: &SEARCH_RUNS_RESPONSE,
};

const QUERY_FIELDS: &[RootField] = &[
    RootField {
        name: "mlflowGetExperiment",
        rpc: Rpc::GetExperiment,
        input_type: "MlflowGetExperimentInput",
        input_fields: &["experiment_id"],
        answer: &GET_EXPERIMENT_RESPONSE,
    },
    RootField {
        name: "mlflowGetMetricHistoryBulkInterval",
        rpc: Rpc::BulkInterval,
        input_type: "MlflowGetMetricHistoryBulkIntervalInput",
        input_fields: &[
            "run_ids",
            "metric_key",
            "start_step",
            "end_step",
            "max_results",
        ],
        answer: &BULK_INTERVAL_RESPONSE,
    },
    RootField {
        name: "mlflowGetRun",
        rpc: Rpc::GetRun,
        input_type: "MlflowGetRunInput",
        input_fields: &["run_id", "run_uuid"],
        answer: &GET_RUN_RESPONSE,
    },
    RootField {
        name: "mlflowListArtifacts",
        rpc: Rpc::ListArtifacts,
        input_type: "MlflowListArtifactsInput",
        input_fields: &["run_id", "run_uuid", "path", "page_token"],
        answer: &LIST_ARTIFACTS_RESPONSE,
    },
    RootField {
        name: "mlflowSearchModelVersions",
        rpc: Rpc::SearchModelVersions,
        input_type: "MlflowSearchModelVersionsInput",
        input_fields: &["filter", "max_results", "order_by", "page_token"],
        answer: &SEARCH_MODEL_VERSIONS_RESPONSE,
    },
    SEARCH_RUNS,
    RootField {
        name: "test",
        rpc: Rpc::Echo,
        input_type: "",
        input_fields: &[],
        answer: &ECHO,
    },
];

const MUTATION_FIELDS: &[RootField] = &[
    RootField {
        name: "mlflowSearchDatasets",
        rpc: Rpc::SearchDatasets,
        input_type: "MlflowSearchDatasetsInput",
        input_fields: &["experiment_ids"],
        answer: &SEARCH_DATASETS_RESPONSE,
    },
    SEARCH_RUNS,
    RootField {
        name: "testMutation",
        rpc: Rpc::Echo,
        input_type: "",
        input_fields: &[],
        answer: &ECHO,
    },
];

/// `runUuid` → `run_uuid`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A GraphQL failure: a message for the `errors` list.
type GqlResult<T> = Result<T, String>;

/// One selected field, lowered from the parsed query: fragments expanded, `@skip`/`@include`
/// applied and variables substituted, so execution owns its data and never borrows the parser's
/// tree across an `await`.
#[derive(Debug)]
struct Selected {
    /// The key in the answer: the alias, else the name.
    key: String,
    name: String,
    arguments: Vec<(String, Value)>,
    children: Vec<Selected>,
}

/// Turns a parsed selection set into [`Selected`] fields.
struct Lowering<'d, 'q> {
    fragments: HashMap<&'q str, &'d q::FragmentDefinition<'q, &'q str>>,
    variables: &'d Map<String, Value>,
    count: usize,
}

impl<'d, 'q> Lowering<'d, 'q> {
    fn selection_set(
        &mut self,
        set: &'d q::SelectionSet<'q, &'q str>,
        depth: usize,
    ) -> GqlResult<Vec<Selected>> {
        let mut out = Vec::new();
        self.collect_into(set, depth, &mut out)?;
        Ok(out)
    }

    fn collect_into(
        &mut self,
        set: &'d q::SelectionSet<'q, &'q str>,
        depth: usize,
        out: &mut Vec<Selected>,
    ) -> GqlResult<()> {
        // Limits as in MLflow's query-safety check; a fragment spread counts as a level, so a
        // cycle of fragments ends here too.
        if depth > MAX_DEPTH {
            return Err(format!("Query exceeds maximum depth of {MAX_DEPTH}"));
        }
        for selection in &set.items {
            self.count += 1;
            if self.count > MAX_SELECTIONS {
                return Err(format!(
                    "Query exceeds maximum total selections of {MAX_SELECTIONS}"
                ));
            }
            match selection {
                q::Selection::Field(field) => {
                    if !self.included(&field.directives)? {
                        continue;
                    }
                    let arguments = field
                        .arguments
                        .iter()
                        .map(|(name, value)| Ok((name.to_string(), self.value(value)?)))
                        .collect::<GqlResult<_>>()?;
                    out.push(Selected {
                        key: field.alias.unwrap_or(field.name).to_string(),
                        name: field.name.to_string(),
                        arguments,
                        children: self.selection_set(&field.selection_set, depth + 1)?,
                    });
                }
                q::Selection::InlineFragment(fragment) => {
                    if self.included(&fragment.directives)? {
                        self.collect_into(&fragment.selection_set, depth + 1, out)?;
                    }
                }
                q::Selection::FragmentSpread(spread) => {
                    if !self.included(&spread.directives)? {
                        continue;
                    }
                    let fragment = *self
                        .fragments
                        .get(spread.fragment_name)
                        .ok_or_else(|| format!("Unknown fragment '{}'.", spread.fragment_name))?;
                    self.collect_into(&fragment.selection_set, depth + 1, out)?;
                }
            }
        }
        Ok(())
    }

    /// Applies `@skip(if:)` and `@include(if:)`; other directives (MLflow's `@component`) are
    /// labels.
    fn included(&self, directives: &[q::Directive<'q, &'q str>]) -> GqlResult<bool> {
        for directive in directives {
            let wanted = match directive.name {
                "skip" => false,
                "include" => true,
                _ => continue,
            };
            let condition = directive
                .arguments
                .iter()
                .find(|(name, _)| *name == "if")
                .map(|(_, value)| self.value(value))
                .transpose()?;
            let Some(Value::Bool(condition)) = condition else {
                return Err(format!(
                    "Directive '@{}' needs a Boolean argument 'if'.",
                    directive.name
                ));
            };
            if condition != wanted {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A GraphQL value as JSON, with variables substituted.
    fn value(&self, value: &q::Value<'q, &'q str>) -> GqlResult<Value> {
        Ok(match value {
            q::Value::Variable(name) => self.variables.get(*name).cloned().unwrap_or(Value::Null),
            q::Value::Int(number) => number.as_i64().map(Value::from).unwrap_or(Value::Null),
            q::Value::Float(number) => json!(number),
            q::Value::String(text) => json!(text),
            q::Value::Boolean(flag) => json!(flag),
            q::Value::Null => Value::Null,
            q::Value::Enum(name) => json!(name),
            q::Value::List(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.value(item))
                    .collect::<GqlResult<_>>()?,
            ),
            q::Value::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(key, item)| Ok((key.to_string(), self.value(item)?)))
                    .collect::<GqlResult<_>>()?,
            ),
        })
    }
}

/// `GET|POST /graphql`
pub async fn graphql(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let query = fields.required_string("query")?;
    let variables = match fields.raw("variables")? {
        Some(Value::Object(map)) => map,
        Some(Value::String(text)) if !text.trim().is_empty() => match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(
                    trackway_core::Error::invalid("Variables must be a JSON object.").into(),
                );
            }
        },
        _ => Map::new(),
    };
    let operation_name = fields.string("operationName")?;
    let (data, errors) = match lower(&query, &variables, operation_name.as_deref()) {
        Ok((root, selected)) => {
            let mut execution = Execution {
                state,
                experiments: HashMap::new(),
                errors: Vec::new(),
            };
            let data = execution.run(root, &selected).await;
            (data, execution.errors)
        }
        Err(message) => (Value::Null, vec![message]),
    };
    let errors = if errors.is_empty() {
        Value::Null
    } else {
        json!(errors)
    };
    Ok(reply(json!({"data": data, "errors": errors})))
}

/// The root type an operation runs on.
#[derive(Clone, Copy)]
enum Root {
    Query,
    Mutation,
}

impl Root {
    fn name(self) -> &'static str {
        match self {
            Root::Query => "Query",
            Root::Mutation => "Mutation",
        }
    }

    fn fields(self) -> &'static [RootField] {
        match self {
            Root::Query => QUERY_FIELDS,
            Root::Mutation => MUTATION_FIELDS,
        }
    }
}

/// Parses the document and lowers the chosen operation.
fn lower(
    query: &str,
    variables: &Map<String, Value>,
    operation_name: Option<&str>,
) -> GqlResult<(Root, Vec<Selected>)> {
    let document = q::parse_query::<&str>(query).map_err(|e| format!("Syntax Error: {e}"))?;
    let mut fragments = HashMap::new();
    let mut operations = Vec::new();
    for definition in &document.definitions {
        match definition {
            q::Definition::Fragment(fragment) => {
                fragments.insert(fragment.name, fragment);
            }
            q::Definition::Operation(operation) => operations.push(operation),
        }
    }
    let operation = match operation_name {
        Some(wanted) => operations
            .iter()
            .find(|op| operation_name_of(op) == Some(wanted))
            .copied()
            .ok_or_else(|| format!("Unknown operation named '{wanted}'."))?,
        None if operations.len() == 1 => operations[0],
        None => {
            return Err(
                "Must provide operation name if query contains multiple operations.".into(),
            );
        }
    };
    let (root, selection_set) = match operation {
        q::OperationDefinition::Query(query) => (Root::Query, &query.selection_set),
        q::OperationDefinition::SelectionSet(set) => (Root::Query, set),
        q::OperationDefinition::Mutation(mutation) => (Root::Mutation, &mutation.selection_set),
        q::OperationDefinition::Subscription(_) => {
            return Err("Subscriptions are not supported.".into());
        }
    };
    let mut lowering = Lowering {
        fragments,
        variables,
        count: 0,
    };
    let selected = lowering.selection_set(selection_set, 0)?;
    // Unknown root fields fail validation before anything runs, as in graphql-core.
    for field in &selected {
        if field.name != "__typename" && !root.fields().iter().any(|r| r.name == field.name) {
            return Err(format!(
                "Cannot query field '{}' on type '{}'.",
                field.name,
                root.name()
            ));
        }
    }
    Ok((root, selected))
}

fn operation_name_of<'q>(operation: &q::OperationDefinition<'q, &'q str>) -> Option<&'q str> {
    match operation {
        q::OperationDefinition::Query(query) => query.name,
        q::OperationDefinition::Mutation(mutation) => mutation.name,
        q::OperationDefinition::Subscription(subscription) => subscription.name,
        q::OperationDefinition::SelectionSet(_) => None,
    }
}

/// What one query needs while it runs.
struct Execution {
    state: AppState,
    /// Experiments already fetched for `MlflowRun.experiment`, by id.
    experiments: HashMap<String, Value>,
    errors: Vec<String>,
}

impl Execution {
    /// Runs the root fields in order; a failing field is `null` with its message in `errors`.
    async fn run(&mut self, root: Root, selected: &[Selected]) -> Value {
        let mut data = Map::new();
        for field in selected {
            if field.name == "__typename" {
                data.insert(field.key.clone(), json!(root.name()));
                continue;
            }
            let Some(root_field) = root.fields().iter().find(|r| r.name == field.name) else {
                continue;
            };
            let value = match self.root_field(root_field, field).await {
                Ok(value) => value,
                Err(message) => {
                    self.errors.push(message);
                    Value::Null
                }
            };
            data.insert(field.key.clone(), value);
        }
        Value::Object(data)
    }

    /// Runs a root field's RPC and projects its answer.
    async fn root_field(&mut self, root: &RootField, field: &Selected) -> GqlResult<Value> {
        let mut input = Map::new();
        for (name, value) in &field.arguments {
            match (root.rpc, name.as_str()) {
                (Rpc::Echo, "inputString") => {
                    let mut answer = Map::new();
                    answer.insert("output".into(), value.clone());
                    return self
                        .project(&Value::Object(answer), root.answer, field)
                        .await;
                }
                (_, "input") => match value {
                    Value::Object(map) => {
                        for (key, item) in map {
                            let snake = snake_case(key);
                            if !root.input_fields.contains(&snake.as_str()) {
                                return Err(format!(
                                    "Field '{key}' is not defined by type '{}'.",
                                    root.input_type
                                ));
                            }
                            input.insert(snake, item.clone());
                        }
                    }
                    Value::Null => {}
                    other => {
                        return Err(format!(
                            "Expected type '{}' to be an object, found {other}.",
                            root.input_type
                        ));
                    }
                },
                _ => {
                    return Err(format!(
                        "Unknown argument '{name}' on field '{}'.",
                        root.name
                    ));
                }
            }
        }
        if let Rpc::BulkInterval = root.rpc {
            // MLflow's resolver reads these three from the HTTP query string, which a GraphQL
            // POST does not have, so it always samples 2,500 points per run over every step;
            // the UI's charts are drawn from that answer.
            for ignored in ["max_results", "start_step", "end_step"] {
                input.remove(ignored);
            }
        }
        let answer = self.call(root.rpc, input).await?;
        self.project(&answer, root.answer, field).await
    }

    /// Calls the REST handler behind `rpc` and reads back its JSON answer; an error answer
    /// becomes the field's error message, as MLflow's resolvers raise it.
    async fn call(&self, rpc: Rpc, input: Map<String, Value>) -> GqlResult<Value> {
        let state = State(self.state.clone());
        let fields = Fields::from_json(input);
        let result = match rpc {
            Rpc::GetExperiment => experiments::get(state, fields).await,
            Rpc::BulkInterval => metrics::get_history_bulk_interval(state, fields).await,
            Rpc::GetRun => runs::get(state, fields).await,
            Rpc::ListArtifacts => crate::artifacts::list_run_artifacts(state, fields).await,
            Rpc::SearchModelVersions => registry::search_model_versions(state, fields).await,
            Rpc::SearchDatasets => experiments::search_datasets(state, fields).await,
            Rpc::SearchRuns => runs::search(state, fields).await,
            Rpc::Echo => return Ok(Value::Null),
        };
        let response = result.map_err(|error| error.0.message)?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), MAX_INNER_BODY)
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("the answer was not JSON ({status}): {e}"))?;
        if !status.is_success() {
            return Err(value["message"]
                .as_str()
                .unwrap_or("request failed")
                .to_string());
        }
        Ok(value)
    }

    /// The selection of `field` read off `value`, an object of type `object`.
    fn project<'a>(
        &'a mut self,
        value: &'a Value,
        object: &'static Object,
        field: &'a Selected,
    ) -> BoxFuture<'a, GqlResult<Value>> {
        Box::pin(async move {
            if field.children.is_empty() {
                return Err(format!(
                    "Field '{}' of type '{}' must have a selection of subfields.",
                    field.name, object.name
                ));
            }
            let mut out = Map::new();
            for sub in &field.children {
                if sub.name == "__typename" {
                    out.insert(sub.key.clone(), json!(object.name));
                    continue;
                }
                let snake = if sub.name == "apiError" {
                    sub.name.clone()
                } else {
                    snake_case(&sub.name)
                };
                let ty = object.field(&snake).ok_or_else(|| {
                    format!(
                        "Cannot query field '{}' on type '{}'.",
                        sub.name, object.name
                    )
                })?;
                let item = match ty {
                    Ty::RunExperiment => self.run_experiment(value, sub).await?,
                    Ty::RunModelVersions => self.run_model_versions(value, sub).await?,
                    _ => self.typed(value.get(&snake), ty, sub).await?,
                };
                out.insert(sub.key.clone(), item);
            }
            Ok(Value::Object(out))
        })
    }

    /// One value of type `ty` (absent: the protobuf default).
    fn typed<'a>(
        &'a mut self,
        value: Option<&'a Value>,
        ty: Ty,
        field: &'a Selected,
    ) -> BoxFuture<'a, GqlResult<Value>> {
        Box::pin(async move {
            let leaf = !matches!(
                ty,
                Ty::Object(_)
                    | Ty::List(_)
                    | Ty::RunExperiment
                    | Ty::RunModelVersions
                    | Ty::ApiError
            );
            if leaf && !field.children.is_empty() {
                return Err(format!(
                    "Field '{}' must not have a selection since its type has no subfields.",
                    field.name
                ));
            }
            let value = value.filter(|v| !v.is_null());
            Ok(match ty {
                Ty::String => match value {
                    Some(Value::String(text)) => json!(text),
                    Some(other) => json!(other.to_string()),
                    None => json!(""),
                },
                Ty::Long => match value {
                    Some(Value::String(text)) => json!(text),
                    Some(other) => json!(other.to_string()),
                    None => json!("0"),
                },
                Ty::Float | Ty::MetricValue => match value {
                    Some(Value::Number(number)) => json!(number),
                    // NaN and the infinities (printed as strings by the REST API) have no
                    // GraphQL Float.
                    Some(_) => Value::Null,
                    None => json!(0.0),
                },
                Ty::Boolean => value.cloned().unwrap_or(json!(false)),
                Ty::Enum(names) => value.cloned().unwrap_or(json!(names[0])),
                Ty::Object(object) => {
                    let empty = Value::Object(Map::new());
                    self.project(value.unwrap_or(&empty), object, field).await?
                }
                Ty::List(item_ty) => {
                    let items = value
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(self.typed(Some(item), *item_ty, field).await?);
                    }
                    Value::Array(out)
                }
                Ty::ApiError | Ty::RunExperiment | Ty::RunModelVersions => Value::Null,
            })
        })
    }

    /// `MlflowRun.experiment`: the run's experiment, fetched once per query.
    async fn run_experiment(&mut self, run: &Value, field: &Selected) -> GqlResult<Value> {
        let id = run["info"]["experiment_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !self.experiments.contains_key(&id) {
            let mut input = Map::new();
            input.insert("experiment_id".into(), json!(id));
            let answer = self.call(Rpc::GetExperiment, input).await?;
            self.experiments
                .insert(id.clone(), answer["experiment"].clone());
        }
        let experiment = self.experiments[&id].clone();
        self.project(&experiment, &EXPERIMENT, field).await
    }

    /// `MlflowRun.modelVersions`: the versions registered from the run.
    async fn run_model_versions(&mut self, run: &Value, field: &Selected) -> GqlResult<Value> {
        let id = run["info"]["run_id"].as_str().unwrap_or_default();
        let mut input = Map::new();
        input.insert("filter".into(), json!(format!("run_id='{id}'")));
        let answer = self.call(Rpc::SearchModelVersions, input).await?;
        let versions = answer.get("model_versions").cloned();
        self.typed(versions.as_ref(), MODEL_VERSIONS, field).await
    }
}

/// `[MlflowModelVersion]`, the type of `MlflowRun.modelVersions`.
const MODEL_VERSIONS: Ty = Ty::List(&Ty::Object(&MODEL_VERSION));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_matches_graphene_names() {
        assert_eq!(snake_case("runUuid"), "run_uuid");
        assert_eq!(
            snake_case("effectiveTraceArchivalRetention"),
            "effective_trace_archival_retention"
        );
        assert_eq!(snake_case("info"), "info");
    }
}
