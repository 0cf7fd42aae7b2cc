"""Device profiles: the register map of one device model, as a YAML data file.

One file per model in this directory, named ``<profile>.yaml``; settings refer to it by that
stem. Both the drivers and the simulators read the same file through :func:`load_profile`.

Format (every key below; unknown keys are errors)::

    kind: charger | meter
    model: "Vendor Model"             # human readable
    source: https://...               # public document the register facts come from
    notes: "..."                      # optional, free text
    transport:                        # how the device speaks (used for defaults and checks)
      framing: rtu | ascii | tcp      # native framing of the device
      baud: 19200                     # serial only
      parity: E                       # serial only: N | E | O
      stop_bits: 1                    # serial only: 1 | 2 (check-config flags a mismatch)
      default_unit_id: 1
      min_gap_s: 0.0                  # silence before a frame to it (serial: after any frame)
      timeout_s: 1.0                  # answer timeout
      max_read_registers: 125         # largest block one read may ask for
      max_hole_registers: 8           # unused registers a merged read may span (0: no merging)
    word_order: big | little          # default for multi-word points: big = high word first
    byte_order: big | little          # default inside each 16-bit word: big = high byte first
    connectors:                       # multi-connector devices (one register block each)
      count: 1                        # connectors the device has
      stride: 0                       # address offset between connector n and n+1
    points:                           # named values; names have fixed meanings (see below)
      <name>:
        table: coil | discrete | input | holding   # FC 01 | 02 | 04 | 03 (writes: 05 / 06, 16)
        address: 0..65535             # protocol address (0-based, as on the wire)
        type: bool | u16 | s16 | u32 | s32 | u64 | float32
        word_order, byte_order:       # optional, override the profile defaults
        scale: 1.0                    # engineering value = raw * scale
        unit: A                       # unit of the engineering value
        writable: false               # true: the driver may write it
        write_multiple: false         # true: write with FC 16 even a single register
        min, max: ...                 # plausible range of the engineering value (else rejected)
        shift: 0                      # integer types: raw = (raw >> shift) & mask before scale
        mask: 255                     #   (e.g. a state letter in the high byte); read-only points
        per_connector: true           # false: shared by all connectors (no stride added)
    status:                           # charger only: vendor code → IEC 61851 state
      point: state                    # point holding the vendor code
      states: {<code>: A..F}          # codes not listed are reported as state F
      faults: {<code>: "text"}        # codes that are a fault, with plain text
      plug_point: plug                # optional: point telling whether a cable/EV is connected
      plugged_values: [5, 7]          # plug codes meaning "EV connected"; others force state A
      enabled_values: [1]             # optional: codes of the ``enabled`` point meaning enabled
    init:                             # writes done once at start-up (e.g. leave standby)
      - {point: standby, value: 4}
    setpoints:
      current_off_below_a: 6.0        # setpoints below this stop charging
      current_off_raw: 1000           # raw value written to set_current to stop (default: 0 A)
      enable_raw: [0, 1]              # raw values written to ``enable`` for off and on
      pause_with_enable: false        # true: 0 A is not writable; pause by writing enable off
    identify:                         # signature registers `edge-controller scan` reads (reads
      - point: model_code             #   only, connector 1): all must hold for the model to match
        values: [112, 121]            # the value must be one of these (engineering values) ...
        identity: true                # the register names the model (high confidence)
      - {point: voltage_l1, min: 0, max: 500}   # ... or lie in [min, max]: only plausible for
                                      #   the model (without an identity check: low confidence)

Point names with a fixed meaning:
    charger status: ``state``, ``plug``, ``enabled``, ``offered_current``, ``fault_code``
    charger setpoints: ``set_current`` (A), ``enable`` (1/0), ``failsafe_current`` (A),
        ``failsafe_timeout`` (s), ``phases`` (1/3)
    measurements (meters and charger built-in meters): ``voltage_l1..3`` (V),
        ``current_l1..3`` (A), ``power_l1..3`` (W), ``power_total`` (W), ``energy_import`` (Wh),
        ``energy_export`` (Wh)
Any other name is allowed (e.g. ``standby`` used by ``init``) and served by the simulator.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

PROFILES_DIR = Path(__file__).parent

Table = Literal["coil", "discrete", "input", "holding"]
DataType = Literal["bool", "u16", "s16", "u32", "s32", "u64", "float32"]
Order = Literal["big", "little"]
StateLetter = Literal["A", "B", "C", "D", "E", "F"]

WORDS: dict[str, int] = {"bool": 1, "u16": 1, "s16": 1, "u32": 2, "s32": 2, "u64": 4, "float32": 2}
BIT_TABLES = ("coil", "discrete")
MEASUREMENT_POINTS = (
    *(f"voltage_l{n}" for n in (1, 2, 3)),
    *(f"current_l{n}" for n in (1, 2, 3)),
    *(f"power_l{n}" for n in (1, 2, 3)),
    "power_total",
    "energy_import",
    "energy_export",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Point(_Strict):
    table: Table
    address: int = Field(ge=0, le=65535)
    type: DataType = "u16"
    word_order: Order | None = None
    byte_order: Order | None = None
    scale: float = 1.0
    unit: str = ""
    writable: bool = False
    write_multiple: bool = False
    min: float | None = None
    max: float | None = None
    per_connector: bool = True
    shift: int = Field(0, ge=0, le=63)
    mask: int | None = Field(None, ge=1)

    @property
    def words(self) -> int:
        """Registers (or bits, for coil/discrete) the point occupies."""
        return WORDS[self.type]

    @model_validator(mode="after")
    def _consistent(self) -> Point:
        if (self.table in BIT_TABLES) != (self.type == "bool"):
            raise ValueError("coil/discrete points are type bool, and only they are")
        if self.writable and self.table in ("input", "discrete"):
            raise ValueError(f"a {self.table} point cannot be writable")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        if (self.shift or self.mask) and (self.writable or self.type in ("bool", "float32")):
            raise ValueError("shift/mask apply to read-only integer points")
        return self


class TransportProfile(_Strict):
    framing: Literal["rtu", "ascii", "tcp"]
    baud: int | None = Field(None, ge=300, le=921600)
    parity: Literal["N", "E", "O"] | None = None
    stop_bits: Literal[1, 2] | None = None
    default_unit_id: int = Field(1, ge=0, le=255)
    min_gap_s: float = Field(0.0, ge=0, le=5)
    timeout_s: float = Field(1.0, gt=0, le=30)
    max_read_registers: int = Field(125, ge=1, le=125)
    max_hole_registers: int = Field(8, ge=0, le=120)


class Connectors(_Strict):
    count: int = Field(1, ge=1, le=8)
    stride: int = Field(0, ge=0, le=20000)


class Status(_Strict):
    point: str = "state"
    states: dict[int, StateLetter]
    faults: dict[int, str] = Field(default_factory=dict)
    plug_point: str | None = None
    plugged_values: tuple[int, ...] = ()
    enabled_values: tuple[int, ...] = (1,)


class Setpoints(_Strict):
    current_off_below_a: float = Field(6.0, ge=0, le=32)
    current_off_raw: int | None = Field(None, ge=0, le=0xFFFF)
    enable_raw: tuple[int, int] = (0, 1)
    pause_with_enable: bool = False


class IdentifyCheck(_Strict):
    """One signature register read by a bus scan, and the values that fit the model."""

    point: str
    values: tuple[float, ...] | None = Field(None, min_length=1)
    min: float | None = None
    max: float | None = None
    identity: bool = False

    @model_validator(mode="after")
    def _has_a_rule(self) -> IdentifyCheck:
        if self.values is None and self.min is None and self.max is None:
            raise ValueError(f"identify {self.point}: give values, or min and/or max")
        return self

    def accepts(self, value: float) -> bool:
        if self.values is not None and value not in self.values:
            return False
        too_low = self.min is not None and value < self.min
        return not too_low and not (self.max is not None and value > self.max)


class InitWrite(_Strict):
    point: str
    value: float


class Profile(_Strict):
    name: str = ""
    kind: Literal["charger", "meter"]
    model: str
    source: str = Field(min_length=8)
    notes: str = ""
    transport: TransportProfile
    word_order: Order = "big"
    byte_order: Order = "big"
    connectors: Connectors = Field(default_factory=Connectors)
    points: dict[str, Point]
    status: Status | None = None
    init: tuple[InitWrite, ...] = ()
    setpoints: Setpoints = Field(default_factory=Setpoints)
    identify: tuple[IdentifyCheck, ...] = ()

    @model_validator(mode="after")
    def _resolve(self) -> Profile:
        resolved = {
            name: point.model_copy(
                update={
                    "word_order": point.word_order or self.word_order,
                    "byte_order": point.byte_order or self.byte_order,
                }
            )
            for name, point in self.points.items()
        }
        object.__setattr__(self, "points", resolved)
        self._check_references()
        return self

    def _check_references(self) -> None:
        named = [w.point for w in self.init] + [c.point for c in self.identify]
        if self.status is not None:
            named.append(self.status.point)
            named += [self.status.plug_point] if self.status.plug_point else []
        missing = sorted(set(named) - set(self.points))
        if missing:
            raise ValueError(f"points referenced but not defined: {', '.join(missing)}")
        if self.kind == "charger" and (self.status is None or "set_current" not in self.points):
            raise ValueError("a charger profile needs a status section and a set_current point")
        if self.kind == "meter" and not set(MEASUREMENT_POINTS) & set(self.points):
            raise ValueError("a meter profile needs at least one measurement point")

    @property
    def has_watchdog(self) -> bool:
        """Whether the model falls back to a failsafe current by itself when writes stop (its
        failsafe current and timeout can be programmed)."""
        return {"failsafe_current", "failsafe_timeout"} <= set(self.points)

    def address_of(self, point: Point, connector: int = 1) -> int:
        """Protocol address of ``point`` for connector ``connector`` (1-based)."""
        if not point.per_connector:
            return point.address
        return point.address + (connector - 1) * self.connectors.stride


class ProfileError(ValueError):
    """A profile file is missing or invalid."""


def load_profile_file(path: Path) -> Profile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"profile {path} is not a mapping")
    try:
        return Profile.model_validate({**data, "name": path.stem})
    except ValueError as exc:
        raise ProfileError(f"invalid profile {path.name}: {exc}") from exc


@lru_cache(maxsize=64)
def load_profile(name: str, directory: Path = PROFILES_DIR) -> Profile:
    """The shipped profile ``name`` (file stem); raises :class:`ProfileError`."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ProfileError(f"invalid profile name {name!r}")
    return load_profile_file(directory / f"{name}.yaml")
