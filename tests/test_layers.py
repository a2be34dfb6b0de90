"""The package's layers (README.md, "The code"): no module imports from a layer above its own.

The contract is pyproject.toml's ``[tool.importlinter]``; ``lint-imports`` (import-linter)
reads every import of the package, those inside functions too, and names each one that
goes upward with its file and line.
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_no_module_imports_from_a_layer_above_its_own():
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.exists(), f"{lint} is missing: pip install import-linter (the test extra)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"lint-imports found an upward import:\n{done.stdout}{done.stderr}"
    assert "0 broken" in done.stdout, done.stdout
