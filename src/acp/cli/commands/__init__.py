"""One module per verb group of `ac`."""
