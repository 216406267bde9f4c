"""The I/O shells: Client, AsyncClient, their drivers, clocks and streams."""
