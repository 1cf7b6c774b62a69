//! Helpers shared by integration tests that need real external services.
//! Each test binary includes this with `mod support;` and uses a subset.

#![allow(dead_code)]

pub mod zookeeper;
