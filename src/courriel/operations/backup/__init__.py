"""Backups of the control, spool and tenant databases: compressed, encrypted, checked."""
