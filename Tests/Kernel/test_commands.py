"""REPL commands typed into notebook cells, and the lexers the kernel advertises.

    RETORT=.build/debug/retort python -m pytest Tests/Kernel/test_commands.py

A user who types `:vars` or `:time` into a cell gets the command (IPython's %who and %time are the
model), or an error that says what to do instead, never "expected an expression, found ':'"; a line
`!command` runs a shell command, as IPython's `!` does (but a failing one is an error).
"""

import time

import pytest
from pygments.lexers import get_lexer_by_name
from pygments.token import Comment, Error, Keyword

from test_client import interrupt_and_finish, kernel, kernel_session, kernelspec_prefix, result_text, run, run_ok  # noqa: F401


def streamed(outputs, name="stdout"):
    return "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream" and m["content"]["name"] == name)


def test_vars_lists_bindings_with_types(kernel):
    _, kc = kernel
    run_ok(kc, ":reset")
    run_ok(kc, "let m = mlp([64, 32, 10])\nlet x = randn([3, 4])")
    text = streamed(run_ok(kc, ":vars"))
    assert "m" in text and "model (2410 parameters" in text
    assert "x" in text and "tensor [3, 4]" in text


def test_time_runs_an_expression_and_shows_its_value(kernel):
    _, kc = kernel
    outputs = run_ok(kc, ":time 1 + 2")
    assert result_text(outputs) == "3"
    # In the unit that shows it, as IPython's %time (fast code once read "time: 0.000 s").
    import re

    assert re.fullmatch(r"time: \d+\.\d+ (µs|ms|s)", streamed(outputs).strip()), streamed(outputs)
    assert streamed(outputs).strip() != "time: 0.000 s"


def test_time_alone_on_the_first_line_times_the_whole_cell(kernel):
    _, kc = kernel
    outputs = run_ok(kc, ":time\nlet a = 20\na * 2")
    assert result_text(outputs) == "40"
    assert "time: " in streamed(outputs)


def test_commands_between_code_run_where_they_stand(kernel):
    _, kc = kernel
    run_ok(kc, ":reset")
    outputs = run_ok(kc, "let early = 1\n:vars\nlet late = 2\nlate + early")
    text = streamed(outputs)
    assert "early" in text and "late" not in text, "vars ran before the code after it"
    assert result_text(outputs) == "3"


def test_an_error_after_a_command_keeps_its_cell_line_number(kernel):
    _, kc = kernel
    reply, _ = run(kc, ":vars\nlet ok = 1\nundefined_name")
    content = reply["content"]
    assert content["status"] == "error"
    assert any(":3:" in line for line in content["traceback"]), content["traceback"]


def test_tracebacks_name_the_cell_as_the_notebook_numbers_it(kernel):
    """Commands and silent requests once moved the session's own count, so after `:vars` an error in
    In [5] said `<cell 3>`. Each cell's traceback names its execution count; a function defined in
    a cell with commands and failing later shows its own line."""
    _, kc = kernel
    run_ok(kc, "1")
    run_ok(kc, ":vars")
    run_ok(kc, "!true")
    run_ok(kc, "2", silent=True)
    run_ok(kc, ":type 1\nfn broken(x) = x + nope\n:vars")
    reply, _ = run(kc, "undefined_name")
    content = reply["content"]
    count = content["execution_count"]
    assert any(f"<cell {count}>:1:1" in line for line in content["traceback"]), content["traceback"]
    reply, _ = run(kc, "broken(1)")
    traceback = "\n".join(reply["content"]["traceback"])
    assert f"<cell {count - 1}>:2:" in traceback and "fn broken(x) = x + nope" in traceback, traceback


def test_command_lines_are_complete_as_they_run(kernel):
    """is_complete once answered `invalid` for `:vars` and `!echo hi`, which run; IPython answers
    `complete` for %magic and !cmd, and jupyter console submits on it."""
    _, kc = kernel
    from test_client import reply_to

    for code, status in [(":vars", "complete"), ("!echo hi", "complete"), (":vars\nlet a = [1,", "incomplete"),
                         ("let a = 1\n:vars", "complete"), ("1 +* 2", "invalid")]:
        reply = reply_to(kc, kc.is_complete(code))
        assert reply["content"]["status"] == status, (code, reply["content"])


def test_quiet_training_shows_one_line_and_no_curve(kernel):
    """`quiet: true` in a notebook shows the run's one summary line when it ends (the lessons read
    their final losses there) and no live curve; the terminal shows nothing."""
    _, kc = kernel
    outputs = run_ok(kc, "let qm = mlp([2, 4, 2])\nlet qh = fit(qm, moons(n: 40), epochs: 2, batch: 20, quiet: true)\nqh.epochs")
    shown = [m for m in outputs if m["msg_type"] in ("display_data", "update_display_data")]
    assert shown, outputs
    assert all(set(m["content"]["data"]) == {"text/plain"} for m in shown), shown
    assert "2 epochs" in shown[-1]["content"]["data"]["text/plain"], shown[-1]


def test_quit_says_how_to_stop_a_notebook_kernel(kernel):
    _, kc = kernel
    reply, _ = run(kc, ":quit")
    content = reply["content"]
    assert content["status"] == "error" and content["ename"] == "CommandError"
    assert "Kernel menu" in content["evalue"]
    assert run_ok(kc, "1") is not None, "the kernel is still there"


def test_an_unknown_command_lists_the_commands(kernel):
    _, kc = kernel
    reply, _ = run(kc, ":frob")
    content = reply["content"]
    assert content["ename"] == "CommandError"
    assert ":vars" in content["evalue"] and ":time" in content["evalue"]
    assert "expected an expression" not in content["evalue"]


def test_type_and_help(kernel):
    _, kc = kernel
    assert "tensor [2, 3]" in streamed(run_ok(kc, ":type zeros([2, 3])"))
    assert ":vars" in streamed(run_ok(kc, ":help"))
    # A builtin's entry goes to the pager, as IPython's `distill?` does.
    reply, _ = run(kc, ":help distill")
    pages = [p["data"]["text/plain"] for p in reply["content"].get("payload", []) if p.get("source") == "page"]
    assert pages and pages[0].startswith("distill(student: model, from: model or list of models, on: dataset")


SAMPLE = (
    "let d = distill(student, from: teacher, on: train, T: 4) # soft targets\n"
    "fn kd(s, t, y, T = 4) = kl_div(log_softmax(s / T, 1), softmax(t / T, 1)) * T * T\n"
    "for e in range(3) { if e > 1 { print(\"epoch\", e) } else { print(e) } }\n"
)


def test_the_advertised_pygments_lexer_reads_retort_well(kernel):
    """The lexer the kernel names (used by nbconvert and GitHub) marks `#` comments as comments and
    `let`, `for`, `in`, `if`, `else` as keywords, leaves `from` a plain name, and finds no errors."""
    _, kc = kernel
    kc.kernel_info()
    info = kc.get_shell_msg(timeout=30)["content"]["language_info"]
    assert info["pygments_lexer"] == info["codemirror_mode"] == "julia"
    tokens = list(get_lexer_by_name(info["pygments_lexer"]).get_tokens(SAMPLE))
    keywords = {value for kind, value in tokens if kind in Keyword}
    assert {"let", "for", "in", "if", "else"} <= keywords
    assert "from" not in keywords
    assert [value for kind, value in tokens if kind in Comment] == ["# soft targets"]
    assert not [value for kind, value in tokens if kind in Error]


def test_a_shell_command_shows_its_output_as_it_comes(kernel):
    _, kc = kernel
    outputs = run_ok(kc, "let before = 41\n!echo out; echo err >&2; pwd\nbefore + 1")
    assert "out\n" in streamed(outputs) and "err\n" in streamed(outputs, "stderr")
    assert result_text(outputs) == "42", "the code after the command ran"


def test_a_failing_shell_command_is_an_error_and_stops_the_cell(kernel):
    _, kc = kernel
    reply, outputs = run(kc, "!echo trying; exit 3\nlet after_failure = 1")
    content = reply["content"]
    assert content["status"] == "error" and "exited with status 3" in content["evalue"], content
    assert "trying" in streamed(outputs)
    reply, _ = run(kc, "after_failure")
    assert reply["content"]["status"] == "error", "the line after the failed command did not run"


def test_not_equal_at_the_start_of_a_line_is_still_code(kernel):
    _, kc = kernel
    assert result_text(run_ok(kc, "1\n!= 2")) == "true"


def test_interrupting_a_shell_command_stops_it_and_its_children(kernel, tmp_path):
    _, kc = kernel
    marker = tmp_path / "still-running"
    msg_id = kc.execute(f"!sh -c 'sleep 30; touch {marker}'")
    time.sleep(1)
    started = time.monotonic()
    reply, _ = interrupt_and_finish(kc, msg_id)
    assert reply["content"]["status"] == "error" and "interrupted" in reply["content"]["evalue"], reply["content"]
    assert time.monotonic() - started < 5
    assert run_ok(kc, "1 + 1") is not None
    time.sleep(0.5)
    assert not marker.exists()
