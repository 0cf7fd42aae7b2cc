"""Token normalisation: the single place that turns card UIDs and typed ids into ``Token``s.

Authorisation compares ``Token.id_tag`` strings only, so every source (a reader's UID, an id an
operator typed, an id the CSMS sent) must pass through here to compare equal.

Rules:
- A UID becomes upper-case hex without separators, in ISO 14443 order (first byte = UID0).
  Some readers deliver the bytes least-significant first; ``reverse=True`` restores the order.
- 4-byte UIDs whose first byte is 0x08 are random (RID, ISO 14443-3): a new value on every
  tap. They are flagged ``random_uid`` and must never be cached as an identity.
- OCPP 1.6 ``idTag`` is a case-insensitive CiString20: at most 20 printable ASCII characters
  (the default limit; OCPP 2.0.1 idTokens hold 36, 2.1 255, and their handlers say so).
  Longer ids are refused with :class:`InvalidToken` rather than silently truncated, because a
  truncated id could match someone else's card.
"""

from __future__ import annotations

import hashlib
import re

from edge_controller.domain.model import Token

MAX_ID_TAG_CHARS = 20
MIN_UID_BYTES = 4
MAX_UID_BYTES = MAX_ID_TAG_CHARS // 2  # 10-byte (triple size) UIDs fill an idTag exactly
RANDOM_UID_FIRST_BYTE = 0x08
ATR_PREFIX = "ATR"

# "04 a2 b3 c4", "04:A2:B3:C4", "04-a2-b3-c4": UIDs as printed on cards or in lists.
_SEPARATED_HEX = re.compile(r"[0-9A-Fa-f]{2}(?:[\s:-][0-9A-Fa-f]{2})+")
_SEPARATORS = re.compile(r"[\s:-]")


class InvalidToken(ValueError):
    """An id that cannot be an OCPP 1.6 idTag (empty, too long, not printable ASCII)."""


def is_random_uid(uid: bytes) -> bool:
    """True for a 4-byte random UID (first byte 0x08), given in ISO order."""
    return len(uid) == 4 and uid[0] == RANDOM_UID_FIRST_BYTE


def uid_to_token(uid: bytes, *, reverse: bool = False, reader_id: str | None = None) -> Token:
    """The token for a card UID as a reader returned it (``reverse``: reader sends LSB first)."""
    if not MIN_UID_BYTES <= len(uid) <= MAX_UID_BYTES:
        raise InvalidToken(
            f"UID of {len(uid)} bytes: expected {MIN_UID_BYTES} to {MAX_UID_BYTES} bytes "
            f"(an OCPP 1.6 id tag holds at most {MAX_ID_TAG_CHARS} hex characters)"
        )
    iso = uid[::-1] if reverse else uid
    return Token(
        id_tag=iso.hex().upper(),
        random_uid=is_random_uid(iso),
        reader_id=reader_id,
        extra={"source": "uid"},
    )


def atr_to_token(atr: bytes, *, reader_id: str | None = None) -> Token:
    """A stable id derived from a card's ATR, for cards that cannot report a UID.

    An ATR identifies a card model more than a card, so this is only offered when configured
    (``uid_from_atr``) for sites whose cards carry a distinctive ATR.
    """
    if not atr:
        raise InvalidToken("empty ATR: no id can be derived")
    digest = hashlib.sha256(atr).hexdigest().upper()
    id_tag = ATR_PREFIX + digest[: MAX_ID_TAG_CHARS - len(ATR_PREFIX) - 1]
    return Token(id_tag=id_tag, reader_id=reader_id, extra={"source": "atr", "atr": atr.hex()})


def normalize_id_tag(text: str, max_chars: int = MAX_ID_TAG_CHARS) -> str:
    """Normalise an id typed by an operator or received from the CSMS (at most
    ``max_chars`` characters: the protocol's limit, OCPP 1.6's by default).

    Surrounding whitespace goes, hex bytes separated by spaces, colons or dashes are joined,
    and letters are upper-cased (OCPP idTags compare case-insensitively).
    """
    tag = text.strip()
    if _SEPARATED_HEX.fullmatch(tag):
        tag = _SEPARATORS.sub("", tag)
    tag = tag.upper()
    if not tag:
        raise InvalidToken("empty id tag")
    if not all(" " <= ch <= "~" for ch in tag):
        raise InvalidToken(f"id tag {tag!r} contains characters outside printable ASCII")
    if len(tag) > max_chars:
        raise InvalidToken(f"id tag {tag!r} has {len(tag)} characters; at most {max_chars} allowed")
    return tag


def text_to_token(text: str, *, reader_id: str | None = None) -> Token:
    """The token for an id given as text (operator command, CSMS message, local list entry)."""
    return Token(id_tag=normalize_id_tag(text), reader_id=reader_id, extra={"source": "text"})


def may_cache(token: Token) -> bool:
    """Whether an authorisation result for ``token`` may be remembered as an identity."""
    return not token.random_uid


def masked(id_tag: str) -> str:
    """An id tag for logs and status surfaces: its first and last two characters (``04..F6``),
    enough to tell cards apart on site, never the whole UID. Short ids are fully hidden."""
    if len(id_tag) < 6:
        return ".." if id_tag else ""
    return f"{id_tag[:2]}..{id_tag[-2:]}"
