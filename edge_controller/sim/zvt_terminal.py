"""A simulated ZVT payment terminal: a TCP peer that answers an ECR as an unattended terminal
does, byte for byte, and keeps a ledger of what it reserved, booked and released.

What the next card presented does is set with ``behaviour``: approve, decline, stay silent
(the driver's timeout), or drop the connection mid-transaction (before a book total is booked,
or after it). Each transaction has its own trace number; a booking names its reservation by
receipt number and original trace. Repeat receipt (06 20) sends the last transaction's status
information and receipt lines again.

With ``wait_for_card`` a pre-authorisation waits for ``present_card`` as an unattended terminal
waits for the card holder: until then an abort (06 B0) is acknowledged (80 00) and the command
ends with 06 1E 6C; once the card is read the authorisation takes ``authorising_s`` and an
abort meanwhile is refused (84 83), so the payment goes on. ``abort_answer_s`` delays the
acknowledgement of an abort (a slow terminal: the ECR may die meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from edge_controller.drivers.payment.zvt import apdu as a
from edge_controller.drivers.payment.zvt import bmp
from edge_controller.drivers.payment.zvt.terminal import NUMERIC_CURRENCY
from edge_controller.log import get_logger

# A test card: the terminal sends its number masked, as real terminals do (E for hidden digits).
MASKED_PAN = bytes.fromhex("67 34 12 EE EE EE EE 00 19".replace(" ", ""))
TEST_AID = bytes.fromhex("a0000000041010ff")
DECLINED = 0x05  # "card not admitted / declined" result code
BUSY_CODE = 0x9C  # status enquiry result and negative acknowledgement of a busy terminal
WATCH_PIN_PAD = 0x01  # intermediate status: the card holder types a PIN
LIMIT_NOT_SUFFICIENT = 0x16  # intermediate status: the card's limit does not cover it
TERMINAL_ID = 29001234
ABORTED = 0x6C  # "abort via timeout or abort key": how an aborted command ends
FUNCTION_NOT_POSSIBLE = 0x83  # the negative acknowledgement of an abort that comes too late
PLEASE_WAIT = 0x0E  # intermediate status: the card is read, the authorisation runs


__all__ = ["NUMERIC_CURRENCY", "Behaviour", "Ledger", "SimulatedZvtTerminal"]


class Behaviour(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    SILENT = "silent"  # answers the command's acknowledgement, then nothing
    DISCONNECT = "disconnect"  # drops the connection after the intermediate status
    CAPTURE_FAILS = "capture_fails"  # a book total is aborted
    # a book total is booked, then the connection drops before its answer, or it never comes
    DISCONNECT_AFTER_BOOKING = "disconnect_after_booking"
    SILENT_AFTER_BOOKING = "silent_after_booking"
    PIN_REQUIRED = "pin_required"  # the card holder is asked for a PIN, then approved
    BUSY = "busy"  # another transaction runs: commands are refused, status says busy
    AMOUNT_LIMIT = "amount_limit"  # a reservation above ``card_limit_minor`` is declined


@dataclass(slots=True)
class Reservation:
    receipt_no: int
    trace_no: int
    amount_minor: int
    captured_minor: int | None = None
    reversed: bool = False


@dataclass(slots=True)
class Ledger:
    reservations: dict[int, Reservation] = field(default_factory=dict)
    captures: list[tuple[int, int]] = field(default_factory=list)  # (receipt_no, minor units)
    reversals: list[int] = field(default_factory=list)
    aborts_by_ecr: int = 0  # 06 B0 received
    aborts_refused: int = 0  # of them, refused: a card was read already
    days_closed: list[int] = field(default_factory=list)  # each end-of-day's total, minor units
    commands: list[str] = field(default_factory=list)
    repeats: int = 0  # receipts repeated (06 20)


class SimulatedZvtTerminal:
    def __init__(self, password: int = 123456, currency_numeric: int = 978) -> None:
        self.behaviour = Behaviour.APPROVE
        self.card_limit_minor = 2000  # what the card allows with ``AMOUNT_LIMIT``
        self.wait_for_card = False  # a pre-authorisation waits for ``present_card``
        self.authorising_s = 0.0  # after the card, before the approval (abort refused)
        self.abort_answer_s = 0.0  # how long an abort waits for its acknowledgement
        self._card = asyncio.Event()
        self._abortable = False  # a pre-authorisation waits for its card now
        self._abort_asked = False  # and the ECR took it back
        self.ledger = Ledger()
        self.port = 0  # the listening port once started
        self._password = bmp.bcd(password, 3)
        self._currency = bmp.bcd(currency_numeric, 2)
        self._next_receipt = 1
        self._next_trace = 1001
        # the last transaction's status information and printed lines, for a repeat receipt
        self._last: tuple[bytes, tuple[str, ...]] | None = None
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._log = get_logger("sim.zvt")

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    @property
    def waiting_for_card(self) -> bool:
        """Whether a pre-authorisation waits for a card now (the terminal is armed)."""
        return self._abortable and not self._abort_asked

    def present_card(self) -> bool:
        """The card holder presents a card; False when no pre-authorisation waits for one."""
        if not self.waiting_for_card:
            return False
        self._card.set()
        return True

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while True:
                command = await a.read_apdu(reader)
                self.ledger.commands.append(f"{command.cls:02X}{command.instr:02X}")
                if not await self._answer(command, reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except a.FrameError as exc:
            self._log.warning("malformed ECR message", reason=str(exc))
            writer.write(a.encode(a.Apdu(a.NEGATIVE_ACK_CLASS, 0x9C)))
        finally:
            self._clients.discard(writer)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _answer(
        self, command: a.Apdu, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one ECR command; False when the connection is to be dropped."""
        if command.command == a.ABORT_BY_ECR:
            self.ledger.aborts_by_ecr += 1
            await _send(writer, a.ACK)
            return True
        if command.command in (a.REGISTRATION, a.STATUS_ENQUIRY):
            if command.data[:3] != self._password:
                await _send(writer, a.Apdu(a.NEGATIVE_ACK_CLASS, 0x9E))  # wrong password
                return True
            await _send(writer, a.ACK)
            if command.command == a.STATUS_ENQUIRY:
                code = BUSY_CODE if self.behaviour == Behaviour.BUSY else 0
                await self._status_info(reader, writer, self._terminal_fields(code))
            return await self._complete(reader, writer)
        if self.behaviour == Behaviour.BUSY:
            await _send(writer, a.Apdu(a.NEGATIVE_ACK_CLASS, BUSY_CODE))
            return True
        if command.command == a.END_OF_DAY:
            return await self._end_of_day(command, reader, writer)
        if command.command == a.REPEAT_RECEIPT:
            return await self._repeat(command, reader, writer)
        await _send(writer, a.ACK)
        return await self._transaction(command, reader, writer)

    async def _transaction(
        self, command: a.Apdu, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        fields = bmp.parse(command.data)
        self._abortable = self.wait_for_card and command.command == a.PRE_AUTHORISATION
        self._abort_asked = False
        self._card.clear()
        try:
            return await self._transact(command, fields, reader, writer)
        finally:
            self._abortable = self._abort_asked = False

    async def _transact(
        self,
        command: a.Apdu,
        fields: Mapping[int, bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        await self._intermediate(reader, writer)
        if self.behaviour == Behaviour.SILENT:
            # wait for the ECR's abort (or its hang-up)
            return True
        if self.behaviour == Behaviour.DISCONNECT:
            return False
        if command.command == a.PRE_AUTHORISATION:
            return await self._pre_authorise(fields, reader, writer)
        if command.command == a.BOOK_TOTAL:
            return await self._book_total(fields, reader, writer)
        if command.command == a.PRE_AUTHORISATION_REVERSAL:
            return await self._reverse(fields, reader, writer)
        return await self._abort(reader, writer, 0x83)  # function not possible

    async def _pre_authorise(
        self,
        fields: Mapping[int, bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        if self._abortable:
            if not await self._card_or_abort(reader, writer):
                return await self._abort(reader, writer, ABORTED)
            await self._authorising(reader, writer)
        minor = bmp.from_bcd(fields[bmp.AMOUNT])
        over_limit = self.behaviour == Behaviour.AMOUNT_LIMIT and minor > self.card_limit_minor
        if over_limit:
            await self._tell(
                reader, writer, a.Apdu(*a.INTERMEDIATE_STATUS, bytes((LIMIT_NOT_SUFFICIENT,)))
            )
        if self.behaviour == Behaviour.DECLINE or over_limit:
            await self._status_info(reader, writer, bmp.field(bmp.RESULT_CODE, bytes((DECLINED,))))
            return await self._abort(reader, writer, DECLINED)
        if self.behaviour == Behaviour.PIN_REQUIRED:
            await self._tell(
                reader, writer, a.Apdu(*a.INTERMEDIATE_STATUS, bytes((WATCH_PIN_PAD,)))
            )
        receipt, trace = self._next_receipt, self._trace()
        self._next_receipt += 1
        self.ledger.reservations[receipt] = Reservation(receipt, trace, minor)
        info = self._approval(receipt, trace, minor)
        line = f"PRE-AUTHORISATION {minor / 100:.2f} EUR"
        self._last = (info, (line,))
        await self._status_info(reader, writer, info)
        await self._print(reader, writer, line)
        return await self._complete(reader, writer)

    async def _card_or_abort(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Wait for the card (True) or the ECR's abort (False)."""
        while not self._abort_asked:
            reading = asyncio.ensure_future(a.read_apdu(reader))
            card = asyncio.ensure_future(self._card.wait())
            done, _ = await asyncio.wait({reading, card}, return_when=asyncio.FIRST_COMPLETED)
            if self._card.is_set():  # the card wins over an abort crossing it: that is refused
                self._abortable = False
                card.cancel()
                if reading in done:
                    await self._unasked(reading.result(), writer)
                else:
                    reading.cancel()
                return True
            card.cancel()
            await self._unasked(reading.result(), writer)
        return False

    async def _authorising(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """The card is read; the authorisation runs ``authorising_s`` (no abort now)."""
        await self._tell(reader, writer, a.Apdu(*a.INTERMEDIATE_STATUS, bytes((PLEASE_WAIT,))))
        loop = asyncio.get_running_loop()
        until_s = loop.time() + self.authorising_s
        while (left_s := until_s - loop.time()) > 0:
            try:
                message = await asyncio.wait_for(a.read_apdu(reader), left_s)
            except TimeoutError:
                return
            await self._unasked(message, writer)

    async def _unasked(self, message: a.Apdu, writer: asyncio.StreamWriter) -> None:
        """A message from the ECR in the middle of a transaction: only an abort is answered."""
        self.ledger.commands.append(f"{message.cls:02X}{message.instr:02X}")
        if message.command != a.ABORT_BY_ECR:
            raise a.FrameError(f"unexpected {message} during a transaction")
        self.ledger.aborts_by_ecr += 1
        if self._abortable:
            self._abort_asked = True
            await asyncio.sleep(self.abort_answer_s)
            await _send(writer, a.ACK)
        else:
            self.ledger.aborts_refused += 1
            await _send(writer, a.Apdu(a.NEGATIVE_ACK_CLASS, FUNCTION_NOT_POSSIBLE))

    async def _book_total(
        self,
        fields: Mapping[int, bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        held = self._open(fields)
        minor = bmp.from_bcd(fields[bmp.AMOUNT])
        if self.behaviour == Behaviour.CAPTURE_FAILS or held is None or minor > held.amount_minor:
            return await self._abort(reader, writer, 0x64 if held is None else 0x6F)
        held.captured_minor = minor
        self.ledger.captures.append((held.receipt_no, minor))
        info = self._approval(held.receipt_no, self._trace(), minor, held.trace_no)
        line = f"BOOK TOTAL {minor / 100:.2f} EUR"
        self._last = (info, (line,))
        if self.behaviour == Behaviour.DISCONNECT_AFTER_BOOKING:
            return False
        if self.behaviour == Behaviour.SILENT_AFTER_BOOKING:
            return True  # the ECR times out (or is killed) waiting
        await self._status_info(reader, writer, info)
        await self._print(reader, writer, line)
        return await self._complete(reader, writer)

    async def _reverse(
        self,
        fields: Mapping[int, bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        held = self._open(fields)
        if held is None:
            return await self._abort(reader, writer, 0x64)  # no such transaction
        held.reversed = True
        self.ledger.reversals.append(held.receipt_no)
        info = bmp.field(bmp.RESULT_CODE, b"\x00")
        self._last = (info, ())
        await self._status_info(reader, writer, info)
        return await self._complete(reader, writer)

    def _open(self, fields: Mapping[int, bytes]) -> Reservation | None:
        """The reservation a book total or reversal names, if it is still open."""
        if bmp.RECEIPT_NO not in fields or bmp.TRACE not in fields:
            return None
        held = self.ledger.reservations.get(bmp.from_bcd(fields[bmp.RECEIPT_NO]))
        if held is None or held.captured_minor is not None or held.reversed:
            return None
        return held if bmp.from_bcd(fields[bmp.TRACE]) == held.trace_no else None

    async def _end_of_day(
        self, command: a.Apdu, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Submit the day: the total booked since the last end-of-day, printed and sent back."""
        if command.data[:3] != self._password:
            await _send(writer, a.Apdu(a.NEGATIVE_ACK_CLASS, 0x9E))
            return True
        await _send(writer, a.ACK)
        booked = sum(minor for _, minor in self.ledger.captures)
        total = booked - sum(self.ledger.days_closed)
        self.ledger.days_closed.append(total)
        fields = bmp.join((self._terminal_fields(0), bmp.amount_field(total)))
        line = f"END OF DAY {total / 100:.2f} EUR"
        self._last = (fields, (line,))
        await self._status_info(reader, writer, fields)
        await self._print(reader, writer, line)
        return await self._complete(reader, writer)

    async def _repeat(
        self, command: a.Apdu, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Repeat receipt: the last transaction's status information and lines again."""
        if command.data[:3] != self._password:
            await _send(writer, a.Apdu(a.NEGATIVE_ACK_CLASS, 0x9E))
            return True
        await _send(writer, a.ACK)
        if self.behaviour in (Behaviour.SILENT, Behaviour.DISCONNECT):
            return self.behaviour == Behaviour.SILENT
        if self._last is None:
            return await self._abort(reader, writer, 0x83)  # nothing to repeat
        self.ledger.repeats += 1
        info, lines = self._last
        await self._status_info(reader, writer, info)
        for line in lines:
            await self._print(reader, writer, line)
        return await self._complete(reader, writer)

    def _trace(self) -> int:
        """The next transaction's trace number."""
        trace, self._next_trace = self._next_trace, self._next_trace + 1
        return trace

    def _approval(self, receipt: int, trace: int, minor: int, original: int = 0) -> bytes:
        """An approved transaction's status information (``original``: the trace number of
        the reservation a booking books)."""
        named = (bmp.field(bmp.ORIGINAL_TRACE, bmp.bcd(original, 3)),) if original else ()
        return bmp.join(
            (
                bmp.field(bmp.RESULT_CODE, b"\x00"),
                bmp.amount_field(minor),
                bmp.field(bmp.TRACE, bmp.bcd(trace, 3)),
                *named,
                bmp.field(bmp.RECEIPT_NO, bmp.bcd(receipt, 2)),
                bmp.field(bmp.CURRENCY, self._currency),
                bmp.llvar(bmp.PAN, MASKED_PAN),
                bmp.field(bmp.EXPIRY, bytes.fromhex("2912")),
                bmp.field(bmp.AID, TEST_AID),
                bmp.llvar(bmp.CARD_NAME, b"Girocard"),
                self._terminal_fields(0),
            )
        )

    def _terminal_fields(self, code: int) -> bytes:
        return bmp.join(
            (
                bmp.field(bmp.RESULT_CODE, bytes((code,))),
                bmp.field(bmp.TERMINAL_ID, bmp.bcd(TERMINAL_ID, 4)),
            )
        )

    async def _intermediate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await self._tell(reader, writer, a.Apdu(*a.INTERMEDIATE_STATUS, b"\x0a"))  # insert card

    async def _status_info(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
    ) -> None:
        await self._tell(reader, writer, a.Apdu(*a.STATUS_INFORMATION, data))

    async def _print(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str
    ) -> None:
        await self._tell(reader, writer, a.Apdu(*a.PRINT_LINE, b"\x00" + line.encode("latin-1")))

    async def _complete(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        await self._tell(reader, writer, a.Apdu(*a.COMPLETION))
        return True

    async def _abort(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, code: int
    ) -> bool:
        await self._tell(reader, writer, a.Apdu(*a.ABORT_BY_TERMINAL, bytes((code,))))
        return True

    async def _tell(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: a.Apdu
    ) -> None:
        """Send a terminal message and wait for the ECR's 80 00 (an abort crossing it on
        the wire is answered on the way)."""
        await _send(writer, message)
        while (reply := await asyncio.wait_for(a.read_apdu(reader), 5.0)).command != a.ACK.command:
            if reply.command != a.ABORT_BY_ECR:
                raise a.FrameError(f"expected 80 00, got {reply}")
            await self._unasked(reply, writer)


async def _send(writer: asyncio.StreamWriter, message: a.Apdu) -> None:
    writer.write(a.encode(message))
    await writer.drain()
