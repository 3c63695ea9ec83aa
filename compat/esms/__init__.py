"""eSMS Africa's bulk API (seed 003, COMPAT.md §4): `POST /api/messages/bulk-precheck` and
`POST /api/messages/send-bulk`, translated onto the native precheck and create. Deviations:
docs/compat.md, "eSMS Africa (seed 003)"."""
