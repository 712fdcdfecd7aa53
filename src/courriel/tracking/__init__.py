"""Events and statistics (tracking links, webhooks come with issue 7)."""
