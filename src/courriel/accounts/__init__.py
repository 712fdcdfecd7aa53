"""Principals, capabilities and API keys (users, roles and 2FA come later)."""
