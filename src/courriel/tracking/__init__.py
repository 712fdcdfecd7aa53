"""Tracking: opens, clicks, unsubscribes, delivery outcomes and returned mail, statistics."""
