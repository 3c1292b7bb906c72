"""The engine: devices, targets, mounts, commands and the journal. No UI imports here, ever."""
