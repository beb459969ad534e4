"""The streaming shell: the broker (embedded Tansu or an external Kafka), topics and the Faust agents."""
