"""The shipped traces (``hil/traces/<profile>.trace``): one per shipped profile, recorded from
the simulator through the daemon's drivers with the bus's ``record:`` option: every point read
once, and for a charger a 6 A setpoint written and read back.

Regenerate: ``.venv/bin/python -m hil.traces`` (after a profile or the simulator changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

from edge_controller.ports import DeviceFault
from edge_controller.sim.site import running_site
from hil.bench import Bench, open_device, sim_settings, simulated_bench

TRACES_DIR = Path(__file__).parent / "traces"


def recording(bench: Bench, directory: Path) -> dict[str, Path]:
    """Where each device's trace goes (its profile's name)."""
    return {d: directory / f"{c.profile}.trace" for d, c in bench.devices.items()}


async def record_all(directory: Path = TRACES_DIR) -> list[Path]:
    """Record every trace into ``directory`` (which exists)."""
    with tempfile.TemporaryDirectory() as state:
        bench = simulated_bench(Path(state))
        async with running_site(sim_settings(bench, Path(state))) as sim:
            written = []
            for device_id, path in sorted(recording(bench, directory).items()):
                path.unlink(missing_ok=True)
                bus_id = bench.devices[device_id].bus
                bus = bench.buses[bus_id].model_copy(update={"record": path})
                one = bench.model_copy(update={"buses": {**bench.buses, bus_id: bus}})
                async with open_device(one, device_id, sim) as dut:
                    # A value out of its range is refused by the driver (the ABL's "off" duty
                    # cycle in set_current); the frames are in the trace all the same.
                    with contextlib.suppress(DeviceFault):
                        await dut.device.read(dut.profile.points)
                    if dut.charger is not None:
                        await dut.device.write("set_current", 6.0)
                        await dut.device.read(["set_current"])
                written.append(path)
            return written


if __name__ == "__main__":
    TRACES_DIR.mkdir(parents=True, exist_ok=True)
    for trace in asyncio.run(record_all()):
        print(trace)
