"""The embedded local stack behind `make dev`: emulator, bootstrap, pumps, servers."""
