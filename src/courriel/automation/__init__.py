"""Automation: workflows that answer what a person did, one step at a time, exactly once.

Above messages and campaigns (it sends through them), below the composition
root. See docs/automation.md.
"""
