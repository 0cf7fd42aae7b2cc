"""Local HTTP API on a Unix socket in the state directory: read-only status for installers."""
