"""LocalStack start-up hook: the fidelity fixes apply before the first request, whichever
service it is for (an Elastic IP may be allocated before any function exists)."""

from localstack.runtime import hooks


@hooks.on_infra_start()
def _vpclab_fidelity() -> None:
    from vpclab_executor import fidelity

    fidelity.apply()
