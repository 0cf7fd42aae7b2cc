"""Register-accurate device simulators, EV and site physics (see README.md in this package)."""
