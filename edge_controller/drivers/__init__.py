"""Device drivers: the only code that knows registers, APDUs and vendor codes."""
