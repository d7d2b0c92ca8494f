"""The runner's background imports: the report's modules wait for the first trial's launch."""

from __future__ import annotations

import sys
import threading

from latticenas.runner import session


def test_deferred_imports_wait_for_the_event(tmp_path, monkeypatch):
    (tmp_path / "latticenas_probe_module.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "latticenas_probe_module", raising=False)
    launched = threading.Event()
    thread = session._import_in_background(("latticenas_probe_module", "no_such_module_xyz"), after=launched)
    thread.join(timeout=0.3)
    assert thread.is_alive() and "latticenas_probe_module" not in sys.modules
    launched.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert sys.modules["latticenas_probe_module"].LOADED  # and the missing module was skipped quietly
    assert "no_such_module_xyz" not in sys.modules

