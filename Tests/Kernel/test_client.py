"""The Retort kernel through real Jupyter clients, for what jupyter_kernel_test does not cover.

    RETORT=.build/debug/retort python -m pytest Tests/Kernel/test_client.py

Interrupts during training (interrupt_request on control, and SIGINT), forged signatures, the
heartbeat while training, live training progress as update_display_data, busy/idle around every
request, restart and shutdown, memory over 1,000 executes, stdin (and interrupting a wait for it),
execution counts, stop_on_error, and the files `retort kernelspec install` writes. And the
kernel's defences: cursor positions outside the code, requests sent on control that belong on
shell, replayed messages, stray input replies, oversized messages, and connection files it cannot
serve.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from queue import Empty

import pytest
import zmq
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.session import Session
from jupyter_kernel_test.msgspec_v5 import validate_message

REPO = Path(__file__).resolve().parents[2]

STARTUP = 60  # seconds for a new kernel to answer kernel_info (a debug build starts slowly)
REPLY = 30  # seconds for an ordinary cell's reply

SETUP_TRAINING = "let data = digits()\nlet m = mlp([64, 32, 10])"
# Far longer than any test waits, even in a release build (about 1 ms per epoch of digits there),
# so training is certainly still running when a test interrupts it.
LONG_FIT = "fit(m, data, epochs: 100000)"
# Fails after a short run of training, so that cells sent right behind it are still queued.
SLOW_ERROR = "fit(mlp([64, 32, 10]), digits(), epochs: 20, quiet: true)\nundefined_thing"


# ---------------------------------------------------------------------------------------------
# The kernelspec and kernels


def retort_binary():
    """The retort under test: $RETORT, else the debug build."""
    path = Path(os.environ.get("RETORT") or REPO / ".build/debug/retort").resolve()
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no retort binary at {path}: build it, or set RETORT")
    return path


@pytest.fixture(scope="module", autouse=True)
def kernelspec_prefix():
    """Installs the kernelspec into a temporary prefix and points JUPYTER_PATH at it."""
    prefix = Path(tempfile.mkdtemp(prefix="retort-kernelspec-"))
    subprocess.run(
        [str(retort_binary()), "kernelspec", "install", "--prefix", str(prefix)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    saved = os.environ.get("JUPYTER_PATH")
    share = str(prefix / "share" / "jupyter")
    os.environ["JUPYTER_PATH"] = share + (os.pathsep + saved if saved else "")
    yield prefix
    if saved is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = saved
    shutil.rmtree(prefix, ignore_errors=True)


@contextlib.contextmanager
def kernel_session():
    """A started retort kernel and a client whose channels are open and answered."""
    km = KernelManager(kernel_name="retort")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=STARTUP)
        yield km, kc
    finally:
        kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel()


@pytest.fixture(scope="module")
def kernel(kernelspec_prefix):
    """One kernel shared by the tests that leave it as they found it (idle)."""
    with kernel_session() as (km, kc):
        yield km, kc


def kernel_pid(km):
    return km.provisioner.process.pid


def rss_kb(pid):
    """Resident set size from /proc, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


# ---------------------------------------------------------------------------------------------
# Messages


def reply_to(kc, msg_id, timeout=REPLY, channel="shell"):
    """The reply to `msg_id` on shell or control, skipping replies to anything else."""
    get = kc.get_shell_msg if channel == "shell" else kc.get_control_msg
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            msg = get(timeout=remaining)
        except Empty:
            break
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg
    raise AssertionError(f"no {channel} reply to {msg_id} within {timeout} s")


def replies_to(kc, msg_ids, timeout=REPLY, channel="shell"):
    """Replies to several requests, in the order of `msg_ids`, whatever order they came in."""
    get = kc.get_shell_msg if channel == "shell" else kc.get_control_msg
    found = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(msg_ids) and (remaining := deadline - time.monotonic()) > 0:
        try:
            msg = get(timeout=remaining)
        except Empty:
            break
        parent = msg["parent_header"].get("msg_id")
        if parent in msg_ids:
            found[parent] = msg
    missing = [i for i in msg_ids if i not in found]
    assert not missing, f"no reply to {missing} within {timeout} s"
    return [found[i] for i in msg_ids]


def iopub_of(kc, msg_id, until, timeout=REPLY):
    """IOPub messages published on behalf of `msg_id` (statuses included), up to and including
    the first one for which `until(msg)` is true."""
    seen = []
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            msg = kc.get_iopub_msg(timeout=remaining)
        except Empty:
            break
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        seen.append(msg)
        if until(msg):
            return seen
    raise AssertionError(f"IOPub for {msg_id} did not reach the expected message within {timeout} s: {seen}")


def is_idle(msg):
    return msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"


def outputs_until_idle(kc, msg_id, timeout=REPLY):
    """The request's IOPub messages other than status, through its idle status."""
    return [m for m in iopub_of(kc, msg_id, is_idle, timeout) if m["msg_type"] != "status"]


def run(kc, code, timeout=REPLY, **options):
    """Executes a cell; returns its reply and its IOPub messages (statuses left out)."""
    msg_id = kc.execute(code, **options)
    reply = reply_to(kc, msg_id, timeout)
    return reply, outputs_until_idle(kc, msg_id, timeout)


def run_ok(kc, code, **options):
    reply, outputs = run(kc, code, **options)
    assert reply["content"]["status"] == "ok", f"{code!r} failed: {reply['content']}"
    return outputs


def result_text(outputs):
    results = [m for m in outputs if m["msg_type"] == "execute_result"]
    assert len(results) == 1, f"expected one execute_result, got {outputs}"
    return results[0]["content"]["data"]["text/plain"]


def drain_iopub(kc, quiet=0.2):
    """Reads IOPub until it has been silent for `quiet` seconds."""
    while True:
        try:
            kc.get_iopub_msg(timeout=quiet)
        except Empty:
            return


def send_control(kc, msg_type, content):
    msg = kc.session.msg(msg_type, content)
    kc.control_channel.send(msg)
    return msg["header"]["msg_id"]


def execute_content(code):
    return {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }


def start_training(kc):
    """Starts LONG_FIT and returns once its progress display is up: its msg_id and IOPub so far."""
    run_ok(kc, SETUP_TRAINING)
    drain_iopub(kc)
    msg_id = kc.execute(LONG_FIT)
    seen = iopub_of(kc, msg_id, lambda m: m["msg_type"] == "display_data")
    return msg_id, seen


def assert_still_running(kc, msg_id):
    """Fails if the cell has already replied (training ended before the test could stop it)."""
    try:
        msg = kc.get_shell_msg(timeout=0.05)
    except Empty:
        return
    assert msg["parent_header"].get("msg_id") != msg_id, f"the cell finished on its own: {msg['content']}"


def interrupt_and_finish(kc, msg_id):
    """Stops a running cell with interrupt_request; returns its reply and remaining outputs."""
    interrupt_id = send_control(kc, "interrupt_request", {})
    reply_to(kc, interrupt_id, timeout=5, channel="control")
    reply = reply_to(kc, msg_id, timeout=10)
    return reply, outputs_until_idle(kc, msg_id, timeout=10)


# ---------------------------------------------------------------------------------------------
# The kernelspec


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])  # IHDR width, height


def test_kernelspec_install_writes_a_spec_jupyter_finds(kernelspec_prefix):
    kernel_dir = kernelspec_prefix / "share" / "jupyter" / "kernels" / "retort"
    spec = json.loads((kernel_dir / "kernel.json").read_text())
    assert spec["argv"][1:] == ["kernel", "--connection-file", "{connection_file}"]
    assert os.path.isabs(spec["argv"][0]), spec["argv"]
    assert os.path.samefile(spec["argv"][0], retort_binary())
    assert spec["display_name"] == "Retort"
    assert spec["language"] == "retort"
    assert spec["interrupt_mode"] == "message"
    assert png_size(kernel_dir / "logo-32x32.png") == (32, 32)
    assert png_size(kernel_dir / "logo-64x64.png") == (64, 64)
    assert ElementTree.parse(kernel_dir / "logo-svg.svg").getroot().tag.endswith("svg")

    specs = KernelSpecManager().find_kernel_specs()
    assert "retort" in specs, specs
    assert Path(specs["retort"]).resolve() == kernel_dir.resolve()


def test_kernelspec_install_can_be_repeated(kernelspec_prefix):
    again = subprocess.run(
        [str(retort_binary()), "kernelspec", "install", "--prefix", str(kernelspec_prefix)],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    kernel_json = kernelspec_prefix / "share" / "jupyter" / "kernels" / "retort" / "kernel.json"
    assert json.loads(kernel_json.read_text())["language"] == "retort"


# ---------------------------------------------------------------------------------------------
# Status around every request, with the timing jupyter_kernel_test holds execute to


REQUESTS = {
    "execute": lambda kc: kc.execute("1 + 1"),
    "kernel_info": lambda kc: kc.kernel_info(),
    "complete": lambda kc: kc.complete("dist"),
    "inspect": lambda kc: kc.inspect("softmax"),
    "is_complete": lambda kc: kc.is_complete("fn f(x) ="),
    "history": lambda kc: kc.history(hist_access_type="tail", n=1, raw=True, output=False),
}


@pytest.mark.parametrize("request_type", list(REQUESTS))
def test_every_request_is_bracketed_by_busy_and_idle(kernel, request_type):
    _, kc = kernel
    drain_iopub(kc)
    sent = time.monotonic()
    msg_id = REQUESTS[request_type](kc)

    busy = kc.get_iopub_msg(timeout=1)
    waited = time.monotonic() - sent
    validate_message(busy, "status")
    assert busy["content"]["execution_state"] == "busy", busy["content"]
    assert busy["parent_header"]["msg_id"] == msg_id
    assert waited < 1, f"busy came {waited:.2f} s after the request"

    reply = reply_to(kc, msg_id)
    validate_message(reply, reply["msg_type"], msg_id)
    # As jupyter_kernel_test reads: once the reply is in, each IOPub message through idle
    # follows the one before within 0.1 s.
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=0.1)
        except Empty:
            raise AssertionError("an IOPub message (at the latest idle) came more than 0.1 s after the last") from None
        validate_message(msg, msg["msg_type"])
        assert msg["parent_header"]["msg_id"] == msg_id, msg
        if msg["msg_type"] == "status":
            assert msg["content"]["execution_state"] == "idle", msg["content"]
            break


# ---------------------------------------------------------------------------------------------
# Cursor positions outside the code


@pytest.mark.parametrize("request_type", ["complete", "inspect"])
@pytest.mark.parametrize("cursor_pos", [-1, -1000, 8, 10**6])
def test_a_cursor_outside_the_code_is_clamped(kernel, request_type, cursor_pos):
    """The code is "distil" or "softmax" (8 is just past the end of either); a position outside it
    is read as the nearest end."""
    _, kc = kernel
    code = "distil" if request_type == "complete" else "softmax"
    msg_id = getattr(kc, request_type)(code, cursor_pos=cursor_pos)
    reply = reply_to(kc, msg_id, timeout=10)
    validate_message(reply, f"{request_type}_reply", msg_id)
    content = reply["content"]
    assert content["status"] == "ok", content
    if request_type == "complete":
        assert 0 <= content["cursor_start"] <= content["cursor_end"] <= len(code), content
        if cursor_pos > 0:
            assert content["matches"] == ["distill"], "a cursor past the end stands at the end"
    elif cursor_pos > 0:
        assert content["found"] is True, "a cursor past the end stands at the end, after softmax"
    drain_iopub(kc, quiet=0.05)
    assert result_text(run_ok(kc, "1 + 1")) == "2"


# ---------------------------------------------------------------------------------------------
# Interrupting training


def test_user_expressions_are_evaluated_after_the_cell(kernel):
    """An execute request's user_expressions come back as ipykernel gives them: each value's bundle,
    or its error (they were answered with an empty record); what they print is not shown, and they
    take no cell number."""
    _, kc = kernel
    reply, outputs = run(
        kc, "let ue_a = 5", user_expressions={"double": "ue_a * 2", "bad": "ue_nope + 1", "loud": "print(7)"}
    )
    answers = reply["content"]["user_expressions"]
    assert answers["double"] == {"status": "ok", "data": {"text/plain": "10"}, "metadata": {}}, answers
    assert answers["bad"]["status"] == "error" and answers["bad"]["ename"] == "NameError", answers
    assert "ue_nope" in answers["bad"]["evalue"], answers
    assert answers["loud"]["status"] == "ok", answers
    assert not [m for m in outputs if m["msg_type"] == "stream"], outputs
    count = reply["content"]["execution_count"]
    assert run(kc, "1")[0]["content"]["execution_count"] == count + 1
    # After a failed cell there are none, as ipykernel's reply has none.
    failed, _ = run(kc, "ue_missing", user_expressions={"double": "ue_a * 2"})
    assert failed["content"]["status"] == "error" and failed["content"]["user_expressions"] == {}


def test_interrupt_request_stops_training_and_keeps_the_model(kernel):
    _, kc = kernel
    msg_id, _ = start_training(kc)
    time.sleep(0.5)
    assert_still_running(kc, msg_id)

    sent = time.monotonic()
    interrupt_id = send_control(kc, "interrupt_request", {})
    interrupt_reply = reply_to(kc, interrupt_id, timeout=5, channel="control")
    validate_message(interrupt_reply, "interrupt_reply", interrupt_id)
    assert interrupt_reply["content"]["status"] == "ok"

    reply = reply_to(kc, msg_id, timeout=5)
    elapsed = time.monotonic() - sent
    assert elapsed < 5, f"training stopped {elapsed:.1f} s after the interrupt"
    validate_message(reply, "execute_reply", msg_id)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "Interrupted"
    outputs = outputs_until_idle(kc, msg_id)
    errors = [m for m in outputs if m["msg_type"] == "error"]
    assert [e["content"]["ename"] for e in errors] == ["Interrupted"]
    # The live display's last update and the error name the same place: the last completed batch.
    updates = [m for m in outputs if m["msg_type"] == "update_display_data"]
    assert updates, "the live display was not updated when training stopped"
    # (At an epoch's start the place is the epoch before: "after epoch 3 of 1000".)
    place = r"interrupted (in epoch \d+ of \d+, after batch \d+ of \d+|after epoch \d+ of \d+)"
    shown = re.search(place, updates[-1]["content"]["data"]["text/plain"])
    said = re.search(place, errors[0]["content"]["evalue"])
    assert shown and said and shown.group(1) == said.group(1), (updates[-1]["content"]["data"]["text/plain"], errors[0]["content"]["evalue"])

    assert result_text(run_ok(kc, "accuracy(m, data) > 0")) == "true"


def test_an_error_inside_a_loss_ends_the_live_display_where_the_error_says(kernel):
    # The live display kept "epoch 3/4 batch 0/4 ... eta" as if training went on.
    _, kc = kernel
    run_ok(kc, SETUP_TRAINING + "\nfn bad(o, y, w = 0) = if w > 0.5 { error(\"boom\") } else { cross_entropy(o, y) }")
    drain_iopub(kc)
    msg_id = kc.execute("fit(m, take(data, 256), loss: bad, w: fn(p) = p, epochs: 4, batch: 64)")
    reply = reply_to(kc, msg_id, timeout=30)
    assert reply["content"]["status"] == "error"
    outputs = outputs_until_idle(kc, msg_id)
    updates = [m for m in outputs if m["msg_type"] == "update_display_data"]
    assert updates, "the live display was not updated when training stopped"
    shown = updates[-1]["content"]["data"]["text/plain"]
    assert "fit m: stopped in epoch 3 of 4, at batch 1 of 4" in shown, shown
    errors = [m for m in outputs if m["msg_type"] == "error"]
    said = "\n".join(errors[0]["content"]["traceback"])
    assert "fit m stopped in epoch 3 of 4, at batch 1 of 4" in said, said


def test_sigint_stops_training_and_is_harmless_at_rest(kernel):
    km, kc = kernel
    pid = kernel_pid(km)
    os.kill(pid, signal.SIGINT)  # at rest: nothing to stop, and the kernel must survive it
    time.sleep(0.3)
    assert km.is_alive()
    assert result_text(run_ok(kc, "1 + 1")) == "2", "a SIGINT at rest must not interrupt the next cell"

    msg_id, _ = start_training(kc)
    time.sleep(0.5)
    assert_still_running(kc, msg_id)
    sent = time.monotonic()
    os.kill(pid, signal.SIGINT)
    reply = reply_to(kc, msg_id, timeout=5)
    assert time.monotonic() - sent < 5
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "Interrupted"
    outputs_until_idle(kc, msg_id)
    assert result_text(run_ok(kc, "accuracy(m, data) > 0")) == "true"


def test_heartbeat_answers_while_training(kernel):
    km, kc = kernel
    info = km.get_connection_info()
    msg_id, _ = start_training(kc)
    hb = zmq.Context.instance().socket(zmq.REQ)
    hb.linger = 0
    hb.connect(f"{info['transport']}://{info['ip']}:{info['hb_port']}")
    try:
        for i in range(5):
            ping = f"ping {i}".encode()
            hb.send(ping)
            assert hb.poll(1000), f"no heartbeat echo within 1 s (ping {i}) while training"
            assert hb.recv() == ping
            time.sleep(0.2)
        assert_still_running(kc, msg_id)  # every ping was answered while the cell ran
    finally:
        hb.close()
        reply, _ = interrupt_and_finish(kc, msg_id)
    assert reply["content"]["status"] == "error"


def test_training_progress_updates_one_display(kernel):
    _, kc = kernel
    msg_id, seen = start_training(kc)
    first = seen[-1]
    validate_message(first, "display_data")
    display_id = first["content"].get("transient", {}).get("display_id")
    assert isinstance(display_id, str) and display_id, f"no transient.display_id: {first['content']}"

    watch = 3.0
    watched = []
    deadline = time.monotonic() + watch
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            msg = kc.get_iopub_msg(timeout=remaining)
        except Empty:
            break
        if msg["parent_header"].get("msg_id") == msg_id:
            watched.append(msg)
    assert_still_running(kc, msg_id)
    reply, rest = interrupt_and_finish(kc, msg_id)
    assert reply["content"]["status"] == "error"

    everything = seen + watched + rest
    displays = [m for m in everything if m["msg_type"] == "display_data"]
    assert len(displays) == 1, f"one display, then updates to it; got {len(displays)} display_data"
    updates = [m for m in everything if m["msg_type"] == "update_display_data"]
    for update in updates:
        validate_message(update, "update_display_data")
        assert update["content"]["transient"]["display_id"] == display_id
        assert update["content"]["data"], "an update with no data"
    during = [m for m in watched if m["msg_type"] == "update_display_data"]
    assert len(during) >= 2, f"only {len(during)} updates in {watch} s of training"
    assert len(during) <= 20 * watch, f"{len(during)} updates in {watch} s: not throttled"


def test_a_cell_that_prints_20000_lines_delivers_every_line_its_result_and_idle(kernel):
    """One stream message per print overran IOPub's queue: 9,996 of 20,000 lines arrived, and the
    cell's execute_result and idle status were dropped with the rest. Printed text is now gathered
    (as ipykernel's streams are) and the queue never drops."""
    _, kc = kernel
    reply, outputs = run(kc, 'for i in 0..<20000 { print(i) }\n"done"', timeout=120)
    assert reply["content"]["status"] == "ok"
    streams = [m for m in outputs if m["msg_type"] == "stream"]
    text = "".join(m["content"]["text"] for m in streams)
    assert text == "".join(f"{i}\n" for i in range(20000)), f"{len(text.splitlines())} of 20000 lines, in order"
    assert len(streams) < 2000, f"{len(streams)} stream messages for 20,000 prints: not gathered"
    assert result_text(outputs) == '"done"'
    assert outputs[-1]["msg_type"] == "execute_result", "the printed text comes before the result"


# ---------------------------------------------------------------------------------------------
# The control channel serves only what the messaging spec sends there

# About 0.8 s in the release build (2.3 s in a debug build): long enough for requests on control to
# arrive while it runs. 200,000 iterations took 0.2 s in the release build, too close to call.
BUSY_LOOP = "for i in 0..<1000000 { let q = i }"


def test_shell_requests_sent_on_control_are_refused_while_a_cell_runs(kernel):
    """On control, an execute or complete request would run beside the shell's cell, in the same
    session (which crashed the kernel): each is answered with an error on control instead, and
    never runs. kernel_info is still answered there."""
    _, kc = kernel
    drain_iopub(kc)
    running = kc.execute(BUSY_LOOP)
    iopub_of(kc, running, lambda m: m["msg_type"] == "execute_input", timeout=10)
    refused = []
    for i in range(4):
        code = f"for j in 0..<50000 {{ let r = j }}\nlet from_control = {i}"
        refused.append(send_control(kc, "execute_request", execute_content(code)))
        refused.append(send_control(kc, "complete_request", {"code": "dist", "cursor_pos": 4}))
    info = send_control(kc, "kernel_info_request", {})
    *replies, info_reply = replies_to(kc, refused + [info], timeout=10, channel="control")
    for reply in replies:
        assert reply["msg_type"] in ("execute_reply", "complete_reply"), reply["msg_type"]
        assert reply["content"]["status"] == "error", reply["content"]
    assert info_reply["content"]["status"] == "ok"

    reply = reply_to(kc, running, timeout=REPLY)
    assert reply["content"]["status"] == "ok", reply["content"]
    drain_iopub(kc)
    assert result_text(run_ok(kc, "1 + 1")) == "2"
    reply, _ = run(kc, "from_control")
    assert reply["content"]["ename"] == "NameError", "an execute_request on control must not run"


# ---------------------------------------------------------------------------------------------
# Signatures


FORGERIES = ["signed with another key", "unsigned", "content changed after signing"]


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_message_is_ignored(kernel, forgery):
    _, kc = kernel
    drain_iopub(kc)
    code = "let forged = 1"
    socket = kc.shell_channel.socket
    if forgery == "content changed after signing":
        msg = kc.session.msg("execute_request", execute_content("1 + 1"))
        frames = kc.session.serialize(msg)  # delimiter, signature, header, parent, metadata, content
        frames[5] = json.dumps(execute_content(code)).encode()
        socket.send_multipart(frames)
    else:
        key = b"" if forgery == "unsigned" else b"not the key in the connection file"
        impostor = Session(key=key, signature_scheme=kc.session.signature_scheme, username=kc.session.username)
        msg = impostor.msg("execute_request", execute_content(code))
        impostor.send(socket, msg)
    forged_id = msg["header"]["msg_id"]

    # Nothing answers it and nothing is published on its behalf, not even busy.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        for get in (kc.get_shell_msg, kc.get_iopub_msg):
            try:
                got = get(timeout=0.05)
            except Empty:
                continue
            assert got["parent_header"].get("msg_id") != forged_id, f"the kernel acted on it: {got['msg_type']}"

    # The kernel keeps serving, and the forged cell never ran.
    reply, outputs = run(kc, "forged")
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "NameError"


def test_a_replayed_message_runs_once(kernel):
    """The same signed execute_request, frame for frame, sent again once it has been answered."""
    _, kc = kernel
    drain_iopub(kc)
    msg = kc.session.msg("execute_request", execute_content('print("ran")'))
    frames = kc.session.serialize(msg)
    msg_id = msg["header"]["msg_id"]
    kc.shell_channel.socket.send_multipart(frames)
    assert reply_to(kc, msg_id)["content"]["status"] == "ok"
    kc.shell_channel.socket.send_multipart(frames)

    replies, printed = 1, []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        with contextlib.suppress(Empty):
            if kc.get_shell_msg(timeout=0.05)["parent_header"].get("msg_id") == msg_id:
                replies += 1
        with contextlib.suppress(Empty):
            got = kc.get_iopub_msg(timeout=0.05)
            if got["parent_header"].get("msg_id") == msg_id and got["msg_type"] == "stream":
                printed.append(got["content"]["text"])
    assert replies == 1, "the replay was answered"
    assert printed == ["ran\n"], f"the cell ran {len(printed)} times"
    assert result_text(run_ok(kc, "1 + 1")) == "2"


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"the kernel closed the connection after {len(data)} of {n} bytes"
        data += chunk
    return data


def zmtp_dealer(port):
    """A TCP connection that has done ZMTP 3.0's NULL handshake with the kernel as a DEALER,
    so the test can write frame headers that pyzmq would never send."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + bytes(31))
    recv_exactly(sock, 64)  # the kernel's greeting
    ready = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 6) + b"DEALER"
    sock.sendall(bytes([0x04, len(ready)]) + ready)
    flags, size = recv_exactly(sock, 2)
    assert flags == 0x04, f"expected a short command from the kernel, got flags {flags:#x}"
    assert recv_exactly(sock, size).startswith(b"\x05READY")
    return sock


def test_a_message_over_the_size_limit_is_refused_before_it_is_read(kernel):
    """A frame that announces 1 GiB (the limit is 256 MiB) gets the connection closed at its
    header, before the kernel allocates or reads it; the kernel goes on serving."""
    km, kc = kernel
    sock = zmtp_dealer(km.get_connection_info()["shell_port"])
    try:
        sock.sendall(b"\x02" + struct.pack(">Q", 1 << 30) + bytes(64 * 1024))
        sock.settimeout(5)
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False
        assert closed, "the kernel kept reading a 1 GiB frame"
    finally:
        sock.close()
    assert result_text(run_ok(kc, "1 + 1")) == "2"


# ---------------------------------------------------------------------------------------------
# Start-up with a connection file the kernel cannot serve


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


BAD_CONNECTIONS = {
    # The heartbeat is bound last: every channel before it is open when its bind fails.
    "hb_port in use": "Address already in use",
    "an ip no interface has": "203.0.113.7",
    "control_port 0": "control_port 0",
}


@pytest.mark.parametrize("fault", list(BAD_CONNECTIONS))
def test_a_bad_connection_file_fails_fast(tmp_path, fault):
    shell, iopub, stdin, control, hb = free_ports(5)
    info = {
        "transport": "tcp",
        "ip": "127.0.0.1",
        "shell_port": shell,
        "iopub_port": iopub,
        "stdin_port": stdin,
        "control_port": control,
        "hb_port": hb,
        "key": "a key",
        "signature_scheme": "hmac-sha256",
    }
    with contextlib.ExitStack() as stack:
        if fault == "hb_port in use":
            holder = stack.enter_context(socket.socket())
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            info["hb_port"] = holder.getsockname()[1]
        elif fault == "an ip no interface has":
            info["ip"] = "203.0.113.7"  # TEST-NET-3: never a local address
        else:
            info["control_port"] = 0  # would bind a port of the system's choosing, unknown to the client
        path = tmp_path / "kernel.json"
        path.write_text(json.dumps(info))
        try:
            done = subprocess.run(
                [str(retort_binary()), "kernel", "--connection-file", str(path)],
                capture_output=True,
                text=True,
                timeout=15,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(f"with {fault}, the kernel neither served nor exited within 15 s") from None
    assert done.returncode != 0, f"with {fault}, the kernel exited with 0"
    assert BAD_CONNECTIONS[fault] in done.stderr, done.stderr


# ---------------------------------------------------------------------------------------------
# Restart, shutdown, memory (each on a kernel of its own)


def test_restart_gives_a_fresh_kernel_that_answers():
    with kernel_session() as (km, kc):
        run_ok(kc, "let before_restart = 1")
        old = km.provisioner.process
        kc.stop_channels()
        km.restart_kernel(now=False)
        # KernelManager sends shutdown_request(restart=True) on control and waits 2.5 s before
        # it resorts to SIGTERM: a status of 0 means the kernel exited by itself.
        assert old.poll() == 0, f"the old kernel did not exit cleanly on shutdown_request: {old.returncode}"
        assert kernel_pid(km) != old.pid

        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=STARTUP)
            msg_id = kc.kernel_info()
            reply = reply_to(kc, msg_id)
            validate_message(reply, "kernel_info_reply", msg_id)
            assert reply["content"]["language_info"]["name"] == "retort"
            reply, _ = run(kc, "before_restart")
            assert reply["content"]["ename"] == "NameError", "a restarted kernel starts with nothing bound"
        finally:
            kc.stop_channels()


@pytest.mark.parametrize("restart", [False, True])
def test_shutdown_request_replies_then_exits(restart):
    with kernel_session() as (km, kc):
        process = km.provisioner.process
        msg_id = kc.shutdown(restart=restart)  # sent on the control channel
        reply = reply_to(kc, msg_id, timeout=5, channel="control")
        validate_message(reply, "shutdown_reply", msg_id)
        assert reply["content"]["status"] == "ok"
        assert reply["content"]["restart"] is restart
        assert process.wait(timeout=5) == 0


# 900 executes of `1 + 1` after a warm-up of 100. What they may keep is their history (input
# "1 + 1" and output "2", well under 1 KiB each: < 1 MiB in all). Leaking the messages of each
# execute (request, busy, execute_input, execute_result, idle, reply: six messages of 0.5-1 KiB
# on the wire, more once parsed) would cost >= 4-6 KiB each, 3.5-5 MiB or more in all; leaking the
# cell's source, AST or scope costs more still. 5 MiB separates the two with room for allocator
# slack; the whole test takes a few seconds.
RSS_GROWTH_BOUND_KB = 5 * 1024


def test_memory_stays_flat_over_1000_executes():
    with kernel_session() as (km, kc):
        pid = kernel_pid(km)
        for i in range(1, 1001):
            reply, outputs = run(kc, "1 + 1")
            assert reply["content"]["status"] == "ok"
            if i == 100:
                warm = rss_kb(pid)
        grown = rss_kb(pid) - warm
        assert grown < RSS_GROWTH_BOUND_KB, (
            f"RSS grew by {grown} KiB over 900 executes ({grown / 900:.1f} KiB each) after warm-up at {warm} KiB"
        )


# ---------------------------------------------------------------------------------------------
# stdin


def test_input_asks_the_client_and_returns_its_answer(kernel):
    _, kc = kernel
    msg_id = kc.execute('input("name? ")', allow_stdin=True)
    request = kc.get_stdin_msg(timeout=REPLY)
    assert request["msg_type"] == "input_request"
    assert request["parent_header"]["msg_id"] == msg_id
    assert request["content"]["prompt"] == "name? "
    assert request["content"]["password"] is False
    kc.input("Ada")  # as jupyter_client sends it: an input_reply with an empty parent header
    reply = reply_to(kc, msg_id)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert "Ada" in result_text(outputs_until_idle(kc, msg_id))


def test_input_takes_only_a_reply_to_its_own_request(kernel):
    """An input_reply sent before any input_request, and one whose parent is another request,
    are not answers: input() returns the reply to the request it sent."""
    _, kc = kernel
    kc.input("stray, before any request")
    time.sleep(0.3)  # it has arrived before the cell asks
    msg_id = kc.execute('input("name? ")', allow_stdin=True)
    request = kc.get_stdin_msg(timeout=REPLY)
    assert request["parent_header"]["msg_id"] == msg_id
    other = kc.session.msg("input_reply", {"value": "reply to another request"}, parent={"msg_id": "not-this-one"})
    kc.stdin_channel.send(other)
    kc.input("Ada")
    reply = reply_to(kc, msg_id)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert result_text(outputs_until_idle(kc, msg_id)) == '"Ada"'


def test_input_without_stdin_fails_instead_of_waiting(kernel):
    _, kc = kernel
    reply, _ = run(kc, 'input("name? ")', allow_stdin=False, timeout=10)
    assert reply["content"]["status"] == "error"
    with pytest.raises(Empty):
        kc.get_stdin_msg(timeout=0.2)


INTERRUPTS = ["interrupt_request", "SIGINT"]


@pytest.mark.parametrize("how", INTERRUPTS)
def test_an_interrupt_ends_a_wait_for_input(kernel, how):
    """A cell waits in input() and the client never answers: an interrupt (interrupt_request on
    control, or SIGINT to the kernel) ends the cell with an Interrupted error at once, the kernel
    goes idle and serves the next cell, and late answers to the abandoned request answer nothing."""
    km, kc = kernel
    drain_iopub(kc)
    msg_id = kc.execute('input("x? ")', allow_stdin=True)
    asked = kc.get_stdin_msg(timeout=REPLY)
    assert asked["msg_type"] == "input_request"
    assert asked["parent_header"]["msg_id"] == msg_id
    time.sleep(0.3)  # the kernel is waiting now, not about to
    assert_still_running(kc, msg_id)

    sent = time.monotonic()
    if how == "interrupt_request":
        interrupt_id = send_control(kc, "interrupt_request", {})
        assert reply_to(kc, interrupt_id, timeout=5, channel="control")["content"]["status"] == "ok"
    else:
        os.kill(kernel_pid(km), signal.SIGINT)
    reply = reply_to(kc, msg_id, timeout=5)
    waited = time.monotonic() - sent
    assert reply["content"]["status"] == "error", reply["content"]
    assert reply["content"]["ename"] == "Interrupted", reply["content"]
    assert "waiting for input" in reply["content"]["evalue"], reply["content"]
    assert waited < 5, f"the cell ended {waited:.2f} s after the interrupt"
    outputs = outputs_until_idle(kc, msg_id, timeout=5)
    assert [m["content"]["ename"] for m in outputs if m["msg_type"] == "error"] == ["Interrupted"]

    # Late answers to the abandoned request: one as jupyter_client sends it (no parent), one
    # naming the abandoned input_request. Neither may answer the next cell's input().
    kc.input("late, no parent")
    time.sleep(0.3)  # it has arrived before the next cell asks
    assert result_text(run_ok(kc, "1 + 1")) == "2"
    msg_id = kc.execute('input("again? ")', allow_stdin=True)
    again = kc.get_stdin_msg(timeout=REPLY)
    assert again["parent_header"]["msg_id"] == msg_id
    late = kc.session.msg("input_reply", {"value": "late, to the abandoned request"}, parent=asked["header"])
    kc.stdin_channel.send(late)
    kc.input("fresh")
    reply = reply_to(kc, msg_id)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert result_text(outputs_until_idle(kc, msg_id)) == '"fresh"'


# ---------------------------------------------------------------------------------------------
# Execution counts and history


def test_execution_count_counts_only_stored_cells(kernel):
    _, kc = kernel
    reply, outputs = run(kc, "1 + 1")
    count = reply["content"]["execution_count"]
    (announced,) = [m for m in outputs if m["msg_type"] == "execute_input"]
    (result,) = [m for m in outputs if m["msg_type"] == "execute_result"]
    assert announced["content"]["execution_count"] == count
    assert result["content"]["execution_count"] == count

    run_ok(kc, "20 + 22", store_history=False)
    silent = run_ok(kc, 'print("not shown")', silent=True)
    shown = [m["msg_type"] for m in silent if m["msg_type"] in ("stream", "execute_result", "display_data")]
    assert shown == [], "a silent cell publishes no output"

    msg_id = kc.history(hist_access_type="tail", n=1, raw=True, output=False)
    (last,) = reply_to(kc, msg_id)["content"]["history"]
    assert last[2] == "1 + 1", "cells run without store_history stay out of the history"

    reply, _ = run(kc, "1 + 1")
    assert reply["content"]["execution_count"] == count + 1


# ---------------------------------------------------------------------------------------------
# stop_on_error


def test_an_error_aborts_the_cells_queued_behind_it(kernel):
    _, kc = kernel
    failing = kc.execute(SLOW_ERROR, stop_on_error=True)
    queued = [kc.execute("let after_error = 1"), kc.execute("1 + 1")]
    replies = replies_to(kc, [failing] + queued)
    assert replies[0]["content"]["status"] == "error"
    assert [r["content"]["status"] for r in replies[1:]] == ["aborted", "aborted"]
    drain_iopub(kc)

    reply, _ = run(kc, "after_error")
    assert reply["content"]["ename"] == "NameError", "an aborted cell must not have run"


def test_a_cell_sent_once_the_error_reply_is_in_is_not_aborted(kernel):
    """Only cells already queued when a cell fails are aborted, not one the client sends as soon
    as it has the error reply (before the failed cell's idle)."""
    _, kc = kernel
    for i in range(3):
        drain_iopub(kc, quiet=0.05)
        failing = kc.execute("undefined_thing", stop_on_error=True)
        assert reply_to(kc, failing)["content"]["status"] == "error"
        after = kc.execute(f"let sent_after_error = {i}")
        reply = reply_to(kc, after)
        assert reply["content"]["status"] == "ok", f"round {i}: {reply['content']}"
    drain_iopub(kc)
    assert result_text(run_ok(kc, "sent_after_error")) == "2"


def test_without_stop_on_error_queued_cells_still_run(kernel):
    _, kc = kernel
    failing = kc.execute(SLOW_ERROR, stop_on_error=False)
    queued = kc.execute("let after_tolerated_error = 7")
    replies = replies_to(kc, [failing, queued])
    assert [r["content"]["status"] for r in replies] == ["error", "ok"]
    drain_iopub(kc)
    assert result_text(run_ok(kc, "after_tolerated_error")) == "7"


def test_an_error_inside_a_function_from_an_earlier_cell_shows_each_call(kernel):
    """The traceback names the line where the error was raised (here in the prelude's reverse_kd),
    then each call that led there, back to the cell that ran it."""
    _, kc = kernel
    run_ok(kc, "fn my_loss(s, t, y) = reverse_kd(s, t, y)")
    reply, outputs = run(kc, "my_loss(zeros([2, 3]), zeros([2, 5]), [0, 1])")
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "ShapeError"
    errors = [m for m in outputs if m["msg_type"] == "error"]
    assert len(errors) == 1
    text = "\n".join(errors[0]["content"]["traceback"])
    assert "<prelude>" in text and "kl_rows(log_softmax(t / T), softmax(s / T))" in text, text
    assert "in reverse_kd, called from" in text and "fn my_loss(s, t, y) = reverse_kd(s, t, y)" in text, text
    assert "in my_loss, called from" in text, text


def test_is_complete_and_execute_on_deep_nesting_answer_and_the_kernel_lives(kernel):
    """5,000 nested parentheses overflowed the stack in is_complete and execute; now they are
    invalid (a syntax error past the nesting limit), and a few open ones are still incomplete."""
    _, kc = kernel
    cases = [("(" * 5000, "invalid"), ("(" * 5000 + "1" + ")" * 5000, "invalid"), ("[" * 100000, "invalid"),
             ("1" + "+1" * 200000, "invalid"), ("(((", "incomplete"), ("(1)", "complete")]
    for code, status in cases:
        reply = reply_to(kc, kc.is_complete(code))
        assert reply["content"]["status"] == status, f"{code[:20]}...: {reply['content']}"
    reply, _ = run(kc, "(" * 5000 + "1" + ")" * 5000)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "SyntaxError"
    assert result_text(run_ok(kc, "1 + 1")) == "2"
