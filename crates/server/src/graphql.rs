//! `/graphql`: the GraphQL endpoint MLflow's web UI queries for runs, experiments and charts.
//!
//! MLflow generates its GraphQL schema from its protos and resolves each root field by calling
//! the same function as the matching REST RPC, then lets graphene read the fields off the
//! protobuf response. Trackway does the same in steps: the query is parsed, lowered (fragments
//! expanded, variables substituted) and validated against the schema table below, so an invalid
//! query runs nothing; then each root field calls the REST handler with the field's `input`
//! (validation and errors are the RPC's own), and the JSON answer is projected onto the
//! selection. Absent fields print as protobuf defaults (`""`, `"0"`, `[]`, an empty message),
//! because that is what graphene reads off an unset proto2 field; int64 fields print as strings
//! (MLflow's `LongString`). MLflow's quirks are kept where a client could see them: only the
//! `@component` directive exists, and `max_results`/steps of the bulk-interval query are ignored.
//! `tests/python/test_graphql.py` sends every query to both servers and compares.
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
    /// An enum whose generated GraphQL type is numbered one off from the proto, so that the
    /// unset proto value (0) has no GraphQL value: MLflow answers `null` and an error.
    UnrepresentableEnum(&'static str),
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
        ("value", Ty::Float),
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
            Ty::UnrepresentableEnum("MlflowDeploymentJobConnectionState"),
        ),
        (
            "run_state",
            Ty::UnrepresentableEnum("MlflowModelVersionDeploymentJobStateDeploymentJobRunState"),
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

static ERROR_DETAIL: Object = Object {
    name: "ErrorDetail",
    fields: &[("field", Ty::String), ("message", Ty::String)],
};

static API_ERROR: Object = Object {
    name: "ApiError",
    fields: &[
        ("code", Ty::String),
        ("message", Ty::String),
        ("help_url", Ty::String),
        ("trace_id", Ty::String),
        ("error_details", Ty::List(&Ty::Object(&ERROR_DETAIL))),
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

/// GraphQL errors: messages for the `errors` list.
type Errors = Vec<String>;

/// One selected field, lowered from the parsed query: fragments expanded and variables
/// substituted, so validation and execution own their data and never borrow the parser's tree
/// across an `await`.
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
    errors: Errors,
}

impl<'d, 'q> Lowering<'d, 'q> {
    /// The fields of `set`; `None` when a limit was hit (the error is recorded).
    fn selection_set(
        &mut self,
        set: &'d q::SelectionSet<'q, &'q str>,
        depth: usize,
    ) -> Option<Vec<Selected>> {
        let mut out = Vec::new();
        self.collect_into(set, depth, &mut out)?;
        Some(out)
    }

    fn collect_into(
        &mut self,
        set: &'d q::SelectionSet<'q, &'q str>,
        depth: usize,
        out: &mut Vec<Selected>,
    ) -> Option<()> {
        // Limits as in MLflow's query-safety check; a fragment spread counts as a level, so a
        // cycle of fragments ends here too.
        if depth > MAX_DEPTH {
            self.errors
                .push(format!("Query exceeds maximum depth of {MAX_DEPTH}"));
            return None;
        }
        for selection in &set.items {
            self.count += 1;
            if self.count > MAX_SELECTIONS {
                self.errors.push(format!(
                    "Query exceeds maximum total selections of {MAX_SELECTIONS}"
                ));
                return None;
            }
            match selection {
                q::Selection::Field(field) => {
                    self.check_directives(&field.directives, "FIELD");
                    let arguments = field
                        .arguments
                        .iter()
                        .map(|(name, value)| (name.to_string(), self.value(value)))
                        .collect();
                    let children = self.selection_set(&field.selection_set, depth + 1)?;
                    out.push(Selected {
                        key: field.alias.unwrap_or(field.name).to_string(),
                        name: field.name.to_string(),
                        arguments,
                        children,
                    });
                }
                q::Selection::InlineFragment(fragment) => {
                    self.check_directives(&fragment.directives, "INLINE_FRAGMENT");
                    self.collect_into(&fragment.selection_set, depth + 1, out)?;
                }
                q::Selection::FragmentSpread(spread) => {
                    self.check_directives(&spread.directives, "FRAGMENT_SPREAD");
                    match self.fragments.get(spread.fragment_name).copied() {
                        Some(fragment) => {
                            self.collect_into(&fragment.selection_set, depth + 1, out)?
                        }
                        None => self
                            .errors
                            .push(format!("Unknown fragment '{}'.", spread.fragment_name)),
                    }
                }
            }
        }
        Some(())
    }

    /// MLflow's schema declares one directive, `@component`, for operations only; even the
    /// standard `@skip` and `@include` are unknown to it, so a query using them fails there and
    /// fails here.
    fn check_directives(&mut self, directives: &[q::Directive<'q, &'q str>], location: &str) {
        for directive in directives {
            if directive.name == "component" {
                self.errors.push(format!(
                    "Directive '@component' may not be used on {location}."
                ));
            } else {
                self.errors
                    .push(format!("Unknown directive '@{}'.", directive.name));
            }
        }
    }

    /// A GraphQL value as JSON, with variables substituted (an unknown variable is `null`).
    fn value(&self, value: &q::Value<'q, &'q str>) -> Value {
        match value {
            q::Value::Variable(name) => self.variables.get(*name).cloned().unwrap_or(Value::Null),
            q::Value::Int(number) => number.as_i64().map(Value::from).unwrap_or(Value::Null),
            q::Value::Float(number) => json!(number),
            q::Value::String(text) => json!(text),
            q::Value::Boolean(flag) => json!(flag),
            q::Value::Null => Value::Null,
            q::Value::Enum(name) => json!(name),
            q::Value::List(items) => Value::Array(items.iter().map(|i| self.value(i)).collect()),
            q::Value::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(key, item)| (key.to_string(), self.value(item)))
                    .collect(),
            ),
        }
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
    let (data, errors) = match prepare(&query, &variables, operation_name.as_deref()) {
        Ok((root, selected)) => {
            let mut execution = Execution {
                state,
                experiments: HashMap::new(),
                errors: Vec::new(),
            };
            let data = execution.run(root, &selected).await;
            (data, execution.errors)
        }
        Err(errors) => (Value::Null, errors),
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

/// Parses the document, lowers the chosen operation and validates it against the schema. As
/// in any GraphQL server, an invalid query runs nothing: `data` is `null`.
fn prepare(
    query: &str,
    variables: &Map<String, Value>,
    operation_name: Option<&str>,
) -> Result<(Root, Vec<Selected>), Errors> {
    let document = q::parse_query::<&str>(query).map_err(|e| vec![format!("Syntax Error: {e}")])?;
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
            .ok_or_else(|| vec![format!("Unknown operation named '{wanted}'.")])?,
        None if operations.len() == 1 => operations[0],
        None => {
            return Err(vec![
                "Must provide operation name if query contains multiple operations.".into(),
            ]);
        }
    };
    let (root, selection_set) = match operation {
        q::OperationDefinition::Query(query) => (Root::Query, &query.selection_set),
        q::OperationDefinition::SelectionSet(set) => (Root::Query, set),
        q::OperationDefinition::Mutation(mutation) => (Root::Mutation, &mutation.selection_set),
        q::OperationDefinition::Subscription(_) => {
            return Err(vec!["Schema is not configured for subscriptions.".into()]);
        }
    };
    let mut lowering = Lowering {
        fragments,
        variables,
        count: 0,
        errors: Vec::new(),
    };
    let selected = lowering.selection_set(selection_set, 0);
    let mut errors = lowering.errors;
    let Some(selected) = selected else {
        return Err(errors);
    };
    validate_root(root, &selected, &mut errors);
    if errors.is_empty() {
        Ok((root, selected))
    } else {
        Err(errors)
    }
}

fn operation_name_of<'q>(operation: &q::OperationDefinition<'q, &'q str>) -> Option<&'q str> {
    match operation {
        q::OperationDefinition::Query(query) => query.name,
        q::OperationDefinition::Mutation(mutation) => mutation.name,
        q::OperationDefinition::Subscription(subscription) => subscription.name,
        q::OperationDefinition::SelectionSet(_) => None,
    }
}

/// Checks the root fields, their arguments and `input` fields, and everything selected below.
fn validate_root(root: Root, selected: &[Selected], errors: &mut Errors) {
    for field in selected {
        if field.name == "__typename" {
            validate_leaf(field, errors);
            continue;
        }
        let Some(root_field) = root.fields().iter().find(|r| r.name == field.name) else {
            errors.push(format!(
                "Cannot query field '{}' on type '{}'.",
                field.name,
                root.name()
            ));
            continue;
        };
        for (name, value) in &field.arguments {
            match (root_field.rpc, name.as_str()) {
                (Rpc::Echo, "inputString") => {}
                (Rpc::Echo, _) => errors.push(format!(
                    "Unknown argument '{name}' on field '{}.{}'.",
                    root.name(),
                    root_field.name
                )),
                (_, "input") => match value {
                    Value::Object(map) => {
                        for key in map.keys() {
                            if !root_field.input_fields.contains(&snake_case(key).as_str()) {
                                errors.push(format!(
                                    "Field '{key}' is not defined by type '{}'.",
                                    root_field.input_type
                                ));
                            }
                        }
                    }
                    Value::Null => {}
                    other => errors.push(format!(
                        "Expected value of type '{}', found {other}.",
                        root_field.input_type
                    )),
                },
                _ => errors.push(format!(
                    "Unknown argument '{name}' on field '{}.{}'.",
                    root.name(),
                    root_field.name
                )),
            }
        }
        validate_object(field, root_field.answer, errors);
    }
}

/// Checks a field of object type: it needs a selection, and each selected field must exist.
fn validate_object(field: &Selected, object: &'static Object, errors: &mut Errors) {
    if field.children.is_empty() {
        errors.push(format!(
            "Field '{}' of type '{}' must have a selection of subfields.",
            field.name, object.name
        ));
        return;
    }
    for child in &field.children {
        if let Some((name, _)) = child.arguments.first() {
            errors.push(format!(
                "Unknown argument '{name}' on field '{}.{}'.",
                object.name, child.name
            ));
        }
        if child.name == "__typename" {
            validate_leaf(child, errors);
            continue;
        }
        match object.field(&field_key(&child.name)) {
            None => errors.push(format!(
                "Cannot query field '{}' on type '{}'.",
                child.name, object.name
            )),
            Some(ty) => validate_typed(child, ty, errors),
        }
    }
}

fn validate_typed(field: &Selected, ty: Ty, errors: &mut Errors) {
    match ty {
        Ty::Object(object) => validate_object(field, object, errors),
        Ty::List(inner) => validate_typed(field, *inner, errors),
        Ty::RunExperiment => validate_object(field, &EXPERIMENT, errors),
        Ty::RunModelVersions => validate_object(field, &MODEL_VERSION, errors),
        Ty::ApiError => validate_object(field, &API_ERROR, errors),
        Ty::String
        | Ty::Long
        | Ty::Float
        | Ty::Boolean
        | Ty::Enum(_)
        | Ty::UnrepresentableEnum(_) => validate_leaf(field, errors),
    }
}

fn validate_leaf(field: &Selected, errors: &mut Errors) {
    if !field.children.is_empty() {
        errors.push(format!(
            "Field '{}' must not have a selection since its type has no subfields.",
            field.name
        ));
    }
}

/// The table key of a selected field: its proto name (`apiError` keeps its GraphQL name, as
/// graphene declares it).
fn field_key(name: &str) -> String {
    if name == "apiError" {
        name.to_string()
    } else {
        snake_case(name)
    }
}

/// What one query needs while it runs.
struct Execution {
    state: AppState,
    /// Experiments already fetched for `MlflowRun.experiment`, by id.
    experiments: HashMap<String, Value>,
    errors: Errors,
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
    async fn root_field(&mut self, root: &RootField, field: &Selected) -> Result<Value, String> {
        let mut input = Map::new();
        for (name, value) in &field.arguments {
            match (name.as_str(), value) {
                ("inputString", _) => {
                    let mut answer = Map::new();
                    answer.insert("output".into(), value.clone());
                    return Ok(self
                        .project(&Value::Object(answer), root.answer, field)
                        .await);
                }
                ("input", Value::Object(map)) => {
                    for (key, item) in map {
                        input.insert(snake_case(key), item.clone());
                    }
                }
                _ => {}
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
        Ok(self.project(&answer, root.answer, field).await)
    }

    /// Calls the REST handler behind `rpc` and reads back its JSON answer; an error answer
    /// becomes the field's error message, as MLflow's resolvers raise it.
    async fn call(&self, rpc: Rpc, input: Map<String, Value>) -> Result<Value, String> {
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

    /// The (validated) selection of `field` read off `value`, an object of type `object`.
    fn project<'a>(
        &'a mut self,
        value: &'a Value,
        object: &'static Object,
        field: &'a Selected,
    ) -> BoxFuture<'a, Value> {
        Box::pin(async move {
            let mut out = Map::new();
            for sub in &field.children {
                if sub.name == "__typename" {
                    out.insert(sub.key.clone(), json!(object.name));
                    continue;
                }
                let key = field_key(&sub.name);
                let Some(ty) = object.field(&key) else {
                    continue;
                };
                let item = match ty {
                    Ty::RunExperiment => self.run_experiment(value, sub).await,
                    Ty::RunModelVersions => self.run_model_versions(value, sub).await,
                    _ => self.typed(value.get(&key), ty, sub).await,
                };
                // A failed nested call nulls the field and reports why, as graphene does.
                let item = item.unwrap_or_else(|message| {
                    self.errors.push(message);
                    Value::Null
                });
                out.insert(sub.key.clone(), item);
            }
            Value::Object(out)
        })
    }

    /// One value of type `ty` (absent: the protobuf default).
    fn typed<'a>(
        &'a mut self,
        value: Option<&'a Value>,
        ty: Ty,
        field: &'a Selected,
    ) -> BoxFuture<'a, Result<Value, String>> {
        Box::pin(async move {
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
                Ty::Float => match value {
                    Some(Value::Number(number)) => json!(number),
                    // NaN and the infinities (printed as strings by the REST API) have no
                    // GraphQL Float.
                    Some(_) => Value::Null,
                    None => json!(0.0),
                },
                Ty::Boolean => value.cloned().unwrap_or(json!(false)),
                Ty::Enum(names) => value.cloned().unwrap_or(json!(names[0])),
                Ty::UnrepresentableEnum(name) => {
                    return Err(format!("Enum '{name}' cannot represent value: 0"));
                }
                Ty::Object(object) => {
                    let empty = Value::Object(Map::new());
                    self.project(value.unwrap_or(&empty), object, field).await
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
    async fn run_experiment(&mut self, run: &Value, field: &Selected) -> Result<Value, String> {
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
        Ok(self.project(&experiment, &EXPERIMENT, field).await)
    }

    /// `MlflowRun.modelVersions`: the versions registered from the run.
    async fn run_model_versions(&mut self, run: &Value, field: &Selected) -> Result<Value, String> {
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
