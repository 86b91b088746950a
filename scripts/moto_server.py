"""moto's server, with DynamoDB requests applied one at a time.

Real DynamoDB applies each write atomically, condition included: of two concurrent
`UpdateItem ... attribute_not_exists(lease_owner)` on one item, exactly one succeeds. moto's
threaded server evaluates the condition and applies the write in separate steps without a lock,
so both can succeed (two runs would then hold one lease). Serialising DynamoDB requests restores
the real behaviour; every other service is served as moto does.
"""
import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action

if __name__ == "__main__":
    main(sys.argv[1:])
