"""The site's configuration: settings models (``settings``), the strict YAML reader
(``yaml_reader``), loading with environment overrides (``load``), cross-section checks
(``checks``) and the child process that reads a file for a reload (``reader_process``).
"""

from edge_controller.config.load import (
    LoadedConfig,
    load_config,
    load_settings,
)
from edge_controller.config.settings import ENV_PREFIX, Settings
from edge_controller.config.yaml_reader import ConfigError, ConfigIssue

__all__ = [
    "ENV_PREFIX",
    "ConfigError",
    "ConfigIssue",
    "LoadedConfig",
    "Settings",
    "load_config",
    "load_settings",
]
