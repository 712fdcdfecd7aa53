"""Privacy: data-subject rights, the privacy center, retention, consent expiry, the register."""
