"""List hygiene: addresses refused or flagged before they reach a list.

Role mailboxes, disposable domains, domains that cannot receive mail and
likely typos of common providers are caught at import and at sign-up, with
the reason shown to the sender (or the "Did you mean …?" to the visitor).
"""
