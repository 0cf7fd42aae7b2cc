"""Pure domain: value types and decision functions. No asyncio, no I/O, no clock reads."""
