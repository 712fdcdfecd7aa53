"""`courriel worker` processes for tests where several engines share one installation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from courriel.config import Settings
from courriel.config.profiles import ThrottleProfile
from tests.support.delivery import fast_profiles


def engine_process(
    settings: Settings,
    env: dict[str, str] | None = None,
    profiles: dict[str, ThrottleProfile] | None = None,
) -> subprocess.Popen[bytes]:
    """A `courriel worker` on the test's databases and sandbox internet (stderr piped).

    `env` adds or overrides COURRIEL_* settings; `profiles` are the lanes'
    throttle profiles (the built-in ones without rate limits by default).
    """
    lanes = profiles if profiles is not None else fast_profiles()
    settings_env = {
        "COURRIEL_DATA_DIR": str(settings.data_dir),
        "COURRIEL_RESOLVER": "sandbox",
        "COURRIEL_WORKER_POLL_SECONDS": "0.05",
        "COURRIEL_THROTTLE_PROFILES": json.dumps({n: p.model_dump() for n, p in lanes.items()}),
        "COURRIEL_LOG_LEVEL": "WARNING",
        # Tests share one server: small pools (the default 5 + 10 a database
        # times three engines took a third of its 100 connections).
        "COURRIEL_DATABASE_POOL_SIZE": "2",
        "COURRIEL_DATABASE_MAX_OVERFLOW": "3",
    }
    if settings.database_url:
        settings_env["COURRIEL_DATABASE_URL"] = settings.database_url
        settings_env["COURRIEL_DATABASE_PREFIX"] = settings.database_prefix
    courriel = Path(sys.executable).parent / "courriel"
    return subprocess.Popen(
        [str(courriel), "worker"],
        env={**os.environ, **settings_env, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
