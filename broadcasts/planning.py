"""Planning a broadcast: who gets what, through which route, at what cost, and when.

One pipeline serves precheck, simulate, drafts and create, so the price a precheck shows is the
price a broadcast reserves. The audience (audience.py) arrives in chunks; each chunk is rendered,
counted (SMS parts), priced by the wallets' quote engine and timed (schedule, drip slots, quiet
hours); `create` COPYs each chunk's rows straight into the message table.

Per recipient, in order: parse and normalize the address (invalid → skipped `invalid_number`);
deduplicate on the channel URN (counted, sent once); find its contact; opted out → skipped
`opted_out` (unless a transactional broadcast says `skip_opted_out: false`); render in the
contact's language (falling back to the base language); smart-encode and count parts; route and
price (no route → skipped `unroutable`); WhatsApp free text: outside the 24-hour window of the
route's connector → skipped `whatsapp_window_closed` (whatsapp_window.py); then the time it may go.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from accounts.channels import Channel
from accounts.models import Client
from templates_app.encoding import UCS2, analyze, optimize_text
from templates_app.rendering import CompiledTemplate, compile_template
from tracking.rewrite import Rewriter
from wallets.models import Wallet
from wallets.pricing import BreakdownLine, PricedMessage, PriceRoute, Quote, quote_messages

from .audience import SKIP_INVALID, SKIP_OPTED_OUT, SKIP_UNROUTABLE, Audience, Target
from .local_time import SKIP_LOCAL_TIME_PASSED, LocalTimePlan, LocalTimeTally
from .models import Broadcast, Message
from .quiet_hours import QUIET_RULES, next_allowed, number_zones
from .states import WAIT_DRIP, WAIT_QUIET_HOURS, WAIT_SCHEDULED
from .validation import BroadcastRequest
from .whatsapp_window import SKIP_WINDOW_CLOSED, is_free_text, open_windows

SAMPLE = 20
MAX_SMS_RENDERED = 1224
STOP_MENTION = re.compile(r"\bSTOP\b", re.IGNORECASE)
FALLBACK_LANGUAGE = "eng"


# A recipient rendered, waiting for its price: (slot, target, text, encoding, segments, missing
# variables, non-GSM characters).
Pending = tuple[int, Target, str, str, int, tuple[str, ...], tuple[str, ...]]


@dataclass(slots=True)
class Row:
    """A message row as it is COPYed."""

    contact_id: uuid.UUID | str | None
    urn: str
    text: str
    encoding: str
    segments: int
    cost: Decimal
    route_code: str
    connector: str
    country_code: str
    status: str
    error_code: str
    not_before: datetime | None
    language: str = ""  # template sends: the version's language
    parameters: list[str] | None = None  # template sends: the variables' values, in order
    links: list[tuple[str, str]] | None = None  # track_links: (url, code) of each short link, in order
    wait_reason: str = ""  # why it waits for not_before (SPEC §10): scheduled, drip or quiet_hours
    variant: int | None = None  # A/B: the sample's variant (ab_planning.py); None for the rest and others


@dataclass
class PlanTotals:
    total_contacts: int = 0
    total_segments: int = 0
    total_cost: Decimal = field(default_factory=Decimal)
    lines: dict[tuple[str, str, str, Decimal], BreakdownLine] = field(default_factory=dict)
    unroutable_count: int = 0
    unroutable: list[str] = field(default_factory=list)
    invalid_count: int = 0
    invalid: list[dict[str, str]] = field(default_factory=list)
    opted_out_count: int = 0
    duplicate_count: int = 0
    # WhatsApp free text: the window is checked (free_text) and so many were outside it.
    free_text: bool = False
    window_closed_count: int = 0
    encodings: set[str] = field(default_factory=set)
    max_segments: int = 0
    non_gsm: dict[str, None] = field(default_factory=dict)
    missing_variables: Counter[str] = field(default_factory=Counter)
    warnings: dict[str, str] = field(default_factory=dict)
    stop_missing: int = 0
    # Marketing messages that will wait for quiet hours to end (SPEC §10), and the first such end:
    # as an instant, and as the recipient reads it ("Monday 08:00" in their zone).
    quiet_hours_count: int = 0
    quiet_hours_first: datetime | None = None
    quiet_hours_first_local: str = ""
    too_long: int = 0
    sendable_phones: list[str] = field(default_factory=list)
    # track_links: the links rewritten, and the parts that saved (negative: cost) against the
    # same messages with their links as written.
    tracked_links: int = 0
    segments_saved_by_tracking: int = 0
    # schedule_mode local_time: recipients per send time and zone, and those whose time had passed.
    local_time: LocalTimeTally | None = None

    def breakdown(self) -> list[BreakdownLine]:
        return [self.lines[key] for key in sorted(self.lines)]

    @property
    def encoding(self) -> str:
        if not self.encodings:
            return ""
        return UCS2 if UCS2 in self.encodings else next(iter(self.encodings))


@dataclass
class PlanContext:
    client: Client
    request: BroadcastRequest
    wallet: Wallet
    routes: list[PriceRoute]
    rates: dict[tuple[str, str], Decimal]
    versions: dict[str, CompiledTemplate]  # language ("" = any) → compiled content
    now: datetime
    start_at: datetime  # when the first message may go (now, or scheduled_at)
    keep_phones: bool = False  # collect sendable phones (for list_name)
    rewriter: Rewriter | None = None  # track_links: each recipient's links become short links
    split: Any = None  # A/B variants (ab_planning.VariantSplit): which content each recipient gets


class Planner:
    """Prices and times a broadcast's audience chunk by chunk; `totals` accumulates what precheck
    and create report."""

    def __init__(self, context: PlanContext) -> None:
        self.ctx = context
        self.request = context.request
        free_text = is_free_text(channel=context.request.channel, template=context.request.template)
        self.totals = PlanTotals(free_text=free_text)
        names = {n for v in context.versions.values() for n in v.variables}
        names |= context.split.variables() if context.split is not None else set()  # A/B: every variant's
        self.audience = Audience(client=context.client, request=context.request, field_names=sorted(names))
        self._text_cache: dict[str, tuple[str, str, int, tuple[str, ...]]] = {}
        self._drip_at = context.start_at
        self._drip_interval = timedelta(seconds=60 / self.request.drip_rate) if self.request.drip_rate else timedelta(0)
        wall = context.request.local_time
        self.local = LocalTimePlan(wall, client_zone=context.client.timezone, now=context.now) if wall else None
        self.totals.local_time = self.local.tally if self.local is not None else None

    # --- content, price, time ---------------------------------------------------------------

    def _version_language(self, language: str) -> str:
        versions = self.ctx.versions
        if language in versions:
            return language
        for fallback in (self.request.base_language, "", FALLBACK_LANGUAGE):
            if fallback in versions:
                return fallback
        return sorted(versions)[0]

    def _version(self, language: str) -> CompiledTemplate:
        return self.ctx.versions[self._version_language(language)]

    def _finish_text(self, text: str) -> tuple[str, str, int, tuple[str, ...]]:
        """(final text, encoding, segments, non-GSM characters), cached: rendered texts repeat."""
        cached = self._text_cache.get(text)
        if cached is not None:
            return cached
        if self.request.channel == Channel.SMS:
            smart = self.request.optimize_text or self.request.transliterate
            final = optimize_text(text, transliterate=self.request.transliterate) if smart else text
            info = analyze(final)
            result = (final, info.encoding, max(1, info.segments), info.non_gsm_characters)
        else:
            result = (text, "", 1, ())
        if len(self._text_cache) < 100_000:
            self._text_cache[text] = result
        return result

    def plan_chunk(self, targets: Sequence[Target]) -> list[Row]:
        return self.plan_rows(targets) if self.ctx.split is None else self.ctx.split.plan_chunk(self, targets)

    def plan_rows(self, targets: Sequence[Target]) -> list[Row]:
        """Rows for `targets`, in their order, with the content of `ctx.versions`."""
        totals, request = self.totals, self.request
        sms = request.channel == Channel.SMS
        # WhatsApp fills its approved template itself: it needs the values, not our rendered text.
        provider_template = request.channel == Channel.WHATSAPP and bool(request.template)
        template_params: dict[int, tuple[str, tuple[str, ...]]] = {}
        links_by_slot: dict[int, tuple[list[tuple[str, str]], int]] = {}
        rows: list[Row | None] = []
        pending: list[Pending] = []
        for target in targets:
            if target.skip:
                rows.append(self._skip(target, target.skip))
                continue
            if target.opted_out and request.skip_opted_out:
                rows.append(self._skip(target, SKIP_OPTED_OUT))
                continue
            if self.local is not None and self.local.skips(target):
                rows.append(self._row(target, "", Message.Status.SKIPPED, SKIP_LOCAL_TIME_PASSED, "", 0))
                continue
            rendered = self._version(target.language).render(
                variables=target.variables,
                fields=target.fields,
                first_name=target.first_name,
                last_name=target.last_name,
                phone=target.address if target.address.startswith("+") else "",
            )
            text, encoding, segments, non_gsm = self._finish_text(rendered.text)
            if self.ctx.rewriter is not None:
                # The parts are those of the text with placeholder codes (worked out once per text);
                # each recipient's own codes go in afterwards.
                templated, urls = self.ctx.rewriter.template(rendered.text)
                if urls:
                    untracked = segments
                    text, encoding, segments, non_gsm = self._finish_text(templated)
                    text, links = self.ctx.rewriter.fill(text, urls)
                    links_by_slot[len(rows)] = (links, untracked)
            if provider_template:
                language = self._version_language(target.language)
                template_params[len(rows)] = (language, self.ctx.versions[language].values(
                    variables=target.variables,
                    fields=target.fields,
                    first_name=target.first_name,
                    last_name=target.last_name,
                    phone=target.address if target.address.startswith("+") else "",
                ))  # fmt: skip
            pending.append((len(rows), target, text, encoding, segments, rendered.missing, non_gsm))
            rows.append(None)
        quote = self._quote(pending) if pending else None
        if quote is not None and totals.free_text:
            pending, quote = self._inside_window(pending, quote, rows)
        if quote is not None:
            for warning in quote.warnings:
                totals.warnings.setdefault(warning, warning)
            self._merge(quote)
            for (slot, target, text, encoding, segments, missing, non_gsm), priced in zip(
                pending, quote.messages, strict=True
            ):
                if priced is None:
                    totals.unroutable_count += 1
                    if len(totals.unroutable) < SAMPLE:
                        totals.unroutable.append(target.address or target.raw or target.urn)
                    rows[slot] = self._row(target, text, Message.Status.SKIPPED, SKIP_UNROUTABLE, encoding, segments)
                else:
                    # Content facts are about messages that will be sent, not the unroutable.
                    for name in missing:
                        totals.missing_variables[name] += 1
                    for char in non_gsm:
                        totals.non_gsm.setdefault(char, None)
                    if sms and len(text) > MAX_SMS_RENDERED:
                        totals.too_long += 1
                    row = self._priced_row(target, text, encoding, priced)
                    if slot in links_by_slot:
                        row.links, untracked = links_by_slot[slot]
                        totals.tracked_links += len(row.links)
                        totals.segments_saved_by_tracking += untracked - priced.segments
                    if slot in template_params:
                        row.language, values = template_params[slot]
                        row.parameters = list(values)
                    rows[slot] = row
        return [row for row in rows if row is not None]

    def _quote(self, pending: list[Pending]) -> Quote:
        request = self.request
        return quote_messages(
            recipients=[(item[1].address, item[4]) for item in pending],
            channel=request.channel,
            wallet_currency=self.ctx.wallet.currency,
            routes=self.ctx.routes,
            rates=self.ctx.rates,
            tier=request.tier,
            route_code=request.route or None,
        )

    def _inside_window(
        self, pending: list[Pending], quote: Quote, rows: list[Row | None]
    ) -> tuple[list[Pending], Quote | None]:
        """WhatsApp free text: a recipient who did not write to the connector of its route in the 24
        hours before now is skipped (`whatsapp_window_closed`); the rest are priced again without
        them, so the totals and the breakdown count only what will be sent."""
        routed = [(item, priced) for item, priced in zip(pending, quote.messages, strict=True) if priced is not None]
        pairs = {(item[1].urn, priced.connector) for item, priced in routed}
        inside = open_windows(client_id=self.ctx.client.pk, pairs=pairs, now=self.ctx.now)
        closed = {item[0] for item, priced in routed if (item[1].urn, priced.connector) not in inside}
        if not closed:
            return pending, quote
        self.totals.window_closed_count += len(closed)
        for slot, target, text, encoding, segments, _missing, _non_gsm in pending:
            if slot in closed:
                rows[slot] = self._row(target, text, Message.Status.SKIPPED, SKIP_WINDOW_CLOSED, encoding, segments)
        kept = [item for item in pending if item[0] not in closed]
        return kept, self._quote(kept) if kept else None

    def _merge(self, quote: Quote) -> None:
        """Add a chunk's quote (its per-country lines and totals) to the plan's totals."""
        totals = self.totals
        totals.total_contacts += quote.total_contacts
        totals.total_segments += quote.total_segments
        totals.total_cost += quote.total_cost
        for line in quote.breakdown:
            key = (line.country_code, line.route_code, line.currency, line.price_per_segment)
            mine = totals.lines.get(key)
            if mine is None:
                totals.lines[key] = line
            else:
                mine.contacts += line.contacts
                mine.segments += line.segments
                mine.route_cost += line.route_cost
                mine.wallet_cost += line.wallet_cost

    def _skip(self, target: Target, reason: str) -> Row:
        totals = self.totals
        if reason == SKIP_INVALID:
            totals.invalid_count += 1
            if len(totals.invalid) < SAMPLE:
                totals.invalid.append({"value": target.raw, "reason": "not a valid phone number or URN"})
        elif reason == SKIP_OPTED_OUT:
            totals.opted_out_count += 1
        else:
            totals.unroutable_count += 1
            if len(totals.unroutable) < SAMPLE:
                totals.unroutable.append(target.address or target.raw or target.urn)
        return self._row(target, "", Message.Status.SKIPPED, reason, "", 0)

    def _row(self, target: Target, text: str, status: str, error: str, encoding: str, segments: int) -> Row:
        return Row(target.contact_id, target.urn, text, encoding, segments, Decimal(0), "", "", "", status, error, None)

    def _priced_row(self, target: Target, text: str, encoding: str, priced: PricedMessage) -> Row:
        totals, request = self.totals, self.request
        if priced.segments > totals.max_segments:
            totals.max_segments = priced.segments
        if encoding:
            totals.encodings.add(encoding)
        marketing = request.purpose == Broadcast.Purpose.MARKETING
        sms = request.channel == Channel.SMS
        if marketing and sms and priced.country_code == "FR" and not STOP_MENTION.search(text):
            totals.stop_missing += 1
        if self.ctx.keep_phones and target.address.startswith("+"):
            totals.sendable_phones.append(target.address)
        not_before, reason = self._when(target.address, priced.country_code, marketing, target)
        status = Message.Status.QUEUED if not_before is None else Message.Status.PENDING
        if reason == WAIT_QUIET_HOURS and not_before is not None:
            totals.quiet_hours_count += 1
            if totals.quiet_hours_first is None or not_before < totals.quiet_hours_first:
                zones = number_zones(target.address, priced.country_code)
                local = not_before.astimezone(ZoneInfo(zones[0])) if zones else not_before
                totals.quiet_hours_first, totals.quiet_hours_first_local = not_before, local.strftime("%A %H:%M")
        return Row(
            target.contact_id, target.urn, text, encoding, priced.segments, priced.wallet_cost, priced.route_code,
            priced.connector, priced.country_code, status, "", not_before, wait_reason=reason,
        )  # fmt: skip

    def _when(
        self, address: str, country: str, marketing: bool, target: Target | None = None
    ) -> tuple[datetime | None, str]:
        """When this message may go (None: at once), and why it waits until then."""
        ctx = self.ctx
        if self._drip_interval:
            slot = due = self._drip_at
            if marketing and country in QUIET_RULES:
                due = next_allowed(country, number_zones(address, country), due)
            self._drip_at = due + self._drip_interval
            return due, WAIT_DRIP if due == slot else WAIT_QUIET_HOURS
        zone_slot = self.local.slot(target) if self.local is not None and target is not None else None
        start = due = ctx.start_at if zone_slot is None else zone_slot.start  # local time: the recipient's own
        if marketing and country in QUIET_RULES:
            due = next_allowed(country, number_zones(address, country), due)
        if self.local is not None and zone_slot is not None:
            self.local.count(zone_slot, due if due > ctx.now else None)
        if due <= ctx.now:
            return None, ""
        return due, WAIT_SCHEDULED if due == start else WAIT_QUIET_HOURS

    def run(self) -> Iterator[list[Row]]:
        for targets in self.audience.chunks():
            rows = self.plan_chunk(targets)
            self.totals.duplicate_count = self.audience.duplicates
            yield rows
        self.totals.duplicate_count = self.audience.duplicates


def plan_totals_only(planner: Planner) -> PlanTotals:
    for _rows in planner.run():
        pass
    return planner.totals


def versions_from_text(texts: dict[str, str]) -> dict[str, CompiledTemplate]:
    return {language: compile_template(content) for language, content in texts.items()}
