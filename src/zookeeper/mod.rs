//! ZooKeeper: Mesos's leader election layout, for masters (contender) and for
//! everyone who looks for the leading master (detector).
//!
//! # Layout
//! - [`url`]: `zk://[user:password@]host:port[,host:port...]/path` URLs and the
//!   `file://` indirection of `--zk` / `--master`, with Mesos's error texts.
//! - [`group`]: the election rule, I/O-free: which children of the group znode
//!   are members (`<label>_<sequence>`), and that the lowest sequence leads.
//! - [`master_info`]: `MasterInfo` in znodes: the exact JSON Mesos writes into
//!   `json.info_` members, and the three formats its detector reads.
//! - [`client`]: a thin async client over `zookeeper-client` (tokio): session
//!   timeout, digest credentials, Mesos's ACLs, recursive path creation,
//!   session events, Mesos's retry rules. Usable for other data Mesos keeps in
//!   ZooKeeper (the registry, `ZooKeeperState` entries).
//! - [`contender`]: a master's candidacy (`<path>/json.info_<seq>`), reporting
//!   elected / following / lost.
//! - [`detector`]: the leading master for agents, drivers, CLIs and masters,
//!   from `host:port`, `zk://` or `file://`.
//!
//! # The znodes, as Mesos 1.11 leaves them
//! ```text
//! /mesos                          persistent, empty; created by whoever comes first
//!   json.info_0000000000          ephemeral sequential: the leader (lowest sequence)
//!   json.info_0000000001          ephemeral sequential: a follower
//! ```
//! Each member holds its master's MasterInfo as compact JSON. With credentials
//! in the URL every znode is readable by anyone and writable only by the
//! credentials' identity; without, open to all.
//!
//! What this module does not do: decide. The contender and detector report
//! what ZooKeeper says; the master and agent state machines decide what it
//! means for them (see [`contender`] for what the master should do on losing
//! its candidacy).

pub mod client;
pub mod contender;
pub mod detector;
pub mod group;
pub mod master_info;
pub mod url;

pub use client::{SessionEvent, ZkClient, ZkConfig, ZkError, DEFAULT_SESSION_TIMEOUT};
pub use contender::{Candidacy, ContenderEvent, LostReason, MasterContender};
pub use detector::{DetectError, Detection, MasterDetector};
pub use url::{Authentication, ZkUrl};
