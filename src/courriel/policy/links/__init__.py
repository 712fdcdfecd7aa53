"""Link checking before a send: every distinct link fetched, its fate listed.

`extract` finds the links of a message and their shown text (and the
phishing sign of a shown URL naming another domain); `probe` follows one
link through the SSRF guard to its final URL; `blocklist` asks the DNS URI
blocklists about its domains; `service` checks a message's links with
bounded concurrency and keeps the results per tenant for a while.
"""
