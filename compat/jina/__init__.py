"""Jina Connect's broadcast API (seed 004, COMPAT.md §6) under /jina/broadcast/, a thin alias of the
native broadcasts API. Deviations: docs/compat.md, "Jina Connect (seed 004)"."""
