//! A plan-recording harness (after Nomad's scheduler `Harness`): build
//! agents and frameworks, run cycles on a virtual clock, assert on plans.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::common::resources::Resources;
use crate::master::allocator::{Allocator, FrameworkOptions, Options, Plan, PlannedOffer, Time};
use crate::proto::mesos::framework_info::capability::Type as FwCap;
use crate::proto::mesos::framework_info::Capability as FwCapability;
use crate::proto::mesos::slave_info::capability::Type as AgentCap;
use crate::proto::mesos::slave_info::Capability as AgentCapability;
use crate::proto::mesos::{Filters, FrameworkId, FrameworkInfo, SlaveId, SlaveInfo};

pub(crate) fn res(text: &str) -> Resources {
    Resources::parse(text, "*").unwrap_or_else(|e| panic!("{text}: {e}"))
}

pub(crate) fn agent_id(id: &str) -> SlaveId {
    SlaveId { value: id.into() }
}

pub(crate) fn framework_id(id: &str) -> FrameworkId {
    FrameworkId { value: id.into() }
}

/// A framework to add.
#[derive(Clone)]
pub(crate) struct FrameworkSpec {
    pub(crate) id: String,
    pub(crate) roles: Vec<String>,
    pub(crate) caps: Vec<FwCap>,
    pub(crate) suppressed: Vec<String>,
    pub(crate) active: bool,
}

impl FrameworkSpec {
    pub(crate) fn new(id: &str, roles: &[&str]) -> FrameworkSpec {
        FrameworkSpec {
            id: id.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            caps: vec![FwCap::MultiRole],
            suppressed: Vec::new(),
            active: true,
        }
    }

    pub(crate) fn cap(mut self, cap: FwCap) -> Self {
        self.caps.push(cap);
        self
    }

    pub(crate) fn info(&self) -> FrameworkInfo {
        FrameworkInfo {
            id: Some(framework_id(&self.id)),
            name: self.id.clone(),
            roles: self.roles.clone(),
            capabilities: self.caps.iter().map(|&c| FwCapability { r#type: Some(c as i32) }).collect(),
            ..Default::default()
        }
    }
}

pub(crate) fn agent_caps() -> Vec<AgentCapability> {
    [AgentCap::MultiRole, AgentCap::HierarchicalRole, AgentCap::ReservationRefinement]
        .into_iter()
        .map(|c| AgentCapability { r#type: Some(c as i32) })
        .collect()
}

pub(crate) fn agent_info(id: &str) -> SlaveInfo {
    SlaveInfo { id: Some(agent_id(id)), hostname: format!("{id}.example"), ..Default::default() }
}

pub(crate) struct Harness {
    pub(crate) alloc: Allocator,
    pub(crate) now: Time,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        Harness::with(Options { seed: 7, ..Options::default() })
    }

    pub(crate) fn with(options: Options) -> Harness {
        Harness { alloc: Allocator::new(options), now: Duration::from_secs(1000) }
    }

    pub(crate) fn agent(&mut self, id: &str, resources: &str) -> SlaveId {
        self.alloc.add_agent(agent_info(id), &agent_caps(), res(resources), &HashMap::new()).unwrap();
        agent_id(id)
    }

    pub(crate) fn framework(&mut self, id: &str, roles: &[&str]) -> FrameworkId {
        self.add(FrameworkSpec::new(id, roles))
    }

    pub(crate) fn add(&mut self, spec: FrameworkSpec) -> FrameworkId {
        let options = FrameworkOptions { suppressed_roles: spec.suppressed.iter().cloned().collect() };
        self.alloc.add_framework(spec.info(), &HashMap::new(), spec.active, options).unwrap();
        framework_id(&spec.id)
    }

    /// A full cycle (the periodic allocation).
    pub(crate) fn cycle(&mut self) -> Plan {
        self.alloc.allocate_all(self.now)
    }

    /// A cycle over the agents marked by triggers only.
    pub(crate) fn pending(&mut self) -> Plan {
        self.alloc.allocate(self.now)
    }

    pub(crate) fn advance(&mut self, secs: f64) {
        self.now += Duration::from_secs_f64(secs);
    }

    /// Declines an offer with `refuse_seconds` (`None`: no filter).
    pub(crate) fn decline(&mut self, offer: &PlannedOffer, refuse_seconds: Option<f64>) {
        let filters = refuse_seconds.map(|s| Filters { refuse_seconds: Some(s) });
        self.alloc.recover_resources(
            self.now,
            &offer.framework_id,
            &offer.agent_id,
            &offer.resources,
            filters.as_ref(),
            false,
        );
    }

    pub(crate) fn decline_all(&mut self, plan: &Plan, refuse_seconds: Option<f64>) {
        for offer in &plan.offers {
            self.decline(offer, refuse_seconds);
        }
    }

    /// Launches tasks on the whole offer.
    pub(crate) fn launch(&mut self, offer: &PlannedOffer) {
        self.alloc.transition_offered_to_allocated(&offer.agent_id, &offer.resources).unwrap();
    }
}

/// `framework -> sorted agents` of a plan.
pub(crate) fn agents_by_framework(plan: &Plan) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in &plan.offers {
        out.entry(o.framework_id.value.clone()).or_default().push(o.agent_id.value.clone());
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Total cpus offered to a framework.
pub(crate) fn cpus_of(plan: &Plan, framework: &str) -> f64 {
    plan.offers.iter().filter(|o| o.framework_id.value == framework).map(|o| o.resources.cpus().unwrap_or(0.0)).sum()
}

/// One line per offer, sorted: `framework role agent resources`.
pub(crate) fn lines(plan: &Plan) -> Vec<String> {
    let mut v: Vec<String> = plan
        .offers
        .iter()
        .map(|o| format!("{} {} {} {}", o.framework_id.value, o.role, o.agent_id.value, o.resources))
        .collect();
    v.sort();
    v
}

/// The single offer of a plan.
pub(crate) fn only(plan: &Plan) -> &PlannedOffer {
    assert_eq!(plan.len(), 1, "{:?}", lines(plan));
    &plan.offers[0]
}
