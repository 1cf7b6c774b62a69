//! The composing containerizer (Mesos's `ComposingContainerizer`,
//! `src/slave/containerizer/composing.cpp`): `--containerizers=docker,mesos`
//! in any order. A launch goes to each containerizer in turn until one
//! accepts it (does not answer [`LaunchResult::NotSupported`]); that one
//! owns the container from then on. At recovery each checkpointed container
//! goes to the containerizer that claims it (its executor's `ContainerInfo`
//! type), and every containerizer recovers (and cleans up its orphans).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::proto::mesos::{ContainerId, Resource, ResourceStatistics};

use super::{ContainerConfig, ContainerError, Containerizer, LaunchResult, RecoverableContainer, Termination};

/// Decides whether a checkpointed container belongs to a containerizer.
pub type Claim = fn(&RecoverableContainer) -> bool;

/// One member: the containerizer and what it claims at recovery.
pub struct Member {
    pub name: &'static str,
    pub containerizer: Arc<dyn Containerizer>,
    pub claims: Claim,
}

/// See the module docs.
pub struct ComposingContainerizer {
    members: Vec<Member>,
    /// Which member owns each container.
    owners: Mutex<BTreeMap<String, usize>>,
}

impl ComposingContainerizer {
    pub fn new(members: Vec<Member>) -> ComposingContainerizer {
        ComposingContainerizer { members, owners: Mutex::new(BTreeMap::new()) }
    }

    fn owners(&self) -> MutexGuard<'_, BTreeMap<String, usize>> {
        self.owners.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn owner(&self, id: &ContainerId) -> Option<&Arc<dyn Containerizer>> {
        let index = *self.owners().get(&id.value)?;
        self.members.get(index).map(|m| &m.containerizer)
    }

    async fn do_recover(&self, known: Vec<RecoverableContainer>) -> Result<(), ContainerError> {
        let mut shares: Vec<Vec<RecoverableContainer>> = self.members.iter().map(|_| Vec::new()).collect();
        for container in known {
            // The first member that claims it, else the last one (Mesos's
            // containerizer takes everything not marked for another).
            let index = self.members.iter().position(|m| (m.claims)(&container)).unwrap_or(self.members.len() - 1);
            self.owners().insert(container.container_id.value.clone(), index);
            shares[index].push(container);
        }
        for (member, share) in self.members.iter().zip(shares) {
            member.containerizer.recover(share).await?;
        }
        Ok(())
    }

    async fn do_launch(&self, config: ContainerConfig) -> Result<LaunchResult, ContainerError> {
        let key = config.container_id.value.clone();
        if self.owners().contains_key(&key) {
            return Err(ContainerError::AlreadyExists(key));
        }
        for (index, member) in self.members.iter().enumerate() {
            self.owners().insert(key.clone(), index);
            match member.containerizer.launch(config.clone()).await {
                Ok(LaunchResult::NotSupported) => continue,
                Ok(launched) => return Ok(launched),
                Err(e) => {
                    self.owners().remove(&key);
                    return Err(e);
                }
            }
        }
        self.owners().remove(&key);
        Ok(LaunchResult::NotSupported)
    }

    async fn do_wait(&self, id: ContainerId) -> Option<Termination> {
        let owner = self.owner(&id)?.clone();
        owner.wait(id).await
    }

    async fn do_destroy(&self, id: ContainerId) -> Option<Termination> {
        let owner = self.owner(&id)?.clone();
        owner.destroy(id).await
    }
}

impl Containerizer for ComposingContainerizer {
    fn recover(&self, known: Vec<RecoverableContainer>) -> BoxFuture<'_, Result<(), ContainerError>> {
        self.do_recover(known).boxed()
    }

    fn launch(&self, config: ContainerConfig) -> BoxFuture<'_, Result<LaunchResult, ContainerError>> {
        self.do_launch(config).boxed()
    }

    fn wait(&self, id: ContainerId) -> BoxFuture<'_, Option<Termination>> {
        self.do_wait(id).boxed()
    }

    fn destroy(&self, id: ContainerId) -> BoxFuture<'_, Option<Termination>> {
        self.do_destroy(id).boxed()
    }

    fn update(&self, id: ContainerId, resources: Vec<Resource>) -> BoxFuture<'_, Result<(), ContainerError>> {
        let owner = self.owner(&id).cloned();
        async move {
            match owner {
                Some(owner) => owner.update(id, resources).await,
                None => Err(ContainerError::Unknown(id.value)),
            }
        }
        .boxed()
    }

    fn usage(&self, id: ContainerId) -> BoxFuture<'_, Result<ResourceStatistics, ContainerError>> {
        let owner = self.owner(&id).cloned();
        async move {
            match owner {
                Some(owner) => owner.usage(id).await,
                None => Err(ContainerError::Unknown(id.value)),
            }
        }
        .boxed()
    }

    fn containers(&self) -> BoxFuture<'_, Vec<ContainerId>> {
        async move {
            let mut all = Vec::new();
            for member in &self.members {
                all.extend(member.containerizer.containers().await);
            }
            all
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::containerizer::mock::{exited, MockBehavior, MockContainerizer};
    use crate::proto::mesos::{container_info, ContainerInfo, ExecutorInfo};

    fn config(id: &str) -> ContainerConfig {
        ContainerConfig {
            container_id: MockContainerizer::id(id),
            executor_info: ExecutorInfo::default(),
            task_info: None,
            command_info: Default::default(),
            container_info: None,
            resources: vec![],
            directory: "/tmp/x".into(),
            user: None,
            environment: Default::default(),
            checkpoint: false,
        }
    }

    fn docker_claims(c: &RecoverableContainer) -> bool {
        c.executor_info.container.as_ref().is_some_and(|i| i.r#type == container_info::Type::Docker as i32)
    }

    fn pair() -> (Arc<MockContainerizer>, Arc<MockContainerizer>, ComposingContainerizer) {
        let docker = Arc::new(MockContainerizer::new());
        let mesos = Arc::new(MockContainerizer::new());
        let composing = ComposingContainerizer::new(vec![
            Member { name: "docker", containerizer: docker.clone(), claims: docker_claims },
            Member { name: "mesos", containerizer: mesos.clone(), claims: |_| true },
        ]);
        (docker, mesos, composing)
    }

    #[test]
    fn first_containerizer_that_accepts_owns_the_container() {
        let (docker, mesos, composing) = pair();
        docker.script("c1", MockBehavior::NotSupported);
        let launched = composing.launch(config("c1")).now_or_never().unwrap().unwrap();
        assert_eq!(launched, LaunchResult::Launched { pid: 1000 });
        assert_eq!(docker.launches().len(), 1);
        assert_eq!(mesos.launches().len(), 1);
        let launched = composing.launch(config("c2")).now_or_never().unwrap().unwrap();
        assert!(matches!(launched, LaunchResult::Launched { .. }));
        assert_eq!(mesos.launches().len(), 1, "docker accepted c2");
        // Calls go to the owner only.
        let wait = composing.wait(MockContainerizer::id("c1"));
        assert!(mesos.exit("c1", exited(3)));
        assert_eq!(wait.now_or_never().unwrap().unwrap().status, Some(3 << 8));
        composing.destroy(MockContainerizer::id("c2")).now_or_never();
        assert_eq!(docker.destroyed(), vec![MockContainerizer::id("c2")]);
        assert!(mesos.destroyed().is_empty());
        // Nobody accepts: NotSupported, and the id is free again.
        docker.script("c3", MockBehavior::NotSupported);
        mesos.script("c3", MockBehavior::NotSupported);
        assert_eq!(composing.launch(config("c3")).now_or_never().unwrap().unwrap(), LaunchResult::NotSupported);
        assert!(composing.wait(MockContainerizer::id("c3")).now_or_never().unwrap().is_none());
    }

    #[test]
    fn recovery_splits_containers_by_their_container_type() {
        let (docker, mesos, composing) = pair();
        let recoverable = |id: &str, docker: bool| RecoverableContainer {
            container_id: MockContainerizer::id(id),
            executor_info: ExecutorInfo {
                container: docker
                    .then(|| ContainerInfo { r#type: container_info::Type::Docker as i32, ..Default::default() }),
                ..Default::default()
            },
            directory: "/tmp/x".into(),
            pid: Some(1),
        };
        composing.recover(vec![recoverable("d", true), recoverable("m", false)]).now_or_never().unwrap().unwrap();
        assert_eq!(docker.recoveries()[0].iter().map(|c| c.container_id.value.clone()).collect::<Vec<_>>(), ["d"]);
        assert_eq!(mesos.recoveries()[0].iter().map(|c| c.container_id.value.clone()).collect::<Vec<_>>(), ["m"]);
    }
}
