"""Declarative conformance cases for artifacts and MLflow 3 logged models.

Same format as cases.py (see its docstring), plus these request keys (capture.py):

    raw_b64       binary request body, base64
    headers       extra request headers
    verbatim      the path (and any literal "?query" in it) is sent byte for byte with
                  http.client, so "..", "//", "%2e", "%252e" reach the server unnormalised.
                  Set automatically for paths that need it.
    raw_response  the response body is recorded as bytes: JSON only when the Content-Type
                  says so, else UTF-8 text, else {"size", "sha256", "b64"}

Recorded against a fresh MLflow 3.17.2 server started with
    mlflow server --backend-store-uri sqlite:///$D/m.db --artifacts-destination $D/mlartifacts
                  --host 127.0.0.1 --port 5902 --workers 1
i.e. artifact proxying on (`mlflow-artifacts:/` roots) and a *local* destination, so multipart
and presigned endpoints answer 501. Replay with `compare.py --fixture mlflow-3.17.2-artifacts.json`.

Cases run in order against one fresh server and share state (files written by one case are
read, listed and deleted by later ones). Only the standard library is used here.
"""

import base64
import json

FIXTURE = "mlflow-3.17.2-artifacts.json"
SERVER_NOTES = ("mlflow server --backend-store-uri sqlite:///$D/m.db "
                "--artifacts-destination $D/mlartifacts --workers 1 (serve-artifacts on, local destination)")
OPTIONS = {
    "recorded_headers": ["allow", "content-disposition", "content-range", "location",
                         "x-content-type-options"],
    "hard_headers": ["content-disposition"],
    "strict_content_type": True,
    "random_name_keys": ["run_name", "name"],
    "json_string_tags": ["mlflow.log-model.history"],
    "normalise_base_url": True,
}

P = "/api/2.0/mlflow"
P3 = "/api/3.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"
MA = "/api/2.0/mlflow-artifacts/artifacts"
MA_AJAX = "/ajax-api/2.0/mlflow-artifacts/artifacts"
MPU = "/api/2.0/mlflow-artifacts/mpu"
PRESIGNED = "/api/2.0/mlflow-artifacts/presigned"

T0 = 1600000000000
HEX_UNKNOWN = "0" * 31 + "1"
M_UNKNOWN = "m-" + "0" * 31 + "1"

# 1x1 PNG, and every byte value twice
PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5E"
           "rkJggg==")
BLOB_B64 = base64.b64encode(bytes(range(256)) * 2).decode("ascii")

CASES = []


def _needs_verbatim(path):
    return any(s in path for s in ("%", "..", "/./", "\\")) or "//" in path[1:]


def case(name, method, path, **kw):
    if not path.startswith(("/api/", "/ajax-api/", "/get-artifact", "/model-versions/")):
        path = P + path
    c = {"name": name, "method": method, "path": path}
    if "params" in kw and isinstance(kw["params"], dict):
        kw["params"] = [[k, v] for k, v in kw["params"].items()]
    if _needs_verbatim(path):
        kw.setdefault("verbatim", True)
    c.update(kw)
    CASES.append(c)
    return c


def post(name, path, body=None, **kw):
    return case(name, "POST", path, json=body, **kw)


def get(name, path, params=None, **kw):
    if params is not None:
        kw["params"] = params
    return case(name, "GET", path, **kw)


def patch(name, path, body=None, **kw):
    return case(name, "PATCH", path, json=body, **kw)


def delete(name, path, body=None, **kw):
    if body is not None:
        kw["json"] = body
    return case(name, "DELETE", path, **kw)


def put_file(name, rel, text=None, b64=None, ct="text/plain", prefix=MA, **kw):
    """PUT a file to the proxied artifact service; rel is relative to the destination."""
    body = {"raw": text} if b64 is None else {"raw_b64": b64}
    return case(name, "PUT", f"{prefix}/{rel}", content_type=ct, **body, **kw)


def get_file(name, rel, prefix=MA, **kw):
    return case(name, "GET", f"{prefix}/{rel}", raw_response=True, **kw)


def ls(name, path=None, prefix=MA, **kw):
    """List a directory of the proxied artifact service (GET .../artifacts?path=)."""
    if path is None:
        return case(name, "GET", prefix, **kw)
    if _needs_verbatim(path) or "#" in path:
        return case(name, "GET", f"{prefix}?path={path}", verbatim=True, **kw)
    return case(name, "GET", prefix, params=[["path", path]], **kw)


def rm(name, rel, prefix=MA, **kw):
    return case(name, "DELETE", f"{prefix}/{rel}", **kw)


def metric(key, value, ts=T0, step=0, **extra):
    return dict({"key": key, "value": value, "timestamp": ts, "step": step}, **extra)


# ---------------------------------------------------------------------------------------
# Server info (this configuration: SQL store, local proxied destination)
# ---------------------------------------------------------------------------------------
get("server-info", P3 + "/server-info")
get("server-info-ajax", "/ajax-api/3.0/mlflow/server-info")
get("server-info-v2-prefix", P + "/server-info")

# ---------------------------------------------------------------------------------------
# Proxied artifact service: PUT
# ---------------------------------------------------------------------------------------
ls("ma-list-root-fresh", note="the destination directory does not exist yet")
put_file("ma-put-text", "conf/hello.txt", "hello world\n")
put_file("ma-put-nested-dirs", "conf/a/b/c/deep.txt", "deep\n")
put_file("ma-put-binary", "conf/bin/blob.bin", b64=BLOB_B64, ct="application/octet-stream")
put_file("ma-put-png", "conf/bin/pixel.png", b64=PNG_B64, ct="image/png")
put_file("ma-put-json-file", "conf/data.json", '{"b": [1, 2], "a": "x"}', ct="application/json")
put_file("ma-put-empty-file", "conf/empty.txt", "")
put_file("ma-put-mlmodel", "conf/model/MLmodel", "artifact_path: model\nflavors: {}\n",
         ct="application/octet-stream")
put_file("ma-put-html", "conf/page.html", "<script>alert(1)</script>", ct="text/html")
put_file("ma-put-unknown-ext", "conf/file.xyz123", "x", ct="application/octet-stream")
put_file("ma-put-three-dots", "conf/...", "dots", note="'...' is an ordinary name")
put_file("ma-put-unicode-name", "conf/%C3%BCn%C3%AF%20c%C3%B8d%C3%A9.txt", "unicode name")
put_file("ma-put-quote-name", "conf/say%22hi%22.txt", "quote")
put_file("ma-put-no-content-type", "conf/noct.txt", "no content type", ct=None)
put_file("ma-put-overwrite", "conf/hello.txt", "second version\n")
put_file("ma-put-trailing-slash", "conf/dir/", "x", note="FastAPI {detail} error")
put_file("ma-put-under-a-file", "conf/hello.txt/x.txt", "x", soft_body=True, verbatim=True,
         note="MLflow crashes (plain-text 500, connection reset; sent on its own connection)")

# GET
get_file("ma-get-text-overwritten", "conf/hello.txt")
get_file("ma-get-nested", "conf/a/b/c/deep.txt")
get_file("ma-get-binary", "conf/bin/blob.bin")
get_file("ma-get-png", "conf/bin/pixel.png")
get_file("ma-get-json-file", "conf/data.json", note="served as text/plain, bytes as uploaded")
get_file("ma-get-empty-file", "conf/empty.txt")
get_file("ma-get-mlmodel", "conf/model/MLmodel")
get_file("ma-get-html", "conf/page.html")
get_file("ma-get-unknown-ext", "conf/file.xyz123")
get_file("ma-get-three-dots", "conf/...")
get_file("ma-get-unicode-name", "conf/%C3%BCn%C3%AF%20c%C3%B8d%C3%A9.txt")
get_file("ma-get-quote-name", "conf/say%22hi%22.txt")
get_file("ma-get-missing", "conf/nope.txt")
get_file("ma-get-directory", "conf/a")
case("ma-get-collection-slash", "GET", MA + "/", raw_response=True)
case("ma-head-file", "HEAD", MA + "/conf/hello.txt", raw_response=True)
get_file("ma-get-range", "conf/hello.txt", headers={"Range": "bytes=0-5"})
case("ma-post-file", "POST", MA + "/conf/hello.txt", raw="x", content_type="text/plain")

# LIST
ls("ma-list-root")
ls("ma-list-dir", "conf", note="file_size only on non-empty files; sorted by name")
ls("ma-list-missing", "conf/nope")
ls("ma-list-file-path", "conf/hello.txt")
ls("ma-list-empty-path", "")
ls("ma-list-ajax-prefix", "conf/a", prefix=MA_AJAX)

# DELETE
rm("ma-delete-file", "conf/noct.txt")
get_file("ma-get-after-delete", "conf/noct.txt")
rm("ma-delete-directory", "conf/a")
ls("ma-list-after-delete-dir", "conf/a")
rm("ma-delete-missing", "conf/nope.txt")

# ---------------------------------------------------------------------------------------
# Multipart upload and presigned download on a local destination: 501
# ---------------------------------------------------------------------------------------
post("mpu-create-local", MPU + "/create/conf/big", {"path": "big.bin", "num_parts": 2})
post("mpu-complete-local", MPU + "/complete/conf/big",
     {"path": "big.bin", "upload_id": "u1",
      "parts": [{"part_number": 1, "etag": "e1", "url": "http://x/1"}]})
post("mpu-abort-local", MPU + "/abort/conf/big", {"path": "big.bin", "upload_id": "u1"})
post("mpu-create-missing-path", MPU + "/create/conf/big", {"num_parts": 2})
post("mpu-complete-missing-parts", MPU + "/complete/conf/big", {"path": "big.bin", "upload_id": "u1"})
post("mpu-abort-missing-path", MPU + "/abort/conf/big", {"upload_id": "u1"})
post("mpu-create-unsafe-path", MPU + "/create/../big", {"path": "big.bin", "num_parts": 2})
post("mpu-create-no-path-segment", MPU + "/create", {"path": "big.bin", "num_parts": 2})
get("presigned-local-file", PRESIGNED + "/conf/hello.txt")
get("presigned-missing-file", PRESIGNED + "/conf/nope.txt")
get("presigned-unsafe-path", PRESIGNED + "/../x.txt")

# ---------------------------------------------------------------------------------------
# Path safety (validate_path_is_safe): what MLflow does with each variant, per operation.
# On Linux a backslash is an ordinary character and "%00" is kept as the three characters
# "%00"; "//" inside a path is accepted (the file system collapses it).
# ---------------------------------------------------------------------------------------
UNSAFE = [
    ("dotdot", "../x.txt"),
    ("dotdot-middle", "ps/../x.txt"),
    ("enc-dotdot", "ps/%2e%2e/x.txt"),
    ("double-enc-dotdot", "ps/%252e%252e/x.txt"),
    ("enc-slash-dotdot", "ps%2F..%2Fx.txt"),
    ("absolute", "/etc/x.txt"),
    ("backslash", "ps%5Cback.txt"),
    ("nul", "ps%00nul.txt"),
    ("double-slash", "ps//dbl.txt"),
    ("dot-segment", "ps/./dot.txt"),
]
for tag, rel in UNSAFE + [("hash", "ps%23hash.txt"), ("file-uri", "file:%2F%2F%2Fetc%2Fx.txt")]:
    put_file(f"ps-put-{tag}", rel, f"path safety {tag}")
for tag, rel in UNSAFE:
    if tag in ("dotdot-middle", "enc-dotdot", "enc-slash-dotdot"):
        continue
    get_file(f"ps-get-{tag}", rel)
ls("ps-list-ps-dir", "ps", note="what the accepted variants created")
for tag, q in [("dotdot", ".."), ("double-enc-dotdot", "%252e%252e"), ("absolute", "/etc"),
               ("backslash", "ps%5Cx"), ("nul", "ps%00"), ("double-slash", "ps//")]:
    ls(f"ps-list-{tag}", q)
for tag, rel in UNSAFE:
    if tag in ("dotdot-middle", "enc-dotdot", "enc-slash-dotdot", "dot-segment"):
        continue
    extra = {"soft_body": True, "note": "Flask merges the slashes and answers a 308 redirect"} \
        if tag == "absolute" else {}
    rm(f"ps-delete-{tag}", rel, **extra)
ls("ps-list-ps-dir-after-deletes", "ps")
ls("ps-list-root-after", None)

# ---------------------------------------------------------------------------------------
# Run artifacts through the tracking API and the UI routes
# ---------------------------------------------------------------------------------------
post("ta-exp-create", "/experiments/create", {"name": "artifacts-exp"}, capture={"exp_a": "experiment_id"})
post("ta-run-create", "/runs/create", {"experiment_id": "{exp_a}", "start_time": T0, "run_name": "art_run"},
     capture={"run_a": "run.info.run_id"})
RA = "{exp_a}/{run_a}/artifacts"
put_file("ta-put-hello", RA + "/notes/hello.txt", "hello run\n")
put_file("ta-put-json", RA + "/metrics.json", '{"acc": 0.9}', ct="application/json")
put_file("ta-put-png", RA + "/plots/pixel.png", b64=PNG_B64, ct="image/png")
put_file("ta-put-mlmodel", RA + "/model/MLmodel", "artifact_path: model\n", ct="application/octet-stream")
put_file("ta-put-deep", RA + "/deep/a/b.txt", "b\n")
put_file("ta-put-empty", RA + "/empty.txt", "")
get("ta-list-root", "/artifacts/list", {"run_id": "{run_a}"})
get("ta-list-subdir", "/artifacts/list", {"run_id": "{run_a}", "path": "notes"})
get("ta-list-missing", "/artifacts/list", {"run_id": "{run_a}", "path": "nope"})
get("ta-list-file-path", "/artifacts/list", {"run_id": "{run_a}", "path": "notes/hello.txt"})
get("ta-list-empty-path", "/artifacts/list", {"run_id": "{run_a}", "path": ""})
get("ta-list-run-uuid", "/artifacts/list", {"run_uuid": "{run_a}", "path": "plots"})
get("ta-list-unsafe-dotdot", "/artifacts/list", {"run_id": "{run_a}", "path": "../x"})
get("ta-list-unsafe-encoded", "/artifacts/list", {"run_id": "{run_a}", "path": "%2e%2e/x"},
    note="requests sends %252e%252e; the server unquotes until stable")
get("ta-list-missing-run-id", "/artifacts/list", {"path": "notes"})
get("ta-list-unknown-run", "/artifacts/list", {"run_id": HEX_UNKNOWN})
post("ta-presigned-upload", "/artifacts/presigned-upload-url", {"run_id": "{run_a}", "path": "x.bin"})
post("ta-presigned-download", "/artifacts/presigned-download-url", {"run_id": "{run_a}", "path": "notes/hello.txt"})

get("ui-get-artifact-text", "/get-artifact", {"run_uuid": "{run_a}", "path": "notes/hello.txt"}, raw_response=True)
get("ui-get-artifact-json", "/get-artifact", {"run_id": "{run_a}", "path": "metrics.json"}, raw_response=True)
get("ui-get-artifact-png", "/get-artifact", {"run_id": "{run_a}", "path": "plots/pixel.png"}, raw_response=True)
get("ui-get-artifact-dir", "/get-artifact", {"run_id": "{run_a}", "path": "notes"}, raw_response=True)
get("ui-get-artifact-missing", "/get-artifact", {"run_id": "{run_a}", "path": "nope.txt"}, raw_response=True)
get("ui-get-artifact-unsafe", "/get-artifact", {"run_id": "{run_a}", "path": "../x"}, raw_response=True)
get("ui-get-artifact-no-path", "/get-artifact", {"run_id": "{run_a}"}, raw_response=True)
get("ui-get-artifact-no-run", "/get-artifact", {"path": "notes/hello.txt"}, raw_response=True)
get("ui-mv-get-artifact-unknown-model", "/model-versions/get-artifact",
    {"name": "no-such-model", "version": "1", "path": "MLmodel"}, raw_response=True)
get("ui-mv-get-artifact-no-path", "/model-versions/get-artifact",
    {"name": "no-such-model", "version": "1"}, raw_response=True)

UP = AJAX + "/upload-artifact"
case("ui-upload-ok", "POST", UP, params=[["run_uuid", "{run_a}"], ["path", "ui/up.txt"]],
     raw="uploaded from the UI", content_type="text/plain")
case("ui-upload-nested-binary", "POST", UP, params=[["run_uuid", "{run_a}"], ["path", "ui/deep/blob.bin"]],
     raw_b64=BLOB_B64, content_type="application/octet-stream")
get("ui-upload-list", "/artifacts/list", {"run_id": "{run_a}", "path": "ui"})
get("ui-upload-get-back", "/get-artifact", {"run_id": "{run_a}", "path": "ui/deep/blob.bin"}, raw_response=True)
case("ui-upload-empty-body", "POST", UP, params=[["run_uuid", "{run_a}"], ["path", "ui/e.txt"]],
     raw="", content_type="text/plain")
case("ui-upload-no-run", "POST", UP, params=[["path", "ui/x.txt"]], raw="x", content_type="text/plain")
case("ui-upload-unsafe", "POST", UP, params=[["run_uuid", "{run_a}"], ["path", "../x.txt"]],
     raw="x", content_type="text/plain")
case("ui-upload-unknown-run", "POST", UP, params=[["run_uuid", HEX_UNKNOWN], ["path", "x.txt"]],
     raw="x", content_type="text/plain")

# ---------------------------------------------------------------------------------------
# Logged models (MLflow 3)
# ---------------------------------------------------------------------------------------
post("lm-exp-create", "/experiments/create", {"name": "models-exp"}, capture={"exp_m": "experiment_id"})
post("lm-exp2-create", "/experiments/create", {"name": "models-exp-two"}, capture={"exp_m2": "experiment_id"})
post("lm-run-create", "/runs/create", {"experiment_id": "{exp_m}", "start_time": T0, "run_name": "train_run"},
     capture={"run_m": "run.info.run_id"})
post("lm-create-minimal", "/logged-models", {"experiment_id": "{exp_m}"},
     capture={"m_anon": "model.info.model_id"}, note="random adjective-noun-NNN name")
post("lm-create-full", "/logged-models",
     {"experiment_id": "{exp_m}", "name": "wire_model", "model_type": "sklearn", "source_run_id": "{run_m}",
      "params": [{"key": "alpha", "value": "0.5"}, {"key": "l1_ratio", "value": "0.1"}],
      "tags": [{"key": "team", "value": "red"}, {"key": "mlflow.user", "value": "tester"}]},
     capture={"m_full": "model.info.model_id"})
post("lm-create-model-a", "/logged-models", {"experiment_id": "{exp_m}", "name": "model_a", "source_run_id": "{run_m}"},
     capture={"m_a": "model.info.model_id"})
post("lm-create-model-b", "/logged-models", {"experiment_id": "{exp_m}", "name": "model_b",
                                             "params": [{"key": "alpha", "value": "0.7"}]},
     capture={"m_b": "model.info.model_id"})
post("lm-create-model-c", "/logged-models", {"experiment_id": "{exp_m}", "name": "model_c"},
     capture={"m_c": "model.info.model_id"})
post("lm-create-other-exp", "/logged-models", {"experiment_id": "{exp_m2}", "name": "other_model"},
     capture={"m_other": "model.info.model_id"})
post("lm-create-unknown-source-run", "/logged-models",
     {"experiment_id": "{exp_m2}", "name": "ghost_run_model", "source_run_id": HEX_UNKNOWN},
     capture={"m_ghost": "model.info.model_id"}, note="the source run is not checked")
post("lm-create-unknown-experiment", "/logged-models", {"experiment_id": "99999", "name": "x"})
post("lm-create-missing-experiment", "/logged-models", {"name": "x"})
post("lm-create-non-numeric-experiment", "/logged-models", {"experiment_id": "abc", "name": "x"})

get("lm-get-full", "/logged-models/{m_full}")
get("lm-get-unknown", "/logged-models/" + M_UNKNOWN)

patch("lm-finalize-ready-name", "/logged-models/{m_full}", {"model_id": "{m_full}", "status": "LOGGED_MODEL_READY"})
patch("lm-finalize-ready-number", "/logged-models/{m_b}", {"model_id": "{m_b}", "status": 2})
patch("lm-finalize-failed-number", "/logged-models/{m_a}", {"model_id": "{m_a}", "status": 3})
patch("lm-finalize-missing-status", "/logged-models/{m_anon}", {"model_id": "{m_anon}"})
patch("lm-finalize-missing-model-id", "/logged-models/{m_anon}", {"status": "LOGGED_MODEL_READY"})
patch("lm-finalize-unknown-status-name", "/logged-models/{m_ghost}", {"model_id": "{m_ghost}", "status": "BOGUS"},
      note="an unknown enum name becomes LOGGED_MODEL_STATUS_UNSPECIFIED")
patch("lm-finalize-unknown-model", "/logged-models/" + M_UNKNOWN, {"model_id": M_UNKNOWN, "status": "LOGGED_MODEL_READY"})
patch("lm-finalize-body-id-wins", "/logged-models/{m_anon}", {"model_id": M_UNKNOWN, "status": "LOGGED_MODEL_READY"},
      note="the handler uses the body's model_id, not the path's")

patch("lm-tags-set", "/logged-models/{m_full}/tags",
      {"tags": [{"key": "stage", "value": "dev"}, {"key": "tmp", "value": "1"}]})
patch("lm-tags-overwrite", "/logged-models/{m_full}/tags", {"tags": [{"key": "stage", "value": "prod"}]})
delete("lm-tags-delete", "/logged-models/{m_full}/tags/tmp")
delete("lm-tags-delete-missing", "/logged-models/{m_full}/tags/tmp")
post("lm-params-log", "/logged-models/{m_full}/params",
     {"model_id": "{m_full}", "params": [{"key": "beta", "value": "2"}]})
post("lm-params-duplicate-key", "/logged-models/{m_full}/params",
     {"model_id": "{m_full}", "params": [{"key": "alpha", "value": "0.9"}]},
     note="SQLite IntegrityError surfaced as 400 BAD_REQUEST")
get("lm-get-after-tags-params", "/logged-models/{m_full}")

# metrics linked to models
post("lm-log-metric-model-id", "/runs/log-metric",
     {"run_id": "{run_m}", "key": "acc", "value": 0.9, "timestamp": T0, "step": 1, "model_id": "{m_full}"})
post("lm-log-batch-model-ids", "/runs/log-batch",
     {"run_id": "{run_m}", "metrics": [
         metric("loss", 0.2, model_id="{m_full}", dataset_name="eval_ds", dataset_digest="d1"),
         metric("acc", 0.5, step=2, model_id="{m_a}"),
         metric("acc", 0.7, step=3, model_id="{m_b}"),
         metric("plain", 1.0)]})
post("lm-log-metric-unknown-model", "/runs/log-metric",
     {"run_id": "{run_m}", "key": "acc", "value": 0.1, "timestamp": T0, "step": 9, "model_id": M_UNKNOWN},
     note="SQLite FOREIGN KEY error surfaced as 400 BAD_REQUEST")
get("lm-get-with-metrics", "/logged-models/{m_full}")
get("lm-run-get-metrics", "/runs/get", {"run_id": "{run_m}"})

# run outputs and model inputs
post("lm-outputs-log", "/runs/outputs", {"run_id": "{run_m}", "models": [{"model_id": "{m_full}", "step": 0}]})
post("lm-outputs-unknown-model", "/runs/outputs", {"run_id": "{run_m}", "models": [{"model_id": M_UNKNOWN, "step": 0}]},
     note="the model id is not checked")
post("lm-outputs-missing-models", "/runs/outputs", {"run_id": "{run_m}"})
post("lm-inputs-models", "/runs/log-inputs", {"run_id": "{run_m}", "models": [{"model_id": "{m_b}"}]})
get("lm-run-get-outputs", "/runs/get", {"run_id": "{run_m}"})

# search
LS = "/logged-models/search"
post("lms-default", LS, {"experiment_ids": ["{exp_m}"]}, note="creation_timestamp_ms DESC, then model_id")
post("lms-two-experiments", LS, {"experiment_ids": ["{exp_m}", "{exp_m2}"]})
post("lms-empty-experiment-ids", LS, {"experiment_ids": []})
post("lms-missing-experiment-ids", LS, {})
post("lms-name-eq", LS, {"experiment_ids": ["{exp_m}"], "filter": "name = 'wire_model'"})
post("lms-name-like", LS, {"experiment_ids": ["{exp_m}"], "filter": "name LIKE 'model_%'"})
post("lms-metric-gt", LS, {"experiment_ids": ["{exp_m}"], "filter": "metrics.acc > 0.6"})
post("lms-param-eq", LS, {"experiment_ids": ["{exp_m}"], "filter": "params.alpha = '0.5'"})
post("lms-order-name-desc", LS, {"experiment_ids": ["{exp_m}"], "filter": "name LIKE 'model_%'",
                                 "order_by": [{"field_name": "name", "ascending": False}]},
     note="filtered: the unnamed model's random name would make a name order non-deterministic")
post("lms-order-metric-desc", LS, {"experiment_ids": ["{exp_m}"],
                                   "order_by": [{"field_name": "metrics.acc", "ascending": False}]})
post("lms-order-alias-desc", LS, {"experiment_ids": ["{exp_m}"],
                                  "order_by": [{"field_name": "creation_timestamp", "ascending": False}]},
     note="the order the 3.x client sends when resolving runs:/ URIs")
post("lms-order-unknown-field", LS, {"experiment_ids": ["{exp_m}"], "order_by": [{"field_name": "bogus"}]})
post("lms-datasets-name-digest", LS, {"experiment_ids": ["{exp_m}"],
                                      "datasets": [{"dataset_name": "eval_ds", "dataset_digest": "d1"}]})
post("lms-datasets-name-only", LS, {"experiment_ids": ["{exp_m}"], "datasets": [{"dataset_name": "eval_ds"}]},
     note="the handler passes dataset_digest=None, which matches only metrics without a digest")
post("lms-datasets-missing-name", LS, {"experiment_ids": ["{exp_m}"], "datasets": [{"dataset_digest": "d1"}]})
post("lms-page-1", LS, {"experiment_ids": ["{exp_m}"], "max_results": 2}, capture={"lm_tok1": "next_page_token"})
post("lms-page-2", LS, {"experiment_ids": ["{exp_m}"], "max_results": 2, "page_token": "{lm_tok1}"},
     capture={"lm_tok2": "next_page_token"})
post("lms-page-3-last", LS, {"experiment_ids": ["{exp_m}"], "max_results": 2, "page_token": "{lm_tok2}"})
post("lms-page-token-other-filter", LS, {"experiment_ids": ["{exp_m}"], "filter": "name = 'x'",
                                         "page_token": "{lm_tok1}"})
post("lms-page-token-garbage", LS, {"experiment_ids": ["{exp_m}"], "page_token": "garbage"},
     note="base64 decoding fails outside the JSON error handler: HTML 500")
post("lms-page-token-not-json", LS, {"experiment_ids": ["{exp_m}"],
                                     "page_token": base64.b64encode(b'{"offset": ').decode()})
post("lms-bad-filter", LS, {"experiment_ids": ["{exp_m}"], "filter": "name ="})
post("lms-unknown-attribute", LS, {"experiment_ids": ["{exp_m}"], "filter": "foo = 'x'"})

# artifacts of a logged model
MAR = "{exp_m}/models/{m_full}/artifacts"
get("lma-dirs-empty", "/logged-models/{m_full}/artifacts/directories")
put_file("lma-put-mlmodel", MAR + "/MLmodel", "artifact_path: null\nmodel_id: x\n", ct="application/octet-stream")
put_file("lma-put-binary", MAR + "/sub/model.skops", b64=BLOB_B64, ct="application/octet-stream")
get("lma-dirs-root", "/logged-models/{m_full}/artifacts/directories")
get("lma-dirs-sub", "/logged-models/{m_full}/artifacts/directories", {"artifact_directory_path": "sub"})
get("lma-dirs-missing", "/logged-models/{m_full}/artifacts/directories", {"artifact_directory_path": "nope"})
get("lma-dirs-unsafe", "/logged-models/{m_full}/artifacts/directories", {"artifact_directory_path": "../.."})
LF = AJAX + "/logged-models/{m_full}/artifacts/files"
get("lma-files-mlmodel", LF, {"artifact_file_path": "MLmodel"}, raw_response=True)
get("lma-files-binary", LF, {"artifact_file_path": "sub/model.skops"}, raw_response=True)
get("lma-files-missing-param", LF, raw_response=True)
get("lma-files-missing-file", LF, {"artifact_file_path": "nope"}, raw_response=True)
get("lma-files-unsafe", LF, {"artifact_file_path": "../../x"}, raw_response=True)
get("lma-files-unknown-model", AJAX + "/logged-models/" + M_UNKNOWN + "/artifacts/files",
    {"artifact_file_path": "MLmodel"}, raw_response=True)

# delete
delete("lm-delete", "/logged-models/{m_c}")
get("lm-get-deleted", "/logged-models/{m_c}")
get("lm-get-deleted-allow", "/logged-models/{m_c}", {"allow_deleted": "true"})
post("lms-after-delete", LS, {"experiment_ids": ["{exp_m}"]})
delete("lm-delete-again", "/logged-models/{m_c}")

# ---------------------------------------------------------------------------------------
# MLflow 2.x runs/log-model and the mlflow.log-model.history tag
# ---------------------------------------------------------------------------------------
post("log-model-run-create", "/runs/create", {"experiment_id": "{exp_a}", "start_time": T0, "run_name": "v2_run"},
     capture={"run_lm": "run.info.run_id"})
MODEL_JSON = {"artifact_path": "model", "flavors": {"python_function": {"loader_module": "mlflow.sklearn",
                                                                       "python_version": "3.11.0"},
                                                    "sklearn": {"sklearn_version": "1.5.0"}},
              "utc_time_created": "2020-09-13 12:26:40.000000", "run_id": "{run_lm}",
              "model_uuid": "0123456789abcdef0123456789abcdef", "mlflow_version": "2.22.5"}
post("log-model-ok", "/runs/log-model", {"run_id": "{run_lm}", "model_json": json.dumps(MODEL_JSON)})
post("log-model-second", "/runs/log-model",
     {"run_id": "{run_lm}", "model_json": json.dumps(dict(
         MODEL_JSON, artifact_path="model2",
         signature={"inputs": '[{"type": "double"}]', "outputs": '[{"type": "long"}]'},
         saved_input_example_info={"artifact_path": "input_example.json", "type": "dataframe"}))})
post("log-model-missing-fields", "/runs/log-model", {"run_id": "{run_lm}", "model_json": json.dumps({"artifact_path": "x"})})
post("log-model-malformed-json", "/runs/log-model", {"run_id": "{run_lm}", "model_json": "not json"})
post("log-model-missing-model-json", "/runs/log-model", {"run_id": "{run_lm}"})
post("log-model-unknown-run", "/runs/log-model", {"run_id": HEX_UNKNOWN, "model_json": json.dumps(MODEL_JSON)})
post("log-model-run-id-mismatch", "/runs/log-model",
     {"run_id": "{run_lm}", "model_json": json.dumps(dict(MODEL_JSON, artifact_path="m3", run_id=HEX_UNKNOWN))},
     note="the tag goes to the request's run; the model JSON is stored as sent")
get("log-model-run-get", "/runs/get", {"run_id": "{run_lm}"})
