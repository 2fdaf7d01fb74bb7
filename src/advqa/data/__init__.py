"""advqa.data."""
