"""The data plane: inbound -> translate -> route -> outbound, on confluent-kafka."""
