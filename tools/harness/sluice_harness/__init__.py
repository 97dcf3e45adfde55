"""Sluice's real-broker test harness.

Starts and stops real Kafka-protocol brokers on loopback for the integration tests
(Tansu, and librdkafka's in-process mock cluster) and reads back what was produced
with confluent-kafka's consumer. Run as ``python -m sluice_harness <cmd>``; see
README.md beside this package.
"""
