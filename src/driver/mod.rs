//! Scheduler and executor drivers: the framework side of the v0 protocol.
