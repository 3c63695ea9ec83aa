"""RapidPro API v2 (SPEC §14, COMPAT.md §2): `rapidpro-python`'s `TembaClient` pointed at Herald."""
