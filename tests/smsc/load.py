"""How fast the test SMSC itself is: N submit_sm pipelined on one bind as fast as the socket takes them,
every deliver_sm acknowledged at once (a raw client, so the figure is the simulator's, not a library's).

    .venv/bin/python -m tests.smsc.load [N=20000] [--receipts] [--no-records]
"""

from __future__ import annotations

import argparse
import struct
import threading
import time

import psutil
import smpplib.client
import smpplib.smpp

from tests.smsc import Smsc, number

SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005


def run(count: int, *, receipts: bool, records: bool) -> dict[str, float]:
    with Smsc.start(DLR_DELAY_MS=200, RECORD_SUBMITS=int(records)) as smsc:
        client = smpplib.client.Client(smsc.host, smsc.port, timeout=60, allow_unknown_opt_params=True)
        client.connect()
        client.bind_transceiver(system_id="load", password="load")
        pdu = smpplib.smpp.make_pdu(
            "submit_sm",
            client=client,
            source_addr="Herald",
            destination_addr=number("1"),
            short_message=b"hello there",
            registered_delivery=int(receipts),
        )
        blob = b"".join(pdu.generate() for _ in range(count))  # same sequence number: the SMSC does not care
        sock = client._socket
        assert smsc.process is not None
        node = psutil.Process(smsc.process.pid)
        cpu_before = sum(node.cpu_times()[:2])
        started = time.perf_counter()
        sender = threading.Thread(target=sock.sendall, args=(blob,))
        sender.start()
        buffer, answered, delivered, answered_in = b"", 0, 0, 0.0
        while answered < count or (receipts and delivered < count):
            buffer += sock.recv(1 << 20)
            acks = []
            while len(buffer) >= 16:
                length, command, _status, sequence = struct.unpack(">IIII", buffer[:16])
                if len(buffer) < length:
                    break
                buffer = buffer[length:]
                if command == SUBMIT_SM_RESP:
                    answered += 1
                    if answered == count:
                        answered_in = time.perf_counter() - started
                elif command == DELIVER_SM:
                    delivered += 1
                    acks.append(struct.pack(">IIII", 17, DELIVER_SM_RESP, 0, sequence) + b"\0")
            if acks:
                sock.sendall(b"".join(acks))
        total = time.perf_counter() - started
        cpu = sum(node.cpu_times()[:2]) - cpu_before
        sender.join()
        client.disconnect()
        return {
            "submit_sm_resp_per_s": count / answered_in,
            "end_to_end_per_s": count / total,
            # What the simulator could do with a core of its own, whatever else the machine runs.
            "per_cpu_second": count / cpu,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", type=int, nargs="?", default=20000)
    parser.add_argument("--receipts", action="store_true", help="registered_delivery=1: a receipt for each")
    parser.add_argument("--no-records", action="store_true", help="RECORD_SUBMITS=0")
    options = parser.parse_args()
    figures = run(options.count, receipts=options.receipts, records=not options.no_records)
    print(
        f"{options.count} submit_sm, receipts={options.receipts}, records={not options.no_records}: "
        f"{figures['submit_sm_resp_per_s']:,.0f} submit_sm_resp/s, {figures['end_to_end_per_s']:,.0f}/s end to end, "
        f"{figures['per_cpu_second']:,.0f} submit_sm per CPU second of the simulator"
    )


if __name__ == "__main__":
    main()
