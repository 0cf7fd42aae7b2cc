"""The display's words in English and German, and the language a browser asks for.

``Accept-Language`` is read bounded (its first 32 entries, 512 characters): a hostile header
costs no more than a normal one. Unknown or unsupported languages get English.
"""

from __future__ import annotations

LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"
_MAX_HEADER_CHARS = 512
_MAX_ENTRIES = 32

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Charging at {site}",
        "connector": "Charger {name}",
        "state.free": "Free",
        "state.occupied": "Occupied",
        "state.charging": "Charging",
        "state.out_of_order": "Out of order",
        "state.starting": "Starting...",
        "detail.reserved": "Reserved",
        "detail.preparing": "Waiting for the car or a card",
        "detail.suspended": "Paused, the car is connected",
        "detail.finishing": "Finished, please unplug",
        "detail.unavailable": "Not available at the moment",
        "power": "Power now",
        "price": "Price",
        "cost": "Cost so far",
        "price.per_kwh": "{amount} {currency}/kWh",
        "price.per_minute": "{amount} {currency}/min charging",
        "price.per_session": "{amount} {currency} per session",
        "price.idle": "{amount} {currency}/min parked without charging",
        "price.idle_after": "{amount} {currency}/min parked without charging after {minutes} min",
        "energy": "Energy this session",
        "time": "Time this session",
        "how": "How to start",
        "how.card": "Hold your charging card to the reader",
        "how.app": "Start it in your charging app",
        "how.free": "Plug in: charging starts by itself",
        "how.web": "Scan the QR code to pay on the web",
        "how.terminal": "Pay by bank card at terminal “{terminal}”",
        "terminal.title": "Card terminal “{terminal}”",
        "terminal.serves": "For chargers {names}",
        "terminal.do": "Plug in, tap “Pay by card” on this charger, then hold your "
        "card to terminal “{terminal}”.",
        "terminal.ready": "Tap “Pay for the waiting car”, then hold your card to this terminal: "
        "it pays for the car waiting at {name}.",
        "terminal.none": "No car is waiting: plug in first, then pay.",
        "terminal.ambiguous": "Not ready: cars wait at {names}, so the terminal cannot tell "
        "which one a card pays for. Tap “Pay by card” on your charger first.",
        "terminal.ambiguous_here": "Terminal “{terminal}” is not ready by itself: cars "
        "wait at {names}. Tap “Pay by card” here first, then hold your card to it.",
        "terminal.button": "Pay by card",
        "terminal.armed": "Ready for the car at {name}: hold your card to this terminal now, "
        "it pays for charging there.",
        "terminal.armed_here": "Terminal “{terminal}” is ready for this charger: hold your "
        "card to it now.",
        "terminal.choose": "Not ready: cars wait at {names}. Choose your connector: tap “Pay by "
        "card” on your charger, then hold your card to the terminal.",
        "terminal.busy": "Not ready: another payment is under way at this terminal. Please "
        "wait a moment.",
        "terminal.offline": "Not ready: the terminal does not answer. Please use another way "
        "to pay.",
        "terminal.no_tariff": "Not ready: no price is set for {name}, so it cannot be paid by "
        "card here.",
        "terminal.site_button": "Pay for the waiting car",
        "pay.title": "Pay by card",
        "pay.ok": "Paid. Charging starts at {name}.",
        "pay.refused": "The payment did not go through ({reason}). Try again, or use another "
        "way to pay.",
        "pay.not_armed": "Terminal “{terminal}” was not armed. {why}",
        "pay.busy": "Too many payments at once. Please try again in a minute.",
        "pay.present": "Present your card at terminal “{terminal}” now: it pays for charging "
        "at {name}. This page updates by itself.",
        "pay.gone": "This payment is not known (any more). Look at the charger's state on the "
        "display.",
        "detail.paying": "Held for a driver paying on the web",
        "qr.caption": "Scan to pay",
        "help.out_of_order": "This charger does not work at the moment. Please use another "
        "one and report the problem below.",
        "help.wrong": "Something wrong?",
        "report": "Report a problem",
        "live": "Live",
        "stale": "Connection lost, reconnecting...",
        "all": "All chargers",
        "none": "-",
        "unknown_connector": "There is no charger {name} at this site.",
        "code.title": "Enter code",
        "code.label": "Your code",
        "code.button": "Start with this code",
        "code.ok": "Code accepted. Charging starts at {name}.",
        "code.refused": "This code was not accepted here.",
        "code.invalid": "A code is 1 to 36 letters or digits.",
        "code.locked": "Too many wrong codes: this charger takes none for {minutes} min.",
        "code.busy": "Too many codes from this device. Please wait a minute.",
        "report.title": "Report a problem",
        "report.connector": "Charger",
        "report.kind": "What is wrong?",
        "report.kind.cable": "Cable or plug",
        "report.kind.card_refused": "My card was refused",
        "report.kind.no_power": "It does not charge",
        "report.kind.damaged": "Something is damaged",
        "report.kind.other": "Something else",
        "report.text": "Tell us more (optional)",
        "report.send": "Send report",
        "report.thanks": "Thank you. Your report was received.",
        "report.reference": "Your reference number",
        "report.back": "Back to the chargers",
        "report.too_many": "Too many reports from this device. Please try again later.",
        "report.invalid": "Please choose a charger and what is wrong.",
    },
    "de": {
        "title": "Laden bei {site}",
        "connector": "Ladepunkt {name}",
        "state.free": "Frei",
        "state.occupied": "Belegt",
        "state.charging": "Lädt",
        "state.out_of_order": "Außer Betrieb",
        "state.starting": "Startet...",
        "detail.reserved": "Reserviert",
        "detail.preparing": "Wartet auf das Fahrzeug oder eine Karte",
        "detail.suspended": "Pausiert, das Fahrzeug ist angeschlossen",
        "detail.finishing": "Beendet, bitte Kabel abziehen",
        "detail.unavailable": "Zurzeit nicht verfügbar",
        "power": "Leistung jetzt",
        "price": "Preis",
        "cost": "Kosten bisher",
        "price.per_kwh": "{amount} {currency}/kWh",
        "price.per_minute": "{amount} {currency}/Min. Ladezeit",
        "price.per_session": "{amount} {currency} je Ladevorgang",
        "price.idle": "{amount} {currency}/Min. Standzeit ohne Laden",
        "price.idle_after": "{amount} {currency}/Min. Standzeit ohne Laden nach {minutes} Min.",
        "energy": "Energie dieser Ladung",
        "time": "Dauer dieser Ladung",
        "how": "So starten Sie",
        "how.card": "Halten Sie Ihre Ladekarte an das Lesegerät",
        "how.app": "Starten Sie in Ihrer Lade-App",
        "how.free": "Einstecken: das Laden beginnt von selbst",
        "how.web": "QR-Code scannen und im Web bezahlen",
        "how.terminal": "Mit Bankkarte am Terminal „{terminal}“ bezahlen",
        "terminal.title": "Kartenterminal „{terminal}“",
        "terminal.serves": "Für die Ladepunkte {names}",
        "terminal.do": "Einstecken, bei diesem Ladepunkt auf „Mit Karte bezahlen“ "
        "tippen, dann die Karte an das Terminal „{terminal}“ halten.",
        "terminal.ready": "„Für das wartende Auto bezahlen“ antippen, dann die Karte an dieses "
        "Terminal halten: Sie bezahlt für das Auto an {name}.",
        "terminal.none": "Kein Auto wartet: erst einstecken, dann bezahlen.",
        "terminal.ambiguous": "Nicht bereit: An {names} warten Autos, das Terminal weiß "
        "nicht, für welches eine Karte bezahlt. Tippen Sie zuerst bei Ihrem Ladepunkt auf "
        "„Mit Karte bezahlen“.",
        "terminal.ambiguous_here": "Das Terminal „{terminal}“ ist nicht von selbst "
        "bereit: An {names} warten Autos. Tippen Sie zuerst hier auf „Mit Karte bezahlen"
        "“, dann halten Sie Ihre Karte daran.",
        "terminal.button": "Mit Karte bezahlen",
        "terminal.armed": "Bereit für das Auto an {name}: Halten Sie jetzt Ihre Karte an dieses "
        "Terminal, sie bezahlt das Laden dort.",
        "terminal.armed_here": "Das Terminal „{terminal}“ ist für diesen Ladepunkt bereit: "
        "Halten Sie jetzt Ihre Karte daran.",
        "terminal.choose": "Nicht bereit: An {names} warten Autos. Wählen Sie Ihren Ladepunkt: "
        "dort auf „Mit Karte bezahlen“ tippen, dann die Karte an das Terminal halten.",
        "terminal.busy": "Nicht bereit: An diesem Terminal läuft gerade eine andere Zahlung. "
        "Bitte einen Moment warten.",
        "terminal.offline": "Nicht bereit: Das Terminal antwortet nicht. Bitte anders bezahlen.",
        "terminal.no_tariff": "Nicht bereit: Für {name} ist kein Preis festgelegt, daher ist "
        "Kartenzahlung hier nicht möglich.",
        "terminal.site_button": "Für das wartende Auto bezahlen",
        "pay.title": "Mit Karte bezahlen",
        "pay.ok": "Bezahlt. Das Laden an {name} beginnt.",
        "pay.refused": "Die Zahlung ist nicht durchgegangen ({reason}). Bitte erneut versuchen "
        "oder anders bezahlen.",
        "pay.not_armed": "Das Terminal „{terminal}“ wurde nicht bereit gemacht. {why}",
        "pay.busy": "Zu viele Zahlungen gleichzeitig. Bitte in einer Minute erneut versuchen.",
        "pay.present": "Halten Sie Ihre Karte jetzt an das Terminal „{terminal}“: Sie bezahlt "
        "das Laden an {name}. Diese Seite aktualisiert sich selbst.",
        "pay.gone": "Diese Zahlung ist (nicht mehr) bekannt. Den Zustand des Ladepunkts zeigt "
        "die Anzeige.",
        "detail.paying": "Reserviert: eine Zahlung im Web läuft",
        "qr.caption": "Scannen und bezahlen",
        "help.out_of_order": "Dieser Ladepunkt funktioniert gerade nicht. Bitte nutzen Sie "
        "einen anderen und melden Sie das Problem unten.",
        "help.wrong": "Stimmt etwas nicht?",
        "report": "Problem melden",
        "live": "Live",
        "stale": "Verbindung unterbrochen, verbinde neu...",
        "all": "Alle Ladepunkte",
        "none": "-",
        "unknown_connector": "An diesem Standort gibt es keinen Ladepunkt {name}.",
        "code.title": "Code eingeben",
        "code.label": "Ihr Code",
        "code.button": "Mit diesem Code starten",
        "code.ok": "Code angenommen. Das Laden an {name} beginnt.",
        "code.refused": "Dieser Code wurde hier nicht angenommen.",
        "code.invalid": "Ein Code hat 1 bis 36 Buchstaben oder Ziffern.",
        "code.locked": "Zu viele falsche Codes: dieser Ladepunkt nimmt {minutes} min lang keinen.",
        "code.busy": "Zu viele Codes von diesem Gerät. Bitte eine Minute warten.",
        "report.title": "Problem melden",
        "report.connector": "Ladepunkt",
        "report.kind": "Was ist los?",
        "report.kind.cable": "Kabel oder Stecker",
        "report.kind.card_refused": "Meine Karte wurde abgelehnt",
        "report.kind.no_power": "Es lädt nicht",
        "report.kind.damaged": "Etwas ist beschädigt",
        "report.kind.other": "Etwas anderes",
        "report.text": "Beschreibung (freiwillig)",
        "report.send": "Meldung senden",
        "report.thanks": "Danke. Ihre Meldung ist eingegangen.",
        "report.reference": "Ihre Vorgangsnummer",
        "report.back": "Zurück zu den Ladepunkten",
        "report.too_many": "Zu viele Meldungen von diesem Gerät. Bitte später erneut versuchen.",
        "report.invalid": "Bitte wählen Sie einen Ladepunkt und was los ist.",
    },
}


def text(language: str, key: str, **values: str) -> str:
    words = TEXTS.get(language, TEXTS[DEFAULT_LANGUAGE])[key]
    return words.format(**values) if values else words


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def pick_language(accept_language: str | None, override: str | None = None) -> str:
    """``override`` (the page's ``?lang=``) if supported, else the best supported language of
    the browser's ``Accept-Language`` (by quality, then order), else English."""
    if override in LANGUAGES:
        return str(override)
    best, best_q = DEFAULT_LANGUAGE, 0.0
    entries = (accept_language or "")[:_MAX_HEADER_CHARS].split(",")[:_MAX_ENTRIES]
    for entry in entries:
        tag, *params = entry.split(";")
        primary = tag.strip().lower().split("-", 1)[0]
        q = _quality(params)
        if primary in LANGUAGES and q > best_q:
            best, best_q = primary, q
    return best
