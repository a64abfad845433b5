"""One cached ``transitions`` machine per (workflow, version); never one per subject.

The machine decides where a trigger leads and which states are left and entered (nested
states, ancestors' triggers, internal transitions). It runs no plugin code: its callbacks only
record the path, and the engine runs the actions afterwards, outside the machine's lock, so a
slow action never holds up other subjects of the same workflow.

Because the machine carries no conditions and its callbacks only record, the path for a
(state, trigger) pair is a pure function of the definition: it is computed on the machine once
and remembered (see docs/decisions.md). ``MachineCache.step(..., fresh=True)`` always asks it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transitions.extensions.nesting import HierarchicalMachine, NestedState

from pmflow.core.definitions import ANY_STATE, SEPARATOR, StateDef, WorkflowDefinition


class _PathState(NestedState):
    separator = SEPARATOR


class _Machine(HierarchicalMachine):
    state_cls = _PathState

    # pmflow never calls the convenience methods (is_<state>, <trigger>, may_<trigger>) that
    # add_model binds to each model, and callbacks are given explicitly; binding them walks every
    # state and trigger on each add_model and dominated dispatch time. transitions is pinned <0.10.
    def _checked_assignment(self, model: Any, name: str, func: Any) -> None:
        return None

    def _add_model_to_state(self, state: Any, model: Any) -> None:
        return None

    def _add_trigger_to_model(self, trigger: str, model: Any) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Step:
    """What a trigger does from a state: states left (inner first), entered (outer first), dest."""

    exited: tuple[str, ...]
    entered: tuple[str, ...]
    dest: str


class _Model:
    __slots__ = ("__weakref__", "state", "to")

    def __init__(self) -> None:
        self.state = ""


def _recorder(kind: str, path: str) -> Callable[[Any], None]:
    def record(event: Any) -> None:
        event.kwargs["trace"][kind].append(path)

    return record


def build_machine(definition: WorkflowDefinition) -> _Machine:
    def state_config(state: StateDef) -> dict[str, Any]:
        config: dict[str, Any] = {
            "name": state.name,
            "on_enter": [_recorder("entered", state.path)],
            "on_exit": [_recorder("exited", state.path)],
        }
        if state.children:
            config["children"] = [state_config(definition.states[c]) for c in state.children]
            assert state.initial is not None
            config["initial"] = state.initial.rsplit(SEPARATOR, 1)[-1]
        return config

    top = [state_config(s) for s in definition.states.values() if s.parent is None]
    machine = _Machine(
        model=None,
        states=top,
        initial=definition.initial_leaf,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    for transition in definition.transitions:
        sources = (
            sorted(transition.leaf_sources) if ANY_STATE in transition.sources else list(transition.sources)
        )
        machine.add_transition(transition.trigger, sources, transition.dest)
    return machine


class MachineCache:
    """Builds each definition's machine once; serialises its use (a machine is not thread-safe)."""

    def __init__(self) -> None:
        self._machines: dict[tuple[str, int], tuple[_Machine, threading.Lock]] = {}
        self._build_lock = threading.Lock()
        self._paths: dict[tuple[str, int, str, str], Step] = {}

    def _get(self, definition: WorkflowDefinition) -> tuple[_Machine, threading.Lock]:
        entry = self._machines.get(definition.key)
        if entry is None:
            with self._build_lock:
                entry = self._machines.get(definition.key)
                if entry is None:
                    entry = (build_machine(definition), threading.Lock())
                    self._machines[definition.key] = entry
        return entry

    def __len__(self) -> int:
        return len(self._machines)

    def step(self, definition: WorkflowDefinition, state: str, trigger: str, *, fresh: bool = False) -> Step:
        """The path ``trigger`` takes from ``state``, worked out by the definition's machine."""
        key = (definition.name, definition.version, state, trigger)
        if not fresh and (known := self._paths.get(key)) is not None:
            return known
        step = self._run(definition, state, trigger)
        self._paths[key] = step
        return step

    def _run(self, definition: WorkflowDefinition, state: str, trigger: str) -> Step:
        machine, lock = self._get(definition)
        model = _Model()
        trace: dict[str, list[str]] = {"exited": [], "entered": []}
        with lock:
            machine.add_model(model, initial=state)
            try:
                machine.trigger_event(model, trigger, trace=trace)
            finally:
                machine.remove_model(model)
        return Step(exited=tuple(trace["exited"]), entered=tuple(trace["entered"]), dest=str(model.state))
