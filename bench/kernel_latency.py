"""Retort's kernel beside ipykernel on the same machine, in one run.

Start-up: from spawning the kernel's command (its kernelspec argv) to the first kernel_info_reply.
Round trip: an execute_request of `1+1` to its `idle` status and reply, median and p90 over many.
Also the kernel process's own CPU time per execute (from /proc, steadier than wall time on a
shared machine), and complete and is_complete round trips. The client is lean (pyzmq with jupyter_client's
Session for signing), so the figures are mostly the kernels' own time.

    python bench/kernel_latency.py [--executes N] [--starts N]
Both kernels must be installed where jupyter_client finds them (bench/kernel does that)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import zmq
from jupyter_client.connect import write_connection_file
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.session import Session

KERNELS = [("retort", "retort", "dist"), ("python3", "ipykernel", "pri")]


class Kernel:
    """A kernel process started from its kernelspec, with shell and IOPub sockets."""

    def __init__(self, name):
        spec = KernelSpecManager().get_kernel_spec(name)
        self.folder = tempfile.mkdtemp()
        path, info = write_connection_file(os.path.join(self.folder, "connection.json"), ip="127.0.0.1")
        self.session = Session(key=info["key"] if isinstance(info["key"], bytes) else info["key"].encode())
        self.context = zmq.Context()
        self.shell = self.context.socket(zmq.DEALER)
        self.iopub = self.context.socket(zmq.SUB)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        for socket in (self.shell, self.iopub):
            # Retry the connection every millisecond while the kernel starts (ZeroMQ waits 100 ms by default),
            # and give up on a silent kernel after 30 s.
            socket.setsockopt(zmq.RECONNECT_IVL, 1)
            socket.setsockopt(zmq.RCVTIMEO, 30000)
        argv = [a.replace("{connection_file}", path) for a in spec.argv]
        if argv[0] in ("python", "python3"):  # as jupyter_client does: the Python running this script
            argv[0] = sys.executable
        self.started = time.perf_counter()
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL)
        # ZeroMQ queues the request until the kernel has bound its port.
        self.shell.connect(f"tcp://127.0.0.1:{info['shell_port']}")
        self.iopub.connect(f"tcp://127.0.0.1:{info['iopub_port']}")
        self.request("kernel_info_request", {})
        self.startup = time.perf_counter() - self.started

    def request(self, kind, content):
        sent = self.session.send(self.shell, kind, content)
        while True:
            reply = self.session.deserialize(self.session.feed_identities(self.shell.recv_multipart())[1])
            if reply["parent_header"].get("msg_id") == sent["header"]["msg_id"]:
                return reply

    def execute(self, code):
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
        sent = self.session.send(self.shell, "execute_request", content)
        wanted = sent["header"]["msg_id"]
        while True:
            message = self.session.deserialize(self.session.feed_identities(self.iopub.recv_multipart())[1])
            if message["parent_header"].get("msg_id") == wanted and message["msg_type"] == "status":
                if message["content"]["execution_state"] == "idle":
                    break
        reply = self.session.deserialize(self.session.feed_identities(self.shell.recv_multipart())[1])
        assert reply["content"]["status"] == "ok", reply["content"]

    def close(self):
        self.process.kill()
        self.process.wait()
        self.context.destroy(linger=0)


def cpu_seconds(pid):
    """User plus system CPU time of a process and its threads so far, from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(action, count):
    times = []
    for _ in range(count):
        t = time.perf_counter()
        action()
        times.append(time.perf_counter() - t)
    return times


def measure(name, prefix, executes, starts):
    startups = []
    for _ in range(starts):
        kernel = Kernel(name)
        startups.append(kernel.startup)
        kernel.close()
    kernel = Kernel(name)
    try:
        time.sleep(0.5)  # let IOPub subscribe before timing
        for _ in range(50):
            kernel.execute("1+1")
        cpu = cpu_seconds(kernel.process.pid)
        run = timed(lambda: kernel.execute("1+1"), executes)
        cpu = (cpu_seconds(kernel.process.pid) - cpu) / executes
        complete = timed(lambda: kernel.request("complete_request", {"code": prefix, "cursor_pos": len(prefix)}), executes // 4)
        check = timed(lambda: kernel.request("is_complete_request", {"code": "[1, 2,"}), executes // 4)
    finally:
        kernel.close()
    run.sort()
    return {
        "start-up to kernel_info_reply (median)": statistics.median(startups),
        "execute 1+1 to idle (median)": statistics.median(run),
        "execute 1+1 to idle (p90)": run[int(0.9 * len(run))],
        "kernel CPU time per execute": cpu,
        "complete_request (median)": statistics.median(complete),
        "is_complete_request (median)": statistics.median(check),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--executes", type=int, default=1000)
    parser.add_argument("--starts", type=int, default=9)
    args = parser.parse_args()
    results = {label: measure(name, prefix, args.executes, args.starts) for name, label, prefix in KERNELS}
    print(f"{'measure':40} {'retort':>10} {'ipykernel':>10} {'ratio':>7}")
    for row in results["retort"]:
        r, p = results["retort"][row], results["ipykernel"][row]
        print(f"{row:40} {r * 1000:8.2f}ms {p * 1000:8.2f}ms {p / r:6.1f}x")
    print("ratio: ipykernel's time over retort's (above 1: retort is faster)")


if __name__ == "__main__":
    main()
