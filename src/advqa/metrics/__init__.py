"""advqa.metrics."""
