"""Templates, sandboxed personalization, MJML, tracked links, headers, MIME and DKIM."""
