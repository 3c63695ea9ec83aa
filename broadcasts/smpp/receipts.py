"""deliver_sm into receipts and MO texts. Pure functions, no I/O.

A receipt (esm_class bits 2–5 = 0x04, or a receipted_message_id TLV) is read from the SMPP 3.4
Appendix B text (`id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`; keys
case-insensitive, dates of 10 or 12 digits, `err` kept as text since hex is seen in the wild) and
from the receipted_message_id (0x001E) / message_state (0x0427) TLVs; a TLV wins over the text.
Anything else is an MO; a concatenated MO (UDH IEI 0/8, or SAR TLVs) names its ref, total and seq,
and is reassembled in the database (mo_store.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .codec import ESM_UDHI, decode_text

# message_state (SMPP 3.4 §5.2.28) → the Appendix B stat word.
STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
FAILED_STATS = {"UNDELIV", "REJECTD", "EXPIRED", "DELETED"}
_FIELD = re.compile(
    r"(?P<key>id|sub|dlvrd|submit\s*date|done\s*date|stat|err|text)\s*:\s*(?P<value>.*?)"
    r"(?=\s+(?:id|sub|dlvrd|submit\s*date|done\s*date|stat|err|text)\s*:|$)",
    re.IGNORECASE | re.DOTALL,
)

# Appendix B's layout, keys in its order and case, one space apart: values without spaces (after an
# empty one the scan reads the next key as the value), then an optional text. The scan would end
# the text at a key inside it (`… text:hi stat:x`), so a text with one goes to the scan.
_CANONICAL = re.compile(
    r"id:(?P<id>\S+) sub:(?P<sub>\S+) dlvrd:(?P<dlvrd>\S+) submit date:(?P<submitdate>\S+)"
    r" done date:(?P<donedate>\S+) stat:(?P<stat>\S+) err:(?P<err>\S+)(?: text:(?P<text>.*))?",
    re.DOTALL,
)
_KEY_AFTER_SPACE = re.compile(r"\s(?:id|sub|dlvrd|submit\s*date|done\s*date|stat|err|text)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Receipt:
    message_id: str
    stat: str  # DELIVRD, UNDELIV, … ("" when neither the text nor a TLV says)
    err: str = ""
    done_at: datetime | None = None

    @property
    def status(self) -> str | None:
        """delivered | failed, or None: no change (ACCEPTD, ENROUTE, UNKNOWN, unreadable)."""
        if self.stat == "DELIVRD":
            return "delivered"
        if self.stat in FAILED_STATS:
            return "failed"
        return None

    @property
    def error_code(self) -> str:
        if self.status != "failed":
            return ""
        err = re.sub(r"[^0-9a-z]", "", self.err.lower())[:24] or "0"
        return f"smpp_{self.stat.lower()}_{err}"


def _date(value: str) -> datetime | None:
    """YYMMDDhhmm[ss] (UTC; years 69-99 are 19xx, as strptime's %y reads them). Read by slicing:
    strptime was a tenth of the store thread's time in bench_smpp."""
    digits = value if value.isascii() and value.isdigit() else re.sub(r"\D", "", value)
    if len(digits) not in (10, 12):
        return None
    yy = int(digits[0:2])
    try:
        return datetime(
            (2000 if yy < 69 else 1900) + yy,
            int(digits[2:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12] or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.split(b"\0", 1)[0].decode("latin-1").strip()
    return "" if value is None else str(value).strip()


def parse_text(text: str) -> dict[str, str]:
    """The Appendix B fields present in `text`, keys lower-cased without spaces.

    A receipt in Appendix B's own layout (what nearly every SMSC sends) is read by one match; any
    other text by the tolerant scan (`parse_text_tolerant`, whose reading the fast one must equal:
    the scan was a quarter of the store thread's time in bench_smpp)."""
    match = _CANONICAL.fullmatch(text)
    if match is None or (match["text"] is not None and _KEY_AFTER_SPACE.search(match["text"])):
        return parse_text_tolerant(text)
    fields = match.groupdict()
    value = fields.pop("text")
    if value is not None:
        fields["text"] = value.strip()
    return fields


def parse_text_tolerant(text: str) -> dict[str, str]:
    """Any key order and case, spaces around the colon, keys missing: a later key wins."""
    return {re.sub(r"\s+", "", m["key"].lower()): m["value"].strip() for m in _FIELD.finditer(text)}


def is_receipt(pdu: Any) -> bool:
    esm = int(getattr(pdu, "esm_class", 0) or 0)
    return bool(esm & 0x3C) or bool(getattr(pdu, "receipted_message_id", None))


def receipt_from(pdu: Any) -> Receipt | None:
    """The receipt a deliver_sm carries (TLVs winning over the text), None when it names no id."""
    fields = parse_text((getattr(pdu, "short_message", None) or b"").decode("latin-1"))
    message_id = _text(getattr(pdu, "receipted_message_id", None)) or fields.get("id", "")
    state = getattr(pdu, "message_state", None)
    stat = STATES.get(int(state), "") if state is not None else ""
    stat = stat or fields.get("stat", "").upper()[:7]
    if not message_id:
        return None
    return Receipt(
        message_id=message_id, stat=stat, err=fields.get("err", ""), done_at=_date(fields.get("donedate", ""))
    )


def normalize_id(message_id: str, fmt: str) -> str:
    """A receipt's id in the form the submit_sm_resp gave (Kannel's msg-id-type)."""
    try:
        if fmt == "hex_to_dec":
            return str(int(message_id, 16))
        if fmt == "dec_to_hex":
            return format(int(message_id), "x")
    except ValueError:
        return message_id
    return message_id


@dataclass(frozen=True)
class MoPart:
    source: str
    destination: str
    text: str
    ref: int | None = None  # concatenation reference; None for a single message
    total: int = 1
    seq: int = 1


def mo_from(pdu: Any) -> MoPart:
    data = getattr(pdu, "short_message", None) or getattr(pdu, "message_payload", None) or b""
    coding = int(getattr(pdu, "data_coding", 0) or 0)
    ref: int | None = None
    total = seq = 1
    esm = int(getattr(pdu, "esm_class", 0) or 0)
    if esm & ESM_UDHI and data:
        udh_len = data[0]
        udh, data = data[1 : 1 + udh_len], data[1 + udh_len :]
        pos = 0
        while pos + 2 <= len(udh):
            iei, length = udh[pos], udh[pos + 1]
            value = udh[pos + 2 : pos + 2 + length]
            if iei == 0 and length == 3:
                ref, total, seq = value[0], value[1], value[2]
            elif iei == 8 and length == 4:
                ref, total, seq = (value[0] << 8) | value[1], value[2], value[3]
            pos += 2 + length
    elif getattr(pdu, "sar_msg_ref_num", None) is not None:
        ref = int(pdu.sar_msg_ref_num)
        total = int(getattr(pdu, "sar_total_segments", 1) or 1)
        seq = int(getattr(pdu, "sar_segment_seqnum", 1) or 1)
    return MoPart(_text(pdu.source_addr), _text(pdu.destination_addr), decode_text(data, coding), ref, total, seq)
