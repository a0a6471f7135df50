"""The event bus: CloudEvents over RabbitMQ, delivered at least once, in order per customer.

Modules by job (only ``rabbitmq``, ``consumer``, ``envelope``, ``parking`` and
``topology`` import aio_pika; ``inbox`` is the one that imports pymongo):

- ``ports``: the ``Publisher``, ``Consumers`` and ``Inbox`` protocols and their
  delivery contract — what handlers are written against.
- ``rabbitmq``: ``Bus``, the aio-pika adapter implementing those ports.
- ``topology``: exchanges and queues (consistent-hash shards, retry and parking).
- ``consumer``: one shard's consumer — batching, inbox dedupe, retry, park.
- ``envelope``: CloudEvent ⇄ AMQP message (structured mode, ``ce-`` headers).
- ``parking``: parked (dead-lettered) messages, listed and replayed.
- ``metrics``: the bus's Prometheus metrics.
- ``inbox``: ``MongoInbox``, processed-event ids in weekly bucket collections.
- ``in_memory``: ``InMemoryBus`` / ``InMemoryInbox``, the twins for unit tests.

Nothing is re-exported here, so importing the ports never pulls in a driver:
``from shared.bus.ports import Publisher``, ``from shared.bus.rabbitmq import Bus``.
"""
