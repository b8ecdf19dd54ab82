"""CLI: the real `simulate` command, bad input (exit 2, nothing written), and files never lost."""
