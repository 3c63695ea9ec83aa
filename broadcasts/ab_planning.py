"""Planning an A/B test (SPEC §8 "Campaigns"): who gets which variant, and what the rest costs.

The audience is split deterministically at random: each chunk's recipients are ordered by a hash of
the broadcast id (the seed) and their URN, and the variants take their share of everyone seen so far
(largest remainders, so each sample is its share of the audience to within one recipient, however
the audience is chunked); the rest takes what is left. A sample's messages carry `variant` (the
index) and go like any message. The rest is planned with, per recipient, the variant that costs it
the most (variants can differ in encoding and parts), so the reservation covers whichever wins;
its messages wait (`pending`, `wait_reason` `ab_test`, `not_before` the decision time) and no claim
takes them (claims.py) until services/ab_test.py renders them with the winner and releases them.
With shares summing to 100 there is no rest: every variant stands alone.

A split in `winner` mode plans every recipient with that one variant: the decision's re-render.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from templates_app.rendering import CompiledTemplate

from .ab_fields import ABSpec
from .audience import Target
from .models import Message
from .planning import Planner, Row
from .states import WAIT_AB_TEST

M = Message.Status
Versions = dict[str, CompiledTemplate]


@dataclass
class GroupTally:
    """What one variant's sample (or the rest) holds: for the precheck and the create."""

    recipients: int = 0
    segments: int = 0
    cost: Decimal = field(default_factory=Decimal)

    def add(self, rows: Sequence[Row]) -> None:
        for row in rows:
            if row.status in (M.QUEUED, M.PENDING):
                self.recipients += 1
                self.segments += row.segments
                self.cost += row.cost

    def as_dict(self) -> dict[str, Any]:
        return {"recipients": self.recipients, "segments": self.segments, "cost": self.cost}


def order_key(seed: str, urn: str) -> bytes:
    return hashlib.blake2b(f"{seed}:{urn}".encode(), digest_size=8).digest()


class VariantSplit:
    """Set on a PlanContext (`split`); Planner.plan_chunk hands each chunk to it."""

    def __init__(self, *, spec: ABSpec, versions: list[Versions], seed: str = "") -> None:
        self.spec = spec
        self.versions = versions
        self.seed = seed
        self.winner: int | None = None  # set: every recipient gets this variant (the decision)
        self.rest_not_before: datetime | None = None  # the rest's not_before (the decision time)
        self.seen = 0
        self.assigned = [0] * len(versions)
        self.tallies = [GroupTally() for _ in versions]
        self.rest = GroupTally()
        self.latest_sample_at: datetime | None = None  # the last sample's planned time (quiet hours)
        self._shadow: Planner | None = None

    def variables(self) -> set[str]:
        return {name for versions in self.versions for v in versions.values() for name in v.variables}

    # --- assignment ---------------------------------------------------------------------------

    def _quotas(self, total: int) -> list[int]:
        """How many of the first `total` eligible recipients each variant's sample holds."""
        shares = [v.share for v in self.spec.variants]
        exact = [Decimal(total) * share / 100 for share in shares]
        quotas = [int(value) for value in exact]
        target = total if self.spec.split_only else int(Decimal(total) * sum(shares) / 100)
        by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - quotas[i]), i))
        for index in by_remainder[: max(0, target - sum(quotas))]:
            quotas[index] += 1
        return quotas

    def assign(self, targets: Sequence[Target], skip_opted_out: bool) -> tuple[list[list[Target]], list[Target]]:
        """(each variant's sample, the rest) of a chunk; recipients that will be skipped anyway go to
        the rest, unassigned (they take no share)."""
        eligible = [t for t in targets if not t.skip and not (t.opted_out and skip_opted_out)]
        eligible.sort(key=lambda t: order_key(self.seed, t.urn))
        self.seen += len(eligible)
        quotas = self._quotas(self.seen)
        samples: list[list[Target]] = []
        start = 0
        for index, quota in enumerate(quotas):
            take = max(0, quota - self.assigned[index])
            samples.append(eligible[start : start + take])
            self.assigned[index] += len(samples[-1])
            start += take
        taken = {id(t) for sample in samples for t in sample}
        return samples, [t for t in targets if id(t) not in taken]

    # --- planning -----------------------------------------------------------------------------

    def _plan(self, planner: Planner, versions: Versions, targets: Sequence[Target]) -> list[Row]:
        if not targets:
            return []
        kept = planner.ctx.versions
        planner.ctx.versions = versions
        try:
            return planner.plan_rows(targets)
        finally:
            planner.ctx.versions = kept

    def _costliest(self, planner: Planner, targets: list[Target]) -> list[int]:
        """For each target, the variant whose message costs it the most (ties: the first)."""
        if self._shadow is None:
            self._shadow = Planner(planner.ctx)  # its own totals: measuring counts nothing
        costs = [[row.cost for row in self._plan(self._shadow, versions, targets)] for versions in self.versions]
        return [max(range(len(costs)), key=lambda i: (costs[i][slot], -i)) for slot in range(len(targets))]

    def plan_chunk(self, planner: Planner, targets: Sequence[Target]) -> list[Row]:
        if self.winner is not None:
            return self._plan(planner, self.versions[self.winner], targets)
        samples, rest = self.assign(targets, planner.request.skip_opted_out)
        out: list[Row] = []
        for index, sample in enumerate(samples):
            rows = self._plan(planner, self.versions[index], sample)
            for row in rows:
                row.variant = index
                if row.not_before is not None and row.status == M.PENDING:
                    latest = self.latest_sample_at
                    self.latest_sample_at = row.not_before if latest is None else max(latest, row.not_before)
            self.tallies[index].add(rows)
            out.extend(rows)
        if not rest:
            return out
        if self.spec.split_only:
            # Only recipients that are skipped anyway are left: planned for their skip reason.
            out.extend(self._plan(planner, self.versions[0], rest))
            return out
        by_variant: dict[int, list[Target]] = {}
        for target, index in zip(rest, self._costliest(planner, rest), strict=True):
            by_variant.setdefault(index, []).append(target)
        for index, group in sorted(by_variant.items()):
            rows = self._plan(planner, self.versions[index], group)
            for row in rows:
                if row.status in (M.QUEUED, M.PENDING):
                    row.status, row.not_before, row.wait_reason = M.PENDING, self.rest_not_before, WAIT_AB_TEST
                # Its short links are recorded with the winner's text, at the decision: none now, so
                # each link counts only the recipients who get it (its codes here are never sent).
                row.links = None
            self.rest.add(rows)
            out.extend(rows)
        return out

    def precheck(self) -> dict[str, Any]:
        """The precheck's `variants` breakdown: each sample at its own variant, the rest at the
        costliest (what is reserved)."""
        return {
            "ab_test": self.spec.ab_test_json(),
            "variants": [
                {"variant": index, "share": variant.as_json()["share"], **tally.as_dict()}
                for index, (variant, tally) in enumerate(zip(self.spec.variants, self.tallies, strict=True))
            ],
            "rest": None if self.spec.split_only else self.rest.as_dict(),
        }
