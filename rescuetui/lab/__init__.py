"""Practice systems: real Debian disk images, built from scratch, for training and end-to-end tests."""
