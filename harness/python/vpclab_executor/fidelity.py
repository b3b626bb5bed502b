"""Fixes for emulator behaviour that differs from AWS, applied when the executor loads.

Each fix is small, names the AWS behaviour it restores, and leaves LocalStack alone when its
internals no longer look as expected (it then logs a warning instead).
"""

import logging

LOG = logging.getLogger(__name__)
_RAW_BODY = "_vpclab_raw_body"
_applied = False


def apply() -> None:
    """Applies every fix once."""
    global _applied
    if _applied:
        return
    _applied = True
    _keep_sqs_bodies_verbatim()
    _sqs_mappings_long_poll()
    _public_elastic_ips()
    _aws_endpoint_names()
    _public_instance_ips()
    _instance_profiles_from_iam()


def _instance_profiles_from_iam() -> None:
    """In AWS, `RunInstances` with an `IamInstanceProfile` finds the profile IAM holds.
    LocalStack's IAM keeps profiles in its own store, while moto's EC2 looks them up in moto's
    IAM, where they never are: every instance with a profile fails with "Instance profile
    ... not found". Look them up in LocalStack's store instead."""
    import types

    try:
        from localstack.services.iam.models import iam_stores
        from moto.ec2 import utils
        from moto.ec2.models import iam_instance_profile
        from moto.ec2.responses import instances
        from moto.iam.exceptions import NotFoundException
    except ImportError as e:
        LOG.warning("vpclab: instance profile fix not applied: %s", e)
        return
    if not hasattr(utils, "filter_iam_instance_profiles"):
        LOG.warning("vpclab: instance profile fix not applied: moto's lookup changed")
        return

    def lookup(account_id, partition, iam_instance_profile_arn, iam_instance_profile_name):
        profiles = iam_stores[account_id]["us-east-1"].INSTANCE_PROFILES
        for entity in profiles.values():
            profile = entity.instance_profile
            if profile.get("Arn") == iam_instance_profile_arn or (
                not iam_instance_profile_arn
                and profile.get("InstanceProfileName") == iam_instance_profile_name
            ):
                return types.SimpleNamespace(
                    arn=profile.get("Arn"), id=profile.get("InstanceProfileId")
                )
        wanted = iam_instance_profile_arn or iam_instance_profile_name
        raise NotFoundException(f"Instance profile {wanted} not found")

    for module in (utils, iam_instance_profile, instances):
        if hasattr(module, "filter_iam_instance_profiles"):
            module.filter_iam_instance_profiles = lookup


def _aws_endpoint_names() -> None:
    """AWS names an interface endpoint `vpce-<id>-<suffix>.<service>.<region>.vpce.amazonaws.com`
    (what templates chain on, and what clients resolve). LocalStack rewrites the name to end
    in its own host and port (`....vpce.127.0.0.1:4566`), which is no DNS name at all; the
    fabric resolves AWS's names, so keep AWS's domain."""
    try:
        from localstack.services.ec2 import patches
    except ImportError as e:
        LOG.warning("vpclab: endpoint name fix not applied: %s", e)
        return
    if not hasattr(patches, "localstack_host"):
        LOG.warning("vpclab: endpoint name fix not applied: LocalStack's EC2 patch changed")
        return
    patches.localstack_host = lambda: "amazonaws.com"


_handed_out: set[str] = set()


def _fresh_public_ip() -> str:
    """An address of 198.18.0.0/15 (reserved for network tests, never routed on the internet)
    that no Elastic IP or public IP of this emulator has had yet: the fabric's internet gateway
    translates each one to one host."""
    import random

    while True:
        n = random.randrange(1, 2**17 - 1)
        ip = f"198.{18 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"
        if ip not in _handed_out:
            _handed_out.add(ip)
            return ip


def _public_elastic_ips() -> None:
    """AWS allocates Elastic IPs from public ranges. Moto draws them from 127.0.0.0/8, which
    no network can route (the fabric routes Elastic IPs on its sealed internet). Draw them from
    198.18.0.0/15 instead."""
    try:
        from moto.ec2.models import elastic_ip_addresses
    except ImportError as e:
        LOG.warning("vpclab: Elastic IP fix not applied: %s", e)
        return
    if not hasattr(elastic_ip_addresses, "random_ip"):
        LOG.warning("vpclab: Elastic IP fix not applied: moto's allocation changed")
        return
    elastic_ip_addresses.random_ip = _fresh_public_ip


def _public_instance_ips() -> None:
    """AWS gives an instance launched with a public address (its subnet's
    MapPublicIpOnLaunch, or AssociatePublicIpAddress) one from its public pool. Moto draws
    them from 54.214.0.0/16, a real AWS range the sealed internet must not pretend to be, and
    may hand out one twice. Draw them from the Elastic IPs' range, never twice."""
    try:
        from moto.ec2.models import elastic_network_interfaces
    except ImportError as e:
        LOG.warning("vpclab: instance public IP fix not applied: %s", e)
        return
    if not hasattr(elastic_network_interfaces, "random_public_ip"):
        LOG.warning("vpclab: instance public IP fix not applied: moto's allocation changed")
        return
    elastic_network_interfaces.random_public_ip = _fresh_public_ip


# How long one ReceiveMessage of an SQS event source mapping with no batching window waits for a
# message (see `_sqs_mappings_long_poll`).
_LONG_POLL_SECONDS = 5


def _sqs_mappings_long_poll() -> None:
    """In AWS an SQS event source mapping long-polls its queue: a message sent to an idle queue
    reaches the function at once, and an idle mapping makes few calls. LocalStack's poller
    waits only as long as the mapping's batching window, so with the default window of 0 it
    short-polls an empty queue over and over (every 0.1 to 0.5 s here): CPU for every mapping
    alive, and up to half a second before a message is seen. With no batching window, wait
    up to `_LONG_POLL_SECONDS` instead; SQS answers as soon as a message is there, with what
    the queue holds at that moment (up to the batch size), as without the wait."""
    try:
        from localstack.services.lambda_.event_source_mapping.pollers import sqs_poller
    except ImportError as e:
        LOG.warning("vpclab: SQS long-poll fix not applied: %s", e)
        return
    poller = getattr(sqs_poller, "SqsPoller", None)
    original = getattr(poller, "_register_client_hooks", None)
    if original is None:
        LOG.warning("vpclab: SQS long-poll fix not applied: LocalStack's SQS poller changed")
        return

    def long_poll(params, **kwargs):
        if not params.get("WaitTimeSeconds"):
            params["WaitTimeSeconds"] = _LONG_POLL_SECONDS

    def register_client_hooks(self):
        original(self)
        if not getattr(self, "maximum_batching_window", None):
            # One hook per client (pollers may share an internal client); it only turns an
            # SQS ReceiveMessage that would not wait into one that does.
            self.source_client.meta.events.register(
                "provide-client-params.sqs.ReceiveMessage",
                long_poll,
                unique_id="vpclab-sqs-long-poll",
            )

    poller._register_client_hooks = register_client_hooks


def _keep_sqs_bodies_verbatim() -> None:
    """AWS hands a function each SQS message body byte for byte. LocalStack's SQS event source
    parses JSON bodies to evaluate filter criteria and serialises them again, so
    ``{"a":1}`` reaches the function as ``{"a": 1}``. Filtering still sees the parsed body;
    the events sent on carry the original text."""
    try:
        from localstack.services.lambda_.event_source_mapping.pollers import sqs_poller
        from localstack.services.lambda_.event_source_mapping.pollers.poller import Poller
    except ImportError as e:
        LOG.warning("vpclab: SQS body fix not applied: %s", e)
        return
    original_transform = getattr(sqs_poller, "transform_into_events", None)
    if original_transform is None or not hasattr(sqs_poller, "SqsPoller"):
        LOG.warning("vpclab: SQS body fix not applied: LocalStack's SQS poller changed")
        return

    def transform_into_events(messages):
        events = original_transform(messages)
        for event in events:
            event[_RAW_BODY] = event.get("body")
        return events

    def filter_events(self, events):
        matching = Poller.filter_events(self, events)
        for event in events:
            raw = event.pop(_RAW_BODY, None)
            if raw is not None:
                event["body"] = raw
        return matching

    sqs_poller.transform_into_events = transform_into_events
    sqs_poller.SqsPoller.filter_events = filter_events
