//! MLflow's input rules and limits (`mlflow/utils/validation.py`), with its messages.
//!
//! Messages are kept word for word where clients or MLflow's own tests look for them.

use crate::entities::KeyValue;
use crate::error::{Error, Result};

/// Longest metric, param or tag key.
pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
/// Longest param value; longer values are truncated.
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
/// Longest run tag value; longer values are truncated.
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
/// Longest experiment name.
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
/// Longest experiment tag key.
pub const MAX_EXPERIMENT_TAG_KEY_LENGTH: usize = 250;
/// Longest experiment tag value.
pub const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 20000;
/// Most metrics in one log-batch.
pub const MAX_METRICS_PER_BATCH: usize = 1000;
/// Most params, and most tags, in one log-batch.
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
/// Most entities of all kinds in one log-batch.
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
/// Longest dataset name.
pub const MAX_DATASET_NAME_SIZE: usize = 500;
/// Longest dataset digest.
pub const MAX_DATASET_DIGEST_SIZE: usize = 36;
/// Longest dataset schema.
pub const MAX_DATASET_SCHEMA_SIZE: usize = 1_048_575;
/// Longest dataset source.
pub const MAX_DATASET_SOURCE_SIZE: usize = 65535;
/// Longest dataset profile.
pub const MAX_DATASET_PROFILE_SIZE: usize = 16_777_215;
/// Longest input tag key.
pub const MAX_INPUT_TAG_KEY_SIZE: usize = 255;
/// Longest input tag value.
pub const MAX_INPUT_TAG_VALUE_SIZE: usize = 500;
/// Longest experiment artifact location (`MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH`'s default).
pub const MAX_ARTIFACT_LOCATION_LENGTH: usize = 2048;
/// Largest `max_results` of runs/search and experiments/search.
pub const SEARCH_MAX_RESULTS_THRESHOLD: i64 = 50000;
/// Default `max_results` of runs/search.
pub const SEARCH_MAX_RESULTS_DEFAULT: i64 = 1000;

/// Writes a value as Python's `json.dumps` would in MLflow's messages (ASCII only).
pub fn json_dumps_str(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Formats a string as Python's `repr` does, for messages that embed Python values.
pub fn py_repr(value: &str) -> String {
    let quote = if value.contains('\'') && !value.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(value.len() + 2);
    out.push(quote);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Formats a double as Python's `str(float)` does, for messages.
pub fn py_float(value: f64) -> String {
    if value.is_nan() {
        "nan".into()
    } else if value.is_infinite() {
        if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else if value == value.trunc() && value.abs() < 1e16 {
        format!("{value:.1}")
    } else {
        let text = format!("{value:?}");
        match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp:0>2}"),
            Some((mantissa, exp)) => format!("{mantissa}e-{:0>2}", &exp[1..]),
            None => text,
        }
    }
}

/// `Invalid value <json> for parameter '<path>' supplied[: <message>]`.
pub fn invalid_value(path: &str, value_json: &str, message: Option<&str>) -> String {
    match message {
        Some(message) => {
            format!("Invalid value {value_json} for parameter '{path}' supplied: {message}")
        }
        None => format!("Invalid value {value_json} for parameter '{path}' supplied."),
    }
}

/// `Missing value for required parameter '<path>'.`
pub fn missing_value(path: &str) -> String {
    format!("Missing value for required parameter '{path}'.")
}

/// `'<path>' exceeds the maximum length of <limit> characters`.
pub fn exceeds_maximum_length(path: &str, limit: usize) -> String {
    format!("'{path}' exceeds the maximum length of {limit} characters")
}

/// Joins a JSON path the way MLflow builds `metrics[0].key`.
pub fn append_to_json_path(current: &str, value: &str) -> String {
    if current.is_empty() {
        value.to_string()
    } else if value.starts_with('[') {
        format!("{current}{value}")
    } else {
        format!("{current}.{value}")
    }
}

/// POSIX `normpath`, to tell whether a key would name another file.
fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let initial_slashes = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if initial_slashes == 0 && (parts.is_empty() || parts.last() == Some(&"..")) {
                    parts.push("..");
                } else if !parts.is_empty() {
                    parts.pop();
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    let result = format!("{}{}", "/".repeat(initial_slashes), joined);
    if result.is_empty() {
        ".".into()
    } else {
        result
    }
}

fn path_not_unique(name: &str) -> bool {
    let norm = normpath(name);
    norm != name || norm == "." || norm.starts_with("..") || norm.starts_with('/')
}

fn bad_path_message(name: &str) -> String {
    let norm = normpath(name);
    let quoted = if norm.contains('\'') && !norm.contains('"') {
        format!("\"{norm}\"")
    } else {
        format!("'{}'", norm.replace('\'', "\\'"))
    };
    format!(
        "Names may be treated as files in certain cases, and must not resolve to other names when \
         treated as such. This name would resolve to {quoted}"
    )
}

const BAD_CHARACTER_MESSAGE: &str = "Names may only contain alphanumerics, underscores (_), \
     dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).";

fn valid_name_chars(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':'))
}

/// Checks a metric, param or tag key's characters and that it names no other path.
pub fn validate_key_name(name: &str, path: &str) -> Result<()> {
    if !valid_name_chars(name) {
        return Err(Error::invalid(invalid_value(
            path,
            &json_dumps_str(name),
            Some(BAD_CHARACTER_MESSAGE),
        )));
    }
    if path_not_unique(name) {
        return Err(Error::invalid(invalid_value(
            path,
            &json_dumps_str(name),
            Some(&bad_path_message(name)),
        )));
    }
    Ok(())
}

/// Enforces a length limit on `value`, truncating when allowed (MLflow's default for params and
/// run tags), counted in characters as Python does.
pub fn validate_length_limit(
    entity_name: &str,
    limit: usize,
    value: &str,
    truncate: bool,
) -> Result<String> {
    match value.char_indices().nth(limit) {
        None => Ok(value.to_string()),
        Some((byte_index, _)) if truncate => Ok(value[..byte_index].to_string()),
        Some(_) => Err(Error::invalid(exceeds_maximum_length(entity_name, limit))),
    }
}

/// Validates a metric as `_validate_metric` does; `path` is `""` for log-metric and
/// `metrics[i]` inside a batch.
pub fn validate_metric(key: &str, value: f64, timestamp: i64, path: &str) -> Result<()> {
    validate_key_name(key, &append_to_json_path(path, "name"))?;
    if timestamp < 0 {
        return Err(Error::invalid(invalid_value(
            &append_to_json_path(path, "timestamp"),
            &timestamp.to_string(),
            Some(&format!(
                "metric '{key}' (value={}). Timestamp must be a nonnegative long (64-bit integer) ",
                py_float(value)
            )),
        )));
    }
    validate_length_limit("Metric name", MAX_ENTITY_KEY_LENGTH, key, false)?;
    Ok(())
}

/// Validates a param and returns it with its value truncated to the limit.
pub fn validate_param(key: &str, value: &str, path: &str) -> Result<KeyValue> {
    validate_key_name(key, &append_to_json_path(path, "key"))?;
    Ok(KeyValue {
        key: validate_length_limit("Param key", MAX_ENTITY_KEY_LENGTH, key, false)?,
        value: validate_length_limit("Param value", MAX_PARAM_VAL_LENGTH, value, true)?,
    })
}

/// Validates a run tag and returns it with its value truncated to the limit.
pub fn validate_tag(key: &str, value: &str, path: &str) -> Result<KeyValue> {
    validate_key_name(key, &append_to_json_path(path, "key"))?;
    Ok(KeyValue {
        key: validate_length_limit(
            &append_to_json_path(path, "key"),
            MAX_ENTITY_KEY_LENGTH,
            key,
            false,
        )?,
        value: validate_length_limit(
            &append_to_json_path(path, "value"),
            MAX_TAG_VAL_LENGTH,
            value,
            true,
        )?,
    })
}

/// Validates an experiment tag (no truncation).
pub fn validate_experiment_tag(key: &str, value: &str) -> Result<()> {
    validate_key_name(key, "key")?;
    validate_length_limit("key", MAX_EXPERIMENT_TAG_KEY_LENGTH, key, false)?;
    validate_length_limit("value", MAX_EXPERIMENT_TAG_VAL_LENGTH, value, false)?;
    Ok(())
}

/// Validates an experiment name.
pub fn validate_experiment_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(format!("Invalid experiment name: '{name}'")));
    }
    if name.chars().count() > MAX_EXPERIMENT_NAME_LENGTH {
        return Err(Error::invalid(exceeds_maximum_length(
            "name",
            MAX_EXPERIMENT_NAME_LENGTH,
        )));
    }
    Ok(())
}

/// Validates an experiment's artifact location.
pub fn validate_artifact_location(location: &str) -> Result<()> {
    if location.starts_with("runs:") {
        return Err(Error::invalid(format!(
            "Artifact location cannot be a runs:/ URI. Given: '{location}'"
        )));
    }
    if location.chars().count() > MAX_ARTIFACT_LOCATION_LENGTH {
        return Err(Error::invalid(format!(
            "Invalid artifact path length. The length of the artifact path cannot be greater \
             than {MAX_ARTIFACT_LOCATION_LENGTH} characters. To configure this limit, please set \
             the MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH environment variable."
        )));
    }
    Ok(())
}

/// Checks a run id's shape (`^[a-zA-Z0-9][\w\-]{0,255}$`).
pub fn validate_run_id(run_id: &str) -> Result<()> {
    let mut chars = run_id.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && run_id.chars().count() <= 256
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(invalid_value(
            "run_id",
            &json_dumps_str(run_id),
            None,
        )))
    }
}

/// Parses an experiment id, which SQL stores need to be an integer.
pub fn parse_experiment_id(id: &str) -> Result<i64> {
    id.trim().parse::<i64>().map_err(|_| {
        Error::invalid(format!(
            "Invalid experiment ID '{id}'. Experiment ID must be a valid integer."
        ))
    })
}

/// Parses a list of experiment ids (see [`parse_experiment_id`]); the first bad one fails.
pub fn parse_experiment_ids(ids: &[String]) -> Result<Vec<i64>> {
    ids.iter().map(|id| parse_experiment_id(id)).collect()
}

fn batch_limit(entity_name: &str, limit: usize, length: usize) -> Result<()> {
    if length > limit {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {limit} {entity_name}. Got {length} \
             {entity_name}. Please split up {entity_name} across multiple requests and try again."
        )));
    }
    Ok(())
}

/// Checks log-batch's size limits.
pub fn validate_batch_limits(metrics: usize, params: usize, tags: usize) -> Result<()> {
    batch_limit("metrics", MAX_METRICS_PER_BATCH, metrics)?;
    batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, params)?;
    batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, tags)?;
    batch_limit(
        "metrics, params, and tags",
        MAX_ENTITIES_PER_BATCH,
        metrics + params + tags,
    )
}

/// Refuses a batch that logs one param key twice.
pub fn validate_param_keys_unique(params: &[KeyValue]) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    let mut dupes: Vec<&str> = Vec::new();
    for param in params {
        if seen.contains(&param.key.as_str()) {
            dupes.push(&param.key);
        } else {
            seen.push(&param.key);
        }
    }
    if dupes.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = dupes.iter().map(|k| format!("'{k}'")).collect();
    Err(Error::invalid(format!(
        "Duplicate parameter keys have been submitted: [{}]. Please ensure the request contains \
         only one param value per param key.",
        list.join(", ")
    )))
}

/// Checks a dataset's field sizes.
pub fn validate_dataset(dataset: &crate::entities::Dataset) -> Result<()> {
    let checks = [
        ("name", dataset.name.as_str(), MAX_DATASET_NAME_SIZE),
        ("digest", dataset.digest.as_str(), MAX_DATASET_DIGEST_SIZE),
        ("source", dataset.source.as_str(), MAX_DATASET_SOURCE_SIZE),
        (
            "schema",
            dataset.schema.as_deref().unwrap_or(""),
            MAX_DATASET_SCHEMA_SIZE,
        ),
        (
            "profile",
            dataset.profile.as_deref().unwrap_or(""),
            MAX_DATASET_PROFILE_SIZE,
        ),
    ];
    for (field, value, limit) in checks {
        if value.chars().count() > limit {
            return Err(Error::invalid(exceeds_maximum_length(field, limit)));
        }
    }
    Ok(())
}

/// Checks an input tag's sizes.
pub fn validate_input_tag(tag: &KeyValue) -> Result<()> {
    if tag.key.chars().count() > MAX_INPUT_TAG_KEY_SIZE {
        return Err(Error::invalid(exceeds_maximum_length(
            "key",
            MAX_INPUT_TAG_KEY_SIZE,
        )));
    }
    if tag.value.chars().count() > MAX_INPUT_TAG_VALUE_SIZE {
        return Err(Error::invalid(exceeds_maximum_length(
            "value",
            MAX_INPUT_TAG_VALUE_SIZE,
        )));
    }
    Ok(())
}

/// Checks `max_results` of a search against MLflow's threshold.
pub fn validate_max_results(max_results: i64) -> Result<()> {
    if max_results <= 0 {
        return Err(Error::invalid(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be a \
             positive integer"
        )));
    }
    if max_results > SEARCH_MAX_RESULTS_THRESHOLD {
        return Err(Error::invalid(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be at \
             most {SEARCH_MAX_RESULTS_THRESHOLD}"
        )));
    }
    Ok(())
}

/// Longest registered-model and model-version tag key.
pub const MAX_MODEL_REGISTRY_TAG_KEY_LENGTH: usize = 250;
/// Longest registered-model and model-version tag value.
pub const MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH: usize = 100_000;
/// Longest alias.
pub const MAX_REGISTERED_MODEL_ALIAS_LENGTH: usize = 255;
/// Largest `max_results` of registered-models/search.
pub const SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD: i64 = 1000;
/// Default `max_results` of registered-models/search.
pub const SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT: i64 = 100;
/// Largest `max_results` of model-versions/search.
pub const SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD: i64 = 200_000;
/// Default `max_results` of model-versions/search.
pub const SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT: i64 = 10_000;

/// Checks a registered model name: not blank, no `/` or `:` (they would make `models:/` URIs
/// ambiguous), and no path that resolves to another name.
pub fn validate_model_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid(missing_value("name")));
    }
    if name.contains(['/', ':']) {
        return Err(Error::invalid(format!(
            "Invalid model name '{name}'. Names cannot contain '/' or ':'."
        )));
    }
    if path_not_unique(name) {
        return Err(Error::invalid(invalid_value(
            "name",
            &json_dumps_str(name),
            Some(&bad_path_message(name)),
        )));
    }
    Ok(())
}

/// Parses a model version number as MLflow's `int()` does.
pub fn parse_model_version(version: &str) -> Result<i64> {
    version.trim().parse::<i64>().map_err(|_| {
        Error::invalid(format!(
            "Parameter 'version' must be an integer, got '{version}'."
        ))
    })
}

/// Checks a registry tag (registered model or model version).
pub fn validate_registry_tag(key: &str, value: &str) -> Result<()> {
    validate_key_name(key, "key")?;
    validate_length_limit("key", MAX_MODEL_REGISTRY_TAG_KEY_LENGTH, key, false)?;
    if key == "mlflow.prompt.text" && value.chars().count() > MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH {
        return Err(Error::invalid(format!(
            "Prompt text exceeds max length of {MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH} characters."
        )));
    }
    validate_length_limit("value", MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH, value, false)?;
    Ok(())
}

/// Checks an alias's characters (`^[\w-]*$`, Unicode word characters as in Python) and
/// length.
pub fn validate_alias_name(alias: &str) -> Result<()> {
    if alias.is_empty() {
        return Err(Error::invalid(
            "Registered model alias name cannot be empty.",
        ));
    }
    if !alias
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::invalid(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores \
             (_), and dashes (-)."
        )));
    }
    validate_length_limit(
        "Registered model alias name",
        MAX_REGISTERED_MODEL_ALIAS_LENGTH,
        alias,
        false,
    )?;
    Ok(())
}

/// Refuses the aliases that `models:/` URIs give another meaning: `latest` and `v<N>`.
pub fn validate_alias_not_reserved(alias: &str) -> Result<()> {
    if alias.eq_ignore_ascii_case("latest") {
        return Err(Error::invalid(
            "'latest' alias name (case insensitive) is reserved.",
        ));
    }
    let mut chars = alias.chars();
    if matches!(chars.next(), Some('v' | 'V'))
        && alias.len() > 1
        && chars.all(|c| c.is_ascii_digit())
    {
        return Err(Error::invalid(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        assert!(validate_key_name("loss/train:1 a.b-c_d", "key").is_ok());
        for bad in ["../x", "/x", "a//b", "./a", ".", "a/", "x\u{0}", "a$b"] {
            assert!(validate_key_name(bad, "key").is_err(), "{bad}");
        }
        let e = validate_key_name("a$b", "key").unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value \"a$b\" for parameter 'key' supplied: Names may only contain \
             alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and \
             slashes (/)."
        );
    }

    #[test]
    fn truncation_counts_characters() {
        let long = "é".repeat(6001);
        let p = validate_param("k", &long, "").unwrap();
        assert_eq!(p.value.chars().count(), 6000);
        let key = "k".repeat(251);
        assert_eq!(
            validate_param(&key, "v", "").unwrap_err().message,
            "'Param key' exceeds the maximum length of 250 characters"
        );
    }

    #[test]
    fn batch_limits() {
        assert!(validate_batch_limits(1000, 0, 0).is_ok());
        assert!(validate_batch_limits(1001, 0, 0).is_err());
        assert!(validate_batch_limits(0, 101, 0).is_err());
        assert!(validate_batch_limits(900, 100, 1).is_err());
    }

    #[test]
    fn python_formats() {
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(0.25), "0.25");
        assert_eq!(py_float(1e300), "1e+300");
        assert_eq!(json_dumps_str("é\"x"), "\"\\u00e9\\\"x\"");
        assert_eq!(py_repr("a'b"), "\"a'b\"");
        assert_eq!(py_repr("a'b\""), "'a\\'b\"'");
    }

    #[test]
    fn run_ids() {
        assert!(validate_run_id("0123abcd").is_ok());
        assert!(validate_run_id("_abc").is_err());
        assert!(validate_run_id("").is_err());
    }
}
