"""Privacy: data-subject rights, retention, consent expiry, the audit trail (issue 8)."""
