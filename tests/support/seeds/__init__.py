"""Rows a test starts from, written through the use cases or straight into real databases."""
