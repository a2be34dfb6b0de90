"""Highlight the chapters' code cells as IPython, so a `!command` line is shell, not an error.

The notebooks are committed without ``language_info`` (a kernel writes it when it runs
them), so myst-nb falls back on the kernelspec's language, ``python``, and Pygments'
Python lexer stops at the ``!`` of ``!{sys.executable} -m sandbox ps``. IPython's own
lexer (IPython.lib.lexers, what JupyterLab's kernel announces as ``ipython3``) knows both.
"""

from IPython.lib.lexers import IPython3Lexer


def setup(app):
    app.add_lexer("python", IPython3Lexer)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
