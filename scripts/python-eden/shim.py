"""What the Python eden needs to run against the emulator, for eden-bench; imported first.

It adds, and nothing else:
  * AWS_ENDPOINT_URL reaches every client (botocore before 1.31 ignores the variable), so the
    CLI talks to the emulator, or to eden-bench's delaying proxy in front of it;
  * moto's DescribeServices omits deploymentConfiguration and healthCheckGracePeriodSeconds,
    which aws-eden-core reads: they are filled in with the values AWS would return;
  * DELAY_MS (optional) sleeps before every request in-process (a boto3 before-send hook),
    for a measurement without the proxy.
"""
import os
import time

import boto3
import botocore.session

_create_client = botocore.session.Session.create_client


def create_client(self, *args, **kwargs):
    if os.environ.get("AWS_ENDPOINT_URL") and not kwargs.get("endpoint_url"):
        kwargs["endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
    return _create_client(self, *args, **kwargs)


botocore.session.Session.create_client = create_client
boto3.setup_default_session()
events = boto3.DEFAULT_SESSION.events

delay = float(os.environ.get("DELAY_MS", "0")) / 1000
if delay:
    events.register("before-send", lambda **kwargs: time.sleep(delay))


def fill_in(parsed, **kwargs):
    for service in parsed.get("services", []):
        service.setdefault(
            "deploymentConfiguration", {"maximumPercent": 200, "minimumHealthyPercent": 100}
        )
        service.setdefault("healthCheckGracePeriodSeconds", 0)


events.register("after-call.ecs.DescribeServices", fill_in)

