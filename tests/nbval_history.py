"""A pytest plugin for running the chapters under nbval as JupyterLab runs them (tests/run-all
loads it: ``python -m pytest -p tests.nbval_history notebooks --nbval ...``).

IPython hides the value of a cell that ends in ";" (chapter 09's ``sh("ip route");``) after
looking the cell up in its input history. nbval, since 0.10, sends each cell with
``store_history=False``, so IPython looks at an older cell instead, and a value that JupyterLab
hides shows under nbval: "Unexpected output fields from running code: {'text/plain'}"
(nbval issue #194, IPython issue #14162, both open). Here nbval sends cells with their history,
as JupyterLab and the reference run (tests/store_outputs.py) do.
"""

from nbval.kernel import RunningKernel


def execute_cell_input(self, cell_input, allow_stdin=None):
    """nbval's RunningKernel.execute_cell_input, with the cell kept in the kernel's history."""
    return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin,
                           stop_on_error=False)


RunningKernel.execute_cell_input = execute_cell_input
