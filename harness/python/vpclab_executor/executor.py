"""The executor: a thin HTTP client of the harness's executor service."""

import base64
import io
import json
import logging
import os
import threading
import urllib.error
import urllib.request
import zipfile
from collections import OrderedDict
from pathlib import Path

from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

# Longest Lambda timeout (900 s) plus a margin: the harness enforces the function's own timeout.
INVOKE_WAIT_SECONDS = 905
CONTROL_WAIT_SECONDS = 60


def _service_url() -> str:
    url = os.environ.get("VPCLAB_EXECUTOR_URL")
    if not url:
        raise LambdaRuntimeException(
            "VPCLAB_EXECUTOR_URL is not set: this LocalStack was not started by the vpclab harness"
        )
    return url.rstrip("/")


def _call(method: str, path: str, body: dict | None, timeout: float) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        _service_url() + path,
        data=data,
        method=method,
        headers={
            "Content-Type": "application/json",
            "X-Vpclab-Token": os.environ.get("VPCLAB_EXECUTOR_TOKEN", ""),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        raise LambdaRuntimeException(f"vpclab harness: {method} {path}: {e.code} {detail}") from e
    except OSError as e:
        raise LambdaRuntimeException(f"vpclab harness unreachable: {method} {path}: {e}") from e
    return json.loads(raw) if raw else {}


def _version_body(function_version: FunctionVersion) -> dict:
    return {
        "function_arn": function_version.qualified_arn,
        "account": function_version.id.account,
        "region": function_version.id.region,
        "function_name": function_version.id.function_name,
    }


# Zipped codes by CodeSha256, the most recently used last; four at most, so memory stays
# bounded whatever a session deploys.
_SHIPPED: OrderedDict[str, str] = OrderedDict()
_SHIPPED_LOCK = threading.Lock()
_SHIPPED_MAX = 4


def _shipped_code(code_sha256: str, folder: str) -> str:
    """The code as the harness gets it, zipped once per code rather than once per environment:
    every world that deploys the same function (each its own unzipped folder) shares it."""
    with _SHIPPED_LOCK:
        if (zipped := _SHIPPED.get(code_sha256)) is not None:
            _SHIPPED.move_to_end(code_sha256)
            return zipped
    zipped = _zip_folder(Path(folder))
    with _SHIPPED_LOCK:
        _SHIPPED[code_sha256] = zipped
        _SHIPPED.move_to_end(code_sha256)
        while len(_SHIPPED) > _SHIPPED_MAX:
            _SHIPPED.popitem(last=False)
    return zipped


def _zip_folder(folder: Path) -> str:
    """The folder as a base64 zip that keeps file modes (for a harness on another filesystem)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(str(path.relative_to(folder)))
                info.external_attr = (path.stat().st_mode & 0xFFFF) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return base64.b64encode(buffer.getvalue()).decode()


class VpclabRuntimeExecutor(RuntimeExecutor):
    def start(self, env_vars: dict[str, str]) -> None:
        config = self.function_version.config
        body = _version_body(self.function_version)
        body.update(
            {
                "code_dir": str(config.code.get_unzipped_code_location()),
                "runtime": config.runtime,
                "handler": config.handler,
                "timeout_seconds": int(config.timeout),
                "memory_size": int(config.memory_size),
                "vpc_config": {
                    "subnet_ids": list(config.vpc_config.subnet_ids or []),
                    "security_group_ids": list(config.vpc_config.security_group_ids or []),
                }
                if config.vpc_config
                else None,
                "env": {k: str(v) for k, v in env_vars.items()},
            }
        )
        if os.environ.get("VPCLAB_SHIP_CODE") == "1":
            body["code_zip_base64"] = (
                _zip_folder(Path(body["code_dir"]))
                if config.code.is_hot_reloading()
                else _shipped_code(config.code.code_sha256, body["code_dir"])
            )
        _call("PUT", f"/environments/{self.id}", body, CONTROL_WAIT_SECONDS)

    def stop(self) -> None:
        _call("DELETE", f"/environments/{self.id}", None, CONTROL_WAIT_SECONDS)

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return os.environ.get("VPCLAB_ENDPOINT_FROM_FUNCTION", "127.0.0.1")

    def get_runtime_endpoint(self) -> str:
        return f"{_service_url()}/environments/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        result = _call(
            "POST", f"/environments/{self.id}/invocations", payload, INVOKE_WAIT_SECONDS
        )
        return InvocationResult(
            request_id=result["request_id"],
            payload=base64.b64decode(result["payload_base64"]),
            is_error=result["is_error"],
            logs=result.get("logs"),
            executed_version=self.function_version.id.qualifier,
        )

    def get_logs(self) -> str:
        return _call("GET", f"/environments/{self.id}/logs", None, CONTROL_WAIT_SECONDS).get(
            "logs", ""
        )

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()
        # Tells the harness the plug-in is live: a function that turns Active without this call
        # ran on another executor, and the harness reports it.
        _call("POST", "/versions", _version_body(function_version), CONTROL_WAIT_SECONDS)

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        try:
            _call("DELETE", "/versions", _version_body(function_version), CONTROL_WAIT_SECONDS)
        except LambdaRuntimeException as e:
            LOG.debug("vpclab: cleanup of %s: %s", function_version.qualified_arn, e)
        # The unzipped code is shared by every version of the function: LocalStack removes it
        # when the function is deleted, not here (an update would otherwise lose it).

    @classmethod
    def validate_environment(cls) -> bool:
        return bool(os.environ.get("VPCLAB_EXECUTOR_URL"))
