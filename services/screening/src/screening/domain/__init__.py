"""Screening domain: no gRPC, Kafka or SQLAlchemy here."""
