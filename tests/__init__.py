"""Courriel's tests; a package so its helpers in `tests.support` import like any module."""
