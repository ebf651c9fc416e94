"""A cheap liveness check of the MQTT broker: a real CONNECT and CONNACK."""

from __future__ import annotations

import asyncio

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.settings import Settings


def _probe(settings: Settings, timeout: float) -> str:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
    if settings.mqtt_username:
        pw = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        client.username_pw_set(settings.mqtt_username, pw)
    result: list[str] = []
    client.on_connect = lambda c, u, f, rc, p: result.append(str(rc))
    client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=10)
    client.loop(timeout=timeout)
    client.disconnect()
    if not result:
        raise TimeoutError(f"no CONNACK within {timeout}s")
    if result[0] != "Success":
        raise ConnectionError(f"broker refused: {result[0]}")
    return f"mqtt://{settings.mqtt_host}:{settings.mqtt_port} accepted a connection"


async def check_broker(settings: Settings, within: float = 2.0) -> str:
    return await asyncio.wait_for(asyncio.to_thread(_probe, settings, within), within + 1)
