"""Every boundary model is usable straight after import, in a fresh process.

A model that names a class defined further down its module is only "fully defined" once
pydantic rebuilds it, which something else may or may not have done first: in a workflow
sandbox or a replay that is the first thing to run, construction then fails.
"""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import importlib, pkgutil, pydantic
import switchboard.contract as contract
import switchboard.memory.models
modules = [importlib.import_module(f"switchboard.contract.{m.name}")
           for m in pkgutil.iter_modules(contract.__path__)] + [switchboard.memory.models]
incomplete = [f"{m.__name__}.{name}" for m in modules for name, value in vars(m).items()
              if isinstance(value, type) and issubclass(value, pydantic.BaseModel)
              and value.__module__ == m.__name__ and not value.__pydantic_complete__]
print(",".join(incomplete))
"""


def test_every_boundary_model_is_complete_on_import() -> None:
    found = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == ""
