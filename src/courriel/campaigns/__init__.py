"""Campaign lifecycle, audience resolution and fan-out to the spool."""
