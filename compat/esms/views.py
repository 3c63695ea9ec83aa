"""`POST /api/messages/bulk-precheck` and `POST /api/messages/send-bulk` (seed 003, COMPAT.md §4):
the eSMS body read as FastAPI reads it (unknown fields ignored, `"1"` is the integer 1), its list ids
— integers (a list's `number`) or UUID strings — resolved to the client's lists, and translated onto
the native precheck and `broadcast_create`: every rule (credit, schedule window, drip rate, senders,
STOP mention, quiet hours, opt-outs) is the native one. Money is answered as exact JSON numbers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import QueryDict
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.throttles import API, COMPAT_SEND
from accounts.exceptions import HeraldError, InsufficientCreditError
from broadcasts.models import Broadcast
from broadcasts.services import broadcast_create, broadcast_precheck
from compat.jsonnum import decimal_number
from contacts.selectors import contact_list_ids_by_refs
from wallets.selectors import wallet_get

from .base import MISSING, EsmsError, EsmsValidationError, EsmsView, item

BATCH_PREFIX = "batch-"
NAME_TEXT = 60
DIGITS = re.compile(r"\s*[0-9]+\s*")
# Precheck money, written as numbers (Herald's native precheck writes 6-place strings).
MONEY = ("total_cost", "wallet_balance", "wallet_available", "balance_after")
LINE_MONEY = ("route_cost", "wallet_cost", "price_per_segment")
PASSED = {"sender_id": "sender", "route": "route"}
SEND_PASSED = {**PASSED, "schedule_mode": "schedule_mode", "scheduled_at": "scheduled_at", "drip_rate": "drip_rate"}
STATUS: dict[str, str] = {Broadcast.ScheduleMode.SCHEDULED: "scheduled", Broadcast.ScheduleMode.DRIP: "dripping"}


def batch_id(broadcast_id: uuid.UUID) -> str:
    """The broadcast's id as eSMS names a batch; `/api/v1/messages/?batch_id=` takes it back."""
    return f"{BATCH_PREFIX}{broadcast_id}"


def _list_refs(body: Mapping[str, Any], errors: list[dict[str, Any]]) -> list[int | str]:
    """`contact_list_ids` as pydantic reads `List[Union[int, UUID]]`: ints, digit strings (ints), UUID strings."""
    if "contact_list_ids" not in body or body["contact_list_ids"] is None:
        errors.append(item(["contact_list_ids"], "field required", MISSING))
        return []
    raw = body["contact_list_ids"]
    if not isinstance(raw, list):
        errors.append(item(["contact_list_ids"], "value is not a valid list", "type_error.list"))
        return []
    refs: list[int | str] = []
    for index, value in enumerate(raw):
        if isinstance(value, int) and not isinstance(value, bool):
            refs.append(value)
        elif isinstance(value, str) and DIGITS.fullmatch(value):
            refs.append(int(value))
        elif isinstance(value, str) and _is_uuid(value):
            refs.append(value)
        else:
            errors.append(
                item(["contact_list_ids", index], "value is not a valid integer or UUID", "type_error.integer")
            )
    return refs


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _text(body: Mapping[str, Any], errors: list[dict[str, Any]]) -> str:
    text = body.get("text")
    if text is None:
        errors.append(item(["text"], "field required", MISSING))
        return ""
    if not isinstance(text, str):
        errors.append(item(["text"], "str type expected", "type_error.str"))
        return ""
    return text


def native_request(body: Any, *, client: Any, passed: Mapping[str, str]) -> dict[str, Any]:
    """The native create/precheck body of an eSMS body (nulls are absent, unknown fields ignored)."""
    if body is None or isinstance(body, QueryDict):  # no JSON body at all
        raise EsmsValidationError([item([], "field required", MISSING)])
    if not isinstance(body, Mapping):
        raise EsmsValidationError([item([], "value is not a valid dict", "type_error.dict")])
    errors: list[dict[str, Any]] = []
    refs = _list_refs(body, errors)
    text = _text(body, errors)
    if errors:
        raise EsmsValidationError(errors)
    data: dict[str, Any] = {
        "name": f"Bulk send: {' '.join(text.split())[:NAME_TEXT]}",
        "channel": "sms",
        "contact_lists": [str(i) for i in contact_list_ids_by_refs(client=client, refs=refs, field="contact_lists")],
        "text": text,
    }
    for theirs, ours in passed.items():
        value = body.get(theirs)
        if value is not None and value != "":
            data[ours] = value
    return data


def exact_precheck(report: dict[str, Any]) -> dict[str, Any]:
    """The native precheck with its money as Decimals (written as JSON numbers)."""
    out = dict(report)
    for key in MONEY:
        if key in out:
            out[key] = Decimal(out[key])
    out["breakdown"] = [
        {k: Decimal(v) if k in LINE_MONEY else v for k, v in line.items()} for line in report["breakdown"]
    ]
    return out


class BulkPrecheckView(EsmsView):
    throttle_scope = API

    def post(self, request: Request) -> Response:
        data = native_request(request.data, client=self.client, passed=PASSED)
        return Response(exact_precheck(broadcast_precheck(client=self.client, data=data)))


class SendBulkView(EsmsView):
    def get_throttle_scope(self, request: Request) -> str:
        return COMPAT_SEND

    def post(self, request: Request) -> Response:
        data = native_request(request.data, client=self.client, passed=SEND_PASSED)
        principal = self.principal
        try:
            accepted = broadcast_create(client=self.client, data=data, api_key=principal.api_key, user=principal.user)
        except InsufficientCreditError as exc:
            raise self._insufficient(data) from exc
        except DjangoValidationError as exc:
            if _no_valid_recipients(exc) and self._all_unroutable(data):
                raise EsmsError(400, "no_route", "No active route for the recipients' countries.") from exc
            raise
        broadcast = accepted.broadcast
        return Response(
            {
                "batch_id": batch_id(broadcast.pk),
                "total_recipients": broadcast.total_recipients,
                "estimated_cost": broadcast.estimated_cost,
                "status": STATUS.get(broadcast.schedule_mode, "sending"),
            }
        )

    def _precheck(self, data: dict[str, Any]) -> dict[str, Any] | None:
        probe = {k: v for k, v in data.items() if k not in ("schedule_mode", "scheduled_at", "drip_rate")}
        try:
            return broadcast_precheck(client=self.client, data=probe)
        except (DjangoValidationError, HeraldError):
            return None

    def _insufficient(self, data: dict[str, Any]) -> EsmsError:
        """eSMS's words: "Insufficient balance. Required: 35 UGX, available: 10 UGX" (the figures
        from the native precheck of the same body and the wallet)."""
        report, wallet = self._precheck(data), wallet_get(client=self.client)
        if report is None or wallet is None:
            return EsmsError(422, "insufficient_balance", "Insufficient balance.")
        required = decimal_number(Decimal(report["total_cost"]))
        available = decimal_number(wallet.available)
        currency = wallet.currency
        message = f"Insufficient balance. Required: {required} {currency}, available: {available} {currency}"
        return EsmsError(422, "insufficient_balance", message)

    def _all_unroutable(self, data: dict[str, Any]) -> bool:
        report = self._precheck(data)
        return bool(
            report is not None
            and report["unroutable_count"]
            and not report["invalid_count"]
            and not report["opted_out_count"]
        )


def _no_valid_recipients(exc: DjangoValidationError) -> bool:
    errors = getattr(exc, "error_dict", {})
    return any(e.code == "no_valid_recipients" for e in errors.get("recipients", []))
