#!/usr/bin/env python3
"""Run the conformance cases against a running server and record the responses.

    python capture.py --url http://127.0.0.1:5901 [--out mlflow-3.17.2.json]
    python capture.py --url http://127.0.0.1:5902 --cases cases_artifacts
                                        # -> mlflow-3.17.2-artifacts.json (its FIXTURE)
    python capture.py --url http://127.0.0.1:5903 --cases cases_registry
                                        # -> mlflow-3.17.2-registry.json

The server must be fresh (empty backend store): cases create experiments and runs and
rely on MLflow's sequential experiment ids and default orders. This script starts nothing.
Also the shared runner used by compare.py (`execute_cases`).

A cases module defines `CASES` and may define `FIXTURE` (default output file name),
`SERVER_NOTES` (how the recorded server was started) and `OPTIONS` (stored in the
recording as "options": which response headers to record, and the extra normalisation
and strictness rules compare.py applies for that recording; see compare.py).
"""

import argparse
import base64
import hashlib
import http.client
import importlib
import json
import re
import sys
import time
import urllib.parse
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
DEFAULT_FIXTURE = HERE / "mlflow-3.17.2.json"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
RECORDED_HEADERS = ("allow",)
NONSTANDARD_JSON_PREFIX = "<bare-json-literal>"
# MLflow's default orders depend on millisecond creation times; a short pause between
# requests keeps two creations from sharing a millisecond.
PAUSE_S = 0.004


def now_ms():
    return int(time.time() * 1000)


def substitute(value, vars_):
    """Replace "{name}" by vars_[name] in every string of a JSON-like value.

    Unknown names are left alone (so JSON braces inside raw bodies survive)."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: str(vars_[m.group(1)]) if m.group(1) in vars_ else m.group(0), value)
    if isinstance(value, list):
        return [substitute(v, vars_) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, vars_) for k, v in value.items()}
    return value


def extract(body, dotted):
    cur = body
    for part in dotted.split("."):
        if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


# Request keys of a case, in template order. The last five are used by cases_artifacts.py:
#   raw_b64       binary request body, base64 (sent verbatim, Content-Type from content_type)
#   headers       extra request headers {name: value}
#   verbatim      send path (and any literal "?query" in it) byte for byte with http.client,
#                 so "..", "//", %2e and %252e reach the server unnormalised
#   raw_response  record the response body as bytes: JSON only when the Content-Type says
#                 so; otherwise UTF-8 text, or {"size", "sha256", "b64"} for binary bodies
TEMPLATE_KEYS = ("params", "json", "raw", "content_type",
                 "raw_b64", "headers", "verbatim", "raw_response")


def template_of(case):
    """The request part of a case, placeholders intact."""
    t = {"method": case["method"], "path": case["path"]}
    for k in TEMPLATE_KEYS:
        if k in case:
            t[k] = case[k]
    return t


def load_cases_module(name="cases"):
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module(name)


def bytes_body(data):
    """A binary body as recorded in a fixture."""
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "b64": base64.b64encode(data).decode("ascii")}


class _VerbatimResponse:
    """The subset of requests.Response that send() reads."""

    def __init__(self, status, headers, content):
        self.status_code = status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive get/contains
        self.content = content
        self.text = content.decode("utf-8", errors="replace")


def _send_verbatim(base_url, req, data, headers, timeout):
    u = urllib.parse.urlsplit(base_url)
    target = u.path.rstrip("/") + req["path"]
    if req.get("params"):
        target += ("&" if "?" in target else "?") + urllib.parse.urlencode([tuple(p) for p in req["params"]])
    conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(u.hostname, u.port, timeout=timeout)
    try:
        headers = dict(headers)
        headers.setdefault("User-Agent", "trackway-conformance/1")
        conn.request(req["method"], target, body=data, headers=headers)
        r = conn.getresponse()
        return _VerbatimResponse(r.status, r.headers, r.read())
    finally:
        conn.close()


def send(session, base_url, req, timeout=60, recorded_headers=RECORDED_HEADERS):
    headers = {}
    data = None
    if "json" in req:
        data = json.dumps(req["json"]).encode("utf-8")
        headers["Content-Type"] = "application/json"
    elif "raw" in req or "raw_b64" in req:
        data = req["raw"].encode("utf-8") if "raw" in req else base64.b64decode(req["raw_b64"])
        if req.get("content_type") is not None:
            headers["Content-Type"] = req["content_type"]
    headers.update(req.get("headers") or {})
    if req.get("verbatim"):
        r = _send_verbatim(base_url, req, data, headers, timeout)
    else:
        params = [tuple(p) for p in req.get("params", [])] or None
        r = session.request(req["method"], base_url.rstrip("/") + req["path"], params=params,
                            data=data, headers=headers, timeout=timeout, allow_redirects=False)
    ctype = r.headers.get("Content-Type", "")
    body, kind = r.text, "text"
    if req.get("raw_response"):
        # Artifact downloads: JSON only when the server says so (a downloaded .json file is
        # served as text/plain and must be compared byte for byte).
        if "json" in ctype.lower():
            try:
                body = json.loads(r.content.decode("utf-8"), parse_constant=lambda c: NONSTANDARD_JSON_PREFIX + c)
                kind = "json"
            except ValueError:
                pass
        if kind != "json":
            try:
                body = r.content.decode("utf-8")
            except UnicodeDecodeError:
                body, kind = bytes_body(r.content), "bytes"
    elif "json" in ctype.lower() or r.text[:1] in ("{", "["):
        try:
            # Bare NaN/Infinity (invalid JSON, emitted by some MLflow endpoints) are kept
            # visible, and the fixture stays valid JSON.
            body = json.loads(r.text, parse_constant=lambda c: NONSTANDARD_JSON_PREFIX + c)
            kind = "json"
        except ValueError:
            pass
    return {
        "status": r.status_code,
        "content_type": ctype,
        "headers": {h: r.headers[h] for h in recorded_headers if h in r.headers},
        "body_kind": kind,
        "body": body,
    }


def execute_cases(base_url, templates, log=None, recorded_headers=RECORDED_HEADERS):
    """Run request templates in order. `templates` items: dict(name, template, capture).

    Returns (results, vars, started_ms, finished_ms); each result is
    dict(name, request, response, captured, capture_errors)."""
    session = requests.Session()
    session.headers["User-Agent"] = "trackway-conformance/1"
    vars_ = {}
    results = []
    started = now_ms()
    for item in templates:
        req = substitute(item["template"], vars_)
        try:
            resp = send(session, base_url, req, recorded_headers=recorded_headers)
        except (requests.RequestException, OSError, http.client.HTTPException) as e:  # connection reset and the like
            resp = {"status": None, "content_type": "", "headers": {}, "body_kind": "error",
                    "body": f"{type(e).__name__}: {e}"}
        captured, errors = {}, []
        for var, dotted in (item.get("capture") or {}).items():
            val = extract(resp["body"], dotted) if resp["body_kind"] == "json" else None
            if val is None:
                errors.append(f"capture {var} <- {dotted}: not found")
            else:
                captured[var] = val
                vars_[var] = val
        results.append({"name": item["name"], "request": req, "response": resp,
                        "captured": captured, "capture_errors": errors})
        if log:
            log(item["name"], resp, errors)
        time.sleep(PAUSE_S)
    return results, vars_, started, now_ms()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--cases", default="cases",
                    help="cases module in this folder (default: cases; also: cases_artifacts, "
                         "cases_registry)")
    ap.add_argument("--out", help="output file (default: the module's FIXTURE, else "
                                  f"{DEFAULT_FIXTURE.name})")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    cases_mod = load_cases_module(args.cases)
    options = getattr(cases_mod, "OPTIONS", None)
    out = args.out or str(HERE / getattr(cases_mod, "FIXTURE", DEFAULT_FIXTURE.name))
    recorded_headers = tuple((options or {}).get("recorded_headers", RECORDED_HEADERS))

    names = [c["name"] for c in cases_mod.CASES]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        sys.exit(f"duplicate case names: {sorted(dupes)}")

    templates = [{"name": c["name"], "template": template_of(c), "capture": c.get("capture")}
                 for c in cases_mod.CASES]

    def log(name, resp, errors):
        if not args.quiet:
            print(f"{resp['status']} {name}" + (f"  !! {errors}" if errors else ""))

    base = args.url.rstrip("/")
    version = requests.get(base + "/version", timeout=10).text.strip()
    results, vars_, started, finished = execute_cases(base, templates, log, recorded_headers)

    out_cases = []
    for c, res in zip(cases_mod.CASES, results):
        entry = {"name": c["name"]}
        for k in ("note", "soft_body", "unordered"):
            if k in c:
                entry[k] = c[k]
        entry["template"] = template_of(c)
        entry["request"] = res["request"]
        if c.get("capture"):
            entry["capture"] = c["capture"]
            entry["captured"] = res["captured"]
        entry["response"] = res["response"]
        out_cases.append(entry)

    fixture = {
        "format": 1,
        "server": {"product": "mlflow", "version": version, "url": base,
                   "backend": "sqlite",
                   "notes": getattr(cases_mod, "SERVER_NOTES",
                                    "mlflow server --backend-store-uri sqlite:///m.db --workers 1")},
    }
    if args.cases != "cases":
        fixture["cases_module"] = args.cases
    if options is not None:
        fixture["options"] = options
    fixture.update({
        "started_ms": started,
        "finished_ms": finished,
        "vars": vars_,
        "cases": out_cases,
    })
    Path(out).write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    failed = [r["name"] for r in results if r["capture_errors"]]
    print(f"wrote {out}: {len(out_cases)} cases, server version {version}")
    if failed:
        print(f"WARNING: captures failed in {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
