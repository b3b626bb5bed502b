"""LocalStack start-up hook: the fidelity fixes apply before the first request, whichever
service it is for (an Elastic IP may be allocated before any function exists), and the
servers LocalStack starts stay in its process group."""

import logging

from localstack.runtime import hooks

LOG = logging.getLogger(__name__)


@hooks.on_infra_start()
def _vpclab_fidelity() -> None:
    # The one hook pyproject.toml names (`localstack.hooks.on_infra_start`).
    from vpclab_executor import fidelity, speed

    fidelity.apply()
    speed.apply()
    _children_in_the_group()


def _children_in_the_group() -> None:
    """LocalStack starts its servers (DynamoDB Local's JVM among them) in sessions of their own.
    vpclab ends a LocalStack by killing its process group, and so does the watchdog when the
    test process is killed: a server in another session would outlive them. Keep them in
    LocalStack's group (its `run` starts a new session only on Linux and macOS)."""
    try:
        from localstack.utils import run
    except ImportError as e:
        LOG.warning("vpclab: servers may leave LocalStack's process group: %s", e)
        return
    if not (hasattr(run, "is_linux") and hasattr(run, "is_mac_os")):
        LOG.warning("vpclab: servers may leave LocalStack's process group: `run` changed")
        return
    run.is_linux = lambda: False
    run.is_mac_os = lambda: False
