"""SMPP 3.4 for the `smpp` connector (SPEC §10): config, PDUs, receipts, sessions, the listener.

Kept light: broadcasts.models imports `broadcasts.smpp.models`, so nothing here imports Django
models or the connector registry at import time. See docs/providers/smpp.md.
"""
