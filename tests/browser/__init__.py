"""Real-browser tests (JupyterLab, Voila, headless Chromium).

A package, so that its ``conftest.py`` is imported as ``browser.conftest`` and does not replace
the ``conftest`` module of ``tests/`` that other test files import from.
"""
