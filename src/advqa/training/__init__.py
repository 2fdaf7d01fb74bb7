"""Training loops: model heads, defences' regularised training, attack generators."""
