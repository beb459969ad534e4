"""The worker's HTTP surface: health, metrics and the JSON API."""
