"""The ZVT driver: a ``PaymentTerminal`` spoken to as the electronic cash register (ECR) over TCP.

Each call opens a connection, registers (06 00) and runs one command to its completion (06 0F)
or abort (06 1E), acknowledging every terminal message with 80 00. A command that outlives its
timeout is aborted (06 B0) before the connection closes. A pre-authorisation waiting for a card
can be taken back (``abort``): 06 B0 on its connection, which the terminal acknowledges (80 00)
and then ends the command with 06 1E, or refuses (84 xx) once a card is read. Nothing of the card
but its scheme name is kept or logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

from edge_controller.domain.payments import (
    Capture,
    DayClosed,
    PaymentAuthorisation,
    TerminalState,
    TerminalStatus,
)
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.drivers.payment.zvt import apdu as a
from edge_controller.drivers.payment.zvt import bmp
from edge_controller.log import get_logger
from edge_controller.ports import (
    DeviceBusy,
    DeviceFault,
    DeviceUnavailable,
    PaymentAborted,
    PaymentDeclined,
)

# ISO 4217 numeric codes of the currencies terminals in this market are set up for.
NUMERIC_CURRENCY = {"EUR": 978, "CHF": 756, "GBP": 826, "USD": 840, "DKK": 208, "SEK": 752}
# Registration config byte: the ECR prints receipts (terminal sends print lines), the terminal
# sends intermediate status, amounts are not typed in at the terminal, the ECR runs admin.
REGISTRATION_CONFIG = 0x02 | 0x04 | 0x08 | 0x10 | 0x20
TERMINAL_BUSY = {0x83, 0x9C, 0xB4}  # from the status enquiry's result code
BUSY_ACK = 0x9C  # a command refused because another runs: try again later, not a refusal
# Intermediate status (04 FF) the card holder sees, in words; others are kept as their code.
INTERMEDIATE_TEXTS = {
    0x01: "watch PIN pad",
    0x0A: "insert card",
    0x0B: "remove card",
    0x0E: "please wait",
    0x15: "incorrect PIN",
    0x16: "limit not sufficient",
}


@dataclass(frozen=True, slots=True)
class ZvtSettings:
    host: str
    port: int = 20007
    password: int = 0  # six digits, sent as BCD
    currency: str = "EUR"
    connect_timeout_s: float = 5.0
    ack_timeout_s: float = 5.0
    # how long the terminal may stay silent during a command (the card holder reads, taps, types
    # a PIN); every intermediate status starts the wait again
    message_timeout_s: float = 60.0


@dataclass(slots=True)
class _Pending:
    """A pre-authorisation under way: its connection, and once 06 B0 was sent on it, the
    terminal's answer (True: accepted, the command ends aborted; False: refused)."""

    writer: asyncio.StreamWriter
    answer: asyncio.Future[bool] | None = None


@dataclass(slots=True)
class _Outcome:
    fields: dict[int, bytes] = field(default_factory=dict)
    receipt_lines: list[str] = field(default_factory=list)
    status_texts: list[str] = field(default_factory=list)


class ZvtTerminal:
    def __init__(self, settings: ZvtSettings) -> None:
        if settings.currency not in NUMERIC_CURRENCY:
            raise ValueError(f"currency {settings.currency!r} has no ZVT code here")
        self._settings = settings
        self._currency = Currency.of(settings.currency)
        self._lock = asyncio.Lock()  # the terminal runs one command at a time
        self._pending: _Pending | None = None  # the pre-authorisation an abort takes back
        self._log = get_logger("zvt", terminal=f"{settings.host}:{settings.port}")

    async def status(self) -> TerminalStatus:
        outcome = await self._run(a.Apdu(*a.STATUS_ENQUIRY, self._password()))
        code = outcome.fields.get(bmp.RESULT_CODE, b"\x00")[0]
        tid = outcome.fields.get(bmp.TERMINAL_ID, b"").hex()
        state = TerminalState.READY if code == 0 else TerminalState.OUT_OF_ORDER
        if code in TERMINAL_BUSY:
            state = TerminalState.BUSY
        return TerminalStatus(state, code, tid)

    async def pre_authorise(self, amount: Money) -> PaymentAuthorisation:
        data = bmp.join((bmp.amount_field(self._minor(amount)), self._currency_field()))
        outcome = await self._run(a.Apdu(*a.PRE_AUTHORISATION, data), abortable=True)
        fields = outcome.fields
        booked = self._amount_of(fields, amount)
        reference = _reference(fields)
        self._log.info("pre-authorised", amount=str(booked), reference=reference)
        return PaymentAuthorisation(
            reference=reference,
            amount=booked,
            card_name=fields.get(bmp.CARD_NAME, b"").decode("latin-1"),
            receipt_lines=tuple(outcome.receipt_lines),
            status_texts=tuple(outcome.status_texts),
        )

    async def capture(self, authorisation: PaymentAuthorisation, amount: Money) -> Capture:
        if amount.amount > authorisation.amount.amount:
            raise ValueError(f"capture of {amount} above the authorised {authorisation.amount}")
        data = _reference_fields(authorisation.reference, bmp.amount_field(self._minor(amount)))
        outcome = await self._run(a.Apdu(*a.BOOK_TOTAL, data))
        booked = self._amount_of(outcome.fields, amount)
        self._log.info("captured", amount=str(booked), reference=authorisation.reference)
        lines, texts = tuple(outcome.receipt_lines), tuple(outcome.status_texts)
        return Capture(authorisation.reference, booked, lines, texts)

    async def reverse(self, authorisation: PaymentAuthorisation) -> None:
        data = _reference_fields(authorisation.reference, b"")
        await self._run(a.Apdu(*a.PRE_AUTHORISATION_REVERSAL, data))
        self._log.info("pre-authorisation reversed", reference=authorisation.reference)

    async def abort(self) -> bool:
        pending = self._pending
        if pending is None:
            return False
        if pending.answer is None:
            pending.answer = asyncio.get_running_loop().create_future()
            try:
                pending.writer.write(a.encode(a.Apdu(*a.ABORT_BY_ECR)))
                await pending.writer.drain()
            except OSError as exc:
                self._log.warning("abort not sent", reason=str(exc))
                return False
        try:
            async with asyncio.timeout(self._settings.ack_timeout_s):
                accepted = await asyncio.shield(pending.answer)
        except TimeoutError:
            self._log.warning("abort not acknowledged")
            return False
        self._log.info("abort", accepted=accepted)
        return accepted

    async def booked_capture(self, authorisation: PaymentAuthorisation) -> Capture | None:
        """Whether a book total whose answer was lost (connection cut mid-command) was booked:
        the terminal repeats its last receipt (06 20) with that transaction's status
        information; None unless it is a booking of this reservation."""
        try:
            outcome = await self._run(a.Apdu(*a.REPEAT_RECEIPT, self._password()))
        except PaymentDeclined as exc:  # nothing stored to repeat
            self._log.info("no receipt to repeat", reason=str(exc))
            return None
        fields = outcome.fields
        if not _books(fields, authorisation.reference):
            return None
        booked = Money.of_minor(bmp.from_bcd(fields[bmp.AMOUNT]), self._currency)
        if booked.amount > authorisation.amount.amount:
            self._log.warning("last booking above the reservation", amount=str(booked),
                              reference=authorisation.reference)  # fmt: skip
            return None
        self._log.info("capture found booked", amount=str(booked),
                       reference=authorisation.reference)  # fmt: skip
        lines, texts = tuple(outcome.receipt_lines), tuple(outcome.status_texts)
        return Capture(authorisation.reference, booked, lines, texts)

    async def end_of_day(self) -> DayClosed:
        outcome = await self._run(a.Apdu(*a.END_OF_DAY, self._password()))
        code = outcome.fields.get(bmp.RESULT_CODE, b"\x00")[0]
        if code != 0:
            raise DeviceFault(f"end-of-day refused: result code {code:02X}")
        total = None
        if bmp.AMOUNT in outcome.fields:
            total = Money.of_minor(bmp.from_bcd(outcome.fields[bmp.AMOUNT]), self._currency)
        self._log.info("end of day", total=str(total))
        return DayClosed(total, tuple(outcome.receipt_lines))

    # -- one command over one connection ------------------------------------------------------

    async def _run(self, command: a.Apdu, abortable: bool = False) -> _Outcome:
        async with self._lock, self._connection() as (reader, writer):
            await self._exchange(reader, writer, self._registration())
            if not abortable:
                return await self._exchange(reader, writer, command)
            self._pending = _Pending(writer)
            try:
                return await self._exchange(reader, writer, command)
            finally:
                pending, self._pending = self._pending, None
                if pending.answer is not None and not pending.answer.done():
                    pending.answer.set_result(False)  # ended before the terminal answered

    @asynccontextmanager
    async def _connection(
        self,
    ) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        s = self._settings
        try:
            async with asyncio.timeout(s.connect_timeout_s):
                reader, writer = await asyncio.open_connection(s.host, s.port)
        except (OSError, TimeoutError) as exc:
            raise DeviceUnavailable(f"terminal {s.host}:{s.port} not reachable: {exc}") from exc
        try:
            yield reader, writer
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise DeviceUnavailable(f"terminal connection lost: {exc!r}") from exc
        except a.FrameError as exc:
            self._log.warning("malformed terminal message", reason=str(exc))
            raise DeviceFault(f"terminal sent a malformed message: {exc}") from exc
        finally:
            writer.close()
            with suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command: a.Apdu
    ) -> _Outcome:
        writer.write(a.encode(command))
        await writer.drain()
        await self._await_ack(reader, command)
        try:
            return await self._follow(reader, writer, command)
        except TimeoutError:
            if self._pending is None or self._pending.answer is None:  # not sent already
                await self._abort(writer)
            raise DeviceUnavailable(f"terminal silent during {command}; aborted") from None

    async def _await_ack(self, reader: asyncio.StreamReader, command: a.Apdu) -> None:
        try:
            async with asyncio.timeout(self._settings.ack_timeout_s):
                reply = await a.read_apdu(reader)
        except TimeoutError:
            raise DeviceUnavailable(f"no acknowledgement of {command}") from None
        if reply.cls == a.NEGATIVE_ACK_CLASS and reply.instr == BUSY_ACK:
            raise DeviceBusy(f"terminal busy: {command} refused for now")
        if reply.cls == a.NEGATIVE_ACK_CLASS and reply.instr != 0:
            raise DeviceFault(f"terminal refused {command}: code {reply.instr:02X}")
        if reply.command not in ((0x80, 0x00), (a.NEGATIVE_ACK_CLASS, 0x00)):
            raise DeviceFault(f"expected an acknowledgement of {command}, got {reply}")

    async def _follow(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command: a.Apdu
    ) -> _Outcome:
        outcome = _Outcome()
        while True:
            try:
                async with asyncio.timeout(self._settings.message_timeout_s):
                    message = await a.read_apdu(reader)
            except TimeoutError:
                if not await self._abort_unread(writer):
                    raise
                continue
            if self._answers_abort(message):
                continue  # an acknowledgement is not acknowledged
            writer.write(a.encode(a.ACK))
            await writer.drain()
            if message.command == a.COMPLETION:
                return outcome
            if message.command == a.ABORT_BY_TERMINAL:
                code = message.data[0] if message.data else 0xFF
                self._log.info("terminal aborted", command=str(command), result_code=code)
                if self._taken_back():
                    raise PaymentAborted(f"{command} taken back: code {code:02X}", code)
                raise PaymentDeclined(f"terminal aborted {command}: code {code:02X}", code)
            _take(outcome, message)

    async def _abort_unread(self, writer: asyncio.StreamWriter) -> bool:
        """A pre-authorisation silent for ``message_timeout_s`` most likely still waits for a
        card (an armed terminal may wait long): it is taken back, and ends as aborted when the
        terminal agrees. False when there is none to take back (the silence is a fault)."""
        pending = self._pending
        if pending is None or pending.answer is not None:
            return False
        pending.answer = asyncio.get_running_loop().create_future()
        self._log.info("no card presented in time; taking the pre-authorisation back")
        try:
            writer.write(a.encode(a.Apdu(*a.ABORT_BY_ECR)))
            await writer.drain()
        except OSError:
            return False
        return True

    def _taken_back(self) -> bool:
        """Whether the terminal accepted an abort of the pending command."""
        answer = None if self._pending is None else self._pending.answer
        return answer is not None and answer.done() and answer.result()

    def _answers_abort(self, message: a.Apdu) -> bool:
        """Whether ``message`` is the terminal's answer to an abort sent during the command
        (80 00 accepted, 84 xx refused); it settles what ``abort`` waits for."""
        pending = self._pending
        if pending is None or pending.answer is None or pending.answer.done():
            return False
        if message.cls not in (a.ACK.cls, a.NEGATIVE_ACK_CLASS):
            return False
        accepted = message.instr == 0  # 80 00 (or the positive 84 00)
        if not accepted:
            self._log.info("abort refused", code=f"{message.instr:02X}")
        pending.answer.set_result(accepted)
        return True

    async def _abort(self, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(a.encode(a.Apdu(*a.ABORT_BY_ECR)))
            await writer.drain()
        except OSError:
            pass  # the connection is closing anyway; the terminal times out on its side

    # -- fields --------------------------------------------------------------------------------

    def _registration(self) -> a.Apdu:
        data = self._password() + bytes((REGISTRATION_CONFIG,))
        return a.Apdu(*a.REGISTRATION, data + bmp.bcd(NUMERIC_CURRENCY[self._currency.code], 2))

    def _password(self) -> bytes:
        return bmp.bcd(self._settings.password, 3)

    def _currency_field(self) -> bytes:
        return bmp.field(bmp.CURRENCY, bmp.bcd(NUMERIC_CURRENCY[self._currency.code], 2))

    def _minor(self, amount: Money) -> int:
        if amount.currency != self._currency:
            raise ValueError(f"terminal takes {self._currency.code}, not {amount.currency.code}")
        return amount.minor

    def _amount_of(self, fields: Mapping[int, bytes], asked: Money) -> Money:
        code = fields.get(bmp.RESULT_CODE, b"\x00")[0]
        if code != 0:
            raise PaymentDeclined(f"terminal result code {code:02X}", code)
        if bmp.AMOUNT not in fields:
            return asked
        return Money.of_minor(bmp.from_bcd(fields[bmp.AMOUNT]), self._currency)


def _take(outcome: _Outcome, message: a.Apdu) -> None:
    """Keep what a status or print message says; card numbers are dropped here."""
    if message.command == a.STATUS_INFORMATION:
        fields = dict(bmp.parse(message.data))
        fields.pop(bmp.PAN, None)
        fields.pop(bmp.EXPIRY, None)
        outcome.fields.update(fields)
    elif message.command == a.INTERMEDIATE_STATUS and message.data:
        code = message.data[0]
        text = INTERMEDIATE_TEXTS.get(code, f"terminal status {code:02X}")
        if not outcome.status_texts or outcome.status_texts[-1] != text:
            outcome.status_texts.append(text)
    elif message.command in (a.PRINT_LINE, a.PRINT_TEXT_BLOCK) and message.data:
        # 06 D1: an attribute byte, then the line's text
        outcome.receipt_lines.append(message.data[1:].decode("latin-1", "replace"))


def _reference(fields: Mapping[int, bytes]) -> str:
    """receipt number / trace number / AID: what a later book total or reversal names."""
    try:
        receipt = bmp.from_bcd(fields[bmp.RECEIPT_NO])
        trace = bmp.from_bcd(fields[bmp.TRACE])
    except KeyError as exc:
        raise DeviceFault(f"approval without BMP {exc.args[0]:02X}") from None
    return f"{receipt:04d}/{trace:06d}/{fields.get(bmp.AID, bytes(8)).hex()}"


def _books(fields: Mapping[int, bytes], reference: str) -> bool:
    """Whether a transaction's status information is an approved booking of the reservation
    ``reference`` names: it names the reservation (its receipt number, or its trace number as
    the original trace) and is not the reservation itself (its own trace number differs)."""
    receipt, trace = (int(part) for part in reference.split("/")[:2])
    if fields.get(bmp.RESULT_CODE, b"\xff")[0] != 0:
        return False
    if bmp.AMOUNT not in fields or bmp.TRACE not in fields:
        return False
    if bmp.from_bcd(fields[bmp.TRACE]) == trace:
        return False
    original = fields.get(bmp.ORIGINAL_TRACE)
    if original is not None and bmp.from_bcd(original) == trace:
        return True
    number = fields.get(bmp.RECEIPT_NO)
    return number is not None and bmp.from_bcd(number) == receipt


def _reference_fields(reference: str, amount: bytes) -> bytes:
    receipt, trace, aid = reference.split("/")
    return bmp.join(
        (
            bmp.field(bmp.RECEIPT_NO, bmp.bcd(int(receipt), 2)),
            amount,
            bmp.field(bmp.TRACE, bmp.bcd(int(trace), 3)),
            bmp.field(bmp.AID, bytes.fromhex(aid)),
        )
    )
