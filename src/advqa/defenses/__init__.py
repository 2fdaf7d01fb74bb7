"""advqa.defenses."""
