"""Sending one claimed batch through one connector: paced request groups, each handed (the fence),
sent, and recorded as soon as it is answered, one group behind the next so a group's record overlaps
the next group's requests. dispatch.py claims, decides what goes where, and runs the batches; the
state machine of a message's send is in docs/broadcasts.md.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import Future

import structlog
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from accounts import metrics
from accounts.interrupts import connection_recover, time_limit_behind

from .billing import broadcast_wallet
from .claims import Claimed, give_back, hand, urn_path
from .connectors import REGISTRY, BaseConnector, OutboundMessage, SendResult
from .connectors.http import provider_timeout
from .models import Broadcast, Connector
from .pacing import TICK, reserve_slots
from .recording import BatchOutcome, record_results

log = structlog.get_logger(__name__)

GROUP_MAX = 100  # messages in one request group, unless the backend says (BaseConnector.group_max)


def add_outcomes(a: BatchOutcome, b: BatchOutcome) -> BatchOutcome:
    return BatchOutcome(a.sent + b.sent, a.failed + b.failed, a.retrying + b.retrying, a.deferred + b.deferred)


def group_size(tps: int, most: int = GROUP_MAX) -> int:
    """A request group: at most one second of the connector's tps (a pacing tick's share), and `most`
    (the backend's group_max)."""
    return max(1, min(most, int(tps * TICK)))


def batch_rest(claimed: list[Claimed], connectors: dict[str, tuple[str, int]]) -> int:
    """How many more messages a full batch should claim so that it holds `batch_groups` groups of
    its connectors' largest (BaseConnector.batch_groups); `connectors`: name → (backend, tps).
    Only when every connector of the batch asks for it: a broadcast also routed through a slower
    backend would otherwise claim thousands that the run's deadline then gives back."""
    want = 0
    for name in {m.connector for m in claimed}:
        backend, tps = connectors.get(name, ("", 0))
        plugin = REGISTRY.get(backend)
        if plugin is None or not plugin.batch_groups or not tps:
            return 0
        want = max(want, plugin.batch_groups * group_size(tps, plugin.group_max))
    return max(0, want - len(claimed))


class GroupSender:
    """One batch's sending: groups handed (fenced), sent, and recorded one behind, so a group's
    record overlaps the next group's requests."""

    def __init__(
        self,
        broadcast: Broadcast,
        claimed: dict[int, Claimed],
        connectors: dict[str, Connector],
        *,
        token: str,
        leased: bool,
        is_test: bool,
    ) -> None:
        self.broadcast = broadcast
        self.claimed = claimed
        self.connectors = connectors
        self.token = token
        self.fence = broadcast.pk if leased else None
        self.is_test = is_test
        self.stopped = False  # a group was refused its handed mark: the lease or the broadcast moved
        self.wallet = broadcast_wallet(broadcast.pk)  # captured from group after group: looked up once

    def send(
        self, connector: Connector, plugin: BaseConnector, messages: list[Claimed], *, deadline: float | None
    ) -> BatchOutcome:
        outbound = _outbound(self.broadcast, connector, messages)
        size = group_size(connector.tps, plugin.group_max)
        total = BatchOutcome(0, 0, 0, 0)
        # Groups handed and sent but not yet recorded, oldest first: at most two (the one being
        # recorded and the one in flight).
        unrecorded: list[tuple[Future[list[SendResult]], list[OutboundMessage]]] = []
        start = 0
        # A group being marked handed whose requests have certainly not been started: a soft time
        # limit that strikes now (inside `hand`'s statement, or its COMMIT) gives it back unhanded.
        marking: list[int] = []
        try:
            while start < len(outbound):
                if start and deadline is not None and time.monotonic() >= deadline:
                    break  # past the run's deadline (the first group always goes: progress)
                chunk = outbound[start : start + size]
                wait = reserve_slots(connector_id=str(connector.pk), count=len(chunk), tps=connector.tps)
                if wait > 0:
                    time.sleep(wait)
                marking = [m.id for m in chunk]
                handed = set(hand(message_ids=marking, token=self.token, broadcast_id=self.fence))
                if not handed:
                    marking = []
                    self.stopped = True  # paused, cancelled or taken over: nothing more goes
                    break
                start += len(chunk)
                # A message of the chunk not handed was claimed again by another (its lease ran out
                # while this one waited): it is theirs now.
                going = [m for m in chunk if m.id in handed]
                metrics.messages_handed(connector.name, len(going))
                marking = []  # from here on the group may leave: its mark stays, whatever happens
                # HTTP backends return at once; the requests run on their loop while the previous
                # group is recorded here.
                unrecorded.append((plugin.submit(going), going))
                while len(unrecorded) > 1:
                    total = add_outcomes(total, self._finish(plugin, *unrecorded[0]))
                    unrecorded.pop(0)
            while unrecorded:
                total = add_outcomes(total, self._finish(plugin, *unrecorded[0]))
                unrecorded.pop(0)
        except Exception as exc:
            if not time_limit_behind(exc):
                raise
            # The task's soft time limit struck mid-batch (a COMMIT it cut comes out as the
            # ProgrammingError Django raised on the way out: accounts/interrupts.py): the groups
            # sent are already in the provider's hands; wait for their answers (one deadline at
            # most), record them (again, if the limit struck around a commit: recording twice
            # changes nothing), give back the rest, and let the run hand over to a continuation.
            connection_recover()
            if marking:  # struck while the group was being marked handed: nothing of it left
                give_back(message_ids=marking, token=self.token, unhand=True)
            for future, going in unrecorded:
                self._finish(plugin, future, going, timeout=provider_timeout() + 5)
            self.stopped = True
            if isinstance(exc, SoftTimeLimitExceeded):
                raise
            raise SoftTimeLimitExceeded() from exc
        finally:
            give_back(message_ids=[m.id for m in outbound[start:]], token=self.token)
        return total

    def _finish(
        self,
        plugin: BaseConnector,
        future: Future[list[SendResult]],
        going: list[OutboundMessage],
        timeout: float | None = None,
    ) -> BatchOutcome:
        try:
            results = future.result(timeout=timeout)
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:
            log.exception("connector.send_failed", connector=plugin.name, broadcast_id=str(self.broadcast.pk))
            results = [
                SendResult(m.id, False, unknown=True, error_code="delivery_unknown", error_message=type(exc).__name__)
                for m in going
            ]
        outcomes = [_settled(r, idempotent=plugin.idempotent) for r in results]
        # Every outcome of a request counts towards the failure breaker, unknown ones too: a
        # provider that takes connections and never answers pauses the broadcast after 50, instead
        # of failing all of it as `delivery_unknown`.
        return record_results(
            self.broadcast,
            outcomes,
            self.claimed,
            self.connectors,
            token=self.token,
            count_streak=not self.is_test,
            wallet=self.wallet,
        )


def _settled(result: SendResult, *, idempotent: bool) -> SendResult:
    """An unknown outcome: resent later under the same key by an idempotent connector (the handed
    mark stays), otherwise failed as `delivery_unknown` and not charged."""
    if not result.unknown:
        return result
    return dataclasses.replace(result, transient=idempotent, error_code="delivery_unknown")


def _outbound(broadcast: Broadcast, connector: Connector, messages: list[Claimed]) -> list[OutboundMessage]:
    status_url = f"{settings.PUBLIC_BASE_URL}/hooks/{connector.pk}/status/"
    return [
        OutboundMessage(
            id=m.id,
            to=urn_path(m.urn),
            channel=broadcast.channel,
            sender=broadcast.sender,
            text=m.text,
            attachments=tuple(broadcast.attachments or ()),
            status_url=status_url,
            template=broadcast.template_name,
            language=m.language,
            parameters=m.parameters,
        )
        for m in messages
    ]
