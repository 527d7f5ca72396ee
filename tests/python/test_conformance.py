"""Replays the requests recorded from MLflow 3.17.2's own server (tests/conformance) against
Trackway on each backend and requires the same answers: status, error_code, JSON structure and
values, and (as soft checks) the same messages.

The few places where Trackway answers differently on purpose are listed below with the
reason; everything else must match.
"""
import compare

# (case, kind) -> why Trackway differs from MLflow 3.17.2 there.
DIVERGENCES = {
    # A JSON array body crashes MLflow (500 HTML page); Trackway treats it as an empty request.
    ("post-json-array-body", "status"): "MLflow crashes with an HTML 500",
    ("post-json-array-body", "content_type"): "MLflow crashes with an HTML 500",
    # MLflow stores a metric whose value is "abc" as 0.0 at timestamp 0; Trackway refuses it.
    ("batch-metric-value-string", "status"): "garbage metric values are refused, not stored as 0",
    ("batch-metric-value-string", "error_code"): "garbage metric values are refused, not stored as 0",
    # MLflow writes a bare NaN token, which is not JSON; Trackway writes "NaN" like every other
    # endpoint.
    ("bulk-ajax-legacy", "body"): "bare NaN is not valid JSON",
    # Messages that quote the SQL and driver text of an integrity error in MLflow.
    ("exp-create-duplicate", "message"): "MLflow quotes SQLAlchemy's error text",
    ("ajax-exp-create-duplicate", "message"): "MLflow quotes SQLAlchemy's error text",
    ("exp-create-name-of-deleted", "message"): "MLflow quotes SQLAlchemy's error text",
    ("exp-update-duplicate-name", "message"): "MLflow quotes SQLAlchemy's error text",
    ("run-create-missing-exp", "message"): "MLflow quotes SQLAlchemy's error text",
    # sqlparse splits this garbage into other tokens than Trackway's parser; both refuse it.
    ("sr-garbage", "message"): "tokenisation of an invalid filter differs",
    # Flask's HTML 404/405 pages and their headers; Trackway answers the same status without
    # a JSON body, which is what the client relies on.
    ("version", "content_type"): "MLflow labels the version text/html; Trackway text/plain",
}


# On PostgreSQL, MLflow's schema limits experiment names to 256 characters and tag keys to 250
# (SQLite ignores VARCHAR sizes), so two recorded requests are refused there, by MLflow as by
# Trackway, and the listings made afterwards lack those two entities. These cases may differ on
# PostgreSQL only.
POSTGRES_COLUMN_LIMITS = {
    "exp-create-name-500", "run-create-tag-key-too-long",
    "exp-search-max-results-50000", "exp-search-max-results-numeric-string", "exp-search-get",
    "exp-search-name-neq", "exp-search-tag-is-null", "exp-search-creation-time",
    "exp-search-order-name-asc", "exp-search-order-name-desc", "exp-search-order-creation-asc",
    "exp-search-order-id-desc", "exp-search-view-all", "exp-search-view-active-only",
    "exp-search-view-bogus", "sr-two-experiments", "sr-experiment-ids-string",
    "final-exp-search-all", "final-runs-exp1",
}


def explained(m, postgres):
    if (m.case, m.kind) in DIVERGENCES:
        return True
    # Flask's HTML 405 page and its Allow header; the status matches.
    if (m.case.startswith("wrong-method") or m.case.endswith("-method")) and m.kind in (
        "content_type", "header",
    ):
        return True
    return postgres and m.case in POSTGRES_COLUMN_LIMITS


def test_tracking_matches_mlflow(server):
    postgres = server.backend_uri.startswith("postgresql")
    unexplained = [m for m in compare.run(server.url) if not explained(m, postgres)]
    assert not unexplained, compare.format_report(unexplained)


# Artifact and logged-model recording: (case, kind) -> why Trackway answers differently.
ARTIFACT_DIVERGENCES = {
    # The UI must not offer the AI gateway, which Trackway does not have.
    ("server-info", "body"): "features_enabled.gateway is false",
    ("server-info-ajax", "body"): "features_enabled.gateway is false",
    # MLflow crashes (plain-text or HTML 500); Trackway answers with a JSON error.
    ("ma-put-under-a-file", "content_type"): "MLflow crashes",
    ("ui-get-artifact-no-path", "content_type"): "MLflow crashes with an HTML 400",
    ("lms-page-token-garbage", "status"): "MLflow crashes with an HTML 500",
    ("lms-page-token-garbage", "content_type"): "MLflow crashes with an HTML 500",
    ("lms-unknown-attribute", "status"): "MLflow crashes (AttributeError); Trackway says which key",
    ("lms-unknown-attribute", "error_code"): "MLflow crashes (AttributeError); Trackway says which key",
    ("lms-unknown-attribute", "error_fields"): "MLflow crashes (AttributeError); Trackway says which key",
    # Range requests are answered with the whole file (200), which HTTP allows.
    ("ma-get-range", "status"): "Range is not implemented",
    ("ma-get-range", "text"): "Range is not implemented",
    # Paths MLflow accepts on Linux and Trackway refuses (backslash, NUL, '.' segments), and
    # a DELETE of '//x' that Flask redirects: all are 400 Invalid path here.
    **{(case, kind): "unsafe path refused"
       for case in ("ps-put-backslash", "ps-put-nul", "ps-put-dot-segment", "ps-get-backslash",
                    "ps-get-nul", "ps-get-dot-segment", "ps-list-backslash", "ps-list-nul",
                    "ps-delete-absolute", "ps-delete-backslash", "ps-delete-nul")
       for kind in ("status", "error_code", "error_fields", "content_type", "body")},
    # The root listing after those requests lacks the files MLflow created for them.
    ("ps-list-root-after", "body"): "no files were created for refused paths",
    # MLflow compares a missing dataset digest with NULL and so matches nothing.
    ("lms-datasets-name-only", "body"): "a dataset filter without digest matches by name",
    # Flask's HTML 400 page for a missing parameter; Trackway answers the same status as JSON.
    ("ui-mv-get-artifact-no-path", "content_type"): "MLflow answers with an HTML 400",
}


# The recording was made with a local destination. Object storage has no directories: a PUT
# under an existing file's name succeeds there (as it would for MLflow on S3), so the listings
# made afterwards differ. These cases may differ on S3 only.
OBJECT_STORAGE_SEMANTICS = {"ma-put-under-a-file", "ma-list-dir", "ma-list-file-path"}


def test_artifacts_and_logged_models_match_mlflow(server):
    mismatches = compare.run(server.url, fixture=str(compare.HERE / "mlflow-3.17.2-artifacts.json"))
    on_s3 = server.deployment.bucket is not None
    unexplained = [
        m for m in mismatches
        if m.severity == "hard" and (m.case, m.kind) not in ARTIFACT_DIVERGENCES
        and not (m.case == "ma-post-file" and m.kind in ("content_type", "header"))
        and not (on_s3 and m.case in OBJECT_STORAGE_SEMANTICS)
    ]
    assert not unexplained, compare.format_report(unexplained)


# Registry recording: (case, kind) -> why Trackway answers differently.
REGISTRY_DIVERGENCES = {
    # MLflow's server cannot read a `runs:/` source itself (500); Trackway resolves it through
    # the run's artifact root and serves the file.
    ("mvga-runs-uri", "status"): "runs:/ sources are served",
    ("mvga-runs-uri", "content_type"): "runs:/ sources are served",
    # Flask's HTML 400 page for a missing parameter; Trackway answers the same status as JSON.
    ("mvga-missing-path", "content_type"): "MLflow answers with an HTML 400",
}


def test_registry_matches_mlflow(server):
    mismatches = compare.run(server.url, fixture=str(compare.HERE / "mlflow-3.17.2-registry.json"))
    unexplained = [
        m for m in mismatches
        if m.severity == "hard" and (m.case, m.kind) not in REGISTRY_DIVERGENCES
    ]
    assert not unexplained, compare.format_report(unexplained)
