"""App events: the envelope, the publisher (Kafka producer) and the contract validation."""
