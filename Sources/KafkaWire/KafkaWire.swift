public enum KafkaWire {}
