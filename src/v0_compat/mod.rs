//! The libprocess wire: UPIDs, the message server and sender, links and exits.
