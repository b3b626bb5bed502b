"""A LocalStack Lambda runtime executor that delegates to the vpclab harness.

LocalStack keeps the Lambda control plane (functions, versions, event source mappings,
invocation queues); this executor hands each execution environment to the harness process
whose address is in ``VPCLAB_EXECUTOR_URL``. The harness runs the function's ``bootstrap``,
serves it the Lambda Runtime API, enforces its timeout and keeps its logs.
"""
