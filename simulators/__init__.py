"""Simulated devices that speak the real protocols from outside the gateway: scenarios, device
models and faults (``scenario``, ``generate``, ``models``), MQTT and Modbus players (``publish``),
Modbus slaves and a serial-timing relay (``modbus_slaves``, ``serial_relay``)."""
