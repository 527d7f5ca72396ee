#!/usr/bin/env python3
"""Replay the recorded MLflow conformance cases against another server and diff the answers.

    python compare.py --url http://127.0.0.1:5000 [--fixture mlflow-3.17.2.json]
                      [--hard-only] [--only REGEX] [--rewrite OLD=NEW]
    python compare.py --url ... --fixture mlflow-3.17.2-artifacts.json   # artifacts + logged models
    python compare.py --url ... --fixture mlflow-3.17.2-registry.json    # model registry

The target server must be fresh (empty store, only the Default experiment). Requests are
rebuilt from the recorded templates, with the target's own captured ids substituted.

Both sides are normalised before comparing (see `Normaliser`): captured ids and random run
names become "<var:NAME>", any other 32-hex id "<hex32>", "now" timestamps "<now>",
next_page_token values "<page-token>", Python set literals in messages are sorted.

Mismatch classes (`Mismatch.kind`), with their severity:
  status, error_code, error_fields, body, capture, transport    hard
  content_type    hard if JSON-ness differs, soft otherwise (text/plain vs text/html)
  message         soft  (error message text, after normalisation)
  header          soft  (Allow on 405)
  text            hard for text/plain bodies, skipped for HTML error pages; soft with soft_body

A recording may carry "options" (written by capture.py from the cases module's OPTIONS);
the tracking recording has none, so all of the following is off for it:
  recorded_headers      response headers recorded and compared (default: allow)
  hard_headers          those of them whose differences are hard (default: none)
  strict_content_type   a differing Content-Type is hard for every status < 400 response
  random_name_keys      keys whose server-chosen adjective-noun-NNN values are normalised
                        (default: run_name)
  json_string_tags      tag keys whose values are JSON text: compared as parsed, key order free
  normalise_base_url    the server's own base URL becomes "<base-url>" in strings, headers
                        and text bodies (redirect Location headers, HTML redirect pages)
  unordered_list_keys   further keys whose lists are compared as multisets wherever they
                        appear (besides tags, params, ...), e.g. latest_versions, aliases
  message_redactions    [[regex, replacement], ...] applied to error messages on both sides,
                        for server-local text such as the backend store path or the server's
                        working directory
Error bodies of the form {"detail": "..."} (FastAPI's own errors) are compared like error
bodies: the key set is hard, the text soft.

Exit status: 0 when there is no mismatch (no hard one with --hard-only), 1 otherwise.
From pytest: `mismatches = compare.run(url)` or
`compare.run(url, fixture="mlflow-3.17.2-artifacts.json")` (or "mlflow-3.17.2-registry.json").
"""

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from capture import DEFAULT_FIXTURE, RECORDED_HEADERS, execute_cases  # noqa: E402

HEX32 = re.compile(r"\b[0-9a-f]{32}\b")
RANDOM_RUN_NAME = re.compile(r"^[a-z]+-[a-z]+-\d{1,3}$")
NOWISH_IN_TEXT = re.compile(r"\b1\d{12}\b")
PY_SET_LITERAL = re.compile(r"\{('[^'{}]*'(?:, '[^'{}]*')*)\}")
# where an experiment id can appear inside an error message
EXP_ID_IN_TEXT = re.compile(r"(?i)((?:experiment(?: with id)?|id)[ =]|ID ')(\d+)\b")
ID_KEYS = {"experiment_id", "experiment_ids", "run_id", "run_uuid"}
URI_KEYS = {"artifact_location", "artifact_uri", "root_uri"}
UNORDERED_LIST_KEYS = {"tags", "params", "dataset_inputs", "model_inputs"}
NOW_MARGIN_MS = 5 * 60 * 1000
MAX_PER_CASE = 15


@dataclass
class Mismatch:
    case: str
    kind: str
    severity: str  # "hard" | "soft"
    detail: str
    path: str = ""
    expected: object = None
    actual: object = None

    def __str__(self):
        where = f" at {self.path}" if self.path else ""
        s = f"[{self.severity} {self.kind}]{where} {self.detail}"
        if self.expected is not None or self.actual is not None:
            s += f"\n      expected: {_short(self.expected)}\n      actual:   {_short(self.actual)}"
        return s


def _short(v, limit=300):
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)
    s = s.replace("\n", "\\n")
    return s if len(s) <= limit else s[:limit] + f"... ({len(s)} chars)"


# --------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------
@dataclass
class Normaliser:
    vars: dict
    window: tuple  # (lo_ms, hi_ms) of the run that produced the responses
    token_vars: set = field(default_factory=set)
    rewrite: list = field(default_factory=list)  # [(old, new)] applied to raw strings first
    random_name_keys: tuple = ("run_name",)
    json_string_tags: tuple = ()
    base_url: str = ""  # with normalise_base_url: replaced by "<base-url>" everywhere
    unordered_keys: tuple = ()  # unordered_list_keys: compared as multisets, like tags
    redactions: tuple = ()  # message_redactions: (regex, replacement) pairs for messages

    def __post_init__(self):
        if self.base_url:
            self.rewrite = list(self.rewrite) + [(self.base_url, "<base-url>")]
        items = [(k, v) for k, v in self.vars.items() if isinstance(v, str) and k not in self.token_vars]
        self.digit = {v: k for k, v in items if v.isdigit()}
        self.exact = {v: k for k, v in items}
        self.substr = sorted(((v, k) for k, v in items if not v.isdigit() and len(v) >= 6),
                             key=lambda x: -len(x[0]))

    def _now(self, n):
        lo, hi = self.window
        return lo - NOW_MARGIN_MS <= n <= hi + NOW_MARGIN_MS

    def text(self, s, key=None):
        for old, new in self.rewrite:
            s = s.replace(old, new)
        if key == "next_page_token":
            return "<page-token>"
        if s in self.exact and (not s.isdigit() or key in ID_KEYS):
            return f"<var:{self.exact[s]}>"
        for val, name in self.substr:
            if val in s:
                s = s.replace(val, f"<var:{name}>")
        s = HEX32.sub("<hex32>", s)
        if key in URI_KEYS:
            s = re.sub(r"(?<=[:/])(\d+)(?=/|$)",
                       lambda m: f"<var:{self.digit[m.group(1)]}>" if m.group(1) in self.digit else m.group(1), s)
        if key in self.random_name_keys and RANDOM_RUN_NAME.match(s):
            return "<random-run-name>"
        if key == "message":
            for pattern, replacement in self.redactions:
                s = re.sub(pattern, replacement, s)
            s = EXP_ID_IN_TEXT.sub(
                lambda m: m.group(1) + (f"<var:{self.digit[m.group(2)]}>" if m.group(2) in self.digit else m.group(2)), s)
            s = NOWISH_IN_TEXT.sub(lambda m: "<now>" if self._now(int(m.group(0))) else m.group(0), s)
            s = PY_SET_LITERAL.sub(lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", s)
        return s

    def header(self, h):
        """A recorded header value, with the base-URL rewrite applied."""
        if isinstance(h, str) and self.base_url:
            h = h.replace(self.base_url, "<base-url>")
        return h

    def body_text(self, b):
        """A non-JSON body: text gets the base-URL rewrite; bytes bodies are kept as they are."""
        return self.header(b) if isinstance(b, str) else b

    def value(self, v, key=None, parent_key=None):
        if isinstance(v, dict):
            out = {k: self.value(x, k, key) for k, x in v.items()}
            if out.get("key") == "mlflow.runName" and isinstance(out.get("value"), str) \
                    and RANDOM_RUN_NAME.match(out["value"]):
                out["value"] = "<random-run-name>"
            if self.json_string_tags and out.get("key") in self.json_string_tags \
                    and isinstance(v.get("value"), str):
                try:
                    parsed = json.loads(v["value"])
                except ValueError:
                    pass
                else:
                    out["value"] = "<json>" + json.dumps(self.value(parsed), sort_keys=True)
            return out
        if isinstance(v, list):
            out = [self.value(x, key, parent_key) for x in v]
            if key in UNORDERED_LIST_KEYS or key in self.unordered_keys \
                    or (key == "metrics" and parent_key == "data"):
                out.sort(key=lambda x: json.dumps(x, sort_keys=True))
            return out
        if isinstance(v, str):
            return self.text(v, key)
        if isinstance(v, int) and not isinstance(v, bool) and self._now(v):
            return "<now>"
        return v


# --------------------------------------------------------------------------------------
# Structural diff
# --------------------------------------------------------------------------------------
def _kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if v is None:
        return "null"
    return type(v).__name__


def _canon(v):
    return json.dumps(v, sort_keys=True)


def _label(v):
    """A short name for a list element, for order reports."""
    if isinstance(v, dict):
        info = v.get("info") if isinstance(v.get("info"), dict) else v
        for k in ("run_name", "name", "key"):
            if k in info:
                extra = f"@{info['step']}" if "step" in info else ""
                return f"{info[k]}{extra}"
    return _short(v, 60)


def diff(expected, actual, path="$"):
    """Yield (path, expected, actual, why) for every difference."""
    ke, ka = _kind(expected), _kind(actual)
    if ke != ka:
        yield path, expected, actual, f"type {ke} vs {ka}"
        return
    if isinstance(expected, dict):
        for k in expected:
            if k not in actual:
                yield f"{path}.{k}", expected[k], None, "missing key"
        for k in actual:
            if k not in expected:
                yield f"{path}.{k}", None, actual[k], "unexpected key"
        for k in expected:
            if k in actual:
                yield from diff(expected[k], actual[k], f"{path}.{k}")
    elif isinstance(expected, list):
        if len(expected) != len(actual):
            yield path, len(expected), len(actual), "list length"
        elif expected != actual and sorted(map(_canon, expected)) == sorted(map(_canon, actual)):
            yield path, [_label(x) for x in expected], [_label(x) for x in actual], "same elements, different order"
            return
        for i, (e, a) in enumerate(zip(expected, actual)):
            yield from diff(e, a, f"{path}[{i}]")
    elif expected != actual and not (expected != expected and actual != actual):  # NaN == NaN here
        yield path, expected, actual, "value"


def _mime(ct):
    return (ct or "").split(";")[0].strip().lower()


def _is_detail_body(r):
    """FastAPI's own error body: {"detail": "..."}."""
    return (r["body_kind"] == "json" and isinstance(r["body"], dict) and set(r["body"]) == {"detail"}
            and (r["status"] or 0) >= 400)


def compare_case(rec, act, norm_rec, norm_act, soft_body=False, unordered=(), options=None):
    """Compare one recorded response with one actual response; return [Mismatch]."""
    options = options or {}
    hard_headers = set(options.get("hard_headers", ()))
    strict_ct = options.get("strict_content_type", False)
    name = rec["name"]
    e, a = rec["response"], act["response"]
    out = []

    def add(kind, severity, detail, path="", expected=None, actual=None):
        out.append(Mismatch(name, kind, severity, detail, path, expected, actual))

    if a["status"] is None:
        add("transport", "hard", a["body"])
        return out
    e_err = e["body_kind"] == "json" and isinstance(e["body"], dict) and "error_code" in e["body"]
    a_err = a["body_kind"] == "json" and isinstance(a["body"], dict) and "error_code" in a["body"]
    if e["status"] != a["status"]:
        summary = a["body"] if a["body_kind"] == "json" else f"({_mime(a['content_type'])}) {a['body']}"
        add("status", "hard", f"HTTP {e['status']} expected, got {a['status']}",
            expected=e["body"] if e_err else None, actual=summary)

    # content type: JSON vs not JSON is part of the contract; the exact text/* flavour is not.
    if (e["body_kind"] == "json") != (a["body_kind"] == "json"):
        add("content_type", "hard", "JSON-ness of the body differs",
            expected=e["content_type"], actual=a["content_type"])
        return out
    if _mime(e["content_type"]) != _mime(a["content_type"]):
        sev = "hard" if e["body_kind"] == "json" or (strict_ct and e["status"] < 400) else "soft"
        add("content_type", sev, "Content-Type differs", expected=e["content_type"], actual=a["content_type"])

    eh, ah = e.get("headers", {}), a.get("headers", {})
    for h in set(eh) | set(ah):
        if h == "allow":
            ev = {x.strip() for x in eh.get(h, "").split(",") if x.strip()}
            av = {x.strip() for x in ah.get(h, "").split(",") if x.strip()}
        else:
            ev, av = (norm_rec.header(eh.get(h)), norm_act.header(ah.get(h)))
        if ev != av:
            add("header", "hard" if h in hard_headers else "soft", f"header {h} differs",
                expected=eh.get(h), actual=ah.get(h))

    if e["body_kind"] != "json":
        if e["status"] >= 400 and _mime(e["content_type"]) == "text/html":
            return out  # framework error page; only status and non-JSON-ness matter
        if norm_rec.body_text(e["body"]) != norm_act.body_text(a["body"]):
            add("text", "soft" if soft_body else "hard", "body text differs",
                expected=e["body"], actual=a["body"])
        return out

    if _is_detail_body(e):
        if not (isinstance(a["body"], dict) and set(a["body"]) == {"detail"}):
            add("error_code", "hard", "a FastAPI {\"detail\": ...} error body was expected",
                expected=e["body"], actual=a["body"])
        elif norm_rec.value(e["body"]["detail"], "message") != norm_act.value(a["body"]["detail"], "message"):
            add("message", "soft", "detail differs", expected=e["body"]["detail"], actual=a["body"]["detail"])
        return out

    if e_err or a_err:
        if not (e_err and a_err):
            add("error_code", "hard", "one side is an error body, the other is not",
                expected=e["body"], actual=a["body"])
            return out
        eb, ab = e["body"], a["body"]
        if eb["error_code"] != ab["error_code"]:
            add("error_code", "hard", "error_code differs", expected=eb["error_code"], actual=ab["error_code"])
        em = norm_rec.value(eb.get("message"), "message")
        am = norm_act.value(ab.get("message"), "message")
        if em != am:
            add("message", "soft", "message differs", expected=em, actual=am)
        for k in sorted((set(eb) | set(ab)) - {"error_code", "message"}):
            if k not in ab:
                add("error_fields", "hard", f"field {k!r} missing", expected=eb[k])
            elif k not in eb:
                add("error_fields", "hard", f"unexpected field {k!r}", actual=ab[k])
            elif eb[k] != ab[k]:
                add("error_fields", "hard", f"field {k!r} differs", expected=eb[k], actual=ab[k])
        return out

    if e["status"] != a["status"]:
        return out
    en, an = norm_rec.value(e["body"]), norm_act.value(a["body"])
    for k in unordered:
        for side in (en, an):
            if isinstance(side, dict) and isinstance(side.get(k), list):
                side[k] = sorted(side[k], key=lambda x: json.dumps(x, sort_keys=True))
    for path, ev, av, why in diff(en, an):
        add("body", "soft" if soft_body else "hard", why, path, ev, av)
    return out


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------
def load_fixture(path=None):
    p = Path(path or DEFAULT_FIXTURE)
    if not p.exists() and not p.is_absolute() and (HERE / p).exists():
        p = HERE / p  # a bare file name refers to this folder
    return json.loads(p.read_text(encoding="utf-8"))


def _token_vars(fixture):
    return {var for c in fixture["cases"] for var, p in (c.get("capture") or {}).items()
            if p.endswith("next_page_token")}


def stale_cases(fixture):
    """Names of cases whose definition in cases.py differs from the recording (or is new)."""
    try:
        from capture import load_cases_module, template_of
        cases_mod = load_cases_module(fixture.get("cases_module", "cases"))
    except Exception:  # pragma: no cover
        return []
    rec = {c["name"]: c["template"] for c in fixture["cases"]}
    return [c["name"] for c in cases_mod.CASES if rec.get(c["name"]) != template_of(c)]


def run(url, fixture=None, rewrite=(), log=None):
    """Replay every recorded case against `url` (a fresh server). Returns [Mismatch].

    `fixture`: a loaded recording, a path, or None for the tracking recording."""
    fx = fixture if isinstance(fixture, dict) else load_fixture(fixture)
    opts = fx.get("options") or {}
    templates = [{"name": c["name"], "template": c["template"], "capture": c.get("capture")}
                 for c in fx["cases"]]
    results, vars_, started, finished = execute_cases(
        url, templates, log, tuple(opts.get("recorded_headers", RECORDED_HEADERS)))
    tok = _token_vars(fx)
    extra = {"random_name_keys": tuple(opts.get("random_name_keys", ("run_name",))),
             "json_string_tags": tuple(opts.get("json_string_tags", ())),
             "unordered_keys": tuple(opts.get("unordered_list_keys", ())),
             "redactions": tuple(tuple(r) for r in opts.get("message_redactions", ()))}
    nb = bool(opts.get("normalise_base_url"))
    norm_rec = Normaliser(fx["vars"], (fx["started_ms"], fx["finished_ms"]), tok, [], **extra,
                          base_url=fx["server"]["url"].rstrip("/") if nb else "")
    norm_act = Normaliser(vars_, (started, finished), tok, list(rewrite), **extra,
                          base_url=url.rstrip("/") if nb else "")
    mismatches = []
    for rec, act in zip(fx["cases"], results):
        for err in act["capture_errors"]:
            mismatches.append(Mismatch(rec["name"], "capture", "hard", err))
        mismatches.extend(compare_case(rec, act, norm_rec, norm_act, rec.get("soft_body", False),
                                       rec.get("unordered", ()), opts))
    return mismatches


def format_report(mismatches, fixture=None, only=None):
    fx = fixture if isinstance(fixture, dict) else load_fixture(fixture)
    reqs = {c["name"]: c["template"] for c in fx["cases"]}
    lines, by_case = [], {}
    for m in mismatches:
        if only and not re.search(only, m.case):
            continue
        by_case.setdefault(m.case, []).append(m)
    for name, ms in by_case.items():
        t = reqs.get(name, {})
        lines.append(f"FAIL {name}: {t.get('method')} {t.get('path')}")
        lines.extend(f"    {m}" for m in ms[:MAX_PER_CASE])
        if len(ms) > MAX_PER_CASE:
            lines.append(f"    ... and {len(ms) - MAX_PER_CASE} more")
    hard = sum(m.severity == "hard" for m in mismatches)
    soft = len(mismatches) - hard
    nhard = len({m.case for m in mismatches if m.severity == "hard"})
    lines.append(f"\n{len(fx['cases'])} cases; {len(by_case)} cases with mismatches "
                 f"({nhard} with hard ones); {hard} hard, {soft} soft mismatches")
    kinds = {}
    for m in mismatches:
        kinds[(m.severity, m.kind)] = kinds.get((m.severity, m.kind), 0) + 1
    if kinds:
        lines.append("by kind: " + ", ".join(f"{s}/{k}={n}" for (s, k), n in sorted(kinds.items())))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="base URL of a fresh server")
    ap.add_argument("--fixture", default=str(DEFAULT_FIXTURE),
                    help="recording to replay (default: the tracking recording; also "
                         "mlflow-3.17.2-artifacts.json, mlflow-3.17.2-registry.json)")
    ap.add_argument("--hard-only", action="store_true", help="exit 0 when only soft mismatches remain")
    ap.add_argument("--only", help="report only cases whose name matches this regex (all cases still run)")
    ap.add_argument("--rewrite", action="append", default=[], metavar="OLD=NEW",
                    help="replace OLD by NEW in the target's strings before comparing, e.g. "
                         "file:///srv/artifacts=mlflow-artifacts:")
    ap.add_argument("--verbose", action="store_true", help="print each status as it is replayed")
    args = ap.parse_args(argv)

    fx = load_fixture(args.fixture)
    stale = stale_cases(fx)
    if stale:
        print(f"WARNING: {fx.get('cases_module', 'cases')}.py differs from the recording for {len(stale)} case(s), e.g. "
              f"{stale[:5]}; re-run capture.py against MLflow", file=sys.stderr)
    rewrite = [tuple(r.split("=", 1)) for r in args.rewrite]
    log = (lambda n, r, e: print(f"{r['status']} {n}")) if args.verbose else None
    mismatches = run(args.url, fx, rewrite, log)
    print(format_report(mismatches, fx, args.only))
    relevant = [m for m in mismatches if m.severity == "hard"] if args.hard_only else mismatches
    return 1 if relevant else 0


if __name__ == "__main__":
    sys.exit(main())
