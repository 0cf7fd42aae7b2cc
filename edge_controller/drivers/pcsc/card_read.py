"""Read the id of the card on a reader: GET UID, one retry with the Le the reader asks for,
and the ATR fallback when configured. Blocking; runs in the worker thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.tokens import InvalidToken, atr_to_token, uid_to_token
from edge_controller.drivers.pcsc import pcsc_io
from edge_controller.drivers.pcsc.apdu import (
    UidAnswer,
    UidStatus,
    get_uid_command,
    parse_uid_response,
)
from edge_controller.drivers.pcsc.config import ReaderConfig


class CardReadError(Exception):
    """The card on the reader gave no usable id (``kind`` names the error counter)."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {detail}")


@dataclass(frozen=True, slots=True)
class CardId:
    raw: bytes  # what identifies the card for debouncing (UID or ATR)
    token: Token


def read_card(context: Any, reader_name: str, atr: bytes, config: ReaderConfig) -> CardId:
    try:
        answer = _get_uid(context, reader_name)
    except pcsc_io.ServiceGone:
        raise
    except pcsc_io.PcscError as exc:
        raise CardReadError("card_io", str(exc)) from exc
    if answer.status is UidStatus.OK:
        try:
            token = uid_to_token(answer.uid, reverse=config.reverse_uid, reader_id=config.reader_id)
        except InvalidToken as exc:
            raise CardReadError("invalid_uid", str(exc)) from exc
        return CardId(answer.uid, token)
    if answer.status is UidStatus.UNSUPPORTED and config.uid_from_atr:
        return CardId(atr, atr_to_token(atr, reader_id=config.reader_id))
    kind = "uid_unsupported" if answer.status is UidStatus.UNSUPPORTED else "uid_failed"
    raise CardReadError(kind, f"GET UID answered {answer.status_word or 'nothing'}")


def _get_uid(context: Any, reader_name: str) -> UidAnswer:
    with pcsc_io.card_connection(context, reader_name) as (card, protocol):
        answer = parse_uid_response(pcsc_io.transmit(card, protocol, get_uid_command()))
        if answer.status is UidStatus.RETRY:
            command = get_uid_command(answer.retry_le)
            answer = parse_uid_response(pcsc_io.transmit(card, protocol, command))
        if answer.status is UidStatus.RETRY:  # a second 6C: the reader is confused
            return UidAnswer(UidStatus.FAILED, status_word=answer.status_word)
        return answer
