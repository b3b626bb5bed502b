"""Work LocalStack repeats on every request without need, done once or cheaply instead.

Each change leaves what LocalStack answers as it was (the suite's tests check those answers),
names where the time went, and leaves LocalStack alone when its internals no longer look as
expected (it then logs a warning instead)."""

import inspect
import logging

LOG = logging.getLogger(__name__)


def apply() -> None:
    """Applies every change (from the start-up hook, once a process)."""
    _cheap_moto_action_lookup()


class _FunctionNames:
    """The names of a class's functions, as moto's `method_names_from_class` lists them
    (`inspect.getmembers(cls, inspect.isfunction)`), asked one name at a time."""

    def __init__(self, clazz, listed):
        self._clazz = clazz
        self._listed = listed

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and inspect.isfunction(getattr(self._clazz, name, None))

    def __iter__(self):
        return iter(self._listed(self._clazz))


def _cheap_moto_action_lookup() -> None:
    """moto checks that a request's action is a method of its response class by listing every
    member of the class (`inspect.getmembers`) on each request: 0.43 ms of a call that costs the
    emulator 3 to 5 ms, an eighth of its interpreter's time over the suite in a profile
    (BENCHMARKS.md, eighth pass). Looking the one name up gives the same answer in 0.3 us."""
    try:
        from moto.core import responses
    except ImportError as e:
        LOG.warning("vpclab: moto's action lookup left as it is: %s", e)
        return
    listed = getattr(responses, "method_names_from_class", None)
    if listed is None:
        LOG.warning("vpclab: moto's action lookup left as it is: moto changed")
        return
    responses.method_names_from_class = lambda clazz: _FunctionNames(clazz, listed)
