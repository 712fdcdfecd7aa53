"""Transactional messages: what applications send one at a time (API and SMTP relay)."""
