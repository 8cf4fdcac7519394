"""The README's three set-up lines stay true: install, test, and the main job on a sample image."""
import re
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT


def readme_lines():
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_install_and_test_commands():
    install, test, _ = readme_lines()
    assert install == "make install" and test == "make test"
    ci = (ROOT / ".ci/run").read_text()
    assert "make install" in ci and "make test" in ci


def test_main_job_finds_people_offline(tmp_path):
    *_, main = readme_lines()
    args = shlex.split(main)
    assert args[0] == "darknet-py"
    image = args[6]
    if not (ROOT / image).exists():
        pytest.skip(f"{image} needs ../shared beside the checkout")
    res = subprocess.run([sys.executable, "-m", "darknet_py", *args[1:], "-out", str(tmp_path / "pred")],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert any(line.startswith("person: ") for line in res.stdout.splitlines())
    assert (tmp_path / "pred.jpg").exists()
