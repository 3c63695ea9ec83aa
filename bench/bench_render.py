"""Rendering and counting parts for 10,000 personalised messages (target: ≤ 0.2 s). No database.

Compile the template once, render it for each recipient with their own variables, fields and name,
and analyze each result (encoding, length, parts). Side by side, the same 10,000 messages built
with plain str.format (no missing-value tracking, no defaults, no encoding analysis) as a floor.
The bench exits non-zero when no time was measured or a message has no part, and in a full run over
the target. `--quick` (CI): 2,000 messages, the target not enforced.
"""

from __future__ import annotations

import argparse
import sys

from common import Verdict, quick_option, report, timed

from templates_app.encoding import analyze, optimize_text
from templates_app.rendering import compile_template

COUNT = 10_000
QUICK_COUNT = 2_000
TARGET_SECONDS = 0.2
CONTENT = (
    "Hi {{first_name|there}}, your order {{order_id}} of {{amount}} UGX is ready at {{branch|our shop}}. "
    "Show code {code} at the counter. Questions? Call @fields.hotline. Reply STOP to opt out."
)
FORMAT = (
    "Hi {first_name}, your order {order_id} of {amount} UGX is ready at {branch}. "
    "Show code {code} at the counter. Questions? Call {hotline}. Reply STOP to opt out."
)
# Mostly GSM names; ş and ë make a message UCS-2, as real contact lists do now and then.
FIRST_NAMES = ["Ann", "Bosco", "Chloé", "Dembe", "", "Esther", "Fatuma", "Jürgen", "Ayşe", "Zoë"]


def recipients(count: int = COUNT) -> list[dict[str, object]]:
    people = []
    for i in range(count):
        first_name = FIRST_NAMES[i % len(FIRST_NAMES)]
        variables = {"order_id": f"A{100000 + i}", "amount": f"{(i * 7919) % 500000:,}", "code": f"{i:06d}"}
        if i % 3:
            variables["branch"] = f"Branch {i % 40}"
        if i % 5 == 0:  # a longer branch name pushes these messages to two parts
            variables["branch"] = f"the Kampala Road branch, ground floor, next to the {{main}} entrance ({i % 40})"
        people.append(
            {
                "variables": variables,
                "fields": {"hotline": "+256 700 000 000"},
                "first_name": first_name,
                "last_name": "Okello",
                "phone": f"+2567{i:08d}",
            }
        )
    return people


def run_herald(people: list[dict[str, object]]) -> tuple[int, int]:
    template = compile_template(CONTENT)
    segments = missing = 0
    for person in people:
        rendered = template.render(**person)
        segments += analyze(rendered.text).segments
        missing += bool(rendered.missing)
    return segments, missing


def run_format(people: list[dict[str, object]]) -> int:
    total = 0
    for person in people:
        variables: dict[str, str] = person["variables"]
        text = FORMAT.format_map(
            {
                "branch": "our shop",
                **variables,
                "first_name": person["first_name"] or "there",
                "hotline": person["fields"]["hotline"],
            }
        )
        total += len(text)
    return total


def run_optimize(people: list[dict[str, object]]) -> int:
    template = compile_template(CONTENT.replace("ready", "ready \u2014 it\u2019s"))
    changed = 0
    for person in people:
        text = template.render(**person).text
        changed += optimize_text(text) != text
    return changed


def main() -> int:
    parser = argparse.ArgumentParser()
    quick_option(parser)
    args = parser.parse_args()
    verdict = Verdict("render", quick=args.quick)
    count = QUICK_COUNT if args.quick else COUNT
    people = recipients(count)
    herald_s, (segments, with_missing) = timed(lambda: run_herald(people), repeat=5)
    format_s, _ = timed(lambda: run_format(people), repeat=5)
    optimize_s, changed = timed(lambda: run_optimize(people), repeat=3)
    herald_s = verdict.seconds(herald_s, "rendering")
    verdict.seconds(format_s, "str.format")
    verdict.possible(segments >= count, f"{segments} parts for {count} messages")
    verdict.target(herald_s <= TARGET_SECONDS, f"{count:,} messages took {herald_s:.3f} s > {TARGET_SECONDS} s")
    report(
        "render_and_count",
        mode=verdict.mode,
        messages=count,
        seconds=f"{herald_s:.4f}",
        per_message_us=f"{herald_s / count * 1e6:.1f}",
        target_seconds=TARGET_SECONDS,
        total_segments=segments,
        with_missing=with_missing,
    )
    report(
        "baseline_str_format",
        messages=count,
        seconds=f"{format_s:.4f}",
        ratio=f"{herald_s / format_s:.1f}x",
    )
    report(
        "render_and_smart_encode",
        messages=count,
        seconds=f"{optimize_s:.4f}",
        per_message_us=f"{optimize_s / count * 1e6:.1f}",
        optimized=changed,
    )
    verdict.done()
    return 0


if __name__ == "__main__":
    sys.exit(main())
