"""The service: poll loop, wiring, attach(), systemd notify, structured logs."""
