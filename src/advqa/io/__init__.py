"""advqa.io."""
