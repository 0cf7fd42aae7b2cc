"""GetConfiguration / ChangeConfiguration on the persisted key set."""

from __future__ import annotations

from typing import Any

from edge_controller.uplink import config_keys
from edge_controller.uplink.link import Link
from edge_controller.uplink.ocpp_compat import Action, call_result, on


class ConfigHandlers:
    link: Link

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        values = self.link.config.items()
        wanted = key or list(values)
        known = [
            {"key": k, "readonly": config_keys.SPECS[k].readonly, "value": values[k]}
            for k in wanted
            if k in values
        ]
        unknown = [k for k in wanted if k not in values]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        status = config_keys.change_status(key, value)
        hook = self.link.session_key_changed
        if status == "Accepted" and key in config_keys.SESSION_KEYS and hook is not None:
            status = "Accepted" if hook(key, value.strip()) else "Rejected"
        if status == "Accepted":
            self.link.config.set(key, value.strip())
            self.link.log.info("configuration changed by CSMS", key=key, value=value)
            if key == "HeartbeatInterval":
                self.link.heartbeat_changed.set()
        return call_result.ChangeConfiguration(status=status)
