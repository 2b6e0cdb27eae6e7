"""The public API stays what the README says whatever was imported first."""

from __future__ import annotations

import subprocess
import sys


def test_exported_functions_survive_their_modules_being_imported():
    # a fresh interpreter: the CLI and the answering modules are imported first
    code = ("import challenge_qa.answering.compose, challenge_qa.answering.timeline\n"
            "import challenge_qa.app.cli\n"
            "import challenge_qa as c\n"
            "from challenge_qa import answer, timeline, retrieve\n"
            "assert callable(c.answer) and callable(c.timeline) and callable(retrieve)\n"
            "assert answer is c.answer and timeline is c.timeline\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_importing_the_package_loads_no_model_or_index():
    code = ("import sys, challenge_qa\n"
            "heavy = [m for m in ('torch', 'faiss', 'gradio', 'onnxruntime') if m in sys.modules]\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", (out.stdout, out.stderr)
