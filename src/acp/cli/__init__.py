"""The `ac` command-line interface. Talks to the server only over HTTP."""
