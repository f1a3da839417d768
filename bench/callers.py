"""What signing and checking the caller adds to each RPC (docs/decisions/0017-access-kernel.md).

    .venv/bin/python -m bench.callers

Times, in this process, the gateway signing a staff caller and a service verifying it, as every
RPC now does once each; prints the cost per RPC in microseconds.
"""
from __future__ import annotations

import time

from bench.platform import bench
from contracts.access import Caller
from contracts.caller_seal import CallerSeal

ROUNDS = 50_000


def main() -> int:
    seal = CallerSeal("b" * 48, also_accepted=("a" * 48,))
    caller = Caller("staff", "7d3c1b7e-1111-4c1e-9a51-3c2f7f9b2d10", ("manager",), ("SH-001",)).to_json()
    started = time.perf_counter()
    for _ in range(ROUNDS):
        seal.sign(caller, time.time())
    signed = time.perf_counter()
    context = seal.sign(caller, time.time())
    for _ in range(ROUNDS):
        seal.verify(context, time.time())
    done = time.perf_counter()
    bench("caller_sign_us", (signed - started) / ROUNDS * 1e6, "us")
    bench("caller_verify_us", (done - signed) / ROUNDS * 1e6, "us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
