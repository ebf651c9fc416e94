"""paho's network thread survives a failing callback only when it is guarded.

Real broker, real clients: a subscriber whose message callback raises on the first message
must still receive the second. Unguarded, paho re-raises from its thread, which ends, and
the client silently receives nothing more.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from citysense.local.mosquitto import LocalMosquitto
from core.mqtt_threads import guarded, hand_over
from tests.support.mqtt import publish_all

OnMessage = Callable[[mqtt.Client, object, mqtt.MQTTMessage], None]


def _received_after_a_failing_callback(broker: LocalMosquitto, wrap: bool) -> list[bytes]:
    topic = f"test/threads/{uuid.uuid4().hex[:8]}"
    got: list[bytes] = []
    second = threading.Event()
    subscribed = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        got.append(bytes(msg.payload))
        if msg.payload == b"first":
            raise ValueError("a callback bug")
        second.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    c.on_message = guarded("test", on_message) if wrap else on_message
    c.on_subscribe = lambda *_: subscribed.set()
    c.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    try:
        assert subscribed.wait(10)
        publish_all(broker.port, [(topic, b"first")])
        publish_all(broker.port, [(topic, b"second")])
        second.wait(5)
    finally:
        c.disconnect()
        c.loop_stop()
    return got


def test_a_guarded_callback_that_raises_leaves_the_network_thread_running(
    broker: LocalMosquitto,
) -> None:
    assert _received_after_a_failing_callback(broker, wrap=True) == [b"first", b"second"]


# the thread's death is reported by pytest as a warning, an error under filterwarnings=error
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_unguarded_the_same_bug_ends_the_network_thread(broker: LocalMosquitto) -> None:
    """What the guard is for (and proof the test above can fail)."""
    assert _received_after_a_failing_callback(broker, wrap=False) == [b"first"]


def test_hand_over_after_the_loop_closed_does_not_raise() -> None:
    loop = asyncio.new_event_loop()
    queue: asyncio.Queue[int] = asyncio.Queue()
    loop.close()
    hand_over("test", loop, queue, 1)  # a message arriving during shutdown
    hand_over("test", None, None, 2)  # one arriving before the service runs
    assert queue.empty()
