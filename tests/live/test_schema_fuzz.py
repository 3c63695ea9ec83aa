"""Schemathesis over /api/schema/ against the live stack: zero 5xx, and every answer as the schema says.

Every operation is fuzzed with a key holding every scope (and rate limits high enough not to trip):
schemathesis' examples, coverage (boundary and negative values), fuzzing and stateful phases
(create, then read, update, act on and delete what was created, following the links it infers).
The checks on every answer:

- `not_a_server_error`: never a 5xx, whatever the input;
- `status_code_conformance`: the status is one the operation declares (docs/api.md, "Errors in
  the schema", says how the schema declares each operation's error statuses);
- `response_schema_conformance`, `content_type_conformance` and `response_headers_conformance`:
  the body matches the schema declared for that status, errors included (the SPEC §4 envelope,
  the `Error` component);
- and the API's manners: an undeclared method is 405, a request without the key is 401, a deleted
  object is gone and a created one can be read back.

Not checked: `negative_data_rejection`, since an empty query parameter (`?created_before=`) means
"no filter" and DRF reads a number sent for a string field as its text, both looser than the schema.

Random ids only ever find a 404 and random phone numbers a 400, which would leave the answers
behind them untested; so the fuzzer gets a tenant of its own with a few contacts, lists, templates,
broadcasts and an import made through the API, and their ids, phones and template names are handed
to schemathesis as dictionaries it draws from most of the time (`schemathesis.toml`, written per run).

The seed and the number of examples are fixed, so a failure reproduces; schemathesis prints a curl
command for each. FUZZ_SEED and FUZZ_MAX_EXAMPLES change them for a longer local run, e.g.
`FUZZ_MAX_EXAMPLES=100 pytest tests/live/test_schema_fuzz.py -s`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "response_schema_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "unsupported_method",  # an undeclared method answers 405 (in the envelope)
        "missing_required_header",
        "ignored_auth",  # without the key, 401: authentication is never skipped
        "use_after_free",  # a deleted object answers 404
        "ensure_resource_availability",  # a created object can be read back
    ]
)
SEED = int(os.environ.get("FUZZ_SEED", "20261130"))
# Per operation and phase: about two minutes with 2 workers on 2 cores (some 4,500 requests).
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "30"))
TIMEOUT = 840

# Which dictionary of real values a path's {id} is drawn from.
PATH_IDS = {
    r"^/api/v1/broadcasts/\{id\}/": "broadcast_ids",
    r"^/api/v1/messages/\{id\}/": "message_ids",
    r"^/api/v1/contacts/\{id\}/": "contact_ids",
    r"^/api/v1/contact-lists/\{id\}/": "list_ids",
    r"^/api/v1/contact-imports/\{id\}/": "import_ids",
    r"^/api/v1/templates/\{id\}/": "template_ids",
}
# Body fields and query parameters that name real objects, wherever they occur.
BINDINGS = {
    "body.recipients[*]": "phones",
    "body.contacts[*]": "contact_ids",
    "body.contact_lists[*]": "list_ids",
    "body.exclude_lists[*]": "list_ids",
    "body.lists[*]": "list_ids",
    "body.list": "list_ids",
    "body.template": "template_names",
    "query.broadcast": "broadcast_ids",
    "query.list": "list_ids",
}
REAL_VALUE_PROBABILITY = 0.8


class Api:
    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}{path}", timeout=60, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def results(self, path: str) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = self.call("GET", path)["results"]
        return body


PHONES = ["+256772100001", "+256772100002", "+254712100003", "+12125550106", "+33612100005"]


def fuzz_targets(base_url: str, key: str) -> dict[str, list[Any]]:
    """Real ids, phones and template names for the fuzzer: a few of each, made through the API."""
    api = Api(base_url, key)
    contacts = [
        api.call("POST", "/api/v1/contacts/", json={"phone": phone, "first_name": f"Fuzz {n}"})
        for n, phone in enumerate(PHONES)
    ]
    lists = [api.call("POST", "/api/v1/contact-lists/", json={"name": name}) for name in ("Fuzz A", "Fuzz B")]
    members = {"contacts": [contact["id"] for contact in contacts]}
    api.call("POST", f"/api/v1/contact-lists/{lists[0]['id']}/contacts/", json=members)
    text = "Hi {{first_name|there}}, reply STOP to opt out."  # STOP: French numbers need it
    templates = [
        api.call("POST", "/api/v1/templates/", json={"name": name, "channel": "sms", "content": text})
        for name in ("fuzz_welcome", "fuzz_offer")
    ]
    broadcasts = [
        api.call("POST", "/api/v1/broadcasts/", json={"text": text, **body})
        for body in [
            {"name": "fuzz sent", "recipients": PHONES[:3]},
            {"name": "fuzz draft", "recipients": PHONES, "status": "draft"},
            {"name": "fuzz list", "contact_lists": [lists[0]["id"]]},
        ]
    ]
    messages = api.results(f"/api/v1/messages/?broadcast={broadcasts[0]['id']}")
    csv = "phone,first_name\n" + "".join(f"{phone},Fuzz\n" for phone in PHONES[:3])
    job = api.call("POST", "/api/v1/contact-imports/", files={"file": ("fuzz.csv", csv, "text/csv")})
    return {
        "phones": PHONES,
        "contact_ids": [c["id"] for c in contacts],
        "list_ids": [item["id"] for item in lists],
        "template_ids": [t["id"] for t in templates],
        "template_names": [t["name"] for t in templates],
        "broadcast_ids": [b["id"] for b in broadcasts],
        "message_ids": [m["id"] for m in messages],
        "import_ids": [job["id"]],
    }


def _toml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON strings, numbers and arrays are TOML too


def write_config(path: Path, targets: dict[str, list[Any]]) -> None:
    lines = ["[dictionaries]"]
    lines += [f"{name} = {{ values = {_toml(values)} }}" for name, values in targets.items()]
    lines += ["", "[parameters]"]
    lines += [
        f'"{key}" = {{ dictionary = "{name}", probability = {REAL_VALUE_PROBABILITY} }}'
        for key, name in BINDINGS.items()
    ]
    for regex, name in PATH_IDS.items():
        lines += [
            "",
            "[[operations]]",
            f"include-path-regex = {_toml(regex)}",
            f'parameters = {{ "path.id" = {{ dictionary = "{name}", probability = {REAL_VALUE_PROBABILITY} }} }}',
        ]
    path.write_text("\n".join(lines) + "\n")


def schemathesis_command(base_url: str, key: str, config: Path) -> list[str]:
    return [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/api/schema/",
        "--url",
        base_url,
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: with two, schemathesis' threads parse lambda sources at the same time (Hypothesis
        # describing a strategy), and CPython 3.11.7's ast module keeps its recursion depth in state
        # shared by threads (gh-106905, fixed in 3.11.8): "AST constructor recursion depth mismatch".
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",  # the same seed, the same cases: no examples remembered from an earlier run
        "--no-color",
    ]


def run_fuzz(base_url: str, key: str, workdir: Path) -> tuple[int, str, float]:
    """(exit code, output, seconds) of one schemathesis run against a running Herald."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "schemathesis.toml"
    write_config(config, fuzz_targets(base_url, key))
    started = time.monotonic()
    result = subprocess.run(
        schemathesis_command(base_url, key, config),
        cwd=workdir,  # schemathesis keeps its state in the working directory
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


# CPython 3.11.7's ast module raised this SystemError while Hypothesis described a schemathesis filter
# lambda: a crash of the fuzzer in this interpreter, not a finding about Herald. Seen once in ten
# fresh-clone runs of the live layer with two fuzzing threads (issue 18), then twice in a row in one
# run: its cause is two threads parsing at once (gh-106905), which one worker rules out. The retry
# stays for a machine whose Python has other threads parsing.
INTERPRETER_BUG = "AST constructor recursion depth mismatch"


def test_schema_fuzz_finds_no_server_error_and_no_schema_violation(live, tmp_path):
    # A tenant of its own (every scope, high rate limits): the fuzzer creates, edits and deletes a lot.
    tenant = live.new_tenant("Schema fuzz")
    code, output, elapsed = run_fuzz(live.base_url, tenant.key, tmp_path)
    if code != 0 and INTERPRETER_BUG in output:
        # The same seed again: the cases are the same, so nothing the first run found is skipped. On
        # a tenant of its own: the first run's contacts, lists and templates hold the phones and names
        # the targets are made with (a second POST of them is a 409: what made this retry fail once).
        print(f"\nschemathesis crashed on the interpreter bug ({INTERPRETER_BUG}); running it once more")
        again = live.new_tenant("Schema fuzz, again")
        code, output, elapsed = run_fuzz(live.base_url, again.key, tmp_path / "again")
    start = output.rfind(" SUMMARY ")
    summary = output[output.rfind("\n", 0, start) + 1 :] if start >= 0 else output[-4000:]
    print(f"\nschemathesis (seed {SEED}, at most {MAX_EXAMPLES} examples) in {elapsed:.0f} s:\n{summary}")
    assert code == 0, f"schemathesis found failures:\n{output[-30000:]}\n\nserver log:\n{live.log_tail()}"
