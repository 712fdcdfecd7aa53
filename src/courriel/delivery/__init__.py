"""Delivery: the spool, lanes, MX resolution, the SMTP client and reply classification."""
