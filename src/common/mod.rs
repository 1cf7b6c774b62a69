//! Shared by master, agent and drivers: resources, flags, logging, time.
