"""Connector plugin tests: real HTTP against the fake providers in tests/fakes/."""
