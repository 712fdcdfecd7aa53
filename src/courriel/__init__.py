"""Courriel: a self-hostable, consent-first Email Service Provider."""
