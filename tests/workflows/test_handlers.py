"""Every handler of ``ConversationWorkflow`` is named in one place and indexed in its docstring."""

from __future__ import annotations

import re

from temporalio.workflow import _Definition

from switchboard.contract import names
from workflows.conversation import ConversationWorkflow
from workflows.reanalysis import ReanalysisWorkflow

# Temporal's own registry of the class's handlers (private, but the SDK's tests use it too).
_DEFINITION = _Definition.must_from_class(ConversationWorkflow)


def _registered() -> dict[str, set[str]]:
    return {
        "signal": {name for name in _DEFINITION.signals if name is not None},
        "update": {name for name in _DEFINITION.updates if name is not None},
        "query": {name for name in _DEFINITION.queries if name is not None},
    }


def _named(suffix: str) -> set[str]:
    """``ConversationWorkflow``'s names of a kind (the re-analysis workflow's aside)."""
    return {
        value
        for constant, value in vars(names).items()
        if constant.endswith(suffix)
        and not constant.startswith("REANALYSIS_")
        and isinstance(value, str)
    }


def test_handlers_are_the_names_in_the_contract() -> None:
    registered = _registered()
    assert registered["signal"] == _named("_SIGNAL")
    assert registered["update"] == _named("_UPDATE")
    assert registered["query"] == _named("_QUERY")


def test_the_class_docstring_indexes_every_handler() -> None:
    doc = ConversationWorkflow.__doc__ or ""
    indexed = {
        kind: set(re.findall(rf"^\s+{kind} ``(\w+)``", doc, re.MULTILINE))
        for kind in ("signal", "update", "query")
    }
    assert indexed == _registered()


def test_a_handler_missing_from_the_index_is_caught() -> None:
    """The check above can fail: drop one line of the index and it no longer matches."""
    doc = ConversationWorkflow.__doc__ or ""
    shortened = doc.replace("signal ``forget``", "")
    signals = set(re.findall(r"^\s+signal ``(\w+)``", shortened, re.MULTILINE))
    assert signals != _registered()["signal"]


def test_the_reanalysis_workflow_answers_its_named_query() -> None:
    definition = _Definition.must_from_class(ReanalysisWorkflow)
    assert definition.name == names.REANALYSIS_WORKFLOW
    assert set(definition.queries) == {names.REANALYSIS_PROGRESS_QUERY}
