"""Running an installation: backups, tenant offboarding."""
