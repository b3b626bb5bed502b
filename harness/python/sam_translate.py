"""Runs the SAM transform with the official translator.

Reads {"template": {...}, "parameters": {...}} as JSON on stdin, writes the plain CloudFormation
template as JSON on stdout. Errors go to stderr, one per line, and exit with status 2.
"""

import json
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform


class NoIamManagedPolicies:
    """Managed policies are named by ARN in vpclab's templates; no IAM lookup is made."""

    def load(self):
        return {}


def main() -> int:
    request = json.load(sys.stdin)
    try:
        result = transform(request["template"], request["parameters"], NoIamManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(cause.message, file=sys.stderr)
        return 2
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
