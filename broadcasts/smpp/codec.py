"""Messages into submit_sm PDUs, exactly as templates_app.encoding priced them; answers into results.

Pure functions, no I/O. The PDU byte layout is smpplib's (`smpplib.smpp.make_pdu` / `parse_pdu`,
used as a codec only: Herald runs its own asyncio session, see session.py). Text is cut by
`templates_app.encoding.split_segments`, so a GSM 03.38 escape pair or a UCS-2 surrogate pair is
never split and `Message.segments` equals the number of submit_sm sent, in every concat mode:

- `udh`: each part's short_message starts with a 6-byte UDH (IEI 0, 8-bit ref, total, seq), esm_class 0x40;
- `sar`: each part carries the sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs;
- `payload`: each part goes in a message_payload TLV (with the SAR TLVs when there are several).

GSM text is sent unpacked, one octet a septet (data_coding 0), in the SMSC's reading of data_coding 0:
GSM 03.38 (escape 0x1B before the extension characters), Latin-1 or ASCII (`gsm7_charset`). UCS-2
is UTF-16-BE (data_coding 8): a character outside the BMP is its surrogate pair, kept in one part.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from smpplib import command as smpplib_command
from smpplib import consts as smpplib_consts
from smpplib import smpp as smpplib_smpp

from templates_app.encoding import GSM7, analyze, split_segments
from templates_app.gsm import GSM_BASIC, GSM_EXTENSION

from .config import SmppConfig

ESM_UDHI = 0x40
DC_DEFAULT = 0
DC_UCS2 = 8

# GSM 03.38 code points: the basic table is in code order without ESC (0x1B), so entries from 0x1B
# on sit one place later; the extension characters are ESC + their code.
_GSM_CODES = {ch: (i if i < 0x1B else i + 1) for i, ch in enumerate(GSM_BASIC)}
_GSM_EXT_CODES = dict(zip(GSM_EXTENSION, (0x0A, 0x14, 0x28, 0x29, 0x2F, 0x3C, 0x3D, 0x3E, 0x40, 0x65), strict=True))
_GSM_DECODE = {v: k for k, v in _GSM_CODES.items()}
_GSM_EXT_DECODE = {v: k for k, v in _GSM_EXT_CODES.items()}


def gsm_encode(text: str) -> bytes:
    out = bytearray()
    for ch in text:
        code = _GSM_CODES.get(ch)
        if code is not None:
            out.append(code)
        else:
            out += bytes((0x1B, _GSM_EXT_CODES[ch]))  # KeyError: not GSM (analyze said it was)
    return bytes(out)


def gsm_decode(data: bytes) -> str:
    chars: list[str] = []
    escaped = False
    for byte in data:
        if escaped:
            chars.append(_GSM_EXT_DECODE.get(byte, " "))
            escaped = False
        elif byte == 0x1B:
            escaped = True
        else:
            chars.append(_GSM_DECODE.get(byte, "?"))
    return "".join(chars)


def encode_text(text: str, *, gsm7: bool, charset: str) -> bytes:
    if not gsm7:
        return text.encode("utf-16-be", "surrogatepass")
    if charset == "gsm0338":
        return gsm_encode(text)
    return text.encode("latin-1" if charset == "latin1" else "ascii", "replace")


def decode_text(data: bytes, data_coding: int) -> str:
    """An MO's text: UCS-2 (8), Latin-1 (3), else the GSM default alphabet (0, 1 and the rest)."""
    if data_coding == DC_UCS2:
        return data.decode("utf-16-be", "replace")
    if data_coding == 3:
        return data.decode("latin-1")
    return gsm_decode(data)


@dataclass(frozen=True)
class Part:
    """One submit_sm: the fields that differ from part to part and message to message."""

    short_message: bytes
    esm_class: int
    data_coding: int
    tlvs: dict[str, Any] = field(default_factory=dict)


def addresses(sender: str, to: str, config: SmppConfig) -> dict[str, Any]:
    """source/destination address fields; TON/NPI from the sender when `auto` (SMPP 3.4 §5.2.5)."""
    digits = sender.lstrip("+")
    if config.source_ton is not None:
        ton, npi = config.source_ton, config.source_npi if config.source_npi is not None else 1
    elif digits.isdigit():
        ton, npi = (1, 1) if sender.startswith("+") or len(digits) > 8 else (3, 1)
    else:
        ton, npi = 5, 0
    source, destination = digits if digits.isdigit() else sender, to.lstrip("+")
    (source + destination).encode("latin-1")  # UnicodeEncodeError (a ValueError): no PDU can carry it
    return {
        "source_addr_ton": ton,
        "source_addr_npi": npi,
        "source_addr": source,
        "dest_addr_ton": config.dest_ton,
        "dest_addr_npi": config.dest_npi,
        "destination_addr": destination,
    }


@lru_cache(maxsize=256)
def _encoded(text: str, charset: str) -> tuple[int, tuple[bytes, ...]]:
    """(data_coding, the encoded segments) of a text. Kept for the texts last sent: a broadcast's
    messages mostly share one text (or a few), whose analysis and encoding were a sixth of the bind
    loop's time in bench_smpp when done per message."""
    gsm7 = analyze(text).encoding == GSM7
    coding = DC_DEFAULT if gsm7 else DC_UCS2
    return coding, tuple(encode_text(s, gsm7=gsm7, charset=charset) for s in split_segments(text))


def parts_for(text: str, config: SmppConfig, *, ref: int) -> list[Part]:
    """The submit_sm parts of one text: len == analyze(text).segments. `ref` (0–255 for `udh`,
    0–65535 for SAR) links the parts of one message."""
    coding, chunks = _encoded(text, config.gsm7_charset)
    total = len(chunks)
    parts: list[Part] = []
    for seq, chunk in enumerate(chunks, start=1):
        sar = {"sar_msg_ref_num": ref & 0xFFFF, "sar_total_segments": total, "sar_segment_seqnum": seq}
        if config.concat == "payload":
            parts.append(Part(b"", 0, coding, {"message_payload": chunk, **(sar if total > 1 else {})}))
        elif total == 1:
            parts.append(Part(chunk, 0, coding))
        elif config.concat == "udh":
            udh = bytes((5, 0, 3, ref & 0xFF, total, seq))
            parts.append(Part(udh + chunk, ESM_UDHI, coding))
        else:
            parts.append(Part(chunk, 0, coding, sar))
    return parts


def submit_sm(
    *, sequence: int, part: Part, address: dict[str, Any], config: SmppConfig, service_type: str = ""
) -> bytes:
    """One submit_sm, byte for byte what smpplib's `make_pdu("submit_sm", …).generate()` makes of the
    same fields (`submit_sm_smpplib`, the oracle the codec tests compare it with over every concat
    mode, coding and address form): laid out here because smpplib's generic encoder costs ~60 µs a
    PDU, the largest share of a message's CPU on the sending path (docs/providers/smpp.md, Speed)."""
    short = part.short_message
    tlvs = part.tlvs
    if short and tlvs.get("message_payload"):
        raise ValueError("`message_payload` can not be used with `short_message`")
    body = b"".join(
        (
            _c_string(service_type, 6),
            bytes((address["source_addr_ton"], address["source_addr_npi"])),
            _c_string(address["source_addr"], 21),
            bytes((address["dest_addr_ton"], address["dest_addr_npi"])),
            _c_string(address["destination_addr"], 21),
            # esm_class, protocol_id, priority_flag, schedule_delivery_time and validity_period
            # (empty C strings), registered_delivery, replace_if_present_flag, data_coding,
            # sm_default_msg_id, sm_length
            bytes((part.esm_class, 0, 0, 0, 0, config.registered_delivery, 0, part.data_coding, 0, len(short))),
            short,
            *(
                (_tlv(name, tlvs[name]) for name in _SUBMIT_TLV_ORDER if tlvs.get(name) not in (None, b""))
                if tlvs
                else ()
            ),
        )
    )
    return struct.pack(">LLLL", 16 + len(body), 4, 0, sequence) + body


def _c_string(value: str, limit: int) -> bytes:
    """smpplib's C-octet string: cut to limit - 1 characters, Latin-1, NUL-terminated."""
    return value[: limit - 1].encode("latin-1") + b"\0"


def _tlv(name: str, value: int | bytes) -> bytes:
    code, size = _TLVS[name]
    if isinstance(value, bytes):
        return struct.pack(">HH", code, len(value)) + value
    return struct.pack(">HH", code, size) + value.to_bytes(size, "big")


# The TLVs a Part carries, in smpplib's order for submit_sm, with their tag and size (its tables).
_SUBMIT_TLV_ORDER = ("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum", "message_payload")
_TLVS = {
    name: (smpplib_command.get_optional_code(name), getattr(smpplib_command.SubmitSM.params[name], "size", 0))
    for name in _SUBMIT_TLV_ORDER
}


def submit_sm_smpplib(
    *, sequence: int, part: Part, address: dict[str, Any], config: SmppConfig, service_type: str = ""
) -> bytes:
    """smpplib's own encoding of the same submit_sm: the oracle `submit_sm` is tested against."""
    pdu = smpplib_smpp.make_pdu(
        "submit_sm",
        client=None,
        sequence=sequence,
        service_type=service_type,
        esm_class=part.esm_class,
        protocol_id=0,
        priority_flag=0,
        registered_delivery=config.registered_delivery,
        data_coding=part.data_coding,
        short_message=part.short_message or None,
        **address,
        **part.tlvs,
    )
    pdu.sequence = sequence  # smpplib ignores a `sequence` keyword once it has a client's default
    return bytes(pdu.generate())


def pdu(command: str, *, sequence: int, status: int = 0, **fields: Any) -> bytes:
    """Any other PDU (bind_*, enquire_link, deliver_sm_resp, unbind, generic_nack…)."""
    made = smpplib_smpp.make_pdu(command, client=None, sequence=sequence, status=status, **fields)
    made.sequence = sequence
    return bytes(made.generate())


_RESPONSES: dict[str, bytes] = {}


def response(command: str, *, sequence: int, status: int = 0) -> bytes:
    """A response whose body never changes (deliver_sm_resp with the empty message_id SMPP 3.4
    requires, enquire_link_resp, unbind_resp, generic_nack): smpplib's encoding, made once per
    command, with this PDU's command_status and sequence_number set in the header. One per receipt,
    so it is on the receiving hot path: ~10 µs through make_pdu, < 1 µs this way (docs/providers/smpp.md, Speed)."""
    template = _RESPONSES.get(command)
    if template is None:
        fields: dict[str, Any] = {"message_id": ""} if command == "deliver_sm_resp" else {}
        template = _RESPONSES[command] = pdu(command, sequence=1, **fields)
    return template[:8] + struct.pack(">LL", status, sequence) + template[16:]


def header(data: bytes) -> tuple[int, int, int, int]:
    """(command_length, command_id, command_status, sequence_number)."""
    return struct.unpack(">LLLL", data[:16])


def parse(data: bytes) -> Any:
    """A PDU object (smpplib's; unknown TLVs skipped), or None for a command smpplib does not know."""
    return smpplib_smpp.parse_pdu(data, client=None, sequence=0, allow_unknown_opt_params=True)


class _Unusual(Exception):  # noqa: N818 - a signal to take smpplib's parse
    pass


_DELIVER = smpplib_command.DeliverSM
_DELIVER_MANDATORY = _DELIVER.params_order[: _DELIVER.params_order.index("short_message") + 1]
_DELIVER_PARAMS = tuple(_DELIVER.params)
_OPTIONAL_NAMES: dict[int, str] = {}
for _name, _code in smpplib_consts.OPTIONAL_PARAMS.items():
    _OPTIONAL_NAMES.setdefault(_code, _name)  # smpplib's get_optional_name: the first name of a code


def parse_deliver(data: bytes) -> Any:
    """A deliver_sm's fields exactly as smpplib's `parse` gives them (the oracle it is tested
    against, unknown TLVs skipped), read directly: smpplib's generic parse cost ~56 µs a PDU, a
    third of the bind's loop thread at speed (one per receipt). Anything unusual — a field cut
    short, a TLV whose length smpplib would misread, one it does not allow in deliver_sm — goes
    through smpplib's own parse, so what is read (or refused) is smpplib's either way."""
    try:
        return _deliver_fields(data)
    except (_Unusual, IndexError, struct.error):
        return parse(data)


class DeliverSm:
    """A deliver_sm read by `_deliver_fields`: every field smpplib's DeliverSM has reads None unless
    the PDU carries it (class attributes), so a PDU costs only the fields it has."""

    command = "deliver_sm"

    def __init__(self, status: int, sequence: int, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)
        self.status = status
        self.sequence = sequence


for _name in _DELIVER_PARAMS:
    setattr(DeliverSm, _name, None)
_INT, _STR, _OCTETS = 0, 1, 2
_MANDATORY_KINDS = tuple(
    (name, _INT if _DELIVER.params[name].type is int else _STR if _DELIVER.params[name].type is str else _OCTETS)
    for name in _DELIVER_MANDATORY
)
_HEADER = struct.Struct(">LLLL")
_TLV = struct.Struct(">HH")


def _deliver_fields(data: bytes) -> Any:
    length, command_id, status, sequence = _HEADER.unpack_from(data)
    end = len(data)
    if command_id != 5 or length != end:
        raise _Unusual
    fields: dict[str, Any] = {}
    pos = 16
    for name, kind in _MANDATORY_KINDS:
        if pos == end:
            raise _Unusual  # smpplib leaves the rest None: its parse says so
        if kind == _INT:
            fields[name] = data[pos]
            pos += 1
        elif kind == _STR:
            nul = data.find(b"\0", pos)
            if nul < 0:
                raise _Unusual
            fields[name], pos = data[pos:nul], nul + 1
        else:  # short_message, sm_length octets
            size = fields["sm_length"]
            if pos + size > end:
                raise _Unusual
            fields[name], pos = data[pos : pos + size], pos + size
    while pos < end:
        tag, size = _TLV.unpack_from(data, pos)
        pos += 4
        name = _OPTIONAL_NAMES.get(tag)
        if name is None:
            pos += size  # unknown: skipped, as smpplib's allow_unknown_opt_params does
            continue
        param = _DELIVER.params.get(name)
        if param is None or pos + size > end:
            raise _Unusual
        if param.type is int:
            if size != param.size:
                raise _Unusual
            fields[name] = int.from_bytes(data[pos : pos + size], "big")
        elif param.type is str:
            if size < 1:
                raise _Unusual
            fields[name] = data[pos : pos + size - 1]
        else:
            fields[name] = data[pos : pos + size]
        pos += size
    if pos != end:
        raise _Unusual
    return DeliverSm(status, sequence, fields)


# submit_sm_resp command_status → what happens (SPEC §10 `smpp` row).
ESME_ROK = 0x00
ESME_RSYSERR = 0x08
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
TRANSIENT = {ESME_RTHROTTLED: 30.0, ESME_RMSGQFUL: 180.0, ESME_RSYSERR: 30.0}  # retry_after, as Jasmin waits


def error_code(status: int) -> str:
    return f"smpp_0x{status:08x}"
