"""Device profiles: register maps of real devices as data files (see schema.py)."""
