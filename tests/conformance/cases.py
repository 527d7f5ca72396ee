"""Declarative conformance cases for the MLflow tracking REST API.

Each case is a dict:

    name         unique identifier (kebab-case)
    method       HTTP method
    path         absolute path; a path without a known prefix is put under /api/2.0/mlflow
    json         JSON body (sent as application/json)             -- optional
    params       query parameters as a list of [key, value] pairs  -- optional
    raw          raw request body (str), sent verbatim             -- optional
    content_type Content-Type header for `raw` (omitted when None) -- optional
    capture      {"var": "dotted.path"}: values taken from the response body and made
                 available to later cases as the placeholder "{var}"
    soft_body    body differences on a success response are reported as "soft"
    unordered    top-level keys of the response whose lists are compared as multisets
    note         free text

Placeholders "{name}" may appear in any string of path, params, json and raw. Only names
that were captured by an earlier case are replaced, so JSON braces in raw bodies are safe.

Cases run in order against one fresh server; later cases depend on earlier ones. Do not
reorder casually: MLflow's default search orders depend on creation order.
Only the standard library is used here.
"""

import json

P = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"

# Fixed client-side timestamps (ms).  They are far from "now", so compare.py compares them
# exactly, while server-generated "now" timestamps are normalised.
T0 = 1600000000000
HEX_UNKNOWN = "0" * 31 + "1"  # a well-formed run id that does not exist

CASES = []


def _full(path):
    if path.startswith(("/api/", "/ajax-api/", "/health", "/version")):
        return path
    return P + path


def case(name, method, path, **kw):
    c = {"name": name, "method": method, "path": _full(path)}
    if "params" in kw and isinstance(kw["params"], dict):
        kw["params"] = [[k, v] for k, v in kw["params"].items()]
    c.update(kw)
    CASES.append(c)
    return c


def post(name, path, body=None, **kw):
    return case(name, "POST", path, json=body, **kw)


def get(name, path, params=None, **kw):
    if params is not None:
        kw["params"] = params
    return case(name, "GET", path, **kw)


def metric(key, value, ts=T0, step=0):
    return {"key": key, "value": value, "timestamp": ts, "step": step}


# ---------------------------------------------------------------------------------------
# Transport: health, version, routing, content types, body decoding
# ---------------------------------------------------------------------------------------
get("health", "/health")
get("version", "/version", soft_body=True, note="the version string itself is soft")
get("unknown-route-get", "/api/2.0/mlflow/nope")
post("unknown-route-post", "/api/2.0/mlflow/nope", {})
get("unknown-route-ajax", "/ajax-api/2.0/mlflow/nope")
get("v3-prefix-for-v2-rpc", "/api/3.0/mlflow/experiments/get", {"experiment_id": "0"})
get("wrong-method-get-on-post-route", "/runs/create")
post("wrong-method-post-on-get-route", "/experiments/get", {"experiment_id": "0"})
case("wrong-method-delete-on-post-route", "DELETE", "/experiments/create", json={"name": "x"})
case("wrong-method-put", "PUT", "/runs/log-metric", json={})
case("wrong-method-patch", "PATCH", "/experiments/update", json={})
get("get-default-experiment", "/experiments/get", {"experiment_id": "0"})
case("post-text-plain", "POST", "/experiments/create",
     raw='{"name": "ct-text"}', content_type="text/plain")
case("post-no-content-type", "POST", "/experiments/create",
     raw='{"name": "ct-none"}', content_type=None)
case("post-form-urlencoded", "POST", "/experiments/create",
     raw="name=ct-form", content_type="application/x-www-form-urlencoded")
case("post-json-charset", "POST", "/experiments/create",
     raw='{"name": "ct-charset"}', content_type="application/json; charset=utf-8",
     capture={"exp_charset": "experiment_id"})
case("post-json-uppercase-ct", "POST", "/experiments/create",
     raw='{"name": "ct-upper"}', content_type="Application/JSON")
case("post-malformed-json", "POST", "/experiments/create",
     raw='{"name": "bad', content_type="application/json")
case("post-empty-body", "POST", "/experiments/create", raw="", content_type="application/json")
case("post-json-array-body", "POST", "/experiments/create",
     raw="[1, 2]", content_type="application/json")
case("post-json-null-body", "POST", "/experiments/create",
     raw="null", content_type="application/json")
case("post-double-encoded-json", "POST", "/experiments/create",
     raw=json.dumps(json.dumps({"name": "double-encoded"})), content_type="application/json",
     capture={"exp_double": "experiment_id"})
post("post-unknown-field-ignored", "/experiments/create",
     {"name": "unknown-field", "bogus_field": 1}, capture={"exp_unknown_field": "experiment_id"})
post("post-camelcase-field", "/experiments/create",
     {"name": "camel-case", "artifactLocation": "s3://bucket/camel"},
     capture={"exp_camel": "experiment_id"})
post("post-both-spellings", "/experiments/create",
     {"name": "both-spellings", "artifact_location": "s3://a", "artifactLocation": "s3://b"})
case("get-with-json-body-no-query", "GET", "/experiments/get", json={"experiment_id": "0"})

# ---------------------------------------------------------------------------------------
# Experiments
# ---------------------------------------------------------------------------------------
post("exp-create-ok", "/experiments/create", {"name": "conf-exp-1"}, capture={"exp1": "experiment_id"})
post("exp-create-tags-location", "/experiments/create",
     {"name": "conf-exp-2", "artifact_location": "s3://conf-bucket/exp2",
      "tags": [{"key": "team", "value": "red"}, {"key": "mlflow.note.content", "value": "hello"}]},
     capture={"exp2": "experiment_id"})
post("exp-create-file-location", "/experiments/create",
     {"name": "conf-exp-file", "artifact_location": "file:///tmp/conformance-artifacts"},
     capture={"exp_file": "experiment_id"})
post("exp-create-duplicate", "/experiments/create", {"name": "conf-exp-1"})
post("exp-create-missing-name", "/experiments/create", {})
post("exp-create-empty-name", "/experiments/create", {"name": ""})
post("exp-create-whitespace-name", "/experiments/create", {"name": "   "})
post("exp-create-name-500", "/experiments/create", {"name": "n" * 500}, capture={"exp_long": "experiment_id"})
post("exp-create-name-501", "/experiments/create", {"name": "n" * 501})
post("exp-create-name-number", "/experiments/create", {"name": 123})
post("exp-create-tags-not-list", "/experiments/create", {"name": "tags-not-list", "tags": {"a": "b"}})
post("exp-create-tag-missing-key", "/experiments/create",
     {"name": "tag-missing-key", "tags": [{"value": "v"}]})
post("exp-create-tag-value-too-long", "/experiments/create",
     {"name": "tag-too-long", "tags": [{"key": "k", "value": "v" * 20001}]})
post("exp-create-location-too-long", "/experiments/create",
     {"name": "loc-too-long", "artifact_location": "s3://b/" + "a" * 2050})
post("exp-create-unicode-name", "/experiments/create", {"name": "exp ünïcødé ✓"},
     capture={"exp_unicode": "experiment_id"})

get("exp-get-ok", "/experiments/get", {"experiment_id": "{exp2}"})
get("exp-get-unknown", "/experiments/get", {"experiment_id": "99999"})
get("exp-get-non-numeric", "/experiments/get", {"experiment_id": "abc"})
get("exp-get-missing-param", "/experiments/get", {})
get("exp-get-empty-param", "/experiments/get", {"experiment_id": ""})
get("exp-get-negative", "/experiments/get", {"experiment_id": "-1"})
get("exp-get-by-name-ok", "/experiments/get-by-name", {"experiment_name": "conf-exp-2"})
get("exp-get-by-name-unknown", "/experiments/get-by-name", {"experiment_name": "no-such-exp"})
get("exp-get-by-name-missing", "/experiments/get-by-name", {})
get("exp-get-by-name-unicode", "/experiments/get-by-name", {"experiment_name": "exp ünïcødé ✓"})

# search
post("exp-search-no-max-results", "/experiments/search", {})
post("exp-search-max-results-0", "/experiments/search", {"max_results": 0})
post("exp-search-max-results-neg", "/experiments/search", {"max_results": -1})
post("exp-search-max-results-50001", "/experiments/search", {"max_results": 50001})
post("exp-search-max-results-50000", "/experiments/search", {"max_results": 50000})
post("exp-search-max-results-string", "/experiments/search", {"max_results": "abc"})
post("exp-search-max-results-numeric-string", "/experiments/search", {"max_results": "5"})
get("exp-search-get", "/experiments/search", {"max_results": "100"})
get("exp-search-get-filter", "/experiments/search",
    [["max_results", "10"], ["filter", "name LIKE 'conf-%'"], ["order_by", "name DESC"]])
post("exp-search-name-eq", "/experiments/search", {"max_results": 100, "filter": "name = 'conf-exp-1'"})
post("exp-search-name-neq", "/experiments/search",
     {"max_results": 100, "filter": "name != 'conf-exp-1'", "order_by": ["name ASC"]})
post("exp-search-name-like", "/experiments/search", {"max_results": 100, "filter": "name LIKE 'conf-exp-%'"})
post("exp-search-name-like-case", "/experiments/search", {"max_results": 100, "filter": "name LIKE 'CONF-%'"})
post("exp-search-name-ilike", "/experiments/search", {"max_results": 100, "filter": "name ILIKE 'CONF-EXP-%'"})
post("exp-search-attrs-prefix", "/experiments/search",
     {"max_results": 100, "filter": "attributes.name = 'conf-exp-2'"})
post("exp-search-attr-prefix", "/experiments/search",
     {"max_results": 100, "filter": "attribute.name = 'conf-exp-2'"})
post("exp-search-tag-eq", "/experiments/search", {"max_results": 100, "filter": "tags.team = 'red'"})
post("exp-search-tag-backtick", "/experiments/search",
     {"max_results": 100, "filter": "tags.`mlflow.note.content` = 'hello'"})
post("exp-search-tag-is-null", "/experiments/search",
     {"max_results": 100, "filter": "tags.team IS NULL", "order_by": ["name ASC"]})
post("exp-search-tag-is-not-null", "/experiments/search",
     {"max_results": 100, "filter": "tags.team IS NOT NULL"})
post("exp-search-creation-time", "/experiments/search",
     {"max_results": 100, "filter": "creation_time > 0", "order_by": ["name ASC"]})
post("exp-search-experiment-id-eq", "/experiments/search",
     {"max_results": 100, "filter": "experiment_id = '{exp1}'"})
post("exp-search-experiment-id-in", "/experiments/search",
     {"max_results": 100, "filter": "experiment_id IN ('{exp1}', '{exp2}')", "order_by": ["name ASC"]})
post("exp-search-and", "/experiments/search",
     {"max_results": 100, "filter": "name LIKE 'conf-%' AND tags.team = 'red'"})
post("exp-search-malformed-filter", "/experiments/search", {"max_results": 100, "filter": "name = "})
post("exp-search-bad-comparator", "/experiments/search", {"max_results": 100, "filter": "name >>> 'x'"})
post("exp-search-or", "/experiments/search",
     {"max_results": 100, "filter": "name = 'a' OR name = 'b'"})
post("exp-search-unknown-attr", "/experiments/search", {"max_results": 100, "filter": "foo = 'x'"})
post("exp-search-unquoted-value", "/experiments/search", {"max_results": 100, "filter": "name = conf"})
post("exp-search-order-name-asc", "/experiments/search", {"max_results": 100, "order_by": ["name ASC"]})
post("exp-search-order-name-desc", "/experiments/search", {"max_results": 100, "order_by": ["name DESC"]})
post("exp-search-order-creation-asc", "/experiments/search",
     {"max_results": 100, "order_by": ["creation_time ASC"]})
post("exp-search-order-id-desc", "/experiments/search",
     {"max_results": 100, "order_by": ["experiment_id DESC"]})
post("exp-search-order-invalid-key", "/experiments/search", {"max_results": 100, "order_by": ["bogus"]})
post("exp-search-order-invalid-dir", "/experiments/search",
     {"max_results": 100, "order_by": ["name SIDEWAYS"]})
post("exp-search-order-tag", "/experiments/search", {"max_results": 100, "order_by": ["tags.team"]})
post("exp-search-page-1", "/experiments/search",
     {"max_results": 2, "order_by": ["name ASC"]}, capture={"exp_tok1": "next_page_token"})
post("exp-search-page-2", "/experiments/search",
     {"max_results": 2, "order_by": ["name ASC"], "page_token": "{exp_tok1}"})
post("exp-search-garbage-token", "/experiments/search", {"max_results": 2, "page_token": "garbage"})
post("exp-search-b64-nonjson-token", "/experiments/search",
     {"max_results": 2, "page_token": "bm90IGpzb24="})
post("exp-search-b64-bad-offset-token", "/experiments/search",
     {"max_results": 2, "page_token": "eyJvZmZzZXQiOiAiYWJjIn0="})

# update / tags / delete / restore
post("exp-update-ok", "/experiments/update", {"experiment_id": "{exp1}", "new_name": "conf-exp-1-renamed"})
get("exp-get-after-rename", "/experiments/get", {"experiment_id": "{exp1}"})
post("exp-update-missing-new-name", "/experiments/update", {"experiment_id": "{exp1}"})
post("exp-update-duplicate-name", "/experiments/update", {"experiment_id": "{exp1}", "new_name": "conf-exp-2"})
post("exp-update-same-name", "/experiments/update",
     {"experiment_id": "{exp1}", "new_name": "conf-exp-1-renamed"})
post("exp-update-unknown", "/experiments/update", {"experiment_id": "99999", "new_name": "whatever"})
post("exp-update-empty-name", "/experiments/update", {"experiment_id": "{exp1}", "new_name": ""})
post("exp-set-tag-ok", "/experiments/set-experiment-tag", {"experiment_id": "{exp1}", "key": "k1", "value": "v1"})
post("exp-set-tag-overwrite", "/experiments/set-experiment-tag",
     {"experiment_id": "{exp1}", "key": "k1", "value": "v2"})
post("exp-set-tag-long-value-20000", "/experiments/set-experiment-tag",
     {"experiment_id": "{exp1}", "key": "long", "value": "v" * 20000})
post("exp-set-tag-long-value-20001", "/experiments/set-experiment-tag",
     {"experiment_id": "{exp1}", "key": "toolong", "value": "v" * 20001})
post("exp-set-tag-key-too-long", "/experiments/set-experiment-tag",
     {"experiment_id": "{exp1}", "key": "k" * 251, "value": "v"})
post("exp-set-tag-missing-key", "/experiments/set-experiment-tag", {"experiment_id": "{exp1}", "value": "v"})
post("exp-set-tag-missing-value", "/experiments/set-experiment-tag", {"experiment_id": "{exp1}", "key": "novalue"})
post("exp-set-tag-unknown-exp", "/experiments/set-experiment-tag",
     {"experiment_id": "99999", "key": "k", "value": "v"})
get("exp-get-with-tags", "/experiments/get", {"experiment_id": "{exp1}"})
post("exp-delete-tag-ok", "/experiments/delete-experiment-tag", {"experiment_id": "{exp1}", "key": "k1"})
post("exp-delete-tag-missing-tag", "/experiments/delete-experiment-tag",
     {"experiment_id": "{exp1}", "key": "no-such-tag"})
post("exp-delete-tag-missing-key", "/experiments/delete-experiment-tag", {"experiment_id": "{exp1}"})
post("exp-delete-tag-unknown-exp", "/experiments/delete-experiment-tag",
     {"experiment_id": "99999", "key": "k1"})

post("exp-del-create", "/experiments/create", {"name": "conf-to-delete"}, capture={"exp_del": "experiment_id"})
post("exp-del-run-create", "/runs/create",
     {"experiment_id": "{exp_del}", "run_name": "run-in-deleted-exp", "start_time": T0 + 50},
     capture={"run_in_del": "run.info.run_id"})
post("exp-delete-ok", "/experiments/delete", {"experiment_id": "{exp_del}"})
post("exp-delete-again", "/experiments/delete", {"experiment_id": "{exp_del}"})
post("exp-delete-unknown", "/experiments/delete", {"experiment_id": "99999"})
post("exp-delete-missing-id", "/experiments/delete", {})
get("exp-get-deleted", "/experiments/get", {"experiment_id": "{exp_del}"})
get("exp-get-by-name-deleted", "/experiments/get-by-name", {"experiment_name": "conf-to-delete"})
get("run-get-in-deleted-exp", "/runs/get", {"run_id": "{run_in_del}"})
post("exp-create-name-of-deleted", "/experiments/create", {"name": "conf-to-delete"})
post("exp-update-deleted", "/experiments/update", {"experiment_id": "{exp_del}", "new_name": "renamed-deleted"})
post("exp-set-tag-deleted", "/experiments/set-experiment-tag",
     {"experiment_id": "{exp_del}", "key": "k", "value": "v"})
post("run-create-in-deleted-exp", "/runs/create", {"experiment_id": "{exp_del}", "start_time": T0})
post("log-param-run-in-deleted-exp", "/runs/log-parameter",
     {"run_id": "{run_in_del}", "key": "p", "value": "v"})
post("exp-search-view-deleted-only", "/experiments/search", {"max_results": 100, "view_type": "DELETED_ONLY"})
post("exp-search-view-all", "/experiments/search",
     {"max_results": 100, "view_type": "ALL", "order_by": ["name ASC"]})
post("exp-search-view-active-only", "/experiments/search",
     {"max_results": 100, "view_type": "ACTIVE_ONLY", "order_by": ["name ASC"]})
post("exp-search-view-number-2", "/experiments/search", {"max_results": 100, "view_type": 2})
post("exp-search-view-bogus", "/experiments/search", {"max_results": 100, "view_type": "BOGUS"})
get("exp-search-get-view-deleted", "/experiments/search", {"max_results": "100", "view_type": "DELETED_ONLY"})
post("exp-restore-ok", "/experiments/restore", {"experiment_id": "{exp_del}"})
post("exp-restore-active", "/experiments/restore", {"experiment_id": "{exp_del}"})
post("exp-restore-unknown", "/experiments/restore", {"experiment_id": "99999"})
get("run-get-after-exp-restore", "/runs/get", {"run_id": "{run_in_del}"})
get("exp-get-restored", "/experiments/get", {"experiment_id": "{exp_del}"})

# ---------------------------------------------------------------------------------------
# Runs: create / get / update / delete / restore
# ---------------------------------------------------------------------------------------
post("run-create-ok", "/runs/create",
     {"experiment_id": "{exp1}", "run_name": "first_run", "user_id": "alice", "start_time": T0 + 1,
      "tags": [{"key": "mlflow.source.name", "value": "conf.py"}, {"key": "team", "value": "red"}]},
     capture={"run1": "run.info.run_id"})
post("run-create-random-name", "/runs/create", {"experiment_id": "{exp1}", "start_time": T0 + 2},
     capture={"run2": "run.info.run_id", "run2_name": "run.info.run_name"})
post("run-create-tag-name-only", "/runs/create",
     {"experiment_id": "{exp1}", "start_time": T0 + 3,
      "tags": [{"key": "mlflow.runName", "value": "name_from_tag"}]},
     capture={"run3": "run.info.run_id"})
post("run-create-name-and-matching-tag", "/runs/create",
     {"experiment_id": "{exp1}", "run_name": "same_name", "start_time": T0 + 4,
      "tags": [{"key": "mlflow.runName", "value": "same_name"}]},
     capture={"run4": "run.info.run_id"})
post("run-create-name-tag-mismatch", "/runs/create",
     {"experiment_id": "{exp1}", "run_name": "name_a", "start_time": T0 + 5,
      "tags": [{"key": "mlflow.runName", "value": "name_b"}]})
post("run-create-unknown-exp", "/runs/create", {"experiment_id": "99999", "start_time": T0})
post("run-create-non-numeric-exp", "/runs/create", {"experiment_id": "abc", "start_time": T0})
post("run-create-missing-exp", "/runs/create", {"run_name": "in_default", "start_time": T0 + 6},
     note="MLflow: BAD_REQUEST with a raw SQLite FOREIGN KEY message (experiment_id '' is not mapped to '0')")
post("run-create-default-exp", "/runs/create", {"experiment_id": "0", "run_name": "in_default", "start_time": T0 + 6},
     capture={"run_default": "run.info.run_id"})
post("run-create-start-time-string", "/runs/create",
     {"experiment_id": "{exp1}", "run_name": "ts_string", "start_time": str(T0 + 7)},
     capture={"run_ts_str": "run.info.run_id"})
post("run-create-start-time-garbage", "/runs/create",
     {"experiment_id": "{exp1}", "run_name": "ts_garbage", "start_time": "yesterday"})
post("run-create-tag-key-too-long", "/runs/create",
     {"experiment_id": "{exp1}", "run_name": "bad_tag", "start_time": T0, "tags": [{"key": "k" * 251, "value": "v"}]})
post("run-create-file-exp", "/runs/create",
     {"experiment_id": "{exp_file}", "run_name": "file_run", "start_time": T0 + 8},
     capture={"run_file": "run.info.run_id"})
post("run-create-s3-exp", "/runs/create",
     {"experiment_id": "{exp2}", "run_name": "s3_run", "start_time": T0 + 9},
     capture={"run_s3": "run.info.run_id"})

get("run-get-ok", "/runs/get", {"run_id": "{run1}"})
get("run-get-random-name", "/runs/get", {"run_id": "{run2}"})
get("run-get-tag-name", "/runs/get", {"run_id": "{run3}"})
get("run-get-run-uuid", "/runs/get", {"run_uuid": "{run1}"})
get("run-get-unknown", "/runs/get", {"run_id": HEX_UNKNOWN})
get("run-get-missing-param", "/runs/get", {})
get("run-get-invalid-id", "/runs/get", {"run_id": "../etc"})
get("run-get-default-exp", "/runs/get", {"run_id": "{run_default}"})
get("run-get-s3", "/runs/get", {"run_id": "{run_s3}"})
get("run-get-ajax", AJAX + "/runs/get", {"run_id": "{run1}"})

post("run-update-finished", "/runs/update", {"run_id": "{run4}", "status": "FINISHED", "end_time": T0 + 100})
post("run-update-status-number", "/runs/update", {"run_id": "{run4}", "status": 4})
post("run-update-status-bogus", "/runs/update", {"run_id": "{run4}", "status": "BOGUS"})
post("run-update-status-number-out-of-range", "/runs/update", {"run_id": "{run4}", "status": 42})
post("run-update-rename", "/runs/update", {"run_id": "{run4}", "run_name": "renamed_run"})
post("run-update-back-to-running", "/runs/update", {"run_id": "{run4}", "status": "RUNNING"})
post("run-update-end-time-string", "/runs/update", {"run_id": "{run4}", "end_time": "soon"})
post("run-update-run-uuid-only", "/runs/update", {"run_uuid": "{run4}", "status": "KILLED"})
post("run-update-unknown", "/runs/update", {"run_id": HEX_UNKNOWN, "status": "FINISHED"})
post("run-update-missing-id", "/runs/update", {"status": "FINISHED"})
post("run-update-empty", "/runs/update", {"run_id": "{run4}"})
get("run-get-after-update", "/runs/get", {"run_id": "{run4}"})

# ---------------------------------------------------------------------------------------
# Tags
# ---------------------------------------------------------------------------------------
post("tag-set-ok", "/runs/set-tag", {"run_id": "{run1}", "key": "color", "value": "blue"})
post("tag-set-overwrite", "/runs/set-tag", {"run_id": "{run1}", "key": "color", "value": "green"})
post("tag-set-run-uuid", "/runs/set-tag", {"run_uuid": "{run1}", "key": "via_uuid", "value": "1"})
post("tag-set-rename", "/runs/set-tag", {"run_id": "{run1}", "key": "mlflow.runName", "value": "renamed_by_tag"})
post("tag-set-value-8000", "/runs/set-tag", {"run_id": "{run1}", "key": "long8000", "value": "t" * 8000})
post("tag-set-value-8001", "/runs/set-tag", {"run_id": "{run1}", "key": "long8001", "value": "t" * 8001})
post("tag-set-key-too-long", "/runs/set-tag", {"run_id": "{run1}", "key": "k" * 251, "value": "v"})
post("tag-set-key-invalid-chars", "/runs/set-tag", {"run_id": "{run1}", "key": "bad*key", "value": "v"})
post("tag-set-missing-value", "/runs/set-tag", {"run_id": "{run1}", "key": "novalue"})
post("tag-set-empty-value", "/runs/set-tag", {"run_id": "{run1}", "key": "emptyvalue", "value": ""})
post("tag-set-missing-key", "/runs/set-tag", {"run_id": "{run1}", "value": "v"})
post("tag-set-unknown-run", "/runs/set-tag", {"run_id": HEX_UNKNOWN, "key": "k", "value": "v"})
get("run-get-after-tags", "/runs/get", {"run_id": "{run1}"})
post("tag-delete-ok", "/runs/delete-tag", {"run_id": "{run1}", "key": "via_uuid"})
post("tag-delete-unknown-key", "/runs/delete-tag", {"run_id": "{run1}", "key": "no-such-tag"})
post("tag-delete-unknown-run", "/runs/delete-tag", {"run_id": HEX_UNKNOWN, "key": "color"})
post("tag-delete-missing-key", "/runs/delete-tag", {"run_id": "{run1}"})

# ---------------------------------------------------------------------------------------
# Params
# ---------------------------------------------------------------------------------------
post("param-log-ok", "/runs/log-parameter", {"run_id": "{run1}", "key": "alpha", "value": "0.5"})
post("param-log-same-value", "/runs/log-parameter", {"run_id": "{run1}", "key": "alpha", "value": "0.5"})
post("param-log-changed-value", "/runs/log-parameter", {"run_id": "{run1}", "key": "alpha", "value": "0.7"})
post("param-log-key-250", "/runs/log-parameter", {"run_id": "{run1}", "key": "k" * 250, "value": "v"})
post("param-log-key-251", "/runs/log-parameter", {"run_id": "{run1}", "key": "k" * 251, "value": "v"})
post("param-log-value-6000", "/runs/log-parameter", {"run_id": "{run1}", "key": "v6000", "value": "x" * 6000})
post("param-log-value-6001", "/runs/log-parameter", {"run_id": "{run1}", "key": "v6001", "value": "x" * 6001})
post("param-log-invalid-chars", "/runs/log-parameter", {"run_id": "{run1}", "key": "a*b", "value": "v"})
post("param-log-dotdot", "/runs/log-parameter", {"run_id": "{run1}", "key": "../x", "value": "v"})
post("param-log-absolute", "/runs/log-parameter", {"run_id": "{run1}", "key": "/abs", "value": "v"})
post("param-log-double-slash", "/runs/log-parameter", {"run_id": "{run1}", "key": "a//b", "value": "v"})
post("param-log-allowed-chars", "/runs/log-parameter",
     {"run_id": "{run1}", "key": "ok_key-1.2 3/4:5", "value": "v"})
post("param-log-missing-key", "/runs/log-parameter", {"run_id": "{run1}", "value": "v"})
post("param-log-missing-value", "/runs/log-parameter", {"run_id": "{run1}", "key": "novalue"})
post("param-log-empty-value", "/runs/log-parameter", {"run_id": "{run1}", "key": "emptyvalue", "value": ""})
post("param-log-number-value", "/runs/log-parameter", {"run_id": "{run1}", "key": "numvalue", "value": 5})
post("param-log-unknown-run", "/runs/log-parameter", {"run_id": HEX_UNKNOWN, "key": "k", "value": "v"})
post("param-log-missing-run", "/runs/log-parameter", {"key": "k", "value": "v"})
get("run-get-after-params", "/runs/get", {"run_id": "{run1}"})

# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------
post("metric-log-ok", "/runs/log-metric", {"run_id": "{run1}", "key": "loss", "value": 1.5, "timestamp": T0, "step": 1})
post("metric-log-no-step", "/runs/log-metric", {"run_id": "{run1}", "key": "nostep", "value": 2, "timestamp": T0})
post("metric-log-nan", "/runs/log-metric", {"run_id": "{run1}", "key": "m_nan", "value": "NaN", "timestamp": T0})
post("metric-log-inf", "/runs/log-metric", {"run_id": "{run1}", "key": "m_inf", "value": "Infinity", "timestamp": T0})
post("metric-log-neg-inf", "/runs/log-metric", {"run_id": "{run1}", "key": "m_ninf", "value": "-Infinity", "timestamp": T0})
post("metric-log-missing-timestamp", "/runs/log-metric", {"run_id": "{run1}", "key": "m_nots", "value": 1.0})
post("metric-log-negative-timestamp", "/runs/log-metric", {"run_id": "{run1}", "key": "m_negts", "value": 1.0, "timestamp": -5})
post("metric-log-zero-timestamp", "/runs/log-metric", {"run_id": "{run1}", "key": "m_zerots", "value": 1.0, "timestamp": 0})
post("metric-log-timestamp-string", "/runs/log-metric", {"run_id": "{run1}", "key": "m_tsstr", "value": 1.0, "timestamp": str(T0)})
post("metric-log-value-bool", "/runs/log-metric", {"run_id": "{run1}", "key": "m_bool", "value": True, "timestamp": T0})
post("metric-log-value-string", "/runs/log-metric", {"run_id": "{run1}", "key": "m_str", "value": "abc", "timestamp": T0})
post("metric-log-value-numeric-string", "/runs/log-metric", {"run_id": "{run1}", "key": "m_numstr", "value": "2.5", "timestamp": T0})
post("metric-log-value-null", "/runs/log-metric", {"run_id": "{run1}", "key": "m_null", "value": None, "timestamp": T0})
post("metric-log-missing-value", "/runs/log-metric", {"run_id": "{run1}", "key": "m_noval", "timestamp": T0})
post("metric-log-step-string", "/runs/log-metric", {"run_id": "{run1}", "key": "m_stepstr", "value": 1.0, "timestamp": T0, "step": "3"})
post("metric-log-step-garbage", "/runs/log-metric", {"run_id": "{run1}", "key": "m_stepbad", "value": 1.0, "timestamp": T0, "step": "x"})
post("metric-log-negative-step", "/runs/log-metric", {"run_id": "{run1}", "key": "m_negstep", "value": 1.0, "timestamp": T0, "step": -2})
post("metric-log-missing-key", "/runs/log-metric", {"run_id": "{run1}", "value": 1.0, "timestamp": T0})
post("metric-log-invalid-key", "/runs/log-metric", {"run_id": "{run1}", "key": "bad*key", "value": 1.0, "timestamp": T0})
post("metric-log-key-too-long", "/runs/log-metric", {"run_id": "{run1}", "key": "k" * 251, "value": 1.0, "timestamp": T0})
post("metric-log-unknown-run", "/runs/log-metric", {"run_id": HEX_UNKNOWN, "key": "loss", "value": 1.0, "timestamp": T0})
post("metric-log-missing-run", "/runs/log-metric", {"key": "loss", "value": 1.0, "timestamp": T0})
post("metric-log-run-uuid-only", "/runs/log-metric", {"run_uuid": "{run1}", "key": "via_uuid", "value": 3.0, "timestamp": T0})
post("metric-log-dataset-fields", "/runs/log-metric",
     {"run_id": "{run1}", "key": "m_ds", "value": 0.3, "timestamp": T0, "dataset_name": "ds", "dataset_digest": "abc"})
post("metric-log-older-step", "/runs/log-metric", {"run_id": "{run1}", "key": "loss", "value": 9.5, "timestamp": T0 + 10, "step": 0})
post("metric-log-newer-step", "/runs/log-metric", {"run_id": "{run1}", "key": "loss", "value": 0.25, "timestamp": T0 + 5, "step": 2})
get("run-get-after-metrics", "/runs/get", {"run_id": "{run1}"})

# ---------------------------------------------------------------------------------------
# Run delete / restore (writes to a deleted run)
# ---------------------------------------------------------------------------------------
post("run-delete-ok", "/runs/delete", {"run_id": "{run3}"})
get("run-get-deleted", "/runs/get", {"run_id": "{run3}"})
post("run-delete-again", "/runs/delete", {"run_id": "{run3}"})
post("metric-log-deleted-run", "/runs/log-metric", {"run_id": "{run3}", "key": "loss", "value": 1.0, "timestamp": T0})
post("param-log-deleted-run", "/runs/log-parameter", {"run_id": "{run3}", "key": "p", "value": "v"})
post("tag-set-deleted-run", "/runs/set-tag", {"run_id": "{run3}", "key": "k", "value": "v"})
post("batch-deleted-run", "/runs/log-batch", {"run_id": "{run3}", "params": [{"key": "p", "value": "v"}]})
post("run-update-deleted", "/runs/update", {"run_id": "{run3}", "status": "FINISHED"})
post("run-delete-unknown", "/runs/delete", {"run_id": HEX_UNKNOWN})
post("run-delete-missing-id", "/runs/delete", {})
post("run-restore-ok", "/runs/restore", {"run_id": "{run3}"})
post("run-restore-active", "/runs/restore", {"run_id": "{run3}"})
post("run-restore-unknown", "/runs/restore", {"run_id": HEX_UNKNOWN})
get("run-get-restored", "/runs/get", {"run_id": "{run3}"})

# ---------------------------------------------------------------------------------------
# log-batch
# ---------------------------------------------------------------------------------------
post("batch-ok", "/runs/log-batch",
     {"run_id": "{run2}",
      "metrics": [metric("b_loss", 0.5, T0, 0), metric("b_loss", 0.4, T0 + 1, 1), metric("b_acc", 0.9, T0, 0)],
      "params": [{"key": "b_p1", "value": "1"}, {"key": "b_p2", "value": "two"}],
      "tags": [{"key": "b_t1", "value": "x"}]})
post("batch-empty-lists", "/runs/log-batch", {"run_id": "{run2}", "metrics": [], "params": [], "tags": []})
post("batch-no-lists", "/runs/log-batch", {"run_id": "{run2}"})
post("batch-missing-run", "/runs/log-batch", {"params": [{"key": "p", "value": "v"}]})
post("batch-unknown-run", "/runs/log-batch", {"run_id": HEX_UNKNOWN, "params": [{"key": "p", "value": "v"}]})
post("batch-1000-metrics", "/runs/log-batch",
     {"run_id": "{run2}", "metrics": [metric("many", float(i), T0 + i, i) for i in range(1000)]})
post("batch-1001-metrics", "/runs/log-batch",
     {"run_id": "{run2}", "metrics": [metric("toomany", float(i), T0 + i, i) for i in range(1001)]})
post("batch-100-params", "/runs/log-batch",
     {"run_id": "{run2}", "params": [{"key": f"bp{i}", "value": str(i)} for i in range(100)]})
post("batch-101-params", "/runs/log-batch",
     {"run_id": "{run2}", "params": [{"key": f"xp{i}", "value": str(i)} for i in range(101)]})
post("batch-101-tags", "/runs/log-batch",
     {"run_id": "{run2}", "tags": [{"key": f"xt{i}", "value": str(i)} for i in range(101)]})
post("batch-1001-total", "/runs/log-batch",
     {"run_id": "{run2}",
      "metrics": [metric("total", float(i), T0, i) for i in range(901)],
      "params": [{"key": f"tp{i}", "value": "v"} for i in range(50)],
      "tags": [{"key": f"tt{i}", "value": "v"} for i in range(50)]})
post("batch-dup-param-same-value", "/runs/log-batch",
     {"run_id": "{run2}", "params": [{"key": "dup", "value": "1"}, {"key": "dup", "value": "1"}]})
post("batch-dup-param-diff-value", "/runs/log-batch",
     {"run_id": "{run2}", "params": [{"key": "dup2", "value": "1"}, {"key": "dup2", "value": "2"}]})
post("batch-changed-param", "/runs/log-batch", {"run_id": "{run2}", "params": [{"key": "b_p1", "value": "changed"}]})
post("batch-same-param", "/runs/log-batch", {"run_id": "{run2}", "params": [{"key": "b_p1", "value": "1"}]})
post("batch-changed-param-two", "/runs/log-batch",
     {"run_id": "{run2}", "params": [{"key": "b_p1", "value": "c1"}, {"key": "b_p2", "value": "c2"}]})
post("batch-nan-inf", "/runs/log-batch",
     {"run_id": "{run2}", "metrics": [metric("b_nan", "NaN"), metric("b_inf", "Infinity"), metric("b_ninf", "-Infinity")]})
post("batch-metric-missing-timestamp", "/runs/log-batch",
     {"run_id": "{run2}", "metrics": [{"key": "b_nots", "value": 1.0, "step": 0}]})
post("batch-metric-missing-value", "/runs/log-batch",
     {"run_id": "{run2}", "metrics": [{"key": "b_noval", "timestamp": T0, "step": 0}]})
post("batch-metric-missing-key", "/runs/log-batch",
     {"run_id": "{run2}", "metrics": [{"value": 1.0, "timestamp": T0, "step": 0}]})
post("batch-metric-negative-timestamp", "/runs/log-batch",
     {"run_id": "{run2}", "metrics": [metric("b_negts", 1.0, -1)]})
post("batch-metric-value-bool", "/runs/log-batch",
     {"run_id": "{run2}", "metrics": [metric("b_bool", True)]})
# MLflow 3.17.2 accepts this and stores value 0.0 at timestamp 0 (its proto parsing stops at the
# bad field); Trackway refuses it. The case writes to a run of its own so that this known
# difference does not show up in the cases that read run2 afterwards.
post("run-create-for-garbage-metric", "/runs/create",
     {"experiment_id": "0", "run_name": "garbage_metric", "start_time": T0},
     capture={"run_garbage": "run.info.run_id"})
post("batch-metric-value-string", "/runs/log-batch",
     {"run_id": "{run_garbage}", "metrics": [metric("b_str", "abc")]})
post("batch-param-missing-value", "/runs/log-batch", {"run_id": "{run2}", "params": [{"key": "b_noval"}]})
post("batch-param-missing-key", "/runs/log-batch", {"run_id": "{run2}", "params": [{"value": "v"}]})
post("batch-param-value-6001", "/runs/log-batch", {"run_id": "{run2}", "params": [{"key": "b_long", "value": "y" * 6001}]})
post("batch-tag-value-8001", "/runs/log-batch", {"run_id": "{run2}", "tags": [{"key": "b_longtag", "value": "z" * 8001}]})
post("batch-invalid-key", "/runs/log-batch", {"run_id": "{run2}", "tags": [{"key": "../evil", "value": "v"}]})
post("batch-metrics-not-list", "/runs/log-batch", {"run_id": "{run2}", "metrics": {"key": "a"}})
post("batch-tag-rename", "/runs/log-batch",
     {"run_id": "{run2}", "tags": [{"key": "mlflow.runName", "value": "batch_renamed"}]})
get("run-get-after-batch", "/runs/get", {"run_id": "{run2}"})

# ---------------------------------------------------------------------------------------
# log-inputs
# ---------------------------------------------------------------------------------------
DS_FULL = {"name": "train_ds", "digest": "d1g3st", "source_type": "local",
           "source": '{"uri": "/data/train.csv"}', "schema": '{"mlflow_colspec": []}',
           "profile": '{"num_rows": 10}'}
post("inputs-ok", "/runs/log-inputs",
     {"run_id": "{run1}", "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": DS_FULL}]})
post("inputs-same-again", "/runs/log-inputs",
     {"run_id": "{run1}", "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": DS_FULL}]})
post("inputs-second-minimal", "/runs/log-inputs",
     {"run_id": "{run1}", "datasets": [{"dataset": {"name": "eval_ds", "digest": "e1", "source_type": "s3", "source": "s3://b/eval"}}]})
post("inputs-empty-list", "/runs/log-inputs", {"run_id": "{run1}", "datasets": []})
post("inputs-no-datasets", "/runs/log-inputs", {"run_id": "{run1}"})
post("inputs-missing-run", "/runs/log-inputs", {"datasets": [{"dataset": DS_FULL}]})
post("inputs-unknown-run", "/runs/log-inputs", {"run_id": HEX_UNKNOWN, "datasets": [{"dataset": DS_FULL}]})
post("inputs-dataset-missing-name", "/runs/log-inputs",
     {"run_id": "{run1}", "datasets": [{"dataset": {"digest": "d", "source_type": "local", "source": "x"}}]})
post("inputs-dataset-missing-digest", "/runs/log-inputs",
     {"run_id": "{run1}", "datasets": [{"dataset": {"name": "nodigest", "source_type": "local", "source": "x"}}]})
post("inputs-name-too-long", "/runs/log-inputs",
     {"run_id": "{run1}", "datasets": [{"dataset": dict(DS_FULL, name="n" * 501)}]})
post("inputs-digest-too-long", "/runs/log-inputs",
     {"run_id": "{run1}", "datasets": [{"dataset": dict(DS_FULL, digest="d" * 37)}]})
post("inputs-tag-value-too-long", "/runs/log-inputs",
     {"run_id": "{run1}", "datasets": [{"tags": [{"key": "k", "value": "v" * 501}], "dataset": DS_FULL}]})
post("inputs-tag-key-too-long", "/runs/log-inputs",
     {"run_id": "{run1}", "datasets": [{"tags": [{"key": "k" * 256, "value": "v"}], "dataset": DS_FULL}]})
post("inputs-deleted-run", "/runs/log-inputs", {"run_id": "{run_in_del}", "datasets": [{"dataset": DS_FULL}]})
get("run-get-after-inputs", "/runs/get", {"run_id": "{run1}"})

# ---------------------------------------------------------------------------------------
# Search runs: fixture experiment with four runs
# ---------------------------------------------------------------------------------------
post("sr-exp-create", "/experiments/create", {"name": "conf-search"}, capture={"sx": "experiment_id"})
post("sr-run1", "/runs/create",
     {"experiment_id": "{sx}", "run_name": "alpha", "user_id": "alice", "start_time": T0 + 1000,
      "tags": [{"key": "team", "value": "red"}, {"key": "my tag", "value": "v 1"}]},
     capture={"sr1": "run.info.run_id"})
post("sr-run2", "/runs/create",
     {"experiment_id": "{sx}", "run_name": "beta", "user_id": "bob", "start_time": T0 + 2000,
      "tags": [{"key": "team", "value": "Blue"}]},
     capture={"sr2": "run.info.run_id"})
post("sr-run3", "/runs/create",
     {"experiment_id": "{sx}", "run_name": "gamma", "user_id": "alice", "start_time": T0 + 3000},
     capture={"sr3": "run.info.run_id"})
post("sr-run4", "/runs/create",
     {"experiment_id": "{sx}", "run_name": "delta", "user_id": "carol", "start_time": T0 + 4000},
     capture={"sr4": "run.info.run_id"})
post("sr-batch1", "/runs/log-batch",
     {"run_id": "{sr1}", "metrics": [metric("loss", 0.5), metric("acc", 0.9)],
      "params": [{"key": "p", "value": "1"}, {"key": "lr", "value": "0.1"}]})
post("sr-batch2", "/runs/log-batch",
     {"run_id": "{sr2}", "metrics": [metric("loss", 1.5)], "params": [{"key": "p", "value": "2"}]})
post("sr-batch3", "/runs/log-batch",
     {"run_id": "{sr3}", "metrics": [metric("loss", "NaN")], "params": [{"key": "p", "value": "3"}]})
post("sr-batch4", "/runs/log-batch",
     {"run_id": "{sr4}", "metrics": [metric("loss", 2.5)], "params": [{"key": "p", "value": "4"}]})
post("sr-finish1", "/runs/update", {"run_id": "{sr1}", "status": "FINISHED", "end_time": T0 + 1500})
post("sr-fail3", "/runs/update", {"run_id": "{sr3}", "status": "FAILED", "end_time": T0 + 3500})
post("sr-inputs1", "/runs/log-inputs",
     {"run_id": "{sr1}", "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}],
                                       "dataset": {"name": "ds1", "digest": "d1", "source_type": "local", "source": "a"}}]})
post("sr-inputs2", "/runs/log-inputs",
     {"run_id": "{sr2}", "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "eval"}],
                                       "dataset": {"name": "ds2", "digest": "d2", "source_type": "local", "source": "b"}}]})
post("sr-delete4", "/runs/delete", {"run_id": "{sr4}"})


def sr(name, filt=None, **extra):
    body = {"experiment_ids": ["{sx}"]}
    if filt is not None:
        body["filter"] = filt
    body.update(extra)
    return post("sr-" + name, "/runs/search", body)


sr("all-default-order")
post("sr-empty-experiment-ids", "/runs/search", {"experiment_ids": []})
post("sr-no-experiment-ids", "/runs/search", {})
post("sr-unknown-experiment", "/runs/search", {"experiment_ids": ["99999"]})
post("sr-non-numeric-experiment", "/runs/search", {"experiment_ids": ["abc"]})
post("sr-two-experiments", "/runs/search", {"experiment_ids": ["{sx}", "{exp1}"], "order_by": ["start_time ASC"]})
post("sr-experiment-ids-string", "/runs/search", {"experiment_ids": "{sx}"})
# metrics
sr("metric-gt", "metrics.loss > 1")
sr("metric-gte", "metrics.loss >= 1.5")
sr("metric-lt", "metrics.loss < 1")
sr("metric-lte", "metrics.loss <= 0.5")
sr("metric-eq", "metrics.loss = 1.5")
sr("metric-neq", "metrics.loss != 1.5")
sr("metric-alias-metric", "metric.acc > 0")
sr("metric-string-value", "metrics.loss > '1'")
sr("metric-like", "metrics.loss LIKE '1%'")
sr("metric-unknown-key", "metrics.nope > 0")
sr("metric-is-null", "metrics.loss IS NULL")
# params
sr("param-eq", "params.p = '1'")
sr("param-neq", "params.p != '1'")
sr("param-like", "params.p LIKE '%'")
sr("param-ilike", "params.lr ILIKE '0.%'")
sr("param-in", "params.p IN ('1', '2')")
sr("param-gt", "params.p > '1'")
sr("param-unquoted", "params.p = 1")
sr("param-is-null", "params.lr IS NULL")
sr("param-is-not-null", "params.lr IS NOT NULL")
sr("param-alias-parameter", "parameter.p = '2'")
# tags
sr("tag-eq", "tags.team = 'red'")
sr("tag-like-case", "tags.team LIKE 'b%'")
sr("tag-ilike", "tags.team ILIKE 'b%'")
sr("tag-neq", "tags.team != 'red'")
sr("tag-is-null", "tags.team IS NULL")
sr("tag-is-not-null", "tags.team IS NOT NULL")
sr("tag-backtick-key", "tags.`my tag` = 'v 1'")
sr("tag-double-quote-key", "tags.\"my tag\" = 'v 1'")
sr("tag-backtick-type", "`tags`.team = 'red'")
sr("tag-double-quoted-value", "tags.team = \"red\"")
sr("tag-runname", "tags.`mlflow.runName` = 'beta'")
# attributes
sr("attr-status", "attributes.status = 'FINISHED'")
sr("attr-status-neq", "attribute.status != 'RUNNING'")
sr("attr-run-name", "attributes.run_name = 'alpha'")
sr("attr-run-name-like", "run_name LIKE '%a'")
sr("attr-run-name-ilike", "run_name ILIKE 'GAM%'")
sr("attr-run-name-backtick", "attributes.`Run name` = 'beta'")
sr("attr-run-id-eq", "attributes.run_id = '{sr2}'")
sr("attr-run-id-in", "attributes.run_id IN ('{sr1}', '{sr3}')")
sr("attr-run-id-not-in", "attributes.run_id NOT IN ('{sr1}')")
sr("attr-status-in", "attributes.status IN ('FINISHED', 'FAILED')")
sr("attr-start-time-gt", f"attributes.start_time > {T0 + 1500}")
sr("attr-created", f"created >= {T0 + 2000}")
sr("attr-end-time", f"attributes.end_time > {T0}")
sr("attr-user-id", "attributes.user_id = 'alice'")
sr("attr-artifact-uri-like", "attributes.artifact_uri LIKE 'mlflow-artifacts:%'")
sr("attr-start-time-string", "attributes.start_time > 'abc'")
sr("attr-unknown", "attributes.foo = 'x'")
sr("attr-bare-unknown", "foo = 'x'")
sr("attr-lifecycle", "attributes.lifecycle_stage = 'active'")
# datasets
sr("dataset-name", "datasets.name = 'ds1'")
sr("dataset-digest-in", "datasets.digest IN ('d1', 'd2')")
sr("dataset-context", "datasets.context = 'eval'")
sr("dataset-name-like", "dataset.name LIKE 'ds%'")
sr("dataset-unknown-field", "datasets.foo = 'x'")
# grammar
sr("and", "metrics.loss > 0 AND params.p = '2'")
sr("and-lowercase", "metrics.loss > 0 and tags.team = 'red'")
sr("bad-comparator", "metrics.loss >>> 1")
sr("or", "params.p = '1' OR params.p = '2'")
sr("parentheses", "(params.p = '1')")
sr("not", "NOT params.p = '1'")
sr("garbage", "this is not a filter")
sr("trailing-and", "params.p = '1' AND")
sr("unknown-entity-type", "foo.bar = 'x'")
sr("empty-filter", "")
# order_by
sr("order-metric-asc", order_by=["metrics.loss ASC"])
sr("order-metric-desc", order_by=["metrics.loss DESC"])
sr("order-param-desc", order_by=["params.p DESC"])
sr("order-tag", order_by=["tags.team"])
sr("order-start-time-asc", order_by=["attributes.start_time ASC"])
sr("order-run-name-desc", order_by=["run_name DESC"])
sr("order-status", order_by=["status"])
sr("order-end-time", order_by=["end_time DESC"])
sr("order-backtick", order_by=["metrics.`loss` ASC"])
sr("order-multiple", order_by=["tags.team ASC", "start_time DESC"])
sr("order-invalid-key", order_by=["bogus.x"])
sr("order-invalid-attr", order_by=["attributes.bogus"])
sr("order-invalid-dir", order_by=["metrics.loss SIDEWAYS"])
sr("order-too-many-tokens", order_by=["metrics.loss ASC DESC"])
# sizes and paging
sr("max-results-0", max_results=0)
sr("max-results-neg", max_results=-1)
sr("max-results-50000", max_results=50000)
sr("max-results-50001", max_results=50001)
sr("max-results-string", max_results="abc")
post("sr-page-1", "/runs/search", {"experiment_ids": ["{sx}"], "max_results": 1},
     capture={"sr_tok1": "next_page_token"})
post("sr-page-2", "/runs/search", {"experiment_ids": ["{sx}"], "max_results": 1, "page_token": "{sr_tok1}"},
     capture={"sr_tok2": "next_page_token"})
post("sr-page-3-last", "/runs/search", {"experiment_ids": ["{sx}"], "max_results": 1, "page_token": "{sr_tok2}"})
post("sr-page-size-2", "/runs/search", {"experiment_ids": ["{sx}"], "max_results": 2},
     capture={"sr_tok3": "next_page_token"})
post("sr-page-size-2-last", "/runs/search", {"experiment_ids": ["{sx}"], "max_results": 2, "page_token": "{sr_tok3}"})
sr("garbage-token", page_token="garbage")
sr("b64-non-json-token", page_token="bm90IGpzb24=")
sr("b64-negative-offset-token", page_token="eyJvZmZzZXQiOiAtMX0=")
# view types
sr("view-active-only", run_view_type="ACTIVE_ONLY")
sr("view-deleted-only", run_view_type="DELETED_ONLY")
sr("view-all", run_view_type="ALL")
sr("view-number-2", run_view_type=2)
sr("view-number-3", run_view_type=3)
sr("view-bogus", run_view_type="BOGUS")
post("sr-ajax", AJAX + "/runs/search", {"experiment_ids": ["{sx}"], "filter": "params.p = '2'"})
get("sr-get-method", "/runs/search", {"experiment_ids": "{sx}"})

# ---------------------------------------------------------------------------------------
# Metric history
# ---------------------------------------------------------------------------------------
post("hist-run-create", "/runs/create", {"experiment_id": "{sx}", "run_name": "history", "start_time": T0 + 5000},
     capture={"hr": "run.info.run_id"})
post("hist-log", "/runs/log-batch",
     {"run_id": "{hr}", "metrics": [metric("h", float(i) / 2, T0 + 10 * i, i) for i in range(5)]
      + [metric("h", "NaN", T0 + 100, 5), metric("h2", 7.0, T0, 0)]})
post("hist-log-sr1", "/runs/log-batch",
     {"run_id": "{sr1}", "metrics": [metric("h", 100.0 + i, T0 + i, i) for i in range(3)]})
get("hist-ok", "/metrics/get-history", {"run_id": "{hr}", "metric_key": "h"})
get("hist-run-uuid", "/metrics/get-history", {"run_uuid": "{hr}", "metric_key": "h2"})
get("hist-page-1", "/metrics/get-history", {"run_id": "{hr}", "metric_key": "h", "max_results": "2"},
    capture={"h_tok1": "next_page_token"})
get("hist-page-2", "/metrics/get-history",
    {"run_id": "{hr}", "metric_key": "h", "max_results": "2", "page_token": "{h_tok1}"},
    capture={"h_tok2": "next_page_token"})
get("hist-page-3-last", "/metrics/get-history",
    {"run_id": "{hr}", "metric_key": "h", "max_results": "2", "page_token": "{h_tok2}"})
get("hist-max-results-exact", "/metrics/get-history", {"run_id": "{hr}", "metric_key": "h", "max_results": "6"})
get("hist-max-results-0", "/metrics/get-history", {"run_id": "{hr}", "metric_key": "h", "max_results": "0"})
get("hist-max-results-neg", "/metrics/get-history", {"run_id": "{hr}", "metric_key": "h", "max_results": "-1"})
get("hist-max-results-garbage", "/metrics/get-history", {"run_id": "{hr}", "metric_key": "h", "max_results": "abc"})
get("hist-garbage-token", "/metrics/get-history",
    {"run_id": "{hr}", "metric_key": "h", "max_results": "2", "page_token": "garbage"})
get("hist-unknown-key", "/metrics/get-history", {"run_id": "{hr}", "metric_key": "nope"})
get("hist-unknown-run", "/metrics/get-history", {"run_id": HEX_UNKNOWN, "metric_key": "h"})
get("hist-missing-key", "/metrics/get-history", {"run_id": "{hr}"})
get("hist-missing-run", "/metrics/get-history", {"metric_key": "h"})
get("hist-run1-loss", "/metrics/get-history", {"run_id": "{run1}", "metric_key": "loss"})
get("hist-nan-inf", "/metrics/get-history", {"run_id": "{run2}", "metric_key": "b_inf"})
get("hist-deleted-run", "/metrics/get-history", {"run_id": "{sr4}", "metric_key": "loss"})
get("hist-ajax", AJAX + "/metrics/get-history", {"run_id": "{hr}", "metric_key": "h2"})
post("hist-post-method", "/metrics/get-history", {"run_id": "{hr}", "metric_key": "h"})

BI = "/metrics/get-history-bulk-interval"
get("bulk-ok", BI, [["run_ids", "{hr}"], ["run_ids", "{sr1}"], ["metric_key", "h"]])
get("bulk-reverse-order", BI, [["run_ids", "{sr1}"], ["run_ids", "{hr}"], ["metric_key", "h"]])
get("bulk-steps", BI, [["run_ids", "{hr}"], ["metric_key", "h"], ["start_step", "1"], ["end_step", "3"]])
get("bulk-max-results-2", BI, [["run_ids", "{hr}"], ["metric_key", "h"], ["max_results", "2"]])
get("bulk-max-results-1", BI, [["run_ids", "{hr}"], ["metric_key", "h"], ["max_results", "1"]])
get("bulk-max-results-3", BI, [["run_ids", "{hr}"], ["metric_key", "h"], ["max_results", "3"]])
get("bulk-max-results-0", BI, [["run_ids", "{hr}"], ["metric_key", "h"], ["max_results", "0"]])
get("bulk-max-results-2500", BI, [["run_ids", "{hr}"], ["metric_key", "h"], ["max_results", "2500"]])
get("bulk-max-results-2501", BI, [["run_ids", "{hr}"], ["metric_key", "h"], ["max_results", "2501"]])
get("bulk-start-only", BI, [["run_ids", "{hr}"], ["metric_key", "h"], ["start_step", "1"]])
get("bulk-end-only", BI, [["run_ids", "{hr}"], ["metric_key", "h"], ["end_step", "1"]])
get("bulk-start-gt-end", BI, [["run_ids", "{hr}"], ["metric_key", "h"], ["start_step", "3"], ["end_step", "1"]])
get("bulk-start-eq-end", BI, [["run_ids", "{hr}"], ["metric_key", "h"], ["start_step", "2"], ["end_step", "2"]])
get("bulk-101-runs", BI, [["run_ids", f"{i:032x}"] for i in range(101)] + [["metric_key", "h"]])
get("bulk-unknown-run", BI, [["run_ids", "{hr}"], ["run_ids", HEX_UNKNOWN], ["metric_key", "h"]])
get("bulk-missing-key", BI, [["run_ids", "{hr}"]])
get("bulk-missing-runs", BI, [["metric_key", "h"]])
get("bulk-unknown-metric", BI, [["run_ids", "{hr}"], ["metric_key", "nope"]])
get("bulk-ajax", AJAX + "/metrics/get-history-bulk-interval", [["run_ids", "{hr}"], ["metric_key", "h2"]])
get("bulk-ajax-legacy", AJAX + "/metrics/get-history-bulk",
    [["run_id", "{hr}"], ["run_id", "{sr1}"], ["metric_key", "h"]], unordered=["metrics"],
    note="MLflow sorts by run id (random), then timestamp/step/value: compared as a multiset")

# ---------------------------------------------------------------------------------------
# ajax-api prefix for a few experiment calls, and final state snapshots
# ---------------------------------------------------------------------------------------
get("ajax-exp-get", AJAX + "/experiments/get", {"experiment_id": "{exp1}"})
post("ajax-exp-search", AJAX + "/experiments/search",
     {"max_results": 3, "filter": "name LIKE 'conf-%'", "order_by": ["name ASC"]})
post("ajax-exp-create-duplicate", AJAX + "/experiments/create", {"name": "conf-exp-2"})
post("final-exp-search-all", "/experiments/search", {"max_results": 1000, "view_type": "ALL"})
post("final-runs-exp1", "/runs/search",
     {"experiment_ids": ["{exp1}"], "run_view_type": "ALL", "order_by": ["start_time ASC"]})
get("final-run2", "/runs/get", {"run_id": "{run2}"})
