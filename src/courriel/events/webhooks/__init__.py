"""Webhooks: endpoints, the outbox, signatures, the SSRF guard and the deliverer."""
