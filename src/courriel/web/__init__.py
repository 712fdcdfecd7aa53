"""The HTTP API edge: FastAPI app, auth, problem+json errors; thin over the services."""
