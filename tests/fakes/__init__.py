"""Fake provider servers that speak each backend's wire format, for the connector tests."""
