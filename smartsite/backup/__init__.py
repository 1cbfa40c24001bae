"""``smartsite backup DIR`` / ``smartsite restore DIR``: consistent copies of a site's stores."""

from smartsite.backup.copy import BackupError, backup, restore

__all__ = ["BackupError", "backup", "restore"]
