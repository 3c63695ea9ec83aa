"""The smpp connector against the test SMSC (tests/smsc: npm `smpp` 0.5.1 in its own process).

The database side is replaced by a recorder of the binds' effects (effects.py) so these tests see
exactly what the binds hand over; test_smpp_delivery.py runs the real store end to end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from broadcasts.connectors import OutboundMessage
from broadcasts.smpp import effects
from broadcasts.smpp.connector import SmppConnector, close_pools
from tests.helpers import run_async
from tests.smsc import PERMANENT, QUEUE_FULL, THROTTLED, number

GSM_BOUNDARY = "c" * 152 + "€" + "d" * 100
UCS2_BOUNDARY = "Ж" * 66 + "😀" + "Ж" * 10


class Recorder:
    def __init__(self) -> None:
        self.delivered: list[Any] = []
        self.parts: list[tuple[int, list[str]]] = []
        self.slowed: list[float] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False

    def delivers_store(self, *, connector_id: str, pdus: list[Any]) -> None:
        self.gate.wait(10)
        if self.fail:
            raise RuntimeError("database down")
        self.delivered.extend(pdus)

    def parts_record(self, *, connector_name: str, parts: list[tuple[int, list[str]]]) -> None:
        self.parts.extend(parts)

    def pacing_slow(self, *, connector_id: str, seconds: float) -> None:
        self.slowed.append(seconds)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    kept = effects.registered
    effects.registered = recorder = Recorder()
    yield recorder
    close_pools()
    effects.registered = kept


def plugin(smsc: Any, name: str = "smpp-test", **config: Any) -> SmppConnector:
    cfg = SmppConnector.validate_config({"host": smsc.host, "port": smsc.port, "system_id": "herald", **config})
    return SmppConnector(connector_id=uuid.uuid4().hex, name=name, channel="sms", config=cfg)


def out(i: int, to: str, text: str = "Hello") -> OutboundMessage:
    return OutboundMessage(id=i, to=f"+{to}", channel="sms", sender="Herald", text=text)


def test_never_more_than_window_unanswered(smsc_factory: Any, recorder: Recorder) -> None:
    smsc = smsc_factory(RESP_DELAY_MS=20, DLR_DELAY_MS=100000)
    results = plugin(smsc, name="smpp-window", window=5).send([out(i, f"25677{i:07d}") for i in range(200)])
    assert all(r.accepted for r in results)
    assert len({r.provider_message_id for r in results}) == 200
    stats = smsc.stats()
    assert stats["max_unanswered"] == 5  # the window is used, and never exceeded
    assert stats["binds"] == 1
    # SPEC §2: SMPP binds up and window in use, by connector (accounts.metrics).
    gauge = lambda name: REGISTRY.get_sample_value(name, {"connector": "smpp-window"})  # noqa: E731
    assert (gauge("herald_smpp_binds_up"), gauge("herald_smpp_window_size"), gauge("herald_smpp_window_in_use")) == (
        1.0,
        5.0,
        0.0,
    )
    close_pools()
    assert (gauge("herald_smpp_binds_up"), gauge("herald_smpp_window_size")) == (0.0, 0.0)


def test_a_group_goes_over_every_bind_each_within_its_window(smsc_factory: Any, recorder: Recorder) -> None:
    # `binds` sessions per connector: a group's messages are spread over them in turn, each bind
    # keeping its own window; a bind dropped is made again for the next group.
    smsc = smsc_factory(RESP_DELAY_MS=20, DLR_DELAY_MS=100000)
    connector = plugin(smsc, name="smpp-binds", window=4, binds=3)
    results = connector.send([out(i, f"25677{i:07d}") for i in range(90)])
    assert all(r.accepted for r in results)
    sessions = [s for s in smsc.stats()["sessions"] if s["bound_at"]]
    assert sorted(s["submits"] for s in sessions) == [30, 30, 30]
    assert {s["max_unanswered"] for s in sessions} == {4}
    smsc.drop(session=sessions[0]["id"], how="destroy")
    smsc.wait_for(lambda stats: stats["open_sessions"] == 2, what="one bind dropped")
    results = connector.send([out(100 + i, f"25678{i:07d}") for i in range(30)])
    assert all(r.accepted for r in results)
    assert (smsc.stats()["submits"], smsc.stats()["binds"], smsc.stats()["open_sessions"]) == (120, 4, 3)


def test_statuses_map_to_outcomes(smsc: Any, recorder: Recorder) -> None:
    results = plugin(smsc, response_timeout=0.5).send(
        [
            out(1, number(THROTTLED)),
            out(2, number(QUEUE_FULL)),
            out(3, number(PERMANENT)),
            out(4, number("888")),
            out(5, number("123")),
        ]
    )
    by_id = {r.message_id: r for r in results}
    assert (by_id[1].transient, by_id[1].error_code, by_id[1].retry_after) == (True, "smpp_0x00000058", 30.0)
    assert (by_id[2].transient, by_id[2].error_code) == (True, "smpp_0x00000014")
    assert (by_id[3].transient, by_id[3].error_code) == (False, "smpp_0x0000000b")
    assert (by_id[4].unknown, by_id[4].error_code) == (True, "delivery_unknown")  # no answer: never resent
    assert by_id[5].accepted
    assert by_id[5].provider_message_id
    assert recorder.slowed == [1.0]  # 0x58 slowed the connector


@pytest.mark.parametrize("concat", ["udh", "sar", "payload"])
@pytest.mark.parametrize(("text", "coding", "lengths"), [(GSM_BOUNDARY, 0, [152, 102]), (UCS2_BOUNDARY, 8, [66, 12])])
def test_long_texts_go_as_exactly_their_segments(
    smsc: Any, recorder: Recorder, concat: str, text: str, coding: int, lengths: list[int]
) -> None:
    [result] = plugin(smsc, concat=concat).send([out(1, number("100"), text)])
    submits = smsc.submits()
    assert len(submits) == 2
    assert [s["data_coding"] for s in submits] == [coding, coding]
    assert [s["length"] for s in submits] == lengths
    assert "".join(s["text"] for s in submits) == text
    concat_info = [s["udh"] if concat == "udh" else s["sar"] for s in submits]
    assert [(c["total"], c["seq"]) for c in concat_info] == [(2, 1), (2, 2)]
    assert concat_info[0]["ref"] == concat_info[1]["ref"]
    assert result.provider_message_id == submits[0]["message_id"]
    assert recorder.parts == [(1, [s["message_id"] for s in submits])]


def test_a_deliver_sm_is_answered_only_after_it_is_stored(smsc_factory: Any, recorder: Recorder) -> None:
    smsc = smsc_factory(DLR_DELAY_MS=0)
    recorder.gate.clear()
    [result] = plugin(smsc).send([out(1, number("100"))])
    smsc.wait_for(lambda s: s["receipts_sent"] == 1, what="the receipt sent")
    time.sleep(0.3)
    assert smsc.stats()["receipts_acked"] == 0  # the store has not returned yet
    recorder.gate.set()
    smsc.wait_for(lambda s: s["receipts_acked"] == 1, what="the receipt acknowledged")
    [pdu] = recorder.delivered
    assert pdu.receipted_message_id.rstrip(b"\0").decode() == result.provider_message_id


def test_a_deliver_sm_not_stored_is_refused_and_comes_again(smsc_factory: Any, recorder: Recorder) -> None:
    smsc = smsc_factory(DLR_DELAY_MS=0, REDELIVER_MS=200)
    recorder.fail = True
    plugin(smsc).send([out(1, number("100"))])
    smsc.wait_for(lambda s: s["deliver_sm_nacked"] >= 1, what="a refused receipt")
    recorder.fail = False
    smsc.wait_for(lambda s: s["receipts_acked"] == 1, what="the receipt again, stored")
    assert len(recorder.delivered) == 1


def test_killed_smsc_in_flight_is_unknown_then_reconnects(smsc_factory: Any, recorder: Recorder) -> None:
    smsc = smsc_factory(RESP_DELAY_MS=2000, DLR_DELAY_MS=100000)
    connector = plugin(smsc, response_timeout=5)
    future = connector.submit([out(i, number(f"{i:03d}")) for i in range(1, 4)])
    smsc.wait_for(lambda s: s["submits"] == 3, what="three submits in flight")
    smsc.kill()
    results = future.result(timeout=10)
    assert [(r.unknown, r.error_code) for r in results] == [(True, "delivery_unknown")] * 3
    smsc.restart(RESP_DELAY_MS=0)
    deadline = time.monotonic() + 10
    while True:  # a first send may fall in the reconnect backoff: not sent, transient
        [again] = connector.send([out(9, number("100"))])
        if again.accepted or time.monotonic() > deadline:
            break
        assert again.transient
        assert again.error_code == "connection_error"
        time.sleep(0.5)
    assert again.accepted


def test_an_idle_bind_outlives_two_enquire_link_intervals(smsc: Any, recorder: Recorder) -> None:
    connector = plugin(smsc, enquire_link_interval=1)
    assert connector.send([out(1, number("100"))])[0].accepted
    # Polled, not slept: the interval counts idle time from the last PDU (the receipt comes ~0.2 s
    # after the send), so a fixed 2.6 s left a loaded machine little room for the second one.
    smsc.wait_for(lambda s: s["enquire_links"] >= 2, 8, "two enquire_links on the idle bind")
    assert connector.send([out(2, number("101"))])[0].accepted
    stats = smsc.stats()
    assert (stats["binds"], stats["drops"]) == (1, 0)


def test_a_refused_bind_sends_nothing_and_is_transient(smsc_factory: Any, recorder: Recorder) -> None:
    smsc = smsc_factory(ACCOUNTS="herald:right")
    connector = plugin(smsc, password="wrong")
    results = connector.send([out(1, number("100")), out(2, number("101"))])
    assert [(r.accepted, r.transient, r.error_code) for r in results] == [(False, True, "connection_error")] * 2
    stats = smsc.stats()
    assert (stats["submits"], stats["bind_failures"]) == (0, 2)  # tried again once, after the first backoff


def test_a_worker_process_that_exits_unbinds(smsc_factory: Any, recorder: Recorder) -> None:
    # Celery's worker_process_shutdown (config/celery.py) ends this process's binds with an unbind
    # (SMPP 3.4 §4.2), not a dropped connection.
    from celery.signals import worker_process_shutdown

    from config.celery import _mark_metrics_process_dead

    smsc = smsc_factory()
    assert plugin(smsc, name="smpp-exit").send([out(1, number("123"))])[0].accepted
    assert smsc.stats()["binds"] == 1
    assert _mark_metrics_process_dead in [ref() for _key, ref in worker_process_shutdown.receivers]
    worker_process_shutdown.send(sender=None, pid=None, exitcode=0)
    smsc.wait_for(lambda stats: stats["unbinds"] == 1, what="the unbind")
    assert smsc.stats()["drops"] == 0


def _self_signed(tmp_path: Any) -> tuple[str, str]:
    """A key and a self-signed CA certificate for 127.0.0.1 (IP SAN), as PEM files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test SMSC")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = tmp_path / "smsc.key", tmp_path / "smsc.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(cert_file)


def test_tls_binds_sends_and_receives_over_tls(
    smsc_factory: Any, recorder: Recorder, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `tls: true` (SPEC §10): the bind is made over TLS and the SMSC's certificate is verified
    # against the trusted CAs; a private CA is trusted the standard way, SSL_CERT_FILE.
    key_file, cert_file = _self_signed(tmp_path)
    smsc = smsc_factory(TLS_KEY_FILE=key_file, TLS_CERT_FILE=cert_file, DLR_DELAY_MS=50)
    monkeypatch.setenv("SSL_CERT_FILE", cert_file)
    results = plugin(smsc, name="smpp-tls", tls=True).send([out(1, number("123")), out(2, number("124"))])
    assert all(r.accepted for r in results)
    assert smsc.stats()["binds"] == 1
    deadline = time.monotonic() + 10
    while len(recorder.delivered) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(recorder.delivered) == 2  # receipts came back over the TLS bind


def test_tls_refuses_an_smsc_whose_certificate_is_not_trusted(
    smsc_factory: Any, recorder: Recorder, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file, cert_file = _self_signed(tmp_path)
    smsc = smsc_factory(TLS_KEY_FILE=key_file, TLS_CERT_FILE=cert_file)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    result = plugin(smsc, name="smpp-tls-untrusted", tls=True, response_timeout=2).send([out(1, number("123"))])[0]
    assert (result.accepted, result.transient, result.error_code) == (False, True, "connection_error")
    assert smsc.stats()["binds"] == 0  # nothing was bound, nothing sent


def test_an_unbind_from_the_smsc_is_answered_and_the_bind_made_again(smsc: Any, recorder: Recorder) -> None:
    # SMPP 3.4 §4.2: the SMSC may end a session with an unbind, which the ESME answers with
    # unbind_resp before the connection closes; the next send binds again.
    connector = plugin(smsc, name="smpp-unbound")
    assert connector.send([out(1, number("123"))])[0].accepted
    smsc.drop(how="unbind")
    smsc.wait_for(lambda stats: stats["unbind_resps"] == 1, what="the unbind_resp")
    smsc.wait_for(lambda stats: stats["open_sessions"] == 0, what="the session's end")
    assert connector.send([out(2, number("124"))])[0].accepted
    assert smsc.stats()["binds"] == 2


def test_a_message_no_pdu_can_carry_fails_alone(smsc: Any, recorder: Recorder) -> None:
    # A sender outside Latin-1 cannot be a C-octet string: that message fails as invalid, never
    # written; the rest of its group goes.
    odd = OutboundMessage(id=2, to=f"+{number('101')}", channel="sms", sender="ΩShop", text="Hello")
    results = plugin(smsc).send([out(1, number("100")), odd, out(3, number("102"))])
    assert [(r.accepted, r.error_code) for r in results] == [(True, ""), (False, "smpp_invalid_message"), (True, "")]
    assert smsc.stats()["submits"] == 2


def test_submit_many_gives_back_the_window_of_a_pdu_it_could_not_make(smsc: Any, recorder: Recorder) -> None:
    from broadcasts.smpp import codec
    from broadcasts.smpp.config import SmppConfig
    from broadcasts.smpp.session import Session

    config = SmppConfig.from_dict({"host": smsc.host, "port": smsc.port, "system_id": "herald", "window": 1})
    part = codec.parts_for("Hello", config, ref=0)[0]
    address = codec.addresses("Herald", number("100"), config)

    def good(sequence: int) -> bytes:
        return codec.submit_sm(sequence=sequence, part=part, address=address, config=config)

    def bad(sequence: int) -> bytes:
        raise ValueError("no PDU")

    async def main() -> tuple[list[Any], int]:
        session = Session(config, mode="bind_transceiver", on_deliver=None, name="smpp-many")
        await session.connect()
        outcomes = await session.submit_many([good, bad, good])  # window 1: the bad one must free it
        in_flight = session.in_flight
        await session.close(unbind=True)
        return outcomes, in_flight

    outcomes, in_flight = run_async(main())
    assert [o[0] if isinstance(o, tuple) else type(o).__name__ for o in outcomes] == [0, "ValueError", 0]
    assert in_flight == 0
    assert smsc.stats()["submits"] == 2


def test_submit_many_times_out_the_unanswered_alone_and_frees_its_window(smsc: Any, recorder: Recorder) -> None:
    """One deadline sweep for the bind (not a timer a PDU): the PDU the SMSC never answers fails
    Unanswered once response_timeout has passed, the answered ones around it are not held up, and
    its place in the window is free again; a waiter that is cancelled keeps the PDU in the window
    until its deadline (it is still unanswered on the wire)."""
    from broadcasts.smpp import codec
    from broadcasts.smpp.config import SmppConfig
    from broadcasts.smpp.session import Session, Unanswered

    config = SmppConfig.from_dict(
        {"host": smsc.host, "port": smsc.port, "system_id": "herald", "window": 2, "response_timeout": 0.5}
    )
    part = codec.parts_for("Hello", config, ref=0)[0]

    def to(suffix: str) -> Any:
        address = codec.addresses("Herald", number(suffix), config)
        return lambda sequence: codec.submit_sm(sequence=sequence, part=part, address=address, config=config)

    async def main() -> dict[str, Any]:
        import asyncio

        session = Session(config, mode="bind_transceiver", on_deliver=None, name="smpp-deadline")
        await session.connect()
        started = time.monotonic()
        outcomes = await session.submit_many([to("100"), to("888"), to("101"), to("102"), to("103")])
        elapsed = time.monotonic() - started
        after = (session.in_flight, len(session.windowed), len(session.deadlines), len(session.pending))
        waiter = asyncio.ensure_future(session.submit_many([to("888")]))
        await asyncio.sleep(0.1)
        waiter.cancel()
        await asyncio.sleep(0.1)
        held = session.in_flight
        await asyncio.sleep(0.5)
        released = session.in_flight
        await session.close(unbind=True)
        return {"outcomes": outcomes, "elapsed": elapsed, "after": after, "held": held, "released": released}

    got = run_async(main())
    kinds = [o[0] if isinstance(o, tuple) else type(o) for o in got["outcomes"]]
    assert kinds == [0, Unanswered, 0, 0, 0]
    assert 0.45 <= got["elapsed"] < 2.0
    assert got["after"] == (0, 0, 0, 0)
    assert (got["held"], got["released"]) == (1, 0)
    assert smsc.stats()["submits"] == 6
