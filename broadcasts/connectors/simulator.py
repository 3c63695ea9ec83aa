"""The simulator: accepts everything, then reports delivery after `delay` seconds.

Config: `failure_rate` (0–1, default 0) of messages reported failed, `delay` (seconds, default 1),
`seed` (repeatable failures: whether a message fails depends only on seed and message id), and
`read_rate` (0–1, default 0) of delivered messages then reported read. Provider ids are derived from
our message id, so sending a message twice is harmless: the simulator is idempotent.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError

from .base import BaseConnector, OutboundMessage, ReportLater, SendResult, StatusUpdate

PROVIDER_PREFIX = "sim-"


def _fraction(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError({f"config.{key}": [f"{key} must be a number from 0 to 1."]}) from None
    if not 0 <= number <= 1:
        raise ValidationError({f"config.{key}": [f"{key} must be a number from 0 to 1."]})
    return number


class SimulatorConnector(BaseConnector):
    backend = "simulator"
    idempotent = True

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = super().validate_config(config)
        unknown = set(config) - {"failure_rate", "delay", "seed", "read_rate"}
        if unknown:
            raise ValidationError({"config": [f"Unknown simulator settings: {', '.join(sorted(unknown))}."]})
        delay = config.get("delay", 1)
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= 3600:
            raise ValidationError({"config.delay": ["delay must be a number of seconds from 0 to 3600."]})
        seed = config.get("seed", 0)
        if not isinstance(seed, int | str) or isinstance(seed, bool):
            raise ValidationError({"config.seed": ["seed must be an integer or a string."]})
        return {
            "failure_rate": _fraction(config, "failure_rate", 0.0),
            "read_rate": _fraction(config, "read_rate", 0.0),
            "delay": float(delay),
            "seed": seed,
        }

    def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        return [
            SendResult(message_id=m.id, accepted=True, provider_message_id=f"{PROVIDER_PREFIX}{m.id}") for m in batch
        ]

    def outcome(self, provider_message_id: str) -> StatusUpdate:
        """The report the simulator gives for a message: the same every time for the same seed."""
        config = self.validate_config(self.config)
        rng = random.Random(f"{config['seed']}:{provider_message_id}")  # noqa: S311 - simulation, not security
        if rng.random() < config["failure_rate"]:
            return StatusUpdate(provider_message_id, "failed", error_code="simulated_failure")
        if rng.random() < config["read_rate"]:
            return StatusUpdate(provider_message_id, "read")
        return StatusUpdate(provider_message_id, "delivered")

    def after_send(self, accepted: Sequence[SendResult]) -> list[ReportLater]:
        ids = tuple(r.provider_message_id for r in accepted if r.provider_message_id)
        if not ids:
            return []
        return [ReportLater(ids, float(self.validate_config(self.config)["delay"]))]

    def reports_for(self, provider_message_ids: Sequence[str]) -> list[StatusUpdate]:
        return [self.outcome(pid) for pid in provider_message_ids]
