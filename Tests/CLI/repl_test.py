"""Drives `retort` (the REPL) under a pseudo-terminal as a person would, with pexpect.

    python Tests/CLI/repl_test.py PATH-TO-RETORT

Checks Tab completion (a builtin, a field after a dot, a named parameter), the continuation prompt
for an unfinished function, an error followed by a line that still sees earlier bindings, history
recall with Up (a multi-line block as one entry, in the next session too), Ctrl-C clearing the
line at the prompt, Ctrl-C during training returning to the prompt with the model still usable,
Ctrl-D in an unfinished entry dropping only the entry, and two sessions at once both keeping their
history. Prints 'N passed, N failed'.
"""

import os
import sys
import tempfile
import time

import pexpect

PROMPT = "retort> "


def main(retort):
    state = tempfile.mkdtemp()
    env = dict(os.environ, XDG_STATE_HOME=state, NO_COLOR="1", TERM="xterm")
    child = pexpect.spawn(retort, env=env, encoding="utf-8", timeout=30, dimensions=(30, 160))
    checks = []

    def check(name, send, expect, control=None):
        try:
            if control:
                child.sendcontrol(control)
            if send is not None:
                child.send(send)
            child.expect(expect)
            checks.append((name, True, ""))
        except (pexpect.TIMEOUT, pexpect.EOF) as error:
            checks.append((name, False, f"{type(error).__name__}; last output: {child.before!r}"))

    check("banner and prompt", None, PROMPT)
    check("Tab completes a builtin", "let h = distil\t", "distill")
    check("Ctrl-C clears the line", None, PROMPT, control="c")
    check("a multi-line function gets a continuation prompt", "fn kd2(s, t, y, T = 4) =\r", r"\.\.\.> ")
    check("and is defined when complete", "  T^2 * s + t\r", PROMPT)
    check("it can be called", "kd2(1, 2, 0)\r", r"\r18\r\n")
    check("an error names the line and column", "let data = blobs(n: 4000)\rdata @ 3\r", r"<cell \d+>:1:1: TypeError")
    check("earlier bindings survive the error", "data.classe\t", "data.classes")
    check("the completed field evaluates", "\r", r"\r3\r\n")
    check("Tab completes a named parameter", "fit(m, data, epo\t", "epochs: ")
    check("Ctrl-C clears it", None, PROMPT, control="c")
    check("Up recalls history", "\x1b[A", "data.classes")
    check("Ctrl-C clears it", None, PROMPT, control="c")
    check("training starts", "let m = mlp([2, 64, 3])\rfit(m, data, epochs: 10000, batch: 4)\r", PROMPT)
    child.expect("fit m", timeout=20) if checks[-1][1] else None
    check("Ctrl-C interrupts training", None, r"interrupted (in epoch \d+ of 10000, after batch \d+ of 1000|after epoch \d+ of 10000)", control="c")
    check("the prompt returns", None, PROMPT)
    check("the model is still usable", "accuracy(m, data) > 0.5\r", r"\rtrue\r\n")
    child.expect(PROMPT)  # the prompt after `true`
    # With no progress line drawn, the terminal's echoed ^C once ran into the error ("^C<cell 9>...").
    check("a quiet run starts", "fit(m, data, epochs: 100000, batch: 4, quiet: true)\r", r"quiet: true\)\r\n")
    time.sleep(1)
    check("Ctrl-C ends the echoed line before the error", None, r"\^C\r\n<cell \d+>:1:1: Interrupted: fit m interrupted", control="c")
    check("the prompt returns after it", None, PROMPT)
    check("a history trains quietly", "let hh = fit(m, data, epochs: 3, batch: 400, quiet: true)\r", PROMPT)
    check("plot draws it in the terminal", "plot(hh)\r", PROMPT)
    drawn = [line for line in child.before.replace("\r", "").split("\n") if line.strip()]
    widest = max((len(line) for line in drawn), default=0)
    braille = any("\u2800" <= ch <= "\u28ff" for line in drawn for ch in line)
    legend = any("── m" in line for line in drawn)
    checks.append(("the plot is braille with a legend, sized to the 160-column terminal",
                   braille and legend and 120 <= widest <= 160,
                   f"widest line {widest}, braille {braille}"))
    picture = os.path.join(state, "loss.png")
    check("save writes the plot as PNG", f'save(plot(hh), "{picture}")\r', PROMPT)
    ok = os.path.exists(picture) and open(picture, "rb").read(4) == b"\x89PNG"
    checks.append(("the PNG is on disk", ok, f"{picture} missing or not a PNG"))
    check("unknown commands list the commands", ":frob\r", "commands are :help")
    check(":vars lists bindings", ":vars\r", r"m\s+model \(387 parameters\)")
    check("!command runs in the shell", "!echo from-the-shell\r", r"\rfrom-the-shell\r\n")
    check("a failing one says how it ended", "!exit 4\r", "exited with status 4")
    check("a long one starts", "!sleep 60\r", r"sleep 60\r\n")
    time.sleep(0.5)
    check("Ctrl-C stops it", None, r"Interrupted: interrupted the command `sleep 60`", control="c")
    check("the session is still there", "m.count\r", r"\r387\r\n")
    check("a last multi-line entry", "fn twice(x) =\r", r"\.\.\.> ")
    check("is defined", "  x * 2\r", PROMPT)
    check("Ctrl-D leaves", None, pexpect.EOF, control="d")

    # The next session recalls the block as one entry, as IPython does (each line came back alone).
    child = pexpect.spawn(retort, env=env, encoding="utf-8", timeout=30, dimensions=(30, 160))
    check("a second session starts", None, PROMPT)
    check("Up recalls the whole block", "\x1b[A", r"x \* 2")
    check("which runs as typed", "\r", PROMPT)
    check("and defines the function", "twice(4)\r", r"\r8\r\n")
    # Ctrl-D inside an unfinished entry drops the entry, not the session (it quit, losing it all).
    check("an unfinished entry", "let w = (1,\r", r"\.\.\.> ")
    check("Ctrl-D there drops it", None, "unfinished entry is dropped", control="d")
    check("the prompt returns after it", None, PROMPT)
    check("and the session is still there", "twice(5)\r", r"\r10\r\n")
    # Two sessions at once keep both their entries (each rewrote the file from its own list).
    other = pexpect.spawn(retort, env=env, encoding="utf-8", timeout=30, dimensions=(30, 160))
    other.expect(PROMPT)
    other.send("let from_the_other = 1\r")
    other.expect(PROMPT)
    check("an entry after the other session's", "let from_this_one = 2\r", PROMPT)
    other.sendcontrol("d")
    other.expect(pexpect.EOF)
    history = open(os.path.join(state, "retort", "history"), encoding="utf-8").read()
    checks.append(("the history file holds both sessions' entries",
                   "from_the_other" in history and "from_this_one" in history and "twice(5)" in history,
                   history[-300:]))
    check("Ctrl-D leaves again", None, pexpect.EOF, control="d")

    failed = [c for c in checks if not c[1]]
    for name, ok, detail in checks:
        if not ok:
            print(f"FAIL {name}: {detail}")
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
