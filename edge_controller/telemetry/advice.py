"""Plain-words advice for a driver standing at a faulted connector.

Drivers report ``fault_text`` in plain words; this maps the common kinds of fault to what a
driver can do about it. Unknown faults get general advice, never nothing.
"""

from __future__ import annotations

GENERAL_ADVICE = (
    "Unplug the cable and plug it in again. If the fault stays, use another charger "
    "and tell the site operator."
)

# First match wins, so specific words come before general ones.
_ADVICE: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("residual", "rcd", "rcm", "leakage", "dc fault"),
        "The charger's earth-leakage protection tripped. Unplug, wait a minute and plug in "
        "again. If it trips again, do not use this charger and tell the site operator.",
    ),
    (
        ("earth", "ground", "protective conductor", " pe "),
        "Earthing fault: do not use this charger. Unplug and tell the site operator.",
    ),
    (
        ("temperature", "overheat", "too hot", "thermal"),
        "The charger is too hot and paused. Charging resumes by itself when it has cooled down.",
    ),
    (
        ("lock", "latch"),
        "The cable could not be locked. Unplug, check the plug is pushed fully home and plug "
        "in again.",
    ),
    (
        ("pilot", "diode", "state e", "cp error", "short"),
        "The charger cannot talk to the vehicle over the cable. Unplug, check the cable and "
        "plug for damage and plug in again.",
    ),
    (
        ("overcurrent", "over current", "over-current"),
        "The vehicle drew more current than offered. Unplug and plug in again; if it happens "
        "again, tell the site operator.",
    ),
    (
        ("voltage", "phase loss", "missing phase", "grid"),
        "The supply to the charger is out of range. Charging resumes when the supply is back; "
        "no action is needed.",
    ),
    (
        ("timeout", "no answer", "unreachable", "communication", "offline", "unavailable"),
        "The charger is not answering the site controller. Charging may continue at a reduced "
        "safe current; if it does not start, use another charger and tell the site operator.",
    ),
)


def fault_advice(fault_text: str) -> str:
    """What a driver can do about a fault, in plain words."""
    haystack = f" {fault_text.lower()} "
    for words, advice in _ADVICE:
        if any(word in haystack for word in words):
            return advice
    return GENERAL_ADVICE
