"""Teekrr (seed 000, SPEC §14, COMPAT.md §5): `POST /teekrr/sms`, Teekrr's camelCase create body
renamed onto the native create (`broadcast_create`), answered `{"data": {...}}` with money as
strings like the native API. Errors are Herald's envelope with Teekrr's field names, plus Teekrr's
own top-level `message` (and `errors` on a 400). Decisions and deviations: docs/compat.md, "Teekrr
(seed 000)"."""
