"""The Retort kernel against jupyter_kernel_test, the Jupyter project's own conformance suite.

    RETORT=.build/debug/retort python -m pytest Tests/Kernel/test_conformance.py

Every sample attribute the suite (0.7) reads is set, so none of its tests skips. Its timing rules
apply to every execute: the first IOPub message after a request must be `status: busy`, readable
within 1 s of the execute_reply; each following IOPub message, through `status: idle`, within
0.1 s of the one before. The kernelspec is installed by `retort kernelspec install` into a
temporary prefix that JUPYTER_PATH points at, which is how the suite's `start_new_kernel` finds it.
"""

import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

# Imported as a module, not `from ... import KernelTests`: pytest collects every TestCase class
# bound in a test module, and the base class would start a python3 kernel.
import jupyter_kernel_test
from jupyter_kernel_test.msgspec_v5 import validate_message

REPO = Path(__file__).resolve().parents[2]
_saved_jupyter_path = None
_prefix = None


def retort_binary():
    """The retort under test: $RETORT, else the debug build."""
    path = Path(os.environ.get("RETORT") or REPO / ".build/debug/retort").resolve()
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no retort binary at {path}: build it, or set RETORT")
    return path


def setUpModule():
    global _saved_jupyter_path, _prefix
    _prefix = tempfile.mkdtemp(prefix="retort-kernelspec-")
    subprocess.run(
        [str(retort_binary()), "kernelspec", "install", "--prefix", _prefix],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _saved_jupyter_path = os.environ.get("JUPYTER_PATH")
    share = os.path.join(_prefix, "share", "jupyter")
    os.environ["JUPYTER_PATH"] = share + (os.pathsep + _saved_jupyter_path if _saved_jupyter_path else "")


def tearDownModule():
    if _saved_jupyter_path is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = _saved_jupyter_path
    if _prefix:
        shutil.rmtree(_prefix, ignore_errors=True)


class RetortKernelConformance(jupyter_kernel_test.KernelTests):
    kernel_name = "retort"
    language_name = "retort"
    file_extension = ".rt"

    code_hello_world = 'print("hello, world")'
    code_stderr = 'eprint("oops")'

    # The suite compares sets of matches, so each prefix must name exactly one binding here
    # (no other builtin, prelude function or keyword starts with these).
    completion_samples = [
        {"text": "distil", "matches": ["distill"]},
        {"text": "softm", "matches": ["softmax"]},
    ]

    # From the parser's own verdicts (Tests/RetortLangTests/ParserTests.swift): running out of
    # input is "incomplete"; any other syntax error is "invalid".
    complete_code_samples = ["1 + 2", "fn f(x) = x", "let x = [1,\n 2]", ""]
    incomplete_code_samples = ["fn f(x) =", "[1, 2,", "let x = (1 +", "for i in 1..3 {", 'let s = "abc']
    invalid_code_samples = ["let = 3", "1 +* 2", ")"]

    code_page_something = "help(softmax)"
    code_generate_error = "undefined_thing"

    # test_history re-runs these codes; the history search pattern below must match one of them
    # and only that one, across everything this kernel runs (unique=True must give exactly one).
    code_execute_result = [
        {"code": "1 + 2", "result": "3"},
        {"code": "6 * 7", "result": "42"},
        {"code": '"re" + "tort"', "result": '"retort"'},
        {"code": "not false", "result": "true"},
    ]
    code_history_pattern = "1 ? 2"  # a glob, as the spec says: '?' stands for the '+'
    supported_history_operations = ("tail", "range", "search")

    code_display_data = [
        {"code": "display(plot([1, 3, 2]))", "mime": "image/png"},
        {"code": "display(plot([1, 3, 2]))", "mime": "image/svg+xml"},
        {"code": "display(plot([1, 3, 2]))", "mime": "text/plain"},
        {"code": "display(compare([mlp([64, 10])], digits()))", "mime": "text/html"},
        {"code": "display(latex(kd))", "mime": "text/latex"},
    ]

    code_inspect_sample = "softmax"
    code_clear_output = "clear_output()"

    # What the suite leaves out, in the same kernel.

    def test_kernel_info_describes_retort(self):
        self.flush_channels()
        msg_id = self.kc.kernel_info()
        reply = self.get_non_kernel_info_reply_for(msg_id)
        content = reply["content"]
        self.assertEqual(content["protocol_version"], "5.3")
        info = content["language_info"]
        self.assertEqual(info["name"], "retort")
        self.assertEqual(info["file_extension"], ".rt")
        self.assertEqual(info["mimetype"], "text/x-retort")

    def test_pager_shows_the_doc_entry_instead_of_printing_it(self):
        self.flush_channels()
        reply, outputs = self.execute_helper("help(softmax)")
        self.assertEqual(reply["content"]["status"], "ok")
        (page,) = reply["content"]["payload"]
        self.assertIn("softmax(", page["data"]["text/plain"])
        printed = [m for m in outputs if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"]
        self.assertEqual(printed, [], "help text goes to the pager, not to stdout as well")

    def test_inspect_gives_the_doc_entry(self):
        self.flush_channels()
        msg_id = self.kc.inspect("softmax")
        reply = self.get_non_kernel_info_reply_for(msg_id)
        self.assertTrue(reply["content"]["found"])
        self.assertIn("softmax(", reply["content"]["data"]["text/plain"])

    def test_inspect_inside_a_calls_arguments_gives_the_calls_entry(self):
        """Shift-Tab inside an argument list (where JupyterLab users look for the signature) found
        nothing; it shows the call's entry, as IPython does, and a name under the cursor first."""
        for code, cursor, wanted in [("plot([1,2], ", 12, "plot("), ("plot([1,2], ti", 14, "plot("),
                                     ("distill(m, from: ", 17, "distill("), ("plot(softmax", 8, "softmax(")]:
            self.flush_channels()
            reply = self.get_non_kernel_info_reply_for(self.kc.inspect(code, cursor))
            self.assertTrue(reply["content"]["found"], code)
            self.assertIn(wanted, reply["content"]["data"]["text/plain"].split("\n")[0], code)

    def test_error_names_the_undefined_name(self):
        self.flush_channels()
        reply, outputs = self.execute_helper("undefined_thing")
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "NameError")
        (error,) = outputs
        self.assertEqual(error["content"]["ename"], "NameError")
        self.assertIn("undefined_thing", "\n".join(error["content"]["traceback"]))

    def test_display_data_of_a_plot_carries_all_three_formats_at_once(self):
        self.flush_channels()
        _, outputs = self.execute_helper("display(plot([1, 3, 2]))")
        (shown,) = [m for m in outputs if m["msg_type"] == "display_data"]
        data = shown["content"]["data"]
        self.assertTrue({"image/png", "image/svg+xml", "text/plain"} <= set(data))
        self.assertIn("<svg", data["image/svg+xml"])
        # PNG travels base64-encoded in JSON, as every Jupyter front end expects.
        self.assertTrue(data["image/png"].startswith("iVBORw0KGgo"), data["image/png"][:16])

    def get_non_kernel_info_reply_for(self, msg_id):
        """The reply to `msg_id`, validated (the suite's helper does not check the parent)."""
        while True:
            reply = self.kc.get_shell_msg(timeout=jupyter_kernel_test.TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                validate_message(reply, reply["msg_type"], msg_id)
                return reply


if __name__ == "__main__":
    unittest.main()
