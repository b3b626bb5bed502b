"""Runs the SAM transform with the official translator, kept warm for a whole test process.

A line protocol on stdin and stdout: each request is one line of JSON,
{"template": {...}, "parameters": {...}, "region": "..."}, and each answer one line,
{"template": {...}} or {"errors": ["...", ...]}. It ends when stdin closes. Anything else the
translator prints goes to stderr, so stdout carries answers only.
"""

import json
import logging
import os
import signal
import sys
import traceback

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator import arn_generator
from samtranslator.translator.transform import transform


class NoIamManagedPolicies:
    """Managed policies are named by ARN in vpclab's templates; no IAM lookup is made."""

    def load(self):
        return {}


def use_region(region: str) -> None:
    """The translator reads the region (for partitions and ARNs) from the environment, and
    caches it: a new region clears the cache."""
    if os.environ.get("AWS_DEFAULT_REGION") == region:
        return
    os.environ["AWS_DEFAULT_REGION"] = region
    for cached in ("_get_region_from_session", "_region_to_partition"):
        function = getattr(arn_generator, cached, None)
        if function is not None and hasattr(function, "cache_clear"):
            function.cache_clear()


def answer(request: dict) -> dict:
    """The translated template, or the translator's reasons for refusing it."""
    use_region(request["region"])
    try:
        template = transform(
            request["template"], request["parameters"], NoIamManagedPolicies()
        )
    except InvalidDocumentException as e:
        return {"errors": [cause.message for cause in e.causes]}
    except Exception as e:  # noqa: BLE001 - any failure is one answer, not a dead server
        return {"errors": [f"{type(e).__name__}: {e}", traceback.format_exc()]}
    return {"template": template}


def main() -> int:
    # The test process decides when this one ends (its stdin closes), not a stray Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The translator's metrics logger writes to stdout, where only answers may go.
    logging.getLogger("samtranslator.metrics").disabled = True
    answers = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = answer(json.loads(line))
        except (ValueError, KeyError) as e:
            reply = {"errors": [f"a malformed request to the translator: {e}"]}
        answers.write(json.dumps(reply) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
