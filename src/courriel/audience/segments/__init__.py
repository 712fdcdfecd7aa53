"""Segments: a small filter language over contacts, compiled to SQLAlchemy expressions."""
