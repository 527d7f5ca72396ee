//! Reading MLflow requests the way MLflow's server reads them.
//!
//! MLflow takes GET fields from the query string and everything else from a JSON body, parses
//! leniently (a body that is not JSON counts as `{}`, a JSON string holding JSON is decoded
//! twice, int64 fields take numeric strings, enums take names or numbers, camelCase spellings
//! are accepted), then checks each handler's schema. [`Fields`] gives handlers typed access
//! with the same outcomes and messages, so a bad request gets the error MLflow would give.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use serde_json::{Map, Value};
use trackway_core::validation::missing_value;
use trackway_core::{Error, Result};

use crate::error::ApiError;

/// The largest JSON body accepted. MLflow sets no limit of its own; dataset profiles alone may
/// be 16 MB.
pub const MAX_JSON_BODY: usize = 64 * 1024 * 1024;

const SEE_DOCS: &str = " See the API docs for more information about request parameters.";

/// Where a request's fields came from.
#[derive(Debug)]
enum Source {
    /// A JSON object (POST, PATCH, DELETE bodies, or a GET without a query string).
    Json(Map<String, Value>),
    /// Query-string pairs, in order; a key may repeat.
    Query(Vec<(String, String)>),
}

/// A request's fields, with typed accessors that fail as MLflow does.
#[derive(Debug)]
pub struct Fields {
    source: Source,
}

/// `artifact_location` → `artifactLocation`: protobuf's JSON name, which MLflow also accepts.
fn camel_case(name: &str) -> Option<String> {
    if !name.contains('_') {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Python's name for a JSON value's type, as MLflow's hints print it.
fn py_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `Invalid value <json> for parameter '<name>' supplied:  Hint: Value was of type '<type>'.`
pub fn type_error(name: &str, value: &Value) -> Error {
    let shown = serde_json::to_string(value).unwrap_or_default();
    Error::invalid(format!(
        "Invalid value {shown} for parameter '{name}' supplied:  Hint: Value was of type '{}'.{SEE_DOCS}",
        py_type(value)
    ))
}

/// `Missing value for required parameter '<name>'. See the API docs ...`
pub fn missing(name: &str) -> Error {
    Error::invalid(format!("{}{SEE_DOCS}", missing_value(name)))
}

/// Parses a JSON value as a proto int64: an integer, an integral float or a numeric string.
pub fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses a JSON value as a proto double: a number, a numeric string, `NaN`, `Infinity`,
/// `-Infinity`, or a bool.
pub fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        // Python's float(True) is 1.0, and MLflow's schema check accepts it.
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        },
        _ => None,
    }
}

impl Fields {
    /// Fields from a JSON object (tests and internal callers).
    pub fn from_json(map: Map<String, Value>) -> Self {
        Fields {
            source: Source::Json(map),
        }
    }

    /// The raw value of a field, under its proto or camelCase name. A body giving both is
    /// refused, as MLflow does.
    pub fn raw(&self, name: &str) -> Result<Option<Value>> {
        Ok(self.lookup(name)?.map(Cow::into_owned))
    }

    /// [`Fields::raw`] without copying a JSON body's value: a log-batch's metrics would
    /// otherwise be copied whole, a thousand small maps.
    fn lookup(&self, name: &str) -> Result<Option<Cow<'_, Value>>> {
        match &self.source {
            Source::Json(map) => {
                let camel = camel_case(name);
                let snake_value = map.get(name);
                let camel_value = camel.as_ref().and_then(|c| map.get(c));
                if let (Some(_), Some(_), Some(camel)) = (snake_value, camel_value, &camel) {
                    return Err(Error::invalid(format!(
                        "Request specifies both '{name}' and '{camel}'; provide only one of them."
                    )));
                }
                Ok(snake_value
                    .or(camel_value)
                    .filter(|v| !v.is_null())
                    .map(Cow::Borrowed))
            }
            Source::Query(pairs) => Ok(pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| Cow::Owned(Value::String(v.clone())))),
        }
    }

    /// An optional string field.
    pub fn string(&self, name: &str) -> Result<Option<String>> {
        match self.raw(name)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(type_error(name, &other)),
        }
    }

    /// A required string field: absent or empty is MLflow's "Missing value" error.
    pub fn required_string(&self, name: &str) -> Result<String> {
        match self.string(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(missing(name)),
        }
    }

    /// The run id, from `run_id` or the deprecated `run_uuid`.
    pub fn run_id(&self) -> Result<String> {
        match self.string("run_id")?.filter(|s| !s.is_empty()) {
            Some(id) => Ok(id),
            None => self
                .string("run_uuid")?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| missing("run_id")),
        }
    }

    /// An optional int64 field.
    pub fn i64(&self, name: &str) -> Result<Option<i64>> {
        match self.raw(name)? {
            None => Ok(None),
            Some(value) => as_i64(&value)
                .map(Some)
                .ok_or_else(|| type_error(name, &value)),
        }
    }

    /// An optional double field.
    pub fn f64(&self, name: &str) -> Result<Option<f64>> {
        match self.raw(name)? {
            None => Ok(None),
            Some(value) => as_f64(&value)
                .map(Some)
                .ok_or_else(|| type_error(name, &value)),
        }
    }

    /// An optional bool field (`true`/`false` in any case from a query string).
    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        match self.raw(name)? {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) if matches!(self.source, Source::Query(_)) => {
                match s.to_lowercase().as_str() {
                    "true" => Ok(Some(true)),
                    "false" => Ok(Some(false)),
                    _ => Err(Error::invalid(format!(
                        "Invalid boolean value: {s}, must be 'true' or 'false'."
                    ))),
                }
            }
            Some(other) => Err(type_error(name, &other)),
        }
    }

    /// A repeated string field (`a=1&a=2` in a query string, an array in JSON).
    pub fn string_list(&self, name: &str) -> Result<Vec<String>> {
        if let Source::Query(pairs) = &self.source {
            return Ok(pairs
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .collect());
        }
        match self.raw(name)? {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(type_error(name, &Value::Array(items.clone()))),
                })
                .collect(),
            Some(other) => Err(type_error(name, &other)),
        }
    }

    /// A repeated message field, as JSON objects.
    pub fn objects(&self, name: &str) -> Result<Vec<&Map<String, Value>>> {
        match self.lookup(name)? {
            None => Ok(Vec::new()),
            Some(Cow::Borrowed(Value::Array(items))) => items
                .iter()
                .map(|item| match item {
                    Value::Object(map) => Ok(map),
                    _ => Err(type_error(name, &Value::Array(items.clone()))),
                })
                .collect(),
            Some(other) => Err(type_error(name, &other)),
        }
    }

    /// Whether a field was sent at all.
    pub fn has(&self, name: &str) -> Result<bool> {
        Ok(self.lookup(name)?.is_some())
    }
}

/// Checks POST and PUT content types as MLflow does (parameters such as charset are allowed).
fn check_content_type(method: &Method, content_type: Option<&str>) -> Result<()> {
    if method != Method::POST && method != Method::PUT {
        return Ok(());
    }
    let Some(content_type) = content_type else {
        return Err(Error::invalid(
            "Bad Request. Content-Type header is missing.",
        ));
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence != "application/json" {
        return Err(Error::invalid(
            "Bad Request. Content-Type must be one of ['application/json'].",
        ));
    }
    Ok(())
}

/// Parses a body leniently: not JSON means `{}`, a JSON string holding JSON is decoded again.
fn parse_body(body: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

/// A request's fields as sent: a GET's query string, or a body whose content type is checked.
enum Sent {
    Query(Fields),
    Body(Bytes),
}

async fn read_request<S: Send + Sync>(req: Request, state: &S) -> Result<Sent> {
    let method = req.method().clone();
    let query = req.uri().query().unwrap_or_default().to_string();
    if method == Method::GET && !query.is_empty() {
        let pairs = form_urlencoded_pairs(&query);
        return Ok(Sent::Query(Fields {
            source: Source::Query(pairs),
        }));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    check_content_type(&method, content_type.as_deref())?;
    let body = Bytes::from_request(req, state)
        .await
        .map_err(|e| Error::invalid(format!("Could not read the request body: {e}")))?;
    Ok(Sent::Body(body))
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(match read_request(req, state).await? {
            Sent::Query(fields) => fields,
            Sent::Body(body) => Fields {
                source: Source::Json(parse_body(&body)),
            },
        })
    }
}

/// A body read straight into `T` when it has `T`'s plain shape, else [`Fields`].
///
/// A JSON tree costs a map per object, and for a bulk request (a log-batch of 1,000 metrics)
/// building and reading it was most of the request's work outside the database. `T` must
/// accept only bodies on which it agrees with the handler's [`Fields`] path, which answers
/// everything else (MLflow's errors included): every field required or defaulted as that path
/// reads it, no unknown fields, no nulls, no numbers as strings.
pub enum Plain<T> {
    /// The body had `T`'s shape.
    Parsed(T),
    /// Anything else: a query string, other spellings, bad input.
    Fields(Fields),
}

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Plain<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(match read_request(req, state).await? {
            Sent::Query(fields) => Plain::Fields(fields),
            Sent::Body(body) => match serde_json::from_slice(&body) {
                Ok(parsed) => Plain::Parsed(parsed),
                Err(_) => Plain::Fields(Fields {
                    source: Source::Json(parse_body(&body)),
                }),
            },
        })
    }
}

/// Splits a query string into decoded pairs.
pub fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        match v {
            Value::Object(map) => Fields::from_json(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn lenient_numbers_and_messages() {
        let f = fields(json!({"start_time": "5", "end_time": "soon", "value": "NaN", "n": 123}));
        assert_eq!(f.i64("start_time").unwrap(), Some(5));
        assert_eq!(
            f.i64("end_time").unwrap_err().message,
            "Invalid value \"soon\" for parameter 'end_time' supplied:  Hint: Value was of type \
             'str'. See the API docs for more information about request parameters."
        );
        assert!(f.f64("value").unwrap().unwrap().is_nan());
        assert_eq!(
            f.string("n").unwrap_err().message,
            "Invalid value 123 for parameter 'n' supplied:  Hint: Value was of type 'int'. See \
             the API docs for more information about request parameters."
        );
        assert_eq!(
            f.required_string("name").unwrap_err().message,
            "Missing value for required parameter 'name'. See the API docs for more information \
             about request parameters."
        );
    }

    #[test]
    fn camel_case_and_conflicts() {
        let f = fields(json!({"artifactLocation": "s3://a"}));
        assert_eq!(
            f.string("artifact_location").unwrap().as_deref(),
            Some("s3://a")
        );
        let f = fields(json!({"artifactLocation": "s3://a", "artifact_location": "s3://b"}));
        assert!(f.string("artifact_location").is_err());
    }

    #[test]
    fn bodies_and_queries() {
        assert_eq!(parse_body(b"not json"), Map::new());
        assert_eq!(
            parse_body(b"\"{\\\"name\\\": \\\"x\\\"}\"")["name"],
            json!("x")
        );
        let pairs = form_urlencoded_pairs("run_id=a&run_id=b&path=x%2Fy+z&bad=%zz");
        assert_eq!(pairs[2], ("path".into(), "x/y z".into()));
        assert_eq!(pairs[3], ("bad".into(), "%zz".into()));
        let f = Fields {
            source: Source::Query(pairs),
        };
        assert_eq!(f.string_list("run_id").unwrap(), vec!["a", "b"]);
        assert!(check_content_type(&Method::POST, Some("application/json; charset=utf-8")).is_ok());
        assert!(check_content_type(&Method::POST, Some("text/plain")).is_err());
        assert!(check_content_type(&Method::POST, None).is_err());
        assert!(check_content_type(&Method::PATCH, None).is_ok());
    }
}
