"""Registration of the executor in LocalStack's ``localstack.lambda.runtime_executor`` group."""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class VpclabRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "vpclab"

    def load(self, *args, **kwargs):
        from vpclab_executor import fidelity
        from vpclab_executor.executor import VpclabRuntimeExecutor

        fidelity.apply()
        return VpclabRuntimeExecutor
