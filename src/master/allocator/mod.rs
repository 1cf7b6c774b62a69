//! The hierarchical DRF allocator (Mesos's `HierarchicalDRFAllocator`), as
//! a pure state machine: facts in, offer plans out. No I/O, no clock (time
//! is an argument), no unseeded randomness (agents are shuffled with
//! [`Options::seed`]).
//!
//! # Pipeline
//! ```text
//!  master events ──► Allocator (facts)                       allocate(now) ──► Plan
//!  add/remove/update agent      agents: total, available,        │
//!  add/remove/(de)activate fw     holdings per (fw, role)        │ candidates (agents marked
//!  suppress/revive, filters     frameworks: roles, caps,         │ by triggers, or all)
//!  recover/transition resources   suppressed roles, filters      ▼
//!  quota, weights               role tree: quota, weights,    shuffle (seeded)
//!                                 reservations, consumption      │
//!                               role sorter (DRF over roles)     ├─ stage 1: roles with quota guarantees
//!                               framework sorter per role        │   (role order × framework order)
//!                                                                └─ stage 2: everything else
//!                                                                     within limits and headroom
//! ```
//! Every offer in a plan is already accounted as offered. The master sends
//! them, re-validates ACCEPTs against its own state (the allocator never
//! sees task launches as such), and hands back what is declined, rescinded,
//! or freed with [`Allocator::recover_resources`].
//!
//! # Terms
//! - *Role sorter*: DRF order over the roles that have frameworks, by the
//!   dominant share of the cluster each role's subtree is offered or holds,
//!   divided by its weight (`--weights`). Hierarchical roles (`eng/ci`)
//!   compete within their parent first.
//! - *Framework sorter*: DRF order over the frameworks of one role.
//! - *Holding*: resources offered or allocated to a framework in a role on
//!   an agent. *Available*: an agent's total minus all holdings.
//! - *Reservations* are offered only to their role and its descendants;
//!   unreserved resources to anyone.
//! - *Quota*: guarantees (amounts a role gets before others grow) and
//!   limits (amounts it never exceeds). *Headroom*: unreserved resources
//!   held back so unsatisfied guarantees can still be met.
//! - *Refusal filter*: after a DECLINE (or an ACCEPT leaving resources
//!   unused), the framework is not offered the same resources or a subset
//!   on that agent for that role for `max(refuse_seconds,
//!   allocation_interval)` (default 5 s); REVIVE clears them.
//! - *Suppressed role*: the framework gets no offers for it until REVIVE.
//!
//! # What the master calls, and when
//! | master event | call |
//! |---|---|
//! | agent registered / reregistered | [`Allocator::add_agent`] (with resources in use per framework) |
//! | agent removed (shutdown, unreachable, gone) | [`Allocator::remove_agent`] |
//! | agent reregistered with changes, `UpdateSlaveMessage` | [`Allocator::update_agent`] |
//! | agent disconnected / reconnected | [`Allocator::deactivate_agent`] / [`Allocator::activate_agent`] |
//! | framework subscribed / recovered | [`Allocator::add_framework`] |
//! | framework disconnected / failed over | [`Allocator::deactivate_framework`] / [`Allocator::activate_framework`] |
//! | UPDATE_FRAMEWORK, resubscribe with new info | [`Allocator::update_framework`] |
//! | framework removed (teardown, failover timeout) | [`Allocator::remove_framework`] |
//! | DECLINE, rescind, unused part of an ACCEPT, task or executor finished | [`Allocator::recover_resources`] |
//! | ACCEPT launching tasks on offered resources | [`Allocator::transition_offered_to_allocated`] |
//! | ACCEPT with RESERVE / UNRESERVE / CREATE / DESTROY | [`Allocator::update_allocation`] |
//! | operator RESERVE / CREATE ... on unallocated resources | [`Allocator::update_available`] |
//! | SUPPRESS / REVIVE | [`Allocator::suppress_offers`] / [`Allocator::revive_offers`] |
//! | UPDATE_QUOTA, `--weights`, UPDATE_WEIGHTS | [`Allocator::update_quota`], [`Allocator::update_weights`] |
//! | failover with quota in the registry | [`Allocator::recover`] |
//! | `--allocation_interval` timer | [`Allocator::allocate_all`] |
//! | after a batch of events, if [`Allocator::has_pending`] | [`Allocator::allocate`] |
//!
//! Triggers coalesce: adding an agent marks that agent, adding or
//! activating a framework and REVIVE mark every agent; the next
//! [`Allocator::allocate`] looks at the marked agents only (Mesos's
//! `allocationCandidates`).
//!
//! # Layout
//! - `hierarchical.rs`: state and the event calls; `cycle.rs`: the cycle;
//! - `sorter.rs`: the DRF sorter; `role_tree.rs`: per-role accounting;
//! - `state.rs`: agents and frameworks; `qty.rs`: dense scalar sums;
//! - `options.rs`: options and the master flags feeding them;
//! - `plan.rs`: the output.

mod cycle;
mod hierarchical;
mod options;
mod plan;
mod qty;
mod role_tree;
mod sorter;
mod state;

#[cfg(test)]
mod tests;

pub use hierarchical::{Allocator, AllocatorError};
pub use options::{
    default_min_allocatable_resources, framework_roles, parse_min_allocatable_resources, parse_weights,
    FrameworkOptions, Options, RoleWhitelist,
};
pub use plan::{Plan, PlannedOffer};

/// A point in time: the time elapsed since any fixed origin the master
/// chooses (e.g. its start), read from a monotonic clock by the caller.
pub type Time = std::time::Duration;
