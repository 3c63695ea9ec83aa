"""The smpp connector's pure parts: config validation, text → submit_sm parts, receipts, MO."""

from __future__ import annotations

import random
import re
import struct
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from broadcasts.connectors import REGISTRY
from broadcasts.smpp import codec
from broadcasts.smpp import receipts as receipts_module
from broadcasts.smpp.config import SmppConfig, stored
from broadcasts.smpp.connector import _result_for_status
from broadcasts.smpp.receipts import MoPart, is_receipt, mo_from, normalize_id, parse_text, receipt_from
from templates_app.encoding import analyze, split_segments

BASE = {"host": "127.0.0.1", "system_id": "herald"}


def config(**extra: Any) -> SmppConfig:
    return SmppConfig.from_dict({**BASE, **extra})


# --- config ------------------------------------------------------------------------------------


def test_config_defaults_are_the_spec_defaults() -> None:
    assert stored(BASE) == {
        **BASE,
        "port": 2775,
        "password": "",
        "system_type": "",
        "bind": "trx",
        "binds": 1,
        "window": 10,
        "tls": False,
        "enquire_link_interval": 30.0,
        "response_timeout": 10.0,
        "source_ton": "auto",
        "source_npi": "auto",
        "dest_ton": 1,
        "dest_npi": 1,
        "registered_delivery": 1,
        "gsm7_charset": "gsm0338",
        "concat": "udh",
        "receipt_id_format": "same",
    }


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        ({"host": ""}, "config.host"),
        ({"system_id": "x" * 16}, "config.system_id"),
        ({"password": "123456789"}, "config.password"),
        ({"port": "2775"}, "config.port"),
        ({"port": 70000}, "config.port"),
        ({"window": 0}, "config.window"),
        ({"binds": True}, "config.binds"),
        ({"bind": "rx"}, "config.bind"),
        ({"concat": "udh16"}, "config.concat"),
        ({"gsm7_charset": "utf8"}, "config.gsm7_charset"),
        ({"receipt_id_format": "hex"}, "config.receipt_id_format"),
        ({"tls": "yes"}, "config.tls"),
        ({"enquire_link_interval": 0}, "config.enquire_link_interval"),
        ({"response_timeout": "10"}, "config.response_timeout"),
        ({"source_ton": 9}, "config.source_ton"),
        ({"colour": "blue"}, "config.colour"),
    ],
)
def test_a_bad_config_names_the_key(bad: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        REGISTRY["smpp"].validate_config({**BASE, **bad})
    assert key in caught.value.message_dict


def test_the_password_is_masked() -> None:
    assert REGISTRY["smpp"].masked_config({**BASE, "password": "secret"})["password"] == "••••••••"
    assert REGISTRY["smpp"].idempotent is False


# --- parts -------------------------------------------------------------------------------------

GSM_BOUNDARY = "c" * 152 + "€" + "d" * 100  # the escape pair would straddle septet 153
UCS2_BOUNDARY = "Ж" * 66 + "😀" + "Ж" * 10  # the surrogate pair would straddle unit 67


@pytest.mark.parametrize("concat", ["udh", "sar", "payload"])
@pytest.mark.parametrize("text", ["Hello", "€" + "a" * 159, GSM_BOUNDARY, UCS2_BOUNDARY, "Ж" * 70, "a" * 160])
def test_parts_are_exactly_the_priced_segments(text: str, concat: str) -> None:
    parts = codec.parts_for(text, config(concat=concat), ref=0x1234)
    info = analyze(text)
    assert len(parts) == info.segments
    coding = 0 if info.encoding == "gsm7" else 8
    texts = []
    for seq, part in enumerate(parts, start=1):
        assert part.data_coding == coding
        body = part.tlvs.get("message_payload") if concat == "payload" else part.short_message
        if concat == "udh" and len(parts) > 1:
            assert part.esm_class == 0x40
            assert body[:6] == bytes((5, 0, 3, 0x34, len(parts), seq))
            body = body[6:]
        if concat in ("sar", "payload") and len(parts) > 1:
            assert part.tlvs["sar_msg_ref_num"] == 0x1234
            assert (part.tlvs["sar_total_segments"], part.tlvs["sar_segment_seqnum"]) == (len(parts), seq)
        texts.append(codec.decode_text(body, coding))
    assert texts == split_segments(text)


def test_an_escape_pair_and_a_surrogate_pair_start_the_next_part() -> None:
    gsm = codec.parts_for(GSM_BOUNDARY, config(), ref=1)
    assert [len(p.short_message) - 6 for p in gsm] == [152, 102]  # octets = septets, unpacked
    assert gsm[1].short_message[6:8] == b"\x1b\x65"  # € = ESC e, whole, in part 2
    ucs2 = codec.parts_for(UCS2_BOUNDARY, config(), ref=1)
    assert ucs2[1].short_message[6:10] == "😀".encode("utf-16-be")


@pytest.mark.parametrize(("charset", "expected"), [("gsm0338", b"\x00\x1b\x65A"), ("latin1", b"@?A")])
def test_gsm7_charset(charset: str, expected: bytes) -> None:
    assert codec.parts_for("@€A", config(gsm7_charset=charset), ref=1)[0].short_message == expected


def test_submit_sm_decodes_with_the_fields_herald_set() -> None:
    cfg = config(registered_delivery=1, concat="sar")
    part = codec.parts_for("Ж" * 80, cfg, ref=300)[1]
    raw = codec.submit_sm(sequence=42, part=part, address=codec.addresses("Herald", "+256772000001", cfg), config=cfg)
    assert codec.header(raw)[1:] == (4, 0, 42)
    pdu = codec.parse(raw)
    assert (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr) == (5, 0, b"Herald")
    assert (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr) == (1, 1, b"256772000001")
    assert (pdu.data_coding, pdu.registered_delivery, pdu.sar_msg_ref_num, pdu.sar_segment_seqnum) == (8, 1, 300, 2)


@pytest.mark.parametrize("concat", ["udh", "sar", "payload"])
@pytest.mark.parametrize(
    "text",
    ["Hi Name7, your code is 1234.", "", "x" * 160, "x" * 161, "€" * 80, "Ж" * 70, "Ж" * 71, "😀" * 40],
    ids=["short", "empty", "160", "161", "euros", "ucs2-70", "ucs2-71", "emoji"],
)
def test_submit_sm_is_byte_for_byte_smpplibs_encoding(concat: str, text: str) -> None:
    # The sending path lays submit_sm out itself (speed); smpplib's generic encoder is the oracle,
    # over every concat mode, both codings, one and several parts, every address form, the ref's
    # range, the registered_delivery flag and the limits smpplib cuts strings to.
    senders = ["Herald", "+256700111222", "8080", "A" * 30, "Café"]
    destinations = ["+256772000001", "1", "9" * 25]
    for delivery, ton in ((0, "auto"), (1, 0), (17, 5)):
        cfg = config(concat=concat, registered_delivery=delivery, source_ton=ton, source_npi=ton, dest_ton=2)
        for ref in (0, 255, 300, 0xFFFF):
            for part in codec.parts_for(text, cfg, ref=ref) or [codec.Part(b"", 0, 0)]:
                for sender in senders:
                    for to in destinations:
                        address = codec.addresses(sender, to, cfg)
                        for service_type in ("", "CMT", "TOOLONGX"):
                            fields = {"part": part, "address": address, "config": cfg, "service_type": service_type}
                            for sequence in (1, 0x7FFFFFFF):
                                made = codec.submit_sm(sequence=sequence, **fields)
                                assert made == codec.submit_sm_smpplib(sequence=sequence, **fields)


def test_submit_sm_refuses_what_smpplib_refuses() -> None:
    cfg = config()
    address = codec.addresses("Herald", "+1", cfg)
    both = codec.Part(b"hi", 0, 0, {"message_payload": b"hi"})
    for encode in (codec.submit_sm, codec.submit_sm_smpplib):
        with pytest.raises(ValueError, match="message_payload"):
            encode(sequence=1, part=both, address=address, config=cfg)
        with pytest.raises(UnicodeEncodeError):
            encode(sequence=1, part=codec.Part(b"hi", 0, 0), address={**address, "source_addr": "Ж"}, config=cfg)


def _delivers() -> list[bytes]:
    """deliver_sm as SMSCs send them, made by smpplib: receipts (text, TLVs, both), MO (UDH, SAR,
    payload, UCS-2), an empty short_message with and without TLVs, an unknown TLV, network_error_code."""
    from smpplib import smpp

    receipt = b"id:0A1B2C sub:001 dlvrd:001 submit date:2612070010 done date:2612070011 stat:DELIVRD err:000 text:Hi"
    made = [
        {"esm_class": 4, "short_message": receipt},
        {"esm_class": 4, "short_message": receipt, "receipted_message_id": "0A1B2C", "message_state": 2},
        {"esm_class": 4, "receipted_message_id": "0A1B2C", "message_state": 5, "network_error_code": b"\x03\x00\x0a"},
        {"short_message": b"STOP"},
        {"esm_class": 0x40, "short_message": bytes((5, 0, 3, 7, 2, 1)) + b"first half", "data_coding": 0},
        {"short_message": "Привет".encode("utf-16-be"), "data_coding": 8},
        {"short_message": b"part", "sar_msg_ref_num": 300, "sar_total_segments": 2, "sar_segment_seqnum": 2},
        {"message_payload": b"a long MO in a payload" * 5},
        {},
        {"user_message_reference": 9},
    ]
    pdus = []
    for i, extra in enumerate(made):
        fields = {"source_addr": f"2567720000{i:02d}", "destination_addr": "8080", "source_addr_ton": 1, **extra}
        pdu = smpp.make_pdu("deliver_sm", client=None, sequence=i + 1, **fields)
        pdu.sequence = i + 1
        pdus.append(bytes(pdu.generate()))
    unknown_tlv = struct.pack(">HH", 0x1403, 3) + b"abc"  # a vendor TLV: skipped
    with_unknown = pdus[1] + unknown_tlv
    pdus.append(struct.pack(">L", len(with_unknown)) + with_unknown[4:])
    return pdus


def _fields(pdu: Any) -> dict[str, Any] | None:
    from smpplib import command

    if pdu is None:
        return None
    names = ["command", "status", "sequence", *command.DeliverSM.params]
    return {name: getattr(pdu, name, None) for name in names}


def _smpplib(data: bytes) -> dict[str, Any] | str:
    try:
        return _fields(codec.parse(data)) or "none"
    except Exception as exc:  # noqa: BLE001 - compared: both refuse alike
        return type(exc).__name__


def _herald(data: bytes) -> dict[str, Any] | str:
    try:
        return _fields(codec.parse_deliver(data)) or "none"
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__


def test_a_deliver_sm_reads_as_smpplib_reads_it() -> None:
    # The bind reads deliver_sm itself (speed); smpplib's parse is the oracle, field by field.
    for data in _delivers():
        assert _herald(data) == _smpplib(data)
        assert isinstance(_herald(data), dict)


def test_a_mangled_deliver_sm_reads_or_fails_as_smpplib_does() -> None:
    # Cut short, bytes flipped, lengths lied about: whatever smpplib makes of it (or refuses),
    # so does the bind. Seeded: the same 3,000 cases every run.
    rng = random.Random(23)
    pdus = _delivers()
    for _ in range(3000):
        data = bytearray(rng.choice(pdus))
        how = rng.randrange(3)
        if how == 0:
            data = data[: rng.randrange(16, len(data))]
            data[:4] = struct.pack(">L", len(data))
        elif how == 1:
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(16, len(data))] = rng.randrange(256)
        else:
            at = rng.randrange(16, len(data))
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6)))
            data[:4] = struct.pack(">L", len(data))
        assert _herald(bytes(data)) == _smpplib(bytes(data))


@pytest.mark.parametrize(
    ("command", "fields"),
    [("deliver_sm_resp", {"message_id": ""}), ("enquire_link_resp", {}), ("unbind_resp", {}), ("generic_nack", {})],
)
def test_a_templated_response_is_smpplibs_encoding(command: str, fields: dict[str, Any]) -> None:
    # The session answers every deliver_sm from a template (speed): byte for byte smpplib's PDU.
    for sequence, status in ((1, 0), (0x7FFFFFFF, 0x64), (12345, 0x65), (7, 0x03)):
        made = codec.response(command, sequence=sequence, status=status)
        assert made == codec.pdu(command, sequence=sequence, status=status, **fields)
        assert codec.header(made)[2:] == (status, sequence)


@pytest.mark.parametrize(
    ("sender", "ton_npi", "address"), [("+256700111222", (1, 1), "256700111222"), ("8080", (3, 1), "8080")]
)
def test_source_ton_npi_auto(sender: str, ton_npi: tuple[int, int], address: str) -> None:
    fields = codec.addresses(sender, "+1", config())
    assert (fields["source_addr_ton"], fields["source_addr_npi"], fields["source_addr"]) == (*ton_npi, address)


# --- submit_sm_resp statuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "transient", "retry_after", "code"),
    [
        (0x58, True, 30.0, "smpp_0x00000058"),
        (0x14, True, 180.0, "smpp_0x00000014"),
        (0x08, True, 30.0, "smpp_0x00000008"),
        (0x0B, False, None, "smpp_0x0000000b"),
        (0x45, False, None, "smpp_0x00000045"),
    ],
)
def test_status_mapping(status: int, transient: bool, retry_after: float | None, code: str) -> None:
    result = _result_for_status(7, status, first=True, seq=1, total=1)
    assert (result.accepted, result.transient, result.retry_after, result.error_code) == (
        False,
        transient,
        retry_after,
        code,
    )


def test_a_later_part_refused_fails_for_good() -> None:
    result = _result_for_status(7, 0x58, first=False, seq=2, total=2)
    assert (result.transient, result.error_code) == (False, "smpp_0x00000058")


# --- receipts ----------------------------------------------------------------------------------


def deliver(text: str = "", esm_class: int = 4, **tlvs: Any) -> Any:
    return SimpleNamespace(short_message=text.encode("latin-1"), esm_class=esm_class, **tlvs)


APPENDIX_B = (
    "id:00000000a1 sub:001 dlvrd:001 submit date:2612060316 done date:261206031759 stat:DELIVRD err:000 text:Hello"
)
APPENDIX_B_VALUES = ["00000000a1", "001", "001", "2612060316", "261206031759", "DELIVRD", "000", "Hello"]


def test_receipt_text_10_and_12_digit_dates() -> None:
    receipt = receipt_from(deliver(APPENDIX_B))
    assert (receipt.message_id, receipt.stat, receipt.status, receipt.err) == (
        "00000000a1",
        "DELIVRD",
        "delivered",
        "000",
    )
    assert receipt.done_at.isoformat() == "2026-12-06T03:17:59+00:00"
    assert parse_text(APPENDIX_B)["submitdate"] == "2612060316"


def test_receipt_dates_read_as_strptime_reads_them() -> None:
    """The done date is read by slicing (strptime cost a tenth of the store thread); strptime with
    Appendix B's two formats is the oracle, over edge cases and seeded random digit strings."""

    def oracle(value: str) -> datetime | None:
        digits = re.sub(r"\D", "", value)
        for size, fmt in ((12, "%y%m%d%H%M%S"), (10, "%y%m%d%H%M")):
            if len(digits) == size:
                try:
                    return datetime.strptime(digits, fmt).replace(tzinfo=UTC)
                except ValueError:
                    return None
        return None

    rnd = random.Random(23)
    cases = ["2612070430", "261207043059", "991231235959", "000229000000", "010229000000", "2613010000",
             "26120704", "x2612070430y", "26 12 07 04 30", "", "261207246000", "261207043060", "690101000000",
             "680101000000", "0000000000", "2612070430\u00b2", "\u00b9261207043"]  # fmt: skip
    # (latin-1 superscripts count as digits to str.isdigit, not to \d)
    cases += ["".join(rnd.choice("0123456789") for _ in range(rnd.choice((8, 10, 11, 12)))) for _ in range(5000)]
    for case in cases:
        assert receipts_module._date(case) == oracle(case), case


def test_receipt_text_fast_reading_equals_the_tolerant_scan() -> None:
    """Appendix B's own layout is read by one match (the scan was a quarter of the store thread);
    the tolerant scan is the oracle, over receipts built from Appendix B's parts with seeded
    mutations: keys in another case, spaces doubled, values with spaces or keys inside, texts that
    name keys, newlines, empty values, fields missing."""
    rnd = random.Random(23)
    keys = ["id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text"]
    values = ["00000000a1", "001", "", "2612060316", "261206031759", "DELIVRD", "0A1", "Hello", "a b", "x:y",
              "hi stat:UNDELIV", "id:9", " lead", "trail ", "line\nbreak", "end\n", "\u00a0nbsp", "é€", "sub",
              "Stat :REJECTD", "text:", "err:"]  # fmt: skip
    fast = 0
    for _ in range(20000):
        fields = [
            (k, rnd.choice(values) if rnd.random() < 0.3 else v) for k, v in zip(keys, APPENDIX_B_VALUES, strict=True)
        ]
        if rnd.random() < 0.3:
            fields = [f for f in fields if rnd.random() < 0.9]
        if rnd.random() < 0.1:
            fields = [(k.upper() if rnd.random() < 0.5 else k, v) for k, v in fields]
        gap = " " if rnd.random() < 0.9 else rnd.choice(["  ", "\t", "\n"])
        text = gap.join(f"{k}:{v}" for k, v in fields) + rnd.choice(["", "", "", " ", "\n"])
        fast += receipts_module._CANONICAL.fullmatch(text) is not None
        assert parse_text(text) == receipts_module.parse_text_tolerant(text), text
    assert fast > 2000  # the fast reading was tried, not only the scan
    assert parse_text(APPENDIX_B) == receipts_module.parse_text_tolerant(APPENDIX_B)


def test_receipt_text_is_read_tolerantly() -> None:
    receipt = receipt_from(
        deliver("ID:77 Sub:001 DLVRD:000 Submit Date:2612060316 Done Date:2612060317 STAT:undeliv ERR:0A1")
    )
    assert (receipt.message_id, receipt.status, receipt.error_code) == ("77", "failed", "smpp_undeliv_0a1")


def test_receipt_tlvs_only() -> None:
    receipt = receipt_from(deliver("", receipted_message_id=b"abc\0", message_state=5))
    assert (receipt.message_id, receipt.status, receipt.error_code) == ("abc", "failed", "smpp_undeliv_0")


def test_tlvs_win_over_the_text() -> None:
    receipt = receipt_from(deliver(APPENDIX_B, receipted_message_id=b"ff01", message_state=3))
    assert (receipt.message_id, receipt.stat, receipt.status) == ("ff01", "EXPIRED", "failed")


@pytest.mark.parametrize("stat", ["ACCEPTD", "ENROUTE", "UNKNOWN", "WHATEVER"])
def test_other_stats_change_nothing(stat: str) -> None:
    assert receipt_from(deliver(f"id:1 stat:{stat} err:000")).status is None


def test_a_receipt_without_an_id_is_none_and_an_mo_is_not_a_receipt() -> None:
    assert receipt_from(deliver("stat:DELIVRD")) is None
    assert not is_receipt(deliver("STOP", esm_class=0))


@pytest.mark.parametrize(
    ("fmt", "given", "expected"),
    [("same", "ff", "ff"), ("hex_to_dec", "ff", "255"), ("dec_to_hex", "255", "ff"), ("hex_to_dec", "zz", "zz")],
)
def test_receipt_id_formats(fmt: str, given: str, expected: str) -> None:
    assert normalize_id(given, fmt) == expected


# --- MO ----------------------------------------------------------------------------------------


def mo(data: bytes, esm_class: int = 0, data_coding: int = 0, **tlvs: Any) -> Any:
    return SimpleNamespace(
        short_message=data,
        esm_class=esm_class,
        data_coding=data_coding,
        source_addr=b"256772000001",
        destination_addr=b"8080",
        **tlvs,
    )


def test_udh_mo_parts_name_their_ref_total_and_seq() -> None:
    # Reassembly itself is in the database (tests/broadcasts/test_smpp_mo.py).
    parts = [
        mo(bytes((5, 0, 3, 9, 2, seq)) + codec.gsm_encode(text), esm_class=0x40) for seq, text in ((1, "ST"), (2, "OP"))
    ]
    assert [mo_from(p) for p in parts] == [
        MoPart("256772000001", "8080", "ST", 9, 2, 1),
        MoPart("256772000001", "8080", "OP", 9, 2, 2),
    ]
    sixteen_bit = mo(bytes((6, 8, 4, 1, 44, 3, 3)) + b"x", esm_class=0x40)
    assert (mo_from(sixteen_bit).ref, mo_from(sixteen_bit).total, mo_from(sixteen_bit).seq) == (300, 3, 3)


def test_a_sar_ucs2_mo_part() -> None:
    first = mo("Жд".encode("utf-16-be"), data_coding=8, sar_msg_ref_num=5, sar_total_segments=2, sar_segment_seqnum=1)
    second = mo("😀".encode("utf-16-be"), data_coding=8, sar_msg_ref_num=5, sar_total_segments=2, sar_segment_seqnum=2)
    assert mo_from(first) == MoPart("256772000001", "8080", "Жд", 5, 2, 1)
    assert mo_from(second) == MoPart("256772000001", "8080", "😀", 5, 2, 2)
