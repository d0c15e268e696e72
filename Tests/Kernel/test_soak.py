"""One Retort kernel under a long session: memory stays flat and the heartbeat keeps answering.

    RETORT=.build/debug/retort python -m pytest Tests/Kernel/test_soak.py

10,000 small executes, then 100 short trainings (half with the live plot, half quiet), then a
look at the history (bounded at 10,000 cells), then a long training watched through the heartbeat. The kernel's resident memory (VmRSS) is read after a
warm-up, in the middle and at the end of each phase, and must grow by less than a bound that a
leak of the messages of each request would cross. The figures are printed and written to
$RETORT_SOAK_REPORT (default /tmp/retort-soak.txt) for quoting. About 30 s in a debug build.
"""

import os
import time
from pathlib import Path

import zmq

# The kernelspec_prefix fixture installs the kernelspec for this module, as it does for test_client.
from test_client import (  # noqa: F401
    assert_still_running,
    drain_iopub,
    interrupt_and_finish,
    kernel_pid,
    kernel_session,
    kernelspec_prefix,
    reply_to,
    result_text,
    rss_kb,
    run,
    run_ok,
)

REPORT = Path(os.environ.get("RETORT_SOAK_REPORT") or "/tmp/retort-soak.txt")

# A count, not a time, so every run does the same work: about 2-3 ms each in a debug build.
EXECUTES = 10_000
EXECUTE_WARM_UP = 500
# What may stay per execute: its history entry (bounded at HISTORY_BOUND cells), its source
# (kept by the language so tracebacks can show earlier cells) and its signature (bounded at 2^16 by
# the replay check): together some 0.3 KiB, 3 MiB over the 9,500 measured. Keeping the six
# messages of an execute (>= 4 KiB once parsed) would cost 40 MiB or more.
EXECUTE_GROWTH_BOUND_KB = 10 * 1024

TRAININGS = 100
TRAINING_WARM_UP = 10
SETUP_DATA = "let data = take(digits(), 200, seed: 1)"
# Even-numbered runs draw the live plot (cairo, PNG and SVG on every update), odd ones are quiet.
TRAINING = ["fit(mlp([64, 16, 10]), data, epochs: 1)", "fit(mlp([64, 16, 10]), data, epochs: 1, quiet: true)"]
# Each run's model, optimizer state, history and figure are garbage once it ends.
TRAINING_GROWTH_BOUND_KB = 10 * 1024

# ExecutionHistory.capacity: the cells the kernel keeps for history_request.
HISTORY_BOUND = 10_000

HEARTBEATS = 20  # pings 0.1 s apart, during a training that runs until it is interrupted
HEARTBEAT_TIMEOUT_MS = 1000


def report(lines):
    text = "\n".join(lines) + "\n"
    print(text, end="")
    REPORT.write_text(text)


def test_memory_stays_flat_over_a_long_session(kernelspec_prefix):
    lines = [f"retort soak: {EXECUTES} executes, {TRAININGS} trainings, {HEARTBEATS} heartbeats"]
    started = time.monotonic()
    try:
        with kernel_session() as (km, kc):
            pid = kernel_pid(km)
            lines.append(f"kernel started: RSS {rss_kb(pid)} KiB")
            soak_executes(kc, pid, lines)
            soak_trainings(kc, pid, lines)
            check_history_bound(kc, lines)
            watch_heartbeat(km, kc, lines)
            assert result_text(run_ok(kc, "1 + 1")) == "2"
            lines.append(f"end: RSS {rss_kb(pid)} KiB")
    finally:
        lines.append(f"the soak took {time.monotonic() - started:.1f} s")
        report(lines)


def soak_executes(kc, pid, lines):
    """Small executes, each a different cell; then the history's bound."""
    started = time.monotonic()
    samples = {}
    for i in range(1, EXECUTES + 1):
        reply, outputs = run(kc, f"{i} + 1")
        assert reply["content"]["status"] == "ok", f"execute {i}: {reply['content']}"
        if i in (EXECUTE_WARM_UP, EXECUTES // 2, EXECUTES):
            assert result_text(outputs) == str(i + 1)
            samples[i] = rss_kb(pid)
    seconds = time.monotonic() - started
    grown = samples[EXECUTES] - samples[EXECUTE_WARM_UP]
    measured = EXECUTES - EXECUTE_WARM_UP
    lines.append(
        f"executes: RSS {samples[EXECUTE_WARM_UP]} KiB after {EXECUTE_WARM_UP}, "
        f"{samples[EXECUTES // 2]} KiB after {EXECUTES // 2}, {samples[EXECUTES]} KiB after {EXECUTES}: "
        f"+{grown} KiB over the last {measured} ({grown * 1024 / measured:.0f} B each); "
        f"{seconds:.1f} s, {seconds / EXECUTES * 1000:.1f} ms each"
    )
    assert grown < EXECUTE_GROWTH_BOUND_KB, lines[-1]


def soak_trainings(kc, pid, lines):
    run_ok(kc, SETUP_DATA)
    started = time.monotonic()
    samples = {}
    for i in range(1, TRAININGS + 1):
        reply, _ = run(kc, TRAINING[i % 2])
        assert reply["content"]["status"] == "ok", f"training {i}: {reply['content']}"
        if i in (TRAINING_WARM_UP, TRAININGS // 2, TRAININGS):
            samples[i] = rss_kb(pid)
    seconds = time.monotonic() - started
    grown = samples[TRAININGS] - samples[TRAINING_WARM_UP]
    lines.append(
        f"trainings: RSS {samples[TRAINING_WARM_UP]} KiB after {TRAINING_WARM_UP}, "
        f"{samples[TRAININGS // 2]} KiB after {TRAININGS // 2}, {samples[TRAININGS]} KiB after {TRAININGS}: "
        f"+{grown} KiB over the last {TRAININGS - TRAINING_WARM_UP}; "
        f"{seconds:.1f} s, {seconds / TRAININGS * 1000:.0f} ms each"
    )
    assert grown < TRAINING_GROWTH_BOUND_KB, lines[-1]


def check_history_bound(kc, lines):
    """The kernel keeps the latest 10,000 cells of its history: after the executes and the
    trainings (10,101 cells), the oldest are gone and the newest is there."""
    msg_id = kc.history(hist_access_type="tail", n=EXECUTES * 2, raw=True, output=False)
    history = reply_to(kc, msg_id)["content"]["history"]
    drain_iopub(kc, quiet=0.1)
    cells = EXECUTES + 1 + TRAININGS
    lines.append(f"history: {len(history)} cells kept of {cells}, lines {history[0][1]} to {history[-1][1]}")
    assert len(history) == HISTORY_BOUND, lines[-1]
    assert history[-1][1:] == [cells, TRAINING[TRAININGS % 2]], history[-1]
    assert history[0][1] == cells - HISTORY_BOUND + 1, history[0]


def watch_heartbeat(km, kc, lines):
    """Pings the heartbeat during a training that runs until it is interrupted."""
    run_ok(kc, "let m = mlp([64, 32, 10])")
    drain_iopub(kc)
    msg_id = kc.execute("fit(m, digits(), epochs: 100000)")
    info = km.get_connection_info()
    hb = zmq.Context.instance().socket(zmq.REQ)
    hb.linger = 0
    hb.connect(f"{info['transport']}://{info['ip']}:{info['hb_port']}")
    slowest = 0.0
    try:
        time.sleep(0.5)  # training is under way
        for i in range(HEARTBEATS):
            ping = f"soak {i}".encode()
            sent = time.monotonic()
            hb.send(ping)
            assert hb.poll(HEARTBEAT_TIMEOUT_MS), f"no heartbeat echo within 1 s (ping {i}) while training"
            assert hb.recv() == ping
            slowest = max(slowest, time.monotonic() - sent)
            time.sleep(0.1)
        assert_still_running(kc, msg_id)  # every ping was answered while the training ran
    finally:
        hb.close()
        reply, _ = interrupt_and_finish(kc, msg_id)
    lines.append(f"heartbeat: {HEARTBEATS} pings during training, slowest echo {slowest * 1000:.1f} ms")
    assert reply["content"]["ename"] == "Interrupted", reply["content"]
