"""Templates, sandboxed personalization, MIME (links, headers and DKIM come with issue 4)."""
