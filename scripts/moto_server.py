"""moto's server, with DynamoDB requests applied one at a time.

Real DynamoDB applies each write atomically, condition included: of two concurrent
`UpdateItem ... attribute_not_exists(lease_owner)` on one item, exactly one succeeds. moto's
threaded server evaluates the condition and applies the write in separate steps without a lock,
so both can succeed (two runs would then hold one lease). Serialising DynamoDB requests restores
the real behaviour.

SQS ReceiveMessage likewise: moto checks that a message is visible and marks it received in
separate steps, so two consumers polling at once can both receive one message (real SQS hands a
message to one receiver). Each receive attempt is made under a lock; a long poll waits between
attempts outside it. Every other service is served as moto does.
"""
import sys
import threading
import time

from moto.dynamodb.responses import DynamoHandler
from moto.server import main
from moto.sqs.models import SQSBackend

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action

_sqs_lock = threading.Lock()
_receive_message = SQSBackend.receive_message


def _atomic_receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None):
    deadline = time.time() + (wait_seconds_timeout or 0)
    while True:
        with _sqs_lock:
            got = _receive_message(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
        if got or time.time() >= deadline:
            return got
        time.sleep(0.05)


SQSBackend.receive_message = _atomic_receive_message

if __name__ == "__main__":
    main(sys.argv[1:])
