"""Sending one claimed batch through one connector: paced request groups, each handed (the fence),
sent, and recorded as soon as it is answered, one group behind the next so a group's record overlaps
the next group's requests. dispatch.py claims, decides what goes where, and runs the batches; the
state machine of a message's send is in docs/broadcasts.md.

The records run on a thread of the batch's own, with a database connection of its own, while the
dispatching thread hands and sends the next group: the hand, the pacing and the claim no longer wait
for the previous group's record (a record is a few statements; on a fast provider the dispatcher was
bound by them). At most two groups are ever handed and unrecorded (the one being recorded and the
one in flight), as before; every record is fenced by the claim's token, whichever thread writes it.
A caller inside a transaction (a test driving a batch by hand) records inline, in its transaction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from concurrent.futures import Future, ThreadPoolExecutor

import structlog
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection

from .billing import broadcast_wallet
from .claims import Claimed, give_back, hand, urn_path
from .connectors import BaseConnector, OutboundMessage, SendResult
from .connectors.http import provider_timeout
from .models import Broadcast, Connector
from .pacing import TICK, reserve_slots
from .recording import BatchOutcome, record_results

log = structlog.get_logger(__name__)

GROUP_MAX = 100  # messages in one request group (and at most one second of the connector's tps)


def add_outcomes(a: BatchOutcome, b: BatchOutcome) -> BatchOutcome:
    return BatchOutcome(a.sent + b.sent, a.failed + b.failed, a.retrying + b.retrying, a.deferred + b.deferred)


def group_size(tps: int) -> int:
    """A request group: at most one second of the connector's tps (a pacing tick's share), and 100."""
    return max(1, min(GROUP_MAX, int(tps * TICK)))


@dataclasses.dataclass
class _Group:
    """A request group handed and sent: its answers to come, and (on the recorder thread) its record."""

    sent: Future[list[SendResult]]
    going: list[OutboundMessage]
    record: Future[BatchOutcome] | None = None


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
        size = group_size(connector.tps)
        total = BatchOutcome(0, 0, 0, 0)
        # Inside the caller's transaction a record must be in it (and another connection would not
        # see its rows): inline. Otherwise on the recorder thread.
        recorder = None if connection.in_atomic_block else ThreadPoolExecutor(1, thread_name_prefix="herald-record")
        # Groups handed and sent but not yet recorded, oldest first: at most two (the one being
        # recorded and the one in flight). Each with its record, once it is scheduled.
        unrecorded: list[_Group] = []
        start = 0
        try:
            while start < len(outbound):
                if start and deadline is not None and time.monotonic() >= deadline:
                    break  # past the run's deadline (the first group always goes: progress)
                chunk = outbound[start : start + size]
                wait = reserve_slots(connector_id=str(connector.pk), count=len(chunk), tps=connector.tps)
                if wait > 0:
                    time.sleep(wait)
                # The previous group's record runs meanwhile; this group is handed only once the one
                # before that is recorded (two unrecorded at most).
                while len(unrecorded) > 1:
                    total = add_outcomes(total, self._recorded(plugin, unrecorded))
                handed = set(hand(message_ids=[m.id for m in chunk], token=self.token, broadcast_id=self.fence))
                if not handed:
                    self.stopped = True  # paused, cancelled or taken over: nothing more goes
                    break
                start += len(chunk)
                # A message of the chunk not handed was claimed again by another (its lease ran out
                # while this one waited): it is theirs now.
                going = [m for m in chunk if m.id in handed]
                # HTTP backends return at once; the requests run on their loop.
                group = _Group(plugin.submit(going), going)
                unrecorded.append(group)
                if recorder is not None:
                    group.record = recorder.submit(self._finish_on_thread, plugin, group.sent, going)
                else:
                    while len(unrecorded) > 1:
                        total = add_outcomes(total, self._recorded(plugin, unrecorded))
            while unrecorded:
                total = add_outcomes(total, self._recorded(plugin, unrecorded))
        except SoftTimeLimitExceeded:
            # The task's soft time limit struck mid-batch: the groups sent are already in the
            # provider's hands; wait for their answers (one deadline at most), record them (again,
            # if the limit struck around a commit: recording twice changes nothing), give back the
            # rest, and let the run hand over to a continuation.
            for group in unrecorded:
                if group.record is not None:
                    with contextlib.suppress(Exception):
                        group.record.result(timeout=2 * provider_timeout() + 10)
                else:
                    self._finish(plugin, group.sent, group.going, timeout=provider_timeout() + 5)
            self.stopped = True
            raise
        finally:
            if recorder is not None:
                # The thread's connection goes with the thread (a test database must be droppable;
                # a worker opens one per batch, a few a second at most).
                recorder.submit(_close_connection)
                recorder.shutdown(wait=True)
            give_back(message_ids=[m.id for m in outbound[start:]], token=self.token)
        return total

    def _recorded(self, plugin: BaseConnector, unrecorded: list[_Group]) -> BatchOutcome:
        """The oldest unrecorded group's outcome, once recorded; it leaves the list only then (a soft
        time limit striking meanwhile finds it there, still to record)."""
        group = unrecorded[0]
        outcome = group.record.result() if group.record is not None else self._finish(plugin, group.sent, group.going)
        unrecorded.pop(0)
        return outcome

    def _finish_on_thread(
        self, plugin: BaseConnector, future: Future[list[SendResult]], going: list[OutboundMessage]
    ) -> BatchOutcome:
        if connection.errors_occurred:  # the last record failed on this connection: a fresh one
            connection.close()
        return self._finish(plugin, future, going)

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


def _close_connection() -> None:
    """Close the calling thread's connection (`connection` resolves per thread when called, so this
    must run on the recorder thread, not be a bound method taken on the dispatching one)."""
    connection.close()


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
