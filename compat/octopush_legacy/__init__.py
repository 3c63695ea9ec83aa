"""The legacy Octopush API (SPEC §14, COMPAT.md §3.2), as the `octopush` 1.0.0 Python package uses it:
`POST /octopush-legacy/api/sms` and `POST /octopush-legacy/api/balance`, form-encoded with
`user_login` + `api_key`, answered in XML with Octopush's legacy error codes. It reuses the Octopush
API v1 surface's field mapping, request_id dedupe and refusal codes (compat/octopush). Deviations:
docs/compat.md, "Octopush legacy API"."""
