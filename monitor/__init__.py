"""ccmon: the long-running monitor and the CLI. No wire format in here."""
