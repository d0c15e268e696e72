"""Transport encryption (CurveZMQ) as jupyter_client 8.9+ and ipykernel 7 have it.

    RETORT=.build/release/retort python -m pytest Tests/Kernel/test_encryption.py

`KernelManager(transport_encryption="required")` writes a CURVE key pair into the connection file
(`curve_publickey`, `curve_secretkey`, Z85 text); the kernel serves every socket as a CURVE server
with it, and clients take the public key as their server key. Checked here: the kernelspec claims
`supported_encryption` exactly when the kernel's libzmq has CURVE; every channel of an encrypted
kernel works over TCP and IPC, and greets with the CURVE mechanism; a client holding another server
key, or none, is served nothing while the right client goes on, and the kernel's stderr stays
empty throughout; connection files with broken keys end start-up with a message that never shows
the secret key; and a libzmq without CURVE (zmq_has made to say no, through LD_PRELOAD) gives a
kernelspec without the claim and a kernel that refuses keys it cannot use. About 25 s.
"""

import contextlib
import ctypes
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from queue import Empty

import pytest
import zmq
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The kernelspec_prefix fixture (module scope, autouse) installs the kernelspec for this module.
from test_client import (  # noqa: E402,F401
    REPLY,
    STARTUP,
    free_ports,
    kernelspec_prefix,
    reply_to,
    result_text,
    retort_binary,
    run_ok,
    send_control,
)

# Long enough for a CURVE handshake and a reply many times over on loopback; a request that has
# no answer by then was not served.
UNANSWERED = 3
CHANNELS = ["shell", "iopub", "stdin", "control", "hb"]


def linked_libzmq_has_curve():
    """What zmq_has("curve") says in the libzmq the retort binary loads (not pyzmq's own copy)."""
    libraries = subprocess.run(["ldd", str(retort_binary())], capture_output=True, text=True, check=True).stdout
    found = re.search(r"libzmq\.so\S*\s+=>\s+(\S+)", libraries)
    assert found, f"the retort binary links no libzmq:\n{libraries}"
    return ctypes.CDLL(found.group(1)).zmq_has(b"curve") == 1


requires_curve = pytest.mark.skipif(
    not linked_libzmq_has_curve(), reason="the libzmq retort links was built without CURVE (no libsodium)"
)


@contextlib.contextmanager
def encrypted_session(stderr=None, **manager_options):
    """A retort kernel started with transport_encryption="required" and a client with its keys."""
    km = KernelManager(kernel_name="retort", transport_encryption="required", **manager_options)
    km.start_kernel(stderr=stderr)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=STARTUP)
        yield km, kc
    finally:
        kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)


def connect_to(info, port):
    """A stream socket to one channel's endpoint, TCP or the IPC socket file."""
    if info["transport"] == "ipc":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(f"{info['ip']}-{port}")
        return sock
    return socket.create_connection((info["ip"], port), timeout=5)


def greeting_mechanism(info, channel):
    """The security mechanism the kernel names in its ZMTP 3 greeting on `channel`'s port."""
    with connect_to(info, info[f"{channel}_port"]) as sock:
        # Only the signature and major version of a ZMTP 3 greeting: that is all libzmq waits for
        # before it sends the rest of its own, and with no mechanism of ours it has none to refuse.
        sock.sendall(b"\xff" + bytes(8) + b"\x7f" + b"\x03")
        greeting = b""
        while len(greeting) < 64:
            chunk = sock.recv(64 - len(greeting))
            assert chunk, f"the kernel closed {channel} after {len(greeting)} bytes of its greeting"
            greeting += chunk
    return greeting[12:32].rstrip(b"\x00").decode()


def stranger(km, keys):
    """A client of `km`'s kernel that holds `keys` (public, secret) instead of the kernel's: its
    server key is the wrong one (a fresh pair), or it has none (None, None) and speaks plain ZMTP."""
    public, secret = keys
    return km.client(curve_publickey=public, curve_secretkey=secret)


def assert_served_nothing(client):
    """kernel_info on shell and control, and a ping on the heartbeat, all go unanswered.

    A request may not even leave: after the kernel drops a failed handshake, libzmq tears the
    connection down and reconnects, and a DEALER socket with no connection blocks in send. So sends
    time out (zmq.Again), which is one more way of being served nothing; without the timeout this
    test hung now and then until the suite's 30-minute limit."""
    client.start_channels()
    try:
        for channel in (client.shell_channel, client.control_channel):
            channel.socket.setsockopt(zmq.SNDTIMEO, 1000)
        for request in (client.kernel_info, lambda: send_control(client, "kernel_info_request", {})):
            try:
                request()
            except zmq.Again:
                pass
        hb = client.connect_hb()
        try:
            hb.send(b"ping")
            assert not hb.poll(UNANSWERED * 1000), "the heartbeat answered a client without the kernel's key"
        finally:
            hb.close(linger=0)
        for name, get in [("shell", client.get_shell_msg), ("control", client.get_control_msg)]:
            try:
                msg = get(timeout=0.5)  # after the heartbeat's wait: the requests had seconds
            except Empty:
                continue
            raise AssertionError(f"{name} answered a client without the kernel's key: {msg['msg_type']}")
    finally:
        client.stop_channels()


def assert_serves_every_channel(km, kc):
    """Shell and IOPub (a result), stdin (input), control (kernel_info) and the heartbeat."""
    assert result_text(run_ok(kc, "1 + 1")) == "2"
    msg_id = kc.execute('input("name? ")', allow_stdin=True)
    asked = kc.get_stdin_msg(timeout=REPLY)
    assert asked["content"]["prompt"] == "name? "
    kc.input("Ada")
    assert reply_to(kc, msg_id)["content"]["status"] == "ok"
    control_id = send_control(kc, "kernel_info_request", {})
    assert reply_to(kc, control_id, channel="control")["content"]["implementation"] == "retort"
    hb = km.connect_hb()  # the manager's keys, as the client's heartbeat channel uses them
    try:
        hb.send(b"ping")
        assert hb.poll(REPLY * 1000), "the heartbeat did not answer"
        assert hb.recv() == b"ping"
    finally:
        hb.close(linger=0)


# ---------------------------------------------------------------------------------------------
# The kernelspec's claim


def test_the_kernelspec_claims_curve_exactly_when_libzmq_has_it(kernelspec_prefix):
    spec = json.loads((kernelspec_prefix / "share/jupyter/kernels/retort/kernel.json").read_text())
    claimed = spec["metadata"].get("supported_encryption") == ["curve"]
    assert claimed == linked_libzmq_has_curve(), spec["metadata"]


# ---------------------------------------------------------------------------------------------
# An encrypted kernel, over TCP and IPC


@requires_curve
@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_an_encrypted_kernel_serves_every_channel_and_only_with_its_key(transport, tmp_path):
    log = tmp_path / "kernel-stderr.log"
    with open(log, "wb") as stderr, encrypted_session(stderr=stderr, transport=transport) as (km, kc):
        info = km.get_connection_info()
        written = json.loads(Path(km.connection_file).read_text())
        assert info["transport"] == transport
        assert len(written["curve_publickey"]) == 40 and len(written["curve_secretkey"]) == 40, written.keys()
        assert_serves_every_channel(km, kc)
        for channel in CHANNELS:
            assert greeting_mechanism(info, channel) == "CURVE", f"{channel} does not speak CURVE"

        assert_served_nothing(stranger(km, zmq.curve_keypair()))
        assert_served_nothing(stranger(km, (None, None)))

        assert km.is_alive()
        assert result_text(run_ok(kc, "1 + 1")) == "2"
        # Nothing went wrong for the kernel to tell: no start-up notice, no keys, no refused strangers
        # (libzmq drops a failed handshake without a word).
        assert log.read_bytes() == b"", log.read_text()


@requires_curve
def test_auto_encrypts_a_kernel_whose_spec_claims_curve():
    km = KernelManager(kernel_name="retort", transport_encryption="auto")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=STARTUP)
        assert "curve_publickey" in json.loads(Path(km.connection_file).read_text())
        assert greeting_mechanism(km.get_connection_info(), "shell") == "CURVE"
        assert result_text(run_ok(kc, "6 * 7")) == "42"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# ---------------------------------------------------------------------------------------------
# Connection files whose keys the kernel cannot serve


def connection_file(tmp_path, **extra):
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
        **extra,
    }
    path = tmp_path / "kernel.json"
    path.write_text(json.dumps(info))
    return path


def start_failing(path, env=None):
    """Starts the kernel on `path`; it must exit, not serve. Returns its stderr."""
    try:
        done = subprocess.run(
            [str(retort_binary()), "kernel", "--connection-file", str(path)],
            capture_output=True,
            text=True,
            timeout=15,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("the kernel neither refused its keys nor exited within 15 s") from None
    assert done.returncode == 1, f"exit status {done.returncode}: {done.stderr}"
    return done.stderr


PUBLIC, SECRET = (key.decode() for key in zmq.curve_keypair())
OTHER_PUBLIC, _ = (key.decode() for key in zmq.curve_keypair())

BAD_KEYS = {
    "a secret key alone": ({"curve_secretkey": SECRET}, "has curve_secretkey but no curve_publickey"),
    "a public key alone": ({"curve_publickey": PUBLIC}, "has curve_publickey but no curve_secretkey"),
    "a secret key that is not Z85": (
        {"curve_publickey": PUBLIC, "curve_secretkey": SECRET[:-1] + "~"},
        "curve_secretkey that is not a CurveZMQ key",
    ),
    "a public key of 32 raw bytes": (
        {"curve_publickey": "x" * 32, "curve_secretkey": SECRET},
        "curve_publickey that is not a CurveZMQ key",
    ),
    "keys of two different pairs": (
        {"curve_publickey": OTHER_PUBLIC, "curve_secretkey": SECRET},
        "not the public key of its curve_secretkey",
    ),
}


@requires_curve
@pytest.mark.parametrize("fault", list(BAD_KEYS))
def test_keys_the_kernel_cannot_serve_end_start_up(tmp_path, fault):
    keys, message = BAD_KEYS[fault]
    stderr = start_failing(connection_file(tmp_path, **keys))
    assert message in stderr, stderr
    assert SECRET not in stderr, "the kernel showed the secret key"


# ---------------------------------------------------------------------------------------------
# A libzmq without CURVE


@pytest.fixture(scope="module")
def no_curve_env(tmp_path_factory):
    """An environment whose LD_PRELOAD makes zmq_has() say no, as a libzmq built without libsodium does."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler to build the zmq_has stand-in")
    folder = tmp_path_factory.mktemp("no-curve")
    source = folder / "no_curve.c"
    source.write_text("int zmq_has(const char *capability) { (void)capability; return 0; }\n")
    library = folder / "libno_curve.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return {**os.environ, "LD_PRELOAD": str(library)}


def test_without_curve_the_kernel_refuses_keys_and_says_why(tmp_path, no_curve_env):
    stderr = start_failing(connection_file(tmp_path, curve_publickey=PUBLIC, curve_secretkey=SECRET), env=no_curve_env)
    assert "built without CURVE" in stderr, stderr
    assert SECRET not in stderr


def test_without_curve_the_kernelspec_makes_no_claim_and_required_is_refused(tmp_path, no_curve_env):
    subprocess.run(
        [str(retort_binary()), "kernelspec", "install", "--prefix", str(tmp_path)],
        check=True,
        stdout=subprocess.DEVNULL,
        env=no_curve_env,
    )
    kernels = tmp_path / "share/jupyter/kernels"
    assert "supported_encryption" not in json.loads((kernels / "retort/kernel.json").read_text())["metadata"]

    specs = KernelSpecManager(kernel_dirs=[str(kernels)])
    km = KernelManager(kernel_name="retort", kernel_spec_manager=specs, transport_encryption="required")
    with pytest.raises(RuntimeError, match="supported_encryption"):
        km.start_kernel(env=no_curve_env)

    # "auto" writes no keys for a kernel that makes no claim: it runs, unencrypted.
    km = KernelManager(kernel_name="retort", kernel_spec_manager=specs, transport_encryption="auto")
    km.start_kernel(env=no_curve_env)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=STARTUP)
        assert "curve_publickey" not in json.loads(Path(km.connection_file).read_text())
        assert result_text(run_ok(kc, "1 + 1")) == "2"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
