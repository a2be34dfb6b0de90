"""A pytest plugin for running the chapters under nbval as JupyterLab runs them
(tests/run-chapters loads it: ``python -m pytest -p tests.nbval_history notebooks --nbval ...``).

IPython hides the value of a cell that ends in ";" (chapter 09's ``sh("ip route");``) after
looking the cell up in its input history. nbval, since 0.10, sends each cell with
``store_history=False``, so IPython looks at an older cell instead, and a value that JupyterLab
hides shows under nbval: "Unexpected output fields from running code: {'text/plain'}"
(nbval issue #194, IPython issue #14162, both open). Here nbval sends cells with their history,
as JupyterLab and the reference run (tests/store_outputs.py) do.
"""

import os

from nbval.kernel import RunningKernel


def execute_cell_input(self, cell_input, allow_stdin=None):
    """nbval's RunningKernel.execute_cell_input, with the cell kept in the kernel's history."""
    return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin,
                           stop_on_error=False)


RunningKernel.execute_cell_input = execute_cell_input


# tests/run-all's rootless pass runs copies of the chapters (the rootless outputs in place:
# tests/store_outputs.py --rootless-chapters); their kernels start in notebooks/ all the same,
# where the chapters find what they read beside them.
_kernel_cwd = os.environ.get("SANDBOX_NBVAL_KERNEL_CWD")
if _kernel_cwd:
    _start = RunningKernel.__init__

    def _start_in_chapters_folder(self, kernel_name, cwd=None, *args, **kwargs):
        _start(self, kernel_name, _kernel_cwd, *args, **kwargs)

    RunningKernel.__init__ = _start_in_chapters_folder
