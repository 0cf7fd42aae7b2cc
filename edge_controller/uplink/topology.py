"""Which OCPP identity and connector number stand for each of our connectors.

``per_charger``: every charger is its own OCPP charge point (identity = charger id), connectors
numbered 1..n as on the charger. ``site``: one identity for the whole site, connectors numbered
1..N across chargers in config order. Pure and deterministic: the same config gives the same map.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal


class UnknownConnector(KeyError):
    """A connector id or OCPP connector number that the configured site does not have."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    identity: str
    connector: int


class Topology:
    def __init__(
        self,
        mode: Literal["site", "per_charger"],
        site_identity: str,
        connectors_per_charger: Mapping[str, int],
    ) -> None:
        self.mode = mode
        self._by_local: dict[str, Endpoint] = {}
        self._by_endpoint: dict[Endpoint, str] = {}
        # Each identity's connectors in OCPP order, kept: every identity's loops ask each second.
        self._mine: dict[str, list[str]] = {}
        number = 0
        for charger_id, count in connectors_per_charger.items():
            for n in range(1, count + 1):
                number += 1
                identity = site_identity if mode == "site" else charger_id
                endpoint = Endpoint(identity, number if mode == "site" else n)
                local = f"{charger_id}:{n}"  # one text for the three maps, not one each
                self._by_local[local] = endpoint
                self._by_endpoint[endpoint] = local
                self._mine.setdefault(identity, []).append(local)
        ids = [site_identity] if mode == "site" else list(connectors_per_charger)
        self._identities = tuple(ids)

    @property
    def identities(self) -> tuple[str, ...]:
        return self._identities

    def locate(self, connector_id: str) -> Endpoint:
        try:
            return self._by_local[connector_id]
        except KeyError:
            raise UnknownConnector(connector_id) from None

    def connector_id(self, identity: str, connector: int) -> str:
        try:
            return self._by_endpoint[Endpoint(identity, connector)]
        except KeyError:
            raise UnknownConnector(f"{identity} connector {connector}") from None

    def connectors(self, identity: str) -> list[str]:
        """Our connector ids behind one identity, in OCPP connector order."""
        return list(self._mine.get(identity, ()))

    def route(self, connector_id: str) -> str | None:
        """The identity a connector's outbox messages go to (None: not part of this site)."""
        endpoint = self._by_local.get(connector_id)
        return endpoint.identity if endpoint else None
