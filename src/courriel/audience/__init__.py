"""Contacts, lists, subscriptions, consent and suppressions."""
