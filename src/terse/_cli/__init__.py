"""The `terse` command and its demo."""
