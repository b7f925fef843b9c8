"""What the tests share: fakes, the one fake clock, builders of stored items and events,
readers of the emulator's state, and the local stack's runner. Test modules import from
here, never from each other."""
