"""edge_controller: the site controller daemon of an EV-charging site."""

__version__ = "0.1.0"
