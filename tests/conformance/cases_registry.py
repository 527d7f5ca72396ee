"""Declarative conformance cases for the MLflow model registry.

Same format as cases.py (see its docstring), plus the request keys of cases_artifacts.py
(`raw_response` is used here for `/model-versions/get-artifact`). A case whose path does not
start with /api/ or /ajax-api/ is put under /api/2.0/mlflow, except the UI route
`/model-versions/get-artifact` (pass ui=True).

Recorded against a fresh MLflow 3.17.2 server started with
    mlflow server --backend-store-uri sqlite:///$D/m.db --artifacts-destination $D/mlartifacts
                  --host 127.0.0.1 --port 5903 --workers 1
i.e. artifact proxying on (`mlflow-artifacts:/` roots) with a local destination, as for the
artifacts recording. Replay with `compare.py --fixture mlflow-3.17.2-registry.json`.

The seed data is made with plain REST calls: one experiment, two runs with a few model files
PUT under their artifact roots, and two logged models (one with files, finalized READY).
Cases run in order against one fresh server and share state. Do not reorder casually:
registered-model searches ordered by timestamp and the default model-version order
(last_updated_timestamp DESC) depend on the order of the writes.
Only the standard library is used here.
"""

FIXTURE = "mlflow-3.17.2-registry.json"
SERVER_NOTES = ("mlflow server --backend-store-uri sqlite:///$D/m.db "
                "--artifacts-destination $D/mlartifacts --workers 1 (serve-artifacts on, local destination)")
OPTIONS = {
    "recorded_headers": ["allow", "content-disposition", "x-content-type-options"],
    "hard_headers": ["content-disposition"],
    "strict_content_type": True,
    "random_name_keys": ["run_name"],
    # the logged model's registrations tag: a JSON list of {"name", "version"} (version an int)
    "json_string_tags": ["mlflow.modelVersions"],
    # MLflow builds registered_model.latest_versions and the alias lists without an ORDER BY
    "unordered_list_keys": ["latest_versions", "aliases"],
    # server-local text inside two error messages: the backend store URI and the server's cwd
    "message_redactions": [[r"sqlite:/+\S+?\.db", "<backend-store-uri>"],
                           [r"source: '/[^']*/model'", "source: '<local-path>/model'"]],
}

P = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"
MA = "/api/2.0/mlflow-artifacts/artifacts"
UI_MV_ARTIFACT = "/model-versions/get-artifact"

T0 = 1600000000000
HEX_UNKNOWN = "0" * 31 + "1"
M_UNKNOWN = "m-" + "0" * 31 + "1"

RA = "reg-alpha"          # the main model: 3 versions, stages, aliases, tags
RB = "reg-beta"           # renamed later to RB2
RB2 = "reg-beta-renamed"
RG = "Reg-Gamma"          # capital letter: sorts before lower-case names in SQLite
RO = "other_model"        # versions whose source is another registered model version
RD = "to-delete"          # deleted with its versions and aliases, then created again
RE = "ajax-model"         # created through /ajax-api, never gets a version
PR = "my-prompt"          # a prompt: tag mlflow.prompt.is_prompt=true
PROMPT_TAG = "mlflow.prompt.is_prompt"
CLIENT3_CLAUSE = f"tag.`{PROMPT_TAG}` != 'true'"   # what the 3.x client appends to every RM search

CASES = []


def case(name, method, path, ui=False, **kw):
    if not ui and not path.startswith(("/api/", "/ajax-api/")):
        path = P + path
    c = {"name": name, "method": method, "path": path}
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


def patch(name, path, body=None, **kw):
    return case(name, "PATCH", path, json=body, **kw)


def delete(name, path, body=None, **kw):
    if body is not None:
        kw["json"] = body
    return case(name, "DELETE", path, **kw)


def put_file(name, rel, text, ct="text/plain", **kw):
    return case(name, "PUT", f"{MA}/{rel}", raw=text, content_type=ct, **kw)


def tags(**kv):
    return [{"key": k, "value": v} for k, v in kv.items()]


def mv_create(name, model, source, **body):
    return post(name, "/model-versions/create", dict({"name": model, "source": source}, **body))


def mv_get(name, model, version, **kw):
    return get(name, "/model-versions/get", {"name": model, "version": version}, **kw)


def rm_get(name, model, **kw):
    return get(name, "/registered-models/get", {"name": model}, **kw)


def rm_search(name, params=None, **kw):
    return get(name, "/registered-models/search", params if params is not None else [], **kw)


def mv_search(name, params=None, **kw):
    return get(name, "/model-versions/search", params if params is not None else [], **kw)


def download_uri(name, model, version, **kw):
    return get(name, "/model-versions/get-download-uri", {"name": model, "version": version}, **kw)


def mv_artifact(name, model, version, path, **kw):
    return get(name, UI_MV_ARTIFACT, {"name": model, "version": version, "path": path},
               ui=True, raw_response=True, **kw)


def transition(name, model, version, stage, archive=None, **kw):
    body = {"name": model, "version": version, "stage": stage}
    if archive is not None:
        body["archive_existing_versions"] = archive
    return post(name, "/model-versions/transition-stage", body, **kw)


def latest(name, model, stages=None, **kw):
    body = {"name": model}
    if stages is not None:
        body["stages"] = stages
    return post(name, "/registered-models/get-latest-versions", body,
                unordered=kw.pop("unordered", ["model_versions"]), **kw)


def set_alias(name, model, alias, version, **kw):
    return post(name, "/registered-models/alias", {"name": model, "alias": alias, "version": version}, **kw)


def get_alias(name, model, alias, **kw):
    return get(name, "/registered-models/alias", {"name": model, "alias": alias}, **kw)


# ---------------------------------------------------------------------------------------
# Seed data: an experiment, two runs with model files, two logged models
# ---------------------------------------------------------------------------------------
post("seed-exp", "/experiments/create", {"name": "registry-exp"}, capture={"exp_r": "experiment_id"})
post("seed-run1", "/runs/create", {"experiment_id": "{exp_r}", "start_time": T0, "run_name": "train_one"},
     capture={"run1": "run.info.run_id"})
post("seed-run2", "/runs/create", {"experiment_id": "{exp_r}", "start_time": T0 + 1, "run_name": "train_two"},
     capture={"run2": "run.info.run_id"})
R1 = "{exp_r}/{run1}/artifacts"
R2 = "{exp_r}/{run2}/artifacts"
put_file("seed-run1-mlmodel", R1 + "/model/MLmodel", "artifact_path: model\nflavors: {}\n",
         ct="application/octet-stream")
put_file("seed-run1-model-file", R1 + "/model/model.pkl", "not really a pickle\n",
         ct="application/octet-stream")
put_file("seed-run1-nested", R1 + "/model/sub/notes.txt", "nested\n")
put_file("seed-run1-outside-model", R1 + "/other/x.txt", "outside the model dir\n")
put_file("seed-run2-mlmodel", R2 + "/model/MLmodel", "artifact_path: model\nrun: two\n",
         ct="application/octet-stream")
post("seed-lm1", "/logged-models",
     {"experiment_id": "{exp_r}", "name": "lm_one", "model_type": "sklearn", "source_run_id": "{run1}"},
     capture={"m1": "model.info.model_id"})
LM1 = "{exp_r}/models/{m1}/artifacts"
put_file("seed-lm1-mlmodel", LM1 + "/MLmodel", "artifact_path: null\nmodel_id: lm_one\n",
         ct="application/octet-stream")
put_file("seed-lm1-model-file", LM1 + "/model.skops", "skops bytes\n", ct="application/octet-stream")
patch("seed-lm1-finalize", "/logged-models/{m1}", {"model_id": "{m1}", "status": "LOGGED_MODEL_READY"})
post("seed-lm2-no-run", "/logged-models", {"experiment_id": "{exp_r}", "name": "lm_two"},
     capture={"m2": "model.info.model_id"}, note="a logged model without a source run")

# ---------------------------------------------------------------------------------------
# Registered models: create
# ---------------------------------------------------------------------------------------
post("rm-create-full", "/registered-models/create",
     {"name": RA, "tags": tags(team="red", env="dev"), "description": "first model"})
post("rm-create-plain", "/registered-models/create", {"name": RB},
     note="no description: the key is absent, as are tags, aliases and latest_versions")
post("rm-create-gamma", "/registered-models/create", {"name": RG, "tags": tags(team="blue")})
post("rm-create-other", "/registered-models/create", {"name": RO, "description": ""},
     note="an empty description is not printed")
post("rm-create-duplicate", "/registered-models/create", {"name": RA})
post("rm-create-duplicate-as-prompt", "/registered-models/create",
     {"name": RA, "tags": tags(**{PROMPT_TAG: "true"})}, note="model/prompt name clash message")
post("rm-create-slash", "/registered-models/create", {"name": "a/b"})
post("rm-create-colon", "/registered-models/create", {"name": "a:b"})
post("rm-create-empty-name", "/registered-models/create", {"name": ""})
post("rm-create-blank-name", "/registered-models/create", {"name": "   "})
post("rm-create-missing-name", "/registered-models/create", {})
post("rm-create-dotdot-name", "/registered-models/create", {"name": ".."})
post("rm-create-bad-tag-key", "/registered-models/create", {"name": "x-bad-tag", "tags": tags(**{"bad key!": "v"})})
post("rm-create-prompt", "/registered-models/create",
     {"name": PR, "tags": tags(**{PROMPT_TAG: "true"}), "description": "a prompt"})
post("rm-create-ajax", AJAX + "/registered-models/create", {"name": RE})
get("rm-create-wrong-method", "/registered-models/create", {"name": "x"})

# get
rm_get("rm-get-full", RA)
rm_get("rm-get-plain", RB)
rm_get("rm-get-unknown", "no-such-model")
get("rm-get-missing-name", "/registered-models/get")
get("rm-get-ajax", AJAX + "/registered-models/get", {"name": RG})
rm_get("rm-get-prompt", PR, note="GET returns prompts like any model")

# update (PATCH)
patch("rm-update-description", "/registered-models/update", {"name": RB, "description": "beta desc"})
patch("rm-update-clear-description", "/registered-models/update", {"name": RB, "description": ""})
patch("rm-update-no-description", "/registered-models/update", {"name": RB})
patch("rm-update-set-again", "/registered-models/update", {"name": RB, "description": "beta model"})
patch("rm-update-unknown", "/registered-models/update", {"name": "no-such-model", "description": "x"})
patch("rm-update-missing-name", "/registered-models/update", {"description": "x"})
post("rm-update-wrong-method", "/registered-models/update", {"name": RB, "description": "x"})

# tags
post("rm-tag-set", "/registered-models/set-tag", {"name": RB, "key": "owner", "value": "alice"})
post("rm-tag-set-second", "/registered-models/set-tag", {"name": RB, "key": "tmp", "value": "1"})
post("rm-tag-overwrite", "/registered-models/set-tag", {"name": RB, "key": "owner", "value": "bob"})
post("rm-tag-set-no-value", "/registered-models/set-tag", {"name": RB, "key": "flag"})
post("rm-tag-set-unknown-model", "/registered-models/set-tag", {"name": "no-such-model", "key": "k", "value": "v"})
post("rm-tag-set-bad-key", "/registered-models/set-tag", {"name": RB, "key": "bad key!", "value": "v"})
post("rm-tag-set-long-key", "/registered-models/set-tag", {"name": RB, "key": "k" * 251, "value": "v"})
post("rm-tag-set-missing-key", "/registered-models/set-tag", {"name": RB, "value": "v"})
delete("rm-tag-delete", "/registered-models/delete-tag", {"name": RB, "key": "tmp"})
delete("rm-tag-delete-unknown-key", "/registered-models/delete-tag", {"name": RB, "key": "tmp"})
delete("rm-tag-delete-unknown-model", "/registered-models/delete-tag", {"name": "no-such-model", "key": "k"})
rm_get("rm-get-after-tags", RB)

# ---------------------------------------------------------------------------------------
# Model versions: create
# ---------------------------------------------------------------------------------------
SRC1 = "mlflow-artifacts:/{exp_r}/{run1}/artifacts/model"
SRC2 = "mlflow-artifacts:/{exp_r}/{run2}/artifacts/model"
mv_create("mv-create-run-source", RA, SRC1, run_id="{run1}",
          note="what the 2.x client sends after log_model(..., registered_model_name=)")
mv_create("mv-create-tags-description", RA, SRC1, run_id="{run1}", description="second version",
          tags=tags(k="v", quality="good"), run_link="http://example.invalid/runs/1")
mv_create("mv-create-logged-model", RA, "models:/{m1}", model_id="{m1}",
          note="what the 3.x client sends; run_id comes from the logged model's source_run_id")
rm_get("rm-get-with-versions", RA)
get("lm-get-after-first-registration", "/logged-models/{m1}",
    note="the server set the tag mlflow.modelVersions")
mv_create("mv-create-runs-uri", RB, "runs:/{run1}/model", run_id="{run1}")
mv_create("mv-create-run2-source", RB, SRC2, run_id="{run2}")
mv_create("mv-create-logged-model-again", RB, "models:/{m1}", model_id="{m1}",
          note="a second registration of the same logged model")
get("lm-get-after-second-registration", "/logged-models/{m1}")
mv_create("mv-create-model-without-run", RG, "models:/{m2}", model_id="{m2}",
          note="the logged model has no source run: run_id stays empty")
get("lm2-get-after-registration", "/logged-models/{m2}")
mv_create("mv-create-model-artifact-source", RG, "mlflow-artifacts:/{exp_r}/models/{m1}/artifacts",
          model_id="{m1}", note="an mlflow-artifacts source inside the logged model's artifact root")
mv_create("mv-create-registered-source", RO, "models:/reg-alpha/1",
          note="another version as source: run_id and storage location are copied")
mv_create("mv-create-s3-source", RO, "s3://some-bucket/path/model",
          note="s3 is not a host-addressed scheme (ftp, sftp, hdfs, http(s), mlflow-artifacts://host, "
               "r2, b2, abfss...): no run_id needed, no check, stored as is")
mv_create("mv-create-unknown-model", "no-such-model", SRC1, run_id="{run1}")
mv_create("mv-create-missing-source", RA, None)
post("mv-create-missing-name", "/model-versions/create", {"source": SRC1, "run_id": "{run1}"})
mv_create("mv-create-bad-tag-key", RA, SRC1, run_id="{run1}", tags=tags(**{"bad key!": "v"}))

# source checks (all before the store is touched, so no version number is used up)
mv_create("mv-src-other-run", RA, SRC2, run_id="{run1}")
mv_create("mv-src-no-run-id", RA, SRC1)
mv_create("mv-src-unknown-run", RA, SRC1, run_id=HEX_UNKNOWN)
mv_create("mv-src-dotdot", RA, "mlflow-artifacts:/{exp_r}/{run1}/artifacts/../../{run2}/artifacts/model",
          run_id="{run1}")
mv_create("mv-src-encoded-dotdot", RA, "mlflow-artifacts:/{exp_r}/{run1}/artifacts/%2e%2e/%2e%2e/x",
          run_id="{run1}")
mv_create("mv-src-local-path", RA, "/tmp/model", run_id="{run1}")
mv_create("mv-src-file-uri", RA, "file:///tmp/model", run_id="{run1}")
mv_create("mv-src-relative-path", RA, "model", run_id="{run1}",
          note="a bare path is local, resolved against the server's working directory (redacted)")
mv_create("mv-src-runs-other-run", RA, "runs:/{run1}/model", run_id="{run2}")
mv_create("mv-src-runs-no-run-id", RA, "runs:/{run1}/model")
mv_create("mv-src-models-no-model-id", RA, "models:/{m1}")
mv_create("mv-src-models-other-model-id", RA, "models:/{m1}", model_id="{m2}")
mv_create("mv-src-unknown-model-id", RA, "models:/" + M_UNKNOWN, model_id=M_UNKNOWN,
          note="the store wraps the lookup error: 500 INTERNAL_ERROR 'Unable to fetch model ...'")
mv_create("mv-src-model-id-runs-source", RA, "runs:/{run1}/model", model_id="{m1}")
mv_create("mv-src-model-id-outside", RA, SRC1, model_id="{m1}")
mv_create("mv-src-http-host", RA, "http://127.0.0.1:1/api/2.0/mlflow-artifacts/artifacts/{exp_r}/{run1}/artifacts/model",
          run_id="{run1}")
mv_create("mv-src-registered-unknown-model", RA, "models:/no-such-model/1")
mv_create("mv-src-registered-unknown-version", RA, "models:/reg-alpha/99")
mv_create("mv-src-registered-wrong-run-id", RA, "models:/reg-alpha/1", run_id="{run2}")

# prompts
mv_create("mv-create-prompt-version", PR, "dummy-source",
          tags=tags(**{PROMPT_TAG: "true", "mlflow.prompt.text": "Hello {{name}}"}),
          description="first prompt version", note="what the 3.x client sends for register_prompt")
mv_create("mv-create-prompt-bad-source", PR, SRC1, run_id="{run1}", tags=tags(**{PROMPT_TAG: "true"}))
post("mv-create-ajax", AJAX + "/model-versions/create",
     {"name": RG, "source": SRC2, "run_id": "{run2}"})
get("mv-create-wrong-method", "/model-versions/create", {"name": RA})

# get
mv_get("mv-get-run-source", RA, "1")
mv_get("mv-get-tags-description", RA, "2")
mv_get("mv-get-logged-model", RA, "3")
mv_get("mv-get-registered-source", RO, "1")
mv_get("mv-get-unknown-version", RA, "99")
mv_get("mv-get-non-numeric", RA, "x")
mv_get("mv-get-unknown-model", "no-such-model", "1")
get("mv-get-missing-version", "/model-versions/get", {"name": RA})
mv_get("mv-get-prompt-version", PR, "1")

# get-download-uri: the stored storage_location, else the source
download_uri("dl-run-source", RA, "1")
download_uri("dl-logged-model", RA, "3")
download_uri("dl-runs-uri", RB, "1")
download_uri("dl-model-artifact-source", RG, "2")
download_uri("dl-registered-source", RO, "1")
download_uri("dl-s3-source", RO, "2")
download_uri("dl-prompt", PR, "1")
download_uri("dl-unknown-version", RA, "99")
download_uri("dl-non-numeric", RA, "x")
download_uri("dl-unknown-model", "no-such-model", "1")
get("dl-missing-version", "/model-versions/get-download-uri", {"name": RA})

# UI download route
mv_artifact("mvga-run-source", RA, "1", "MLmodel")
mv_artifact("mvga-logged-model", RA, "3", "MLmodel")
mv_artifact("mvga-logged-model-binary", RA, "3", "model.skops")
mv_artifact("mvga-runs-uri", RB, "1", "MLmodel",
            note="the server cannot resolve runs:/ itself (its tracking URI is the SQL store): 500")
mv_artifact("mvga-model-artifact-source", RG, "2", "MLmodel")
mv_artifact("mvga-registered-source", RO, "1", "MLmodel")
mv_artifact("mvga-missing-file", RA, "1", "nope.txt")
mv_artifact("mvga-directory", RA, "1", "sub")
mv_artifact("mvga-unsafe-dotdot", RA, "1", "../other/x.txt")
mv_artifact("mvga-unsafe-absolute", RA, "1", "/etc/passwd")
mv_artifact("mvga-unknown-version", RA, "99", "MLmodel")
mv_artifact("mvga-prompt", PR, "1", "MLmodel")
get("mvga-missing-path", UI_MV_ARTIFACT, {"name": RA, "version": "1"}, ui=True, raw_response=True)

# update (PATCH)
patch("mv-update-description", "/model-versions/update", {"name": RA, "version": "1", "description": "updated"})
patch("mv-update-no-description", "/model-versions/update", {"name": RA, "version": "2"},
      note="description omitted: stored as NULL and no longer printed")
patch("mv-update-empty-description", "/model-versions/update", {"name": RB, "version": "1", "description": ""})
patch("mv-update-unknown-version", "/model-versions/update", {"name": RA, "version": "99", "description": "x"})
patch("mv-update-non-numeric", "/model-versions/update", {"name": RA, "version": "x", "description": "x"})
mv_get("mv-get-after-updates", RA, "2")

# version tags
post("mvt-set", "/model-versions/set-tag", {"name": RA, "version": "1", "key": "validated", "value": "yes"})
post("mvt-set-second", "/model-versions/set-tag", {"name": RA, "version": "1", "key": "tmp", "value": "1"})
post("mvt-overwrite", "/model-versions/set-tag", {"name": RA, "version": "1", "key": "validated", "value": "no"})
post("mvt-set-no-value", "/model-versions/set-tag", {"name": RA, "version": "1", "key": "empty"})
post("mvt-set-unknown-version", "/model-versions/set-tag", {"name": RA, "version": "99", "key": "k", "value": "v"})
post("mvt-set-non-numeric", "/model-versions/set-tag", {"name": RA, "version": "x", "key": "k", "value": "v"})
post("mvt-set-unknown-model", "/model-versions/set-tag", {"name": "no-such-model", "version": "1", "key": "k", "value": "v"})
post("mvt-set-bad-key", "/model-versions/set-tag", {"name": RA, "version": "1", "key": "bad key!", "value": "v"})
delete("mvt-delete", "/model-versions/delete-tag", {"name": RA, "version": "1", "key": "tmp"})
delete("mvt-delete-unknown-key", "/model-versions/delete-tag", {"name": RA, "version": "1", "key": "tmp"})
delete("mvt-delete-unknown-version", "/model-versions/delete-tag", {"name": RA, "version": "99", "key": "k"})
mv_get("mv-get-after-tags", RA, "1")

# ---------------------------------------------------------------------------------------
# Stage transitions (RA: v1, v2, v3) and get-latest-versions
# ---------------------------------------------------------------------------------------
transition("ts-v1-staging", RA, "1", "Staging", False)
transition("ts-v2-staging-lowercase", RA, "2", "staging", False, note="stage names are case-insensitive")
latest("glv-two-in-staging", RA, ["Staging"], note="only the newest version per stage")
transition("ts-v3-production-archive", RA, "3", "Production", True, note="nothing else in Production")
transition("ts-v2-production-archive", RA, "2", "PRODUCTION", True,
           note="archive_existing_versions: v3 goes to Archived")
mv_get("ts-v3-after-archive", RA, "3")
mv_get("ts-v1-still-staging", RA, "1")
transition("ts-v1-archived-with-flag", RA, "1", "Archived", True,
           note="archive_existing_versions only for Staging/Production; MlflowException without an "
                "error code: 500 INTERNAL_ERROR")
transition("ts-v1-none-with-flag", RA, "1", "None", True, note="500 INTERNAL_ERROR, as above")
transition("ts-v1-archived", RA, "1", "archived", False)
transition("ts-v1-none", RA, "1", "none")
transition("ts-v1-staging-again", RA, "1", "Staging", note="archive_existing_versions omitted")
transition("ts-invalid-stage", RA, "1", "bogus", False)
transition("ts-empty-stage", RA, "1", "", False)
post("ts-missing-stage", "/model-versions/transition-stage", {"name": RA, "version": "1"})
transition("ts-archive-flag-string", RA, "1", "Staging", "true")
transition("ts-unknown-version", RA, "99", "Staging", False)
transition("ts-non-numeric-version", RA, "x", "Staging", False)
transition("ts-unknown-model", "no-such-model", "1", "Staging", False)
transition("ts-invalid-stage-unknown-model", "no-such-model", "1", "bogus", False)
rm_get("rm-get-after-transitions", RA, note="latest_versions: one per stage")

latest("glv-post-all", RA)
latest("glv-post-empty-stages", RA, [])
latest("glv-post-two-stages", RA, ["Production", "Staging"])
latest("glv-post-lowercase-stage", RA, ["production"])
latest("glv-post-archived", RA, ["Archived"])
latest("glv-post-none-stage", RA, ["None"])
latest("glv-post-invalid-stage", RA, ["bogus"])
latest("glv-no-versions", RE)
latest("glv-unknown-model", "no-such-model")
post("glv-missing-name", "/registered-models/get-latest-versions", {})
get("glv-get", "/registered-models/get-latest-versions", {"name": RA}, unordered=["model_versions"])
get("glv-get-stages", "/registered-models/get-latest-versions",
    [["name", RA], ["stages", "Production"], ["stages", "Archived"]], unordered=["model_versions"])

# ---------------------------------------------------------------------------------------
# Aliases
# ---------------------------------------------------------------------------------------
set_alias("alias-set-champion", RA, "champion", "1")
set_alias("alias-set-challenger", RA, "challenger", "2")
rm_get("alias-model-shows-aliases", RA)
mv_get("alias-version-shows-alias", RA, "1")
set_alias("alias-move-champion", RA, "champion", "3", note="setting an existing alias moves it")
get_alias("alias-get-champion", RA, "champion")
mv_get("alias-v1-after-move", RA, "1")
set_alias("alias-second-on-same-version", RA, "stable", "3")
mv_get("alias-v3-two-aliases", RA, "3")
get_alias("alias-get-latest", RA, "latest", note="'latest' resolves to the highest version")
get_alias("alias-get-latest-no-versions", RE, "latest")
set_alias("alias-set-latest-reserved", RA, "latest", "1")
set_alias("alias-set-latest-mixed-case", RA, "Latest", "1")
set_alias("alias-set-version-reserved", RA, "v1", "1")
set_alias("alias-set-version-upper-reserved", RA, "V12", "1")
set_alias("alias-set-v-prefix-ok", RA, "v1x", "1")
set_alias("alias-set-dash-underscore", RA, "ok_alias-1", "1")
set_alias("alias-set-unicode-word", RA, "caf\u00e9", "1", note="\\w is Unicode-aware in Python")
set_alias("alias-set-invalid-chars", RA, "bad alias!", "1")
set_alias("alias-set-too-long", RA, "a" * 256, "1")
set_alias("alias-set-empty", RA, "", "1")
set_alias("alias-set-missing-version", RA, "ghost", "99")
set_alias("alias-set-non-numeric-version", RA, "ghost", "x")
set_alias("alias-set-unknown-model", "no-such-model", "champion", "1")
get_alias("alias-get-unknown", RA, "nope", note="400 INVALID_PARAMETER_VALUE, not 404")
get_alias("alias-get-unknown-model", "no-such-model", "champion")
get_alias("alias-get-invalid-name", RA, "bad alias!")
get("alias-get-ajax", AJAX + "/registered-models/alias", {"name": RA, "alias": "champion"})
delete("alias-delete", "/registered-models/alias", {"name": RA, "alias": "challenger"})
delete("alias-delete-again", "/registered-models/alias", {"name": RA, "alias": "challenger"})
delete("alias-delete-unknown-model", "/registered-models/alias", {"name": "no-such-model", "alias": "x"})
get_alias("alias-get-after-delete", RA, "challenger")
for tag, a in (("v1x", "v1x"), ("dash-underscore", "ok_alias-1"), ("unicode", "caf\u00e9")):
    delete(f"alias-cleanup-{tag}", "/registered-models/alias", {"name": RA, "alias": a})
rm_get("alias-model-after-changes", RA)
mv_create("mv-create-alias-source", RO, "models:/reg-alpha@champion",
          note="an alias source is resolved to models:/name/<version>")
download_uri("dl-alias-source", RO, "3")
case("alias-wrong-method", "PUT", "/registered-models/alias", json={"name": RA, "alias": "x", "version": "1"})

# ---------------------------------------------------------------------------------------
# Rename
# ---------------------------------------------------------------------------------------
set_alias("rename-alias-before", RB, "prod", "2")
post("rename-ok", "/registered-models/rename", {"name": RB, "new_name": RB2})
rm_get("rename-get-new", RB2)
rm_get("rename-get-old", RB)
mv_get("rename-version-follows", RB2, "1")
get_alias("rename-alias-follows", RB2, "prod")
download_uri("rename-download-uri", RB2, "3")
get("rename-logged-model-tag-unchanged", "/logged-models/{m1}",
    note="mlflow.modelVersions keeps the old name")
post("rename-to-existing", "/registered-models/rename", {"name": RB2, "new_name": RA},
     note="the message embeds SQLAlchemy's IntegrityError text")
post("rename-unknown", "/registered-models/rename", {"name": "no-such-model", "new_name": "x-new"})
post("rename-invalid-new-name", "/registered-models/rename", {"name": RB2, "new_name": "x/y"})
post("rename-missing-new-name", "/registered-models/rename", {"name": RB2})
post("rename-to-same-name", "/registered-models/rename", {"name": RO, "new_name": RO},
     note="succeeds; the model's and its versions' last_updated_timestamp move")

# ---------------------------------------------------------------------------------------
# Delete model versions (RG: v1 model_id m2, v2 model artifact source, v3 from ajax)
# ---------------------------------------------------------------------------------------
set_alias("mvd-alias-before", RG, "doomed", "3")
post("mvd-tag-before", "/model-versions/set-tag", {"name": RG, "version": "3", "key": "k", "value": "v"})
delete("mvd-delete", "/model-versions/delete", {"name": RG, "version": "3"})
mv_get("mvd-get-deleted", RG, "3")
get_alias("mvd-alias-gone", RG, "doomed")
rm_get("mvd-model-after", RG, note="latest_versions falls back to v2; the alias is gone")
download_uri("mvd-download-uri-deleted", RG, "3")
delete("mvd-delete-again", "/model-versions/delete", {"name": RG, "version": "3"})
delete("mvd-delete-unknown-model", "/model-versions/delete", {"name": "no-such-model", "version": "1"})
delete("mvd-delete-non-numeric", "/model-versions/delete", {"name": RG, "version": "x"})
mv_create("mvd-create-after-delete", RG, SRC2, run_id="{run2}",
          note="numbering continues after the deleted version: 4, not 3")
post("mvd-set-tag-deleted", "/model-versions/set-tag", {"name": RG, "version": "3", "key": "k", "value": "v"})
transition("mvd-transition-deleted", RG, "3", "Staging", False)

# ---------------------------------------------------------------------------------------
# Delete a registered model: its versions, tags and aliases go with it
# ---------------------------------------------------------------------------------------
post("rmd-create", "/registered-models/create", {"name": RD, "tags": tags(doomed="yes")})
mv_create("rmd-v1", RD, SRC1, run_id="{run1}")
mv_create("rmd-v2", RD, "models:/{m1}", model_id="{m1}")
set_alias("rmd-alias", RD, "best", "2")
delete("rmd-delete", "/registered-models/delete", {"name": RD})
rm_get("rmd-get", RD)
mv_get("rmd-get-version", RD, "1")
get_alias("rmd-get-alias", RD, "best")
mv_search("rmd-search-versions", [["filter", f"name = '{RD}'"]])
get("rmd-logged-model-tag-kept", "/logged-models/{m1}", note="the logged model's tag is not cleaned up")
delete("rmd-delete-again", "/registered-models/delete", {"name": RD})
delete("rmd-delete-missing-name", "/registered-models/delete", {})
post("rmd-recreate", "/registered-models/create", {"name": RD})
mv_create("rmd-recreate-v1", RD, SRC2, run_id="{run2}", note="numbering starts again at 1")
get_alias("rmd-recreate-alias-gone", RD, "best")

# ---------------------------------------------------------------------------------------
# Search registered models (GET; the prompt my-prompt is hidden by default)
# Models now: Reg-Gamma, ajax-model, my-prompt (prompt), other_model, reg-alpha,
#             reg-beta-renamed, to-delete
# ---------------------------------------------------------------------------------------
rm_search("rms-default", note="name ASC, byte order (upper case first); prompts hidden")
rm_search("rms-name-eq", [["filter", f"name = '{RA}'"]])
rm_search("rms-name-neq", [["filter", f"name != '{RA}'"]])
rm_search("rms-name-like", [["filter", "name LIKE 'reg-%'"]], note="LIKE is case-sensitive")
rm_search("rms-name-ilike", [["filter", "name ILIKE 'reg-%'"]])
rm_search("rms-name-in", [["filter", f"name IN ('{RA}', '{RO}', 'nope')"]])
rm_search("rms-name-not-in", [["filter", f"name NOT IN ('{RA}', '{RO}')"]])
rm_search("rms-tag-eq", [["filter", "tags.team = 'red'"]])
rm_search("rms-tag-backticks-like", [["filter", "tags.`team` LIKE '%e%'"]])
rm_search("rms-tag-and-name", [["filter", "tags.team != 'red' AND name ILIKE '%gamma'"]])
rm_search("rms-client3-clause", [["filter", CLIENT3_CLAUSE]],
          note="the 3.x client's default filter: models without the tag match")
rm_search("rms-client3-clause-and-name", [["filter", f"name LIKE 'reg%' AND {CLIENT3_CLAUSE}"]])
rm_search("rms-prompts-only", [["filter", f"tags.`{PROMPT_TAG}` = 'true'"]])
rm_search("rms-prompts-neq-false", [["filter", f"tags.`{PROMPT_TAG}` != 'false'"]])
rm_search("rms-prompt-eq-false", [["filter", f"tags.`{PROMPT_TAG}` = 'false'"]])
rm_search("rms-prompt-by-name-hidden", [["filter", f"name = '{PR}'"]])
rm_search("rms-order-name-desc", [["order_by", "name DESC"]])
rm_search("rms-order-timestamp-desc", [["order_by", "timestamp DESC"]],
          note="'timestamp' orders by last_updated_timestamp")
rm_search("rms-order-last-updated-asc", [["order_by", "last_updated_timestamp ASC"]])
rm_search("rms-order-creation-timestamp", [["order_by", "creation_timestamp DESC"]],
          note="not a valid registered-model order key")
rm_search("rms-order-two-keys", [["order_by", "last_updated_timestamp DESC"], ["order_by", "name ASC"]])
rm_search("rms-order-invalid", [["order_by", "bogus"]])
rm_search("rms-order-duplicate", [["order_by", "name"], ["order_by", "name DESC"]],
          note="MlflowException without an error code: 500 INTERNAL_ERROR")
rm_search("rms-order-bad-direction", [["order_by", "name UP"]])
rm_search("rms-max-results-1000", [["max_results", "1000"]])
rm_search("rms-max-results-1001", [["max_results", "1001"]])
rm_search("rms-max-results-0", [["max_results", "0"]], note="no models, but a next_page_token (offset 0)")
rm_search("rms-max-results-negative", [["max_results", "-1"]], note="no models, token with offset -1")
rm_search("rms-max-results-not-int", [["max_results", "abc"]])
rm_search("rms-page-1", [["max_results", "2"]], capture={"rm_tok1": "next_page_token"})
rm_search("rms-page-2", [["max_results", "2"], ["page_token", "{rm_tok1}"]], capture={"rm_tok2": "next_page_token"})
rm_search("rms-page-3-last", [["max_results", "2"], ["page_token", "{rm_tok2}"]])
rm_search("rms-page-token-garbage", [["page_token", "garbage"]])
rm_search("rms-page-token-not-json", [["page_token", "eyJvZmZzZXQiOiA="]])
rm_search("rms-bad-filter", [["filter", "name ="]])
rm_search("rms-unknown-attribute", [["filter", "foo = 'x'"]])
rm_search("rms-invalid-comparator", [["filter", "name > 'a'"]])
rm_search("rms-tag-invalid-comparator", [["filter", "tags.team IN ('red')"]])
rm_search("rms-or", [["filter", f"name = '{RA}' OR name = '{RO}'"]])
get("rms-ajax", AJAX + "/registered-models/search", [["filter", "name LIKE 'reg%'"]])
post("rms-wrong-method", "/registered-models/search", {})

# ---------------------------------------------------------------------------------------
# Search model versions (GET; default order last_updated_timestamp DESC, name, version DESC)
# ---------------------------------------------------------------------------------------
mv_search("mvs-default")
mv_search("mvs-name-eq", [["filter", f"name = '{RA}'"]])
mv_search("mvs-name-in", [["filter", f"name IN ('{RA}', '{RO}')"]])
mv_search("mvs-name-like", [["filter", "name LIKE 'reg-%'"]])
mv_search("mvs-name-ilike", [["filter", "name ILIKE 'REG-%'"]])
mv_search("mvs-run-id-eq", [["filter", "run_id = '{run2}'"]])
mv_search("mvs-run-id-in", [["filter", "run_id IN ('{run1}', '{run2}')"]])
mv_search("mvs-version-gt", [["filter", f"name = '{RA}' AND version_number > 1"]])
mv_search("mvs-version-ge", [["filter", "version_number >= 3"]])
mv_search("mvs-version-eq", [["filter", "version_number = 1"]])
mv_search("mvs-version-lt", [["filter", f"name = '{RA}' AND version_number < 3"]])
mv_search("mvs-version-quoted", [["filter", "version_number = '1'"]])
mv_search("mvs-version-float", [["filter", "version_number = 1.5"]])
mv_search("mvs-version-like", [["filter", "version_number LIKE '1%'"]])
mv_search("mvs-source-path-eq", [["filter", f"source_path = 'runs:/{{run1}}/model'"]])
mv_search("mvs-source-path-like", [["filter", "source_path LIKE 'models:/%'"]])
mv_search("mvs-source-path-in", [["filter", "source_path IN ('x')"]])
mv_search("mvs-tag-eq", [["filter", "tags.quality = 'good'"]])
mv_search("mvs-tag-like-and-name", [["filter", f"tags.validated LIKE 'n%' AND name = '{RA}'"]])
mv_search("mvs-prompt-default-hidden", [["filter", f"name = '{PR}'"]])
mv_search("mvs-prompts-only", [["filter", f"tags.`{PROMPT_TAG}` = 'true'"]])
mv_search("mvs-client3-clause", [["filter", f"name = '{RA}' AND {CLIENT3_CLAUSE}"]])
mv_search("mvs-order-version-asc", [["filter", f"name = '{RA}'"], ["order_by", "version_number ASC"]])
mv_search("mvs-order-creation-asc", [["order_by", "creation_timestamp ASC"]])
mv_search("mvs-order-last-updated-asc", [["order_by", "last_updated_timestamp ASC"]])
mv_search("mvs-order-name-version", [["order_by", "name DESC"], ["order_by", "version_number ASC"]])
mv_search("mvs-order-invalid", [["order_by", "run_id"]])
mv_search("mvs-order-duplicate", [["order_by", "name"], ["order_by", "name DESC"]],
          note="MlflowException without an error code: 500 INTERNAL_ERROR")
mv_search("mvs-max-results-200000", [["max_results", "200000"], ["filter", f"name = '{RO}'"]])
mv_search("mvs-max-results-200001", [["max_results", "200001"]])
mv_search("mvs-max-results-0", [["max_results", "0"]])
mv_search("mvs-page-1", [["max_results", "3"]], capture={"mv_tok1": "next_page_token"})
mv_search("mvs-page-2", [["max_results", "3"], ["page_token", "{mv_tok1}"]], capture={"mv_tok2": "next_page_token"})
mv_search("mvs-page-3", [["max_results", "3"], ["page_token", "{mv_tok2}"]], capture={"mv_tok3": "next_page_token"})
mv_search("mvs-page-4-last", [["max_results", "3"], ["page_token", "{mv_tok3}"]])
mv_search("mvs-page-token-garbage", [["page_token", "garbage"]])
mv_search("mvs-unknown-attribute", [["filter", "status = 'READY'"]])
mv_search("mvs-bad-filter", [["filter", "name = 'x' AND"]], note="a trailing AND is accepted")
mv_search("mvs-tag-invalid-comparator", [["filter", "tags.k > 'a'"]])
get("mvs-ajax", AJAX + "/model-versions/search", [["filter", f"name = '{RO}'"]])
post("mvs-wrong-method", "/model-versions/search", {})

# final state
rm_get("final-rm-alpha", RA)
rm_get("final-rm-gamma", RG)
rm_get("final-rm-prompt", PR)
get("final-logged-model-1", "/logged-models/{m1}")
