"""JupyterLab's server, started for real, lists the installed retort kernelspec and starts the kernel."""

import asyncio
import contextlib
import json
import os
import socket
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import pytest
from tornado.websocket import websocket_connect

TOKEN = "retort-test-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, path, method="GET", body=None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
        return response.status, json.loads(text) if text.lstrip().startswith(("{", "[")) else text


@contextlib.contextmanager
def running_lab(root, *options):
    """JupyterLab's server on a free loopback port serving `root`, with extra command-line
    `options`; yields the port once it answers, and stops the server afterwards."""
    port = free_port()
    # Its own workspaces folder: JupyterLab otherwise restores the tabs a previous run left open
    # (in the user's home), and a test would find another notebook's cells in the page.
    workspaces = tempfile.mkdtemp(prefix="retort-lab-workspaces-")
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", f"--ServerApp.token={TOKEN}",
             f"--ServerApp.root_dir={root}", "--ServerApp.ip=127.0.0.1", "--allow-root",
             f"--LabApp.workspaces_dir={workspaces}", *options],
            stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.time() + 90
            while True:
                try:
                    call(port, "/api/status")
                    break
                except OSError:
                    if server.poll() is not None or time.time() > deadline:
                        log.seek(0)
                        pytest.fail(f"JupyterLab did not start: {log.read()[-2000:]}")
                    time.sleep(0.3)
            yield port
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            shutil.rmtree(workspaces, ignore_errors=True)


@pytest.fixture(scope="module")
def lab():
    with running_lab(tempfile.mkdtemp()) as port:
        yield port


def test_jupyterlab_lists_retort_with_its_logos(lab):
    status, specs = call(lab, "/api/kernelspecs")
    assert status == 200
    assert "retort" in specs["kernelspecs"], sorted(specs["kernelspecs"])
    retort = specs["kernelspecs"]["retort"]
    assert retort["spec"]["display_name"] == "Retort"
    assert retort["spec"]["language"] == "retort"
    assert {"logo-32x32", "logo-64x64", "logo-svg"} <= set(retort["resources"])
    status, page = call(lab, "/lab")
    assert status == 200 and "JupyterLab" in page


def test_jupyterlab_starts_the_kernel_and_runs_a_cell(lab):
    """Start the kernel as JupyterLab does, then run a cell over the server's websocket, as the UI does."""
    status, kernel = call(lab, "/api/kernels", method="POST", body={"name": "retort"})
    assert status == 201 and kernel["name"] == "retort"
    try:
        messages = asyncio.run(run_cell(lab, kernel["id"], "1 + 2"))
        results = [m for m in messages if m["msg_type"] == "execute_result"]
        assert results and results[0]["content"]["data"]["text/plain"] == "3", [m["msg_type"] for m in messages]
        _, state = call(lab, f"/api/kernels/{kernel['id']}")
        assert state["execution_state"] == "idle", state
    finally:
        call(lab, f"/api/kernels/{kernel['id']}", method="DELETE")


async def run_cell(port, kernel_id, code):
    """Sends one execute_request on the kernel's channels websocket and collects IOPub until idle."""
    url = f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?token={TOKEN}"
    connection = await asyncio.wait_for(websocket_connect(url), timeout=30)
    msg_id = uuid.uuid4().hex
    request = {
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
                   "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False},
    }
    await connection.write_message(json.dumps(request))
    messages = []
    while True:
        text = await asyncio.wait_for(connection.read_message(), timeout=30)
        assert text is not None, "the websocket closed"
        message = json.loads(text)
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        messages.append(message)
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            connection.close()
            return messages
