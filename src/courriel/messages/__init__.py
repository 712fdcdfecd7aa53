"""Transactional sending: one message at a time, from an application (Send API, native API)."""
