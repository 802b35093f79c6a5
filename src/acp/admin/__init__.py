"""`acp-admin`: operator commands that run next to the server (backup and restore)."""
