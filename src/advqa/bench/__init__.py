"""advqa.bench."""
