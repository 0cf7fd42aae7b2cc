"""OCPP 2.x tariffs and costs on one station: 2.1 SetDefaultTariff, GetTariffs and
ClearTariffs on the site's tariffs (``CentralPrices``), ChangeTransactionTariff on a running
session (a command to the session side, which keeps the change with the session), and the
CSMS's own cost (2.0.1 and 2.1 CostUpdated, ``totalCost`` in a TransactionEvent answer) shown
as it was sent.

ChangeTransactionTariff answers: TxNotFound for a transaction this station did not name or that
is not running; TooManyElements above 50 price elements; NoCurrencyChange for a tariff in
another currency than the session's; Rejected for prices the site cannot use or a tariff id
already naming other prices; ConditionNotSupported is never needed (every TariffType
condition is priced).

EVSE 0 is the station: the whole site on a site-wide identity, the charger on a per-charger
one; EVSE n is its connector. A tariff the CSMS sets is stored with its source
(``ocpp21:SetDefaultTariff``) and version; newest wins, so a later config change or another
SetDefaultTariff replaces it. A tariff the site's config set is reported by GetTariffs but
cannot be cleared by the CSMS (the installer's, changed in the config).
"""

from __future__ import annotations

from typing import Any

from edge_controller.domain.commands import ChangeSessionTariff
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.ports import CentralPrices, TariffAssigned
from edge_controller.uplink.rpc import on
from edge_controller.uplink.topology import UnknownConnector
from edge_controller.uplink.v201.render import session_of
from edge_controller.uplink.v201.tariff_wire import (
    MAX_ELEMENTS,
    WireTariffError,
    central_cost,
    element_count,
    site_tariff,
)

SITE_SCOPE = "*"  # the scope of every connector of the site (``storage.tariff_store.SITE``)
SET_DEFAULT = "ocpp21:SetDefaultTariff"
AUTHORIZE = "ocpp21:Authorize"
CLEARED = "ocpp21:ClearTariffs"
CHANGED = "ocpp21:ChangeTransactionTariff"
CONFIG_SOURCE = "config"
REASON_CHARS = 512  # statusInfo.additionalInfo


def _status(status: str, reason: str | None = None, code: str = "InvalidValue") -> dict[str, Any]:
    found: dict[str, Any] = {"status": status}
    if reason is not None:
        found["statusInfo"] = {"reasonCode": code, "additionalInfo": reason[:REASON_CHARS]}
    return found


class TariffHandlers201:
    """``tariffs``: whether the connection is 2.1 (tariff messages); CostUpdated is both's."""

    def __init__(self, link: IdentityLink, prices: CentralPrices) -> None:
        self.link, self.prices = link, prices

    def scope(self, evse_id: int) -> str:
        """Raises UnknownConnector for an EVSE the station does not have."""
        if evse_id == 0:
            return SITE_SCOPE if self.link.topology.mode == "site" else self.link.identity
        return self.link.topology.connector_id(self.link.identity, evse_id)

    def _scopes(self) -> dict[str, int]:
        """Every scope of this station, with its EVSE id."""
        found = {self.scope(0): 0}
        for number in self.link.connector_numbers():
            found[self.scope(number)] = number
        return found

    @on("CostUpdated")
    async def on_cost_updated(self, payload: dict[str, Any]) -> dict[str, Any]:
        local = session_of(str(payload["transactionId"]))
        cost = central_cost(payload["totalCost"], final=False)
        taken = local is not None and cost is not None
        if taken and local is not None and cost is not None:
            taken = await self.prices.session_cost(local, cost)
        self.link.log.info("CostUpdated", transaction_id=payload["transactionId"],
                           total_cost=str(payload["totalCost"]), shown=taken)  # fmt: skip
        return {}


class Tariffs21(TariffHandlers201):
    """The 2.1 tariff messages (on top of CostUpdated)."""

    @on("SetDefaultTariff")
    async def on_set_default_tariff(self, payload: dict[str, Any]) -> dict[str, Any]:
        wire = payload["tariff"]
        try:
            scope = self.scope(int(payload["evseId"]))
        except UnknownConnector:
            return _status("Rejected", "no such EVSE", "UnknownEvse")
        if element_count(wire) > MAX_ELEMENTS:
            return _status("TooManyElements", f"at most {MAX_ELEMENTS} price elements")
        if self._installers(str(wire["tariffId"])):
            return _status("DuplicateTariffId", "the id of a tariff the site's config sets")
        try:
            body = site_tariff(wire)
        except (WireTariffError, KeyError, TypeError) as exc:
            return _status("Rejected", str(exc))
        if await self.prices.tariff_conflicts(body):
            return _status("DuplicateTariffId", "this tariff id names other prices already")
        refused = await self.prices.set_tariff(scope, body, SET_DEFAULT)
        self.link.log.info("SetDefaultTariff", scope=scope, tariff_id=body["id"],
                           accepted=refused is None, reason=refused)  # fmt: skip
        return _status("Accepted") if refused is None else _status("Rejected", refused)

    def _installers(self, tariff_id: str) -> bool:
        return any(
            a.tariff_id == tariff_id and a.source == CONFIG_SOURCE for a in self.prices.tariffs()
        )

    def _mine(self, evse_id: int | None) -> list[tuple[TariffAssigned, int]]:
        """The tariffs assigned on this station (at ``evse_id`` only, when given)."""
        scopes = self._scopes()
        return [
            (a, scopes[a.scope])
            for a in self.prices.tariffs()
            if a.scope in scopes and (evse_id in (None, scopes[a.scope]))
        ]

    @on("ChangeTransactionTariff")
    async def on_change_transaction_tariff(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The running transaction is priced by the new tariff from now on, by the old one
        up to now (``domain.pricing.cost``); its next TransactionEvent says TariffChanged."""
        wire, tx_id = payload["tariff"], str(payload["transactionId"])
        answer = await self._change(wire, tx_id)
        self.link.log.info("ChangeTransactionTariff", transaction_id=tx_id,
                           tariff_id=wire.get("tariffId"), status=answer["status"])  # fmt: skip
        return answer

    async def _change(self, wire: dict[str, Any], tx_id: str) -> dict[str, Any]:
        local_id = session_of(tx_id)
        if local_id is None:
            return _status("TxNotFound", "not a transaction of this station", "UnknownTxId")
        if element_count(wire) > MAX_ELEMENTS:
            return _status("TooManyElements", f"at most {MAX_ELEMENTS} price elements")
        try:
            body = site_tariff(wire)
        except (WireTariffError, KeyError, TypeError) as exc:
            return _status("Rejected", str(exc))
        if self._installers(body["id"]) or await self.prices.tariff_conflicts(body):
            return _status("Rejected", "this tariff id names other prices already")
        result = await self.link.commands.decide(ChangeSessionTariff(local_id, body, CHANGED))
        status = result.answer or ("Accepted" if result.ok else "Rejected")
        if status == "Accepted":
            return _status(status)
        code = {"TxNotFound": "UnknownTxId", "NoCurrencyChange": "InvalidValue"}.get(status)
        return _status(status, result.error or status, code or "InvalidValue")

    @on("GetTariffs")
    async def on_get_tariffs(self, payload: dict[str, Any]) -> dict[str, Any]:
        evse_id = int(payload["evseId"])
        if evse_id not in (0, *self.link.connector_numbers()):
            return _status("Rejected", "no such EVSE", "UnknownEvse")
        by_tariff: dict[str, dict[str, Any]] = {}
        for assigned, number in self._mine(None if evse_id == 0 else evse_id):
            entry = by_tariff.setdefault(
                assigned.tariff_id,
                {"tariffId": assigned.tariff_id, "tariffKind": "DefaultTariff", "evseIds": []},
            )
            entry["evseIds"].append(number)
            if assigned.valid_from is not None:
                entry["validFrom"] = assigned.valid_from
        if not by_tariff:
            return {"status": "NoTariff"}
        return {"status": "Accepted", "tariffAssignments": list(by_tariff.values())}

    @on("ClearTariffs")
    async def on_clear_tariffs(self, payload: dict[str, Any]) -> dict[str, Any]:
        evse_id = payload.get("evseId")
        wanted = payload.get("tariffIds")
        if evse_id is not None and evse_id not in (0, *self.link.connector_numbers()):
            ids = wanted or [None]
            return {"clearTariffsResult": [_result(t, "Rejected", "no such EVSE") for t in ids]}
        mine = self._mine(None if evse_id is None else int(evse_id))
        results: list[dict[str, Any]] = []
        for assigned, _ in mine:
            if wanted is not None and assigned.tariff_id not in wanted:
                continue
            if assigned.source == CONFIG_SOURCE:
                results.append(_result(assigned.tariff_id, "Rejected", "set by the site's config"))
                continue
            cleared = await self.prices.clear_tariff(assigned.scope, CLEARED, assigned.tariff_id)
            results.append(_result(assigned.tariff_id, "Accepted" if cleared else "NoTariff"))
        named = {r.get("tariffId") for r in results}
        results += [_result(t, "NoTariff") for t in wanted or () if t not in named]
        self.link.log.info("ClearTariffs", evse_id=evse_id, results=results)
        return {"clearTariffsResult": results or [_result(None, "NoTariff")]}


async def take_driver_tariff(link: IdentityLink, id_tag: str, answer: dict[str, Any]) -> None:
    """An Authorize answer's tariff (2.1) is the driver's for their next session; an answer
    without one leaves them none. A tariff the site cannot take is logged, the answer stands."""
    prices = link.prices
    if prices is None:
        return
    accepted = (answer.get("idTokenInfo") or {}).get("status") == "Accepted"
    wire = answer.get("tariff") if accepted else None
    try:
        body = None if not isinstance(wire, dict) else site_tariff(wire)
    except (WireTariffError, KeyError, TypeError) as exc:
        link.log.warning("driver tariff refused", error=str(exc))
        body = None
    if body is not None and await prices.tariff_conflicts(body):
        link.log.warning("driver tariff refused: its id names other prices", tariff_id=body["id"])
        body = None
    refused = await prices.driver_tariff(id_tag, body, AUTHORIZE)
    if body is not None:
        link.log.info("driver tariff", tariff_id=body["id"], taken=refused is None)


def _result(tariff_id: str | None, status: str, reason: str | None = None) -> dict[str, Any]:
    found = _status(status, reason)
    return found if tariff_id is None else {"tariffId": tariff_id, **found}
