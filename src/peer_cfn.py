"""Deploys and deletes a template with LocalStack's own CloudFormation, timing both.

argv: endpoint, region, stack name, template path. Prints one JSON line:
{"create_ms": ..., "delete_ms": ...}, or exits 2 naming the stack's failure.
"""

import json
import sys
import time

import boto3

POLL = 0.05
LIMIT = 300


def wait(cfn, stack_id: str, done: str) -> None:
    """Polls until the stack reaches `done`; a failed or rolled-back state is an error."""
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        status = stack["StackStatus"]
        if status == done:
            return
        if status.endswith("FAILED") or "ROLLBACK" in status:
            events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
            reasons = [
                f'{e["LogicalResourceId"]}: {e.get("ResourceStatusReason", "")}'
                for e in events
                if e.get("ResourceStatusReason")
            ]
            sys.exit(f"stack {stack_id} is {status}: " + "; ".join(reasons[:5]))
        time.sleep(POLL)
    sys.exit(f"stack {stack_id} did not reach {done} within {LIMIT} s")


def main() -> None:
    endpoint, region, name, path = sys.argv[1:5]
    cfn = boto3.client(
        "cloudformation",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    with open(path, encoding="utf-8") as f:
        body = f.read()
    started = time.monotonic()
    stack_id = cfn.create_stack(
        StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_IAM"]
    )["StackId"]
    wait(cfn, stack_id, "CREATE_COMPLETE")
    create_ms = (time.monotonic() - started) * 1000
    started = time.monotonic()
    cfn.delete_stack(StackName=stack_id)
    wait(cfn, stack_id, "DELETE_COMPLETE")
    delete_ms = (time.monotonic() - started) * 1000
    print(json.dumps({"create_ms": create_ms, "delete_ms": delete_ms}))


if __name__ == "__main__":
    main()
