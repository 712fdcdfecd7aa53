"""Sending policy, sender domains and content checks: what a tenant may send."""
