"""The bench CSMS's payment page, playing the payment provider of a web payment by QR code, so
the whole loop can be shown in a browser: the driver scans a connector's QR code (its URL:
``/pay/<identity>/<evse>``), the page tells the station a web payment started (OCPP 2.1
NotifyWebPaymentStarted: the station holds the EVSE), and "Pay" approves at once and starts
the session (RequestStartTransaction; 1.6: RemoteStartTransaction) with a token of its own.

Plain GET links (the bench CSMS's HTTP side is the websocket server's, which takes GET only);
loopback only, like the rest of the bench CSMS.
"""

from __future__ import annotations

import secrets
from html import escape
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_controller.sim.csms import BenchCsms

PAYMENT_TIMEOUT_S = 120  # how long the station holds the EVSE for the paying driver
_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<title>Pay to charge</title></head><body style="font-family:sans-serif;max-width:30rem;'
    'margin:2rem auto;font-size:1.2rem">{body}</body></html>'
)


def version_of(csms: BenchCsms, identity: str) -> str:
    handler: Any = csms.connected[identity]
    return str(handler.connection.subprotocol or "ocpp1.6").removeprefix("ocpp")


async def page(csms: BenchCsms, identity: str, evse: int, nonce: str) -> tuple[HTTPStatus, str]:
    """The payment page of one EVSE; opening it starts the web payment."""
    if identity not in csms.connected:
        return HTTPStatus.NOT_FOUND, _PAGE.format(body="<p>This charger is not connected.</p>")
    if version_of(csms, identity) == "2.1":
        payload = {"evseId": evse, "timeout": PAYMENT_TIMEOUT_S}
        await csms.send(identity, "NotifyWebPaymentStarted", payload)
    confirm = f"/pay/{escape(identity)}/{evse}/confirm?n={escape(nonce)}"
    body = (
        f"<h1>Charge at {escape(identity)}, point {evse}</h1>"
        "<p>Price as shown at the charger. The amount is reserved on your card and only the "
        "energy you charge is taken.</p>"
        f'<p><a id="pay" href="{confirm}" style="display:inline-block;padding:1rem 2rem;'
        'background:#1b6b34;color:#fff;text-decoration:none;border-radius:.5rem">Pay</a></p>'
    )
    return HTTPStatus.OK, _PAGE.format(body=body)


async def confirm(csms: BenchCsms, identity: str, evse: int) -> tuple[HTTPStatus, str]:
    """The payment approved: the CSMS starts the session for this driver's token."""
    if identity not in csms.connected:
        return HTTPStatus.NOT_FOUND, _PAGE.format(body="<p>This charger is not connected.</p>")
    token = "WEB" + secrets.token_hex(5).upper()
    if version_of(csms, identity) == "1.6":
        action, payload = "RemoteStartTransaction", {"connectorId": evse, "idTag": token}
    else:
        action = "RequestStartTransaction"
        payload = {
            "evseId": evse,
            "remoteStartId": secrets.randbelow(2**31),
            "idToken": {"idToken": token, "type": "Central"},
        }
    answer = await csms.send(identity, action, payload)
    accepted = answer.get("status") == "Accepted"
    text = "Paid: plug in your car, charging starts." if accepted else "The charger refused."
    body = f'<h1 id="outcome" data-status="{escape(str(answer.get("status")))}">{text}</h1>'
    return (HTTPStatus.OK if accepted else HTTPStatus.CONFLICT), _PAGE.format(body=body)
