"""GetConfiguration / ChangeConfiguration on the persisted key set."""

from __future__ import annotations

from typing import Any

from edge_controller.uplink.auth_key import parse_key
from edge_controller.uplink.device_model.store import within_bounds
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.ocpp_compat import Action, call_result
from edge_controller.uplink.rpc import on
from edge_controller.uplink.v16 import config_keys, costmsg

AUTHORIZATION_KEY = "AuthorizationKey"


class ConfigHandlers:
    link: IdentityLink

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        # The store also keeps 2.x-only entries (MinSet/MaxSet): 1.6 sees its own keys only.
        values = {k: v for k, v in self.link.config.items().items() if k in config_keys.SPECS}
        wanted = key or [*values, AUTHORIZATION_KEY]
        known: list[dict[str, Any]] = [
            {"key": k, "readonly": config_keys.SPECS[k].readonly, "value": values[k]}
            for k in wanted
            if k in values
        ]
        if AUTHORIZATION_KEY in wanted:  # write-only: named, its value never told
            known.append({"key": AUTHORIZATION_KEY, "readonly": False})
        unknown = [k for k in wanted if k not in values and k != AUTHORIZATION_KEY]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        if key == AUTHORIZATION_KEY:
            return call_result.ChangeConfiguration(status=self._change_authorization_key(value))
        status = config_keys.change_status(key, value)
        if status == "Accepted" and not within_bounds(self.link.config, key, value.strip()):
            status = "Rejected"
        if status == "Accepted" and key in costmsg.PRICE_KEYS:
            status = await self._change_default_price(key, value.strip())
        hook = self.link.session_key_changed
        if status == "Accepted" and key in config_keys.SESSION_KEYS and hook is not None:
            status = "Accepted" if hook(key, value.strip()) else "Rejected"
        if status == "Accepted":
            if self.link.config.get(key) != value.strip():  # a session key is stored already
                self.link.config.set(key, value.strip())
            self.link.log.info("configuration changed by CSMS", key=key, value=value)
            if key == "HeartbeatInterval":
                self.link.heartbeat_changed.set()
        return call_result.ChangeConfiguration(status=status)

    async def _change_default_price(self, key: str, value: str) -> str:
        """DefaultPrice (and its texts) become the site's tariff, source ocpp16:DefaultPrice:
        newest wins, as with the config's. Rejected when the site cannot take it (no pricing,
        or no currency: a 1.6 default price names none, the site's tariff gives it)."""
        prices = self.link.prices
        if prices is None:
            return "Rejected"
        values = self.link.config.items() | {key: value}
        texts = {
            lang: costmsg.price_text(values[k])
            for k, lang in costmsg.PRICE_TEXT_KEYS.items()
            if values.get(k)
        }
        body = costmsg.default_price_body(values.get(costmsg.DEFAULT_PRICE) or "{}", texts)
        if body is None:
            return "Accepted"  # a text only: kept with the key, no price to apply
        return "Accepted" if await prices.default_price(body) else "Rejected"

    def _change_authorization_key(self, value: str) -> str:
        """Kept for the next connection; the value is never logged."""
        key = parse_key(value)
        if key is None or self.link.auth_key is None:
            self.link.log.warning("AuthorizationKey refused: not 16-20 bytes of hexadecimal")
            return "Rejected"
        try:
            self.link.auth_key.save(key)
        except OSError as exc:
            self.link.log.error("AuthorizationKey not stored", error=str(exc))
            return "Rejected"
        self.link.log.info("AuthorizationKey changed by CSMS, used from the next connection")
        return "Accepted"
