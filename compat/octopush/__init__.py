"""Octopush API v1 (SPEC §14, COMPAT.md §3.1): `POST sms-campaign/send` and `GET wallet/check-balance`
under /octopush/v1/public/, with Octopush's headers, field names, numeric error codes and JSON
numbers, translated onto the native services. Deviations: docs/compat.md, "Octopush API v1"."""
