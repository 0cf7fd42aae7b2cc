"""The display's HTML, rendered on the server from the display model. Every text goes through
``html.escape``; the page loads nothing but its own stylesheet and script (no external assets:
a site without internet shows it all)."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from edge_controller.web.i18n import text

_HEAD = (
    '<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<title>{title}</title><link rel="stylesheet" href="/static/display.css"></head>'
)


def page(
    lang: str,
    title: str,
    body: str,
    script: str | None = None,
    refresh_s: int | None = None,
    *,
    refresh_without_script: bool = False,
) -> str:
    """A whole page; ``script``: the name of one of our static scripts to run on it;
    ``refresh_s``: the browser loads it again after so many seconds (no script needed), only
    where scripts do not run with ``refresh_without_script`` (the script keeps it live)."""
    tail = f'<script src="/static/{script}"></script>' if script else ""
    head = _HEAD.format(lang=lang, title=escape(title))
    if refresh_s is not None:
        meta = f'<meta http-equiv="refresh" content="{refresh_s}">'
        meta = f"<noscript>{meta}</noscript>" if refresh_without_script else meta
        head = head.replace("</head>", f"{meta}</head>")
    return head + f"<body>{body}{tail}</body></html>"


def report_link(connector_id: str | None, lang: str) -> str:
    query = f"?connector={quote(connector_id, safe='')}&lang={lang}" if connector_id else ""
    return f"/display/report{query or f'?lang={lang}'}"


def _row(label: str, field: str, value: str, css: str = "") -> str:
    extra = f' class="{css}"' if css else ""
    return (
        f'<div{extra}><dt>{escape(label)}</dt><dd data-field="{field}">{escape(value)}</dd></div>'
    )


def _at(at_s: float | None) -> str:
    return "" if at_s is None else repr(at_s)


def message_list(messages: list[dict[str, Any]], css: str = "messages") -> str:
    """The CSMS's messages, first first; the live updates refill it (``display.js``)."""
    items = "".join(
        f'<li data-priority="{escape(m["priority"])}" data-message="{m["id"]}">'
        f"{escape(m['text'])}</li>"
        for m in messages
    )
    return f'<ul class="{css}" data-list="messages" aria-live="polite">{items}</ul>'


def qr_src(connector_id: str, url: str | None) -> str:
    """The QR image of a connector; the URL in the query makes a new code a new image."""
    if url is None:
        return ""
    return f"/display/qr/{quote(connector_id, safe=':')}?u={quote(url, safe='')}"


def qr_figure(c: dict[str, Any], lang: str) -> str:
    """The connector's payment QR code (hidden while it has none); the live updates refill it."""
    url = c.get("payment_url")
    return (
        f'<figure class="qr" data-qr="{escape(url or "")}">'
        f'<img src="{escape(qr_src(c["id"], url))}" alt="{escape(text(lang, "qr.caption"))}" '
        f'width="200" height="200"><figcaption>{escape(text(lang, "qr.caption"))} '
        f'<a data-field="payment_url" href="{escape(url or "")}">{escape(url or "")}</a>'
        "</figcaption></figure>"
    )


def pay_form(lang: str, field: str, value: str, label_key: str) -> str:
    """A "pay by card" button: arms the terminal for a connector (or the terminal's only
    waiting EV); the answer comes when the card holder is done."""
    return (
        f'<form class="pay" method="post" action="/display/pay?lang={lang}">'
        f'<input type="hidden" name="{field}" value="{escape(value)}">'
        f'<button type="submit">{escape(text(lang, label_key))}</button></form>'
    )


def code_form(connector_id: str, lang: str) -> str:
    """The "Enter code" form of a connector's own page: a driver's key code starts there."""
    return (
        f'<form class="code" method="post" action="/display/code?lang={lang}">'
        f'<input type="hidden" name="connector" value="{escape(connector_id)}">'
        f'<label>{escape(text(lang, "code.label"))} <input name="code" type="password" '
        'inputmode="numeric" autocomplete="off" maxlength="36" required></label>'
        f'<button type="submit">{escape(text(lang, "code.button"))}</button></form>'
    )


def terminal_box(c: dict[str, Any], lang: str) -> str:
    """How to pay at the connector's card terminal (nothing without one)."""
    if not c.get("terminal"):
        return ""
    return (
        f'<div class="terminal" data-terminal="{escape(c["terminal"])}">'
        f'<p data-field="terminal_text">{escape(c["terminal_text"])}</p>'
        f"{pay_form(lang, 'connector', c['id'], 'terminal.button')}</div>"
    )


def terminal_section(t: dict[str, Any], lang: str) -> str:
    """A terminal shared by several connectors, on the whole site's page."""
    return (
        f'<section class="card terminal" data-terminal="{escape(t["id"])}" '
        f'data-state="{escape(t["state"])}"><h2>{escape(t["title"])}</h2>'
        f"<p>{escape(t['serves_text'])}</p>"
        f'<p class="note" data-field="note_text">{escape(t["note_text"])}</p>'
        f"{pay_form(lang, 'terminal', t['id'], 'terminal.site_button')}</section>"
    )


def connector_card(c: dict[str, Any], lang: str, own_page: bool = False) -> str:
    """A connector's card; on its own page (``own_page``) with the "Enter code" form."""
    cid = c["id"]
    code = code_form(cid, lang) if own_page else ""
    ways = "".join(f"<li>{escape(w)}</li>" for w in c["start_texts"])
    how = (
        f'<div class="how"><h3>{escape(text(lang, "how"))}</h3><ul>{ways}</ul></div>'
        if ways
        else ""
    )
    rows = (
        _row(text(lang, "price"), "price_text", c["price_text"], "price")
        + _row(text(lang, "power"), "power_text", c["power_text"])
        + _row(text(lang, "energy"), "energy_text", c["energy_text"], "session")
        + _row(text(lang, "time"), "elapsed_text", c["elapsed_text"], "session")
        + _row(text(lang, "cost"), "cost_text", c["cost_text"], "session cost")
    )
    return (
        f'<section class="card" data-connector="{escape(cid)}" data-state="{c["state"]}" '
        f'data-session="{str(c["session"]).lower()}" data-at="{_at(c["at_s"])}" '
        f'data-paying="{str(c.get("paying_until_s") is not None).lower()}" '
        f'data-priced="{str(bool(c["price_text"])).lower()}">'
        f'<h2><a href="/display/{quote(cid, safe=":")}?lang={lang}">'
        f"{escape(text(lang, 'connector', name=cid))}</a></h2>"
        f'<p class="state" data-field="state_text">{escape(c["state_text"])}</p>'
        f'<p class="detail" data-field="detail_text">{escape(c["detail_text"])}</p>'
        f"{message_list(c.get('messages', []))}<dl>{rows}</dl>{how}{terminal_box(c, lang)}{code}"
        f"{qr_figure(c, lang)}"
        f'<p class="help" data-field="help_text">{escape(c["help_text"])}</p>'
        f'<p class="wrong">{escape(text(lang, "help.wrong"))} '
        f'<a class="button" href="{escape(report_link(cid, lang))}">'
        f"{escape(text(lang, 'report'))}</a></p></section>"
    )


def display_page(model: dict[str, Any], lang: str, only: str | None) -> str:
    title = text(lang, "title", site=model["site"])
    events = f"/display/events?lang={lang}" + (f"&connector={quote(only, safe='')}" if only else "")
    cards = "".join(connector_card(c, lang, c["id"] == only) for c in model["connectors"])
    cards += "".join(terminal_section(t, lang) for t in model.get("terminals", []))
    back = (
        f'<nav><a href="/display?lang={lang}">{escape(text(lang, "all"))}</a></nav>' if only else ""
    )
    site_messages = message_list(model.get("messages", []), "messages site")
    body = (
        f'<header><h1>{escape(title)}</h1><span id="live" class="live" '
        f'data-live="{escape(text(lang, "live"))}" data-stale="{escape(text(lang, "stale"))}">'
        f"{escape(text(lang, 'live'))}</span></header>{back}"
        f'<main data-events="{escape(events)}">{site_messages}'
        f'<div class="grid">{cards}</div></main>'
    )
    return page(lang, title, body, script="display.js")


def message_page(lang: str, title: str, message: str, refresh_s: int | None = None) -> str:
    body = (
        f'<header><h1>{escape(title)}</h1></header><main><p role="status">{escape(message)}</p>'
        f'<p><a class="button" href="/display?lang={lang}">{escape(text(lang, "all"))}</a></p>'
        "</main>"
    )
    return page(lang, title, body, refresh_s=refresh_s)
