"""Ids, clock, errors, tenancy, database engines and sessions."""
