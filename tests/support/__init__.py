"""What the tests stand on: factories, databases, the sandbox internet, servers on sockets.

- `tenants`: tenants with an API key (`make_tenant`, `TenantAccess`).
- `databases`: migrated template databases, copied for each test.
- `delivery`: lane profiles without limits, a clock that jumps, a `Mailer`
  that spools as fan-out would, and `deliver_all` (the one way to run the
  scheduler and a worker until the spool is empty).
- `http`: Courriel's HTTP application on a real socket (`live_http`).
- `sandbox`: the sandbox internet on a thread of its own.
- `dns`: a tiny authoritative DNS server.
- `browser`: how Playwright drives Debian's chromium.
- `seeds`: rows for campaign, rights and tracking tests.

Fixtures are registered as pytest plugins by tests/conftest.py.
"""
