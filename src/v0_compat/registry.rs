//! The typed message registry: libprocess message name <-> prost type.
//!
//! Mesos names a protobuf message on the wire by its full protobuf type name
//! (`ProtobufProcess::send` posts under `message.GetTypeName()`, and
//! `install<M>` registers the handler under `M().GetTypeName()`), e.g.
//! `mesos.internal.RegisterFrameworkMessage`. So the registry is a table of
//! `(full type name, Rust type)`, written once in the `registry!` table below; a test
//! checks every name against the type's own descriptor.
//!
//! Covered: every top-level message of `messages/messages.proto`
//! (`mesos.internal.*`, 59; a few are only ever embedded, e.g.
//! `StatusUpdateRecord`, but listing them costs nothing and keeps "every
//! internal message" simple to check), the authentication messages of
//! `authentication/authentication.proto` (also `mesos.internal.*`), and the v0
//! `mesos.scheduler.Call`/`Event` and `mesos.executor.Call`/`Event`.
//! Not covered: the replicated log's `mesos.internal.log.*` (our registry
//! lives in ZooKeeper or a work dir, not in a Paxos log).

use mesos_proto::mesos::internal as mi;
use mesos_proto::mesos::{executor, scheduler};
use prost::Message as _;

/// A protobuf type that travels as a libprocess message under [`Self::NAME`].
pub trait MessageType: prost::Message + Default + Into<Message> {
    /// The libprocess message name: the protobuf full type name.
    const NAME: &'static str;
}

/// Anything that can be written as the body of a libprocess message: every
/// registry type, a [`Message`], or a [`RawMessage`] with a name of your own.
pub trait WireMessage {
    /// The message name (the last segment of the request path).
    fn message_name(&self) -> &str;
    /// The body's length in bytes, known before writing it (the framing
    /// announces it first).
    fn body_len(&self) -> usize;
    /// Appends exactly `body_len()` bytes of body to `buf`.
    fn write_body(&self, buf: &mut Vec<u8>);
}

impl<T: MessageType> WireMessage for T {
    fn message_name(&self) -> &str {
        T::NAME
    }
    fn body_len(&self) -> usize {
        self.encoded_len()
    }
    fn write_body(&self, buf: &mut Vec<u8>) {
        self.encode_raw(buf);
    }
}

/// A message outside the registry: a name and opaque body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The message name.
    pub name: String,
    /// The body, sent as is.
    pub body: bytes::Bytes,
}

impl WireMessage for RawMessage {
    fn message_name(&self) -> &str {
        &self.name
    }
    fn body_len(&self) -> usize {
        self.body.len()
    }
    fn write_body(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.body);
    }
}

/// Why a message body could not become a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No registry entry has this name (libprocess drops such a message: no
    /// handler is installed for it).
    #[error("unknown message name '{0}'")]
    UnknownName(String),
    /// The body does not parse as the named type, or lacks required fields
    /// (libprocess's `ParseFromString` fails and the message is dropped).
    #[error("cannot decode '{name}': {source}")]
    Malformed {
        /// The message name.
        name: String,
        /// What protobuf parsing reported.
        #[source]
        source: mesos_proto::DecodeError,
    },
}

macro_rules! registry {
    ($( $ty:ident : $path:ty = $name:literal ),* $(,)?) => {
        /// One variant per registered message, named after its type. Boxed:
        /// the biggest prost structs are kilobytes, and events move through
        /// channels whose slots are as large as the largest variant.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Message {
            $(
                #[doc = concat!("`", $name, "`")]
                $ty(Box<$path>),
            )*
        }

        $(
            impl MessageType for $path {
                const NAME: &'static str = $name;
            }

            impl From<$path> for Message {
                fn from(m: $path) -> Self {
                    Message::$ty(Box::new(m))
                }
            }
        )*

        /// Every registered message name.
        pub const NAMES: &[&str] = &[$($name),*];

        impl Message {
            /// Decodes `body` as the type registered under `name`, strictly
            /// (missing required fields are an error, as in C++ protobuf).
            pub fn decode(name: &str, body: &[u8]) -> Result<Message, RegistryError> {
                match name {
                    $(
                        $name => mesos_proto::decode_strict::<$path>(body)
                            .map(|m| Message::$ty(Box::new(m)))
                            .map_err(|source| RegistryError::Malformed {
                                name: name.to_string(),
                                source,
                            }),
                    )*
                    _ => Err(RegistryError::UnknownName(name.to_string())),
                }
            }

            /// The libprocess message name.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Message::$ty(_) => $name, )*
                }
            }

            /// The protobuf encoding of the body.
            pub fn encode(&self) -> Vec<u8> {
                let mut buf = Vec::with_capacity(self.body_len());
                self.write_body(&mut buf);
                buf
            }
        }

        impl WireMessage for Message {
            fn message_name(&self) -> &str {
                self.name()
            }
            fn body_len(&self) -> usize {
                match self {
                    $( Message::$ty(m) => m.encoded_len(), )*
                }
            }
            fn write_body(&self, buf: &mut Vec<u8>) {
                match self {
                    $( Message::$ty(m) => m.encode_raw(buf), )*
                }
            }
        }

        #[cfg(test)]
        fn descriptor_names() -> Vec<(&'static str, String)> {
            use prost_reflect::ReflectMessage;
            vec![$( ($name, <$path>::default().descriptor().full_name().to_string()) ),*]
        }
    };
}

registry! {
    // messages/messages.proto
    StatusUpdate: mi::StatusUpdate = "mesos.internal.StatusUpdate",
    StatusUpdateRecord: mi::StatusUpdateRecord = "mesos.internal.StatusUpdateRecord",
    SubmitSchedulerRequest: mi::SubmitSchedulerRequest = "mesos.internal.SubmitSchedulerRequest",
    SubmitSchedulerResponse: mi::SubmitSchedulerResponse = "mesos.internal.SubmitSchedulerResponse",
    ExecutorToFrameworkMessage: mi::ExecutorToFrameworkMessage = "mesos.internal.ExecutorToFrameworkMessage",
    FrameworkToExecutorMessage: mi::FrameworkToExecutorMessage = "mesos.internal.FrameworkToExecutorMessage",
    RegisterFrameworkMessage: mi::RegisterFrameworkMessage = "mesos.internal.RegisterFrameworkMessage",
    ReregisterFrameworkMessage: mi::ReregisterFrameworkMessage = "mesos.internal.ReregisterFrameworkMessage",
    FrameworkRegisteredMessage: mi::FrameworkRegisteredMessage = "mesos.internal.FrameworkRegisteredMessage",
    FrameworkReregisteredMessage: mi::FrameworkReregisteredMessage = "mesos.internal.FrameworkReregisteredMessage",
    UnregisterFrameworkMessage: mi::UnregisterFrameworkMessage = "mesos.internal.UnregisterFrameworkMessage",
    DeactivateFrameworkMessage: mi::DeactivateFrameworkMessage = "mesos.internal.DeactivateFrameworkMessage",
    ResourceRequestMessage: mi::ResourceRequestMessage = "mesos.internal.ResourceRequestMessage",
    ResourceOffersMessage: mi::ResourceOffersMessage = "mesos.internal.ResourceOffersMessage",
    InverseOffersMessage: mi::InverseOffersMessage = "mesos.internal.InverseOffersMessage",
    LaunchTasksMessage: mi::LaunchTasksMessage = "mesos.internal.LaunchTasksMessage",
    RescindResourceOfferMessage: mi::RescindResourceOfferMessage = "mesos.internal.RescindResourceOfferMessage",
    RescindInverseOfferMessage: mi::RescindInverseOfferMessage = "mesos.internal.RescindInverseOfferMessage",
    ReviveOffersMessage: mi::ReviveOffersMessage = "mesos.internal.ReviveOffersMessage",
    RunTaskMessage: mi::RunTaskMessage = "mesos.internal.RunTaskMessage",
    RunTaskGroupMessage: mi::RunTaskGroupMessage = "mesos.internal.RunTaskGroupMessage",
    KillTaskMessage: mi::KillTaskMessage = "mesos.internal.KillTaskMessage",
    StatusUpdateMessage: mi::StatusUpdateMessage = "mesos.internal.StatusUpdateMessage",
    StatusUpdateAcknowledgementMessage: mi::StatusUpdateAcknowledgementMessage = "mesos.internal.StatusUpdateAcknowledgementMessage",
    AcknowledgeOperationStatusMessage: mi::AcknowledgeOperationStatusMessage = "mesos.internal.AcknowledgeOperationStatusMessage",
    LostSlaveMessage: mi::LostSlaveMessage = "mesos.internal.LostSlaveMessage",
    ReconcileTasksMessage: mi::ReconcileTasksMessage = "mesos.internal.ReconcileTasksMessage",
    ReconcileOperationsMessage: mi::ReconcileOperationsMessage = "mesos.internal.ReconcileOperationsMessage",
    FrameworkErrorMessage: mi::FrameworkErrorMessage = "mesos.internal.FrameworkErrorMessage",
    RegisterSlaveMessage: mi::RegisterSlaveMessage = "mesos.internal.RegisterSlaveMessage",
    ReregisterSlaveMessage: mi::ReregisterSlaveMessage = "mesos.internal.ReregisterSlaveMessage",
    SlaveRegisteredMessage: mi::SlaveRegisteredMessage = "mesos.internal.SlaveRegisteredMessage",
    SlaveReregisteredMessage: mi::SlaveReregisteredMessage = "mesos.internal.SlaveReregisteredMessage",
    UnregisterSlaveMessage: mi::UnregisterSlaveMessage = "mesos.internal.UnregisterSlaveMessage",
    MasterSlaveConnection: mi::MasterSlaveConnection = "mesos.internal.MasterSlaveConnection",
    PingSlaveMessage: mi::PingSlaveMessage = "mesos.internal.PingSlaveMessage",
    PongSlaveMessage: mi::PongSlaveMessage = "mesos.internal.PongSlaveMessage",
    ShutdownFrameworkMessage: mi::ShutdownFrameworkMessage = "mesos.internal.ShutdownFrameworkMessage",
    ShutdownExecutorMessage: mi::ShutdownExecutorMessage = "mesos.internal.ShutdownExecutorMessage",
    UpdateFrameworkMessage: mi::UpdateFrameworkMessage = "mesos.internal.UpdateFrameworkMessage",
    CheckpointResourcesMessage: mi::CheckpointResourcesMessage = "mesos.internal.CheckpointResourcesMessage",
    ResourceVersionUuid: mi::ResourceVersionUuid = "mesos.internal.ResourceVersionUUID",
    UpdateSlaveMessage: mi::UpdateSlaveMessage = "mesos.internal.UpdateSlaveMessage",
    UpdateOperationStatusMessage: mi::UpdateOperationStatusMessage = "mesos.internal.UpdateOperationStatusMessage",
    UpdateOperationStatusRecord: mi::UpdateOperationStatusRecord = "mesos.internal.UpdateOperationStatusRecord",
    ApplyOperationMessage: mi::ApplyOperationMessage = "mesos.internal.ApplyOperationMessage",
    ResourceProviderCallMessage: mi::ResourceProviderCallMessage = "mesos.internal.ResourceProviderCallMessage",
    ResourceProviderEventMessage: mi::ResourceProviderEventMessage = "mesos.internal.ResourceProviderEventMessage",
    RegisterExecutorMessage: mi::RegisterExecutorMessage = "mesos.internal.RegisterExecutorMessage",
    ExecutorRegisteredMessage: mi::ExecutorRegisteredMessage = "mesos.internal.ExecutorRegisteredMessage",
    ExecutorReregisteredMessage: mi::ExecutorReregisteredMessage = "mesos.internal.ExecutorReregisteredMessage",
    ExitedExecutorMessage: mi::ExitedExecutorMessage = "mesos.internal.ExitedExecutorMessage",
    ReconnectExecutorMessage: mi::ReconnectExecutorMessage = "mesos.internal.ReconnectExecutorMessage",
    ReregisterExecutorMessage: mi::ReregisterExecutorMessage = "mesos.internal.ReregisterExecutorMessage",
    DrainSlaveMessage: mi::DrainSlaveMessage = "mesos.internal.DrainSlaveMessage",
    ShutdownMessage: mi::ShutdownMessage = "mesos.internal.ShutdownMessage",
    Archive: mi::Archive = "mesos.internal.Archive",
    TaskHealthStatus: mi::TaskHealthStatus = "mesos.internal.TaskHealthStatus",
    HookExecuted: mi::HookExecuted = "mesos.internal.HookExecuted",
    // authentication/authentication.proto
    AuthenticateMessage: mi::AuthenticateMessage = "mesos.internal.AuthenticateMessage",
    AuthenticationMechanismsMessage: mi::AuthenticationMechanismsMessage = "mesos.internal.AuthenticationMechanismsMessage",
    AuthenticationStartMessage: mi::AuthenticationStartMessage = "mesos.internal.AuthenticationStartMessage",
    AuthenticationStepMessage: mi::AuthenticationStepMessage = "mesos.internal.AuthenticationStepMessage",
    AuthenticationCompletedMessage: mi::AuthenticationCompletedMessage = "mesos.internal.AuthenticationCompletedMessage",
    AuthenticationFailedMessage: mi::AuthenticationFailedMessage = "mesos.internal.AuthenticationFailedMessage",
    AuthenticationErrorMessage: mi::AuthenticationErrorMessage = "mesos.internal.AuthenticationErrorMessage",
    // scheduler/scheduler.proto and executor/executor.proto (v0 packages)
    SchedulerCall: scheduler::Call = "mesos.scheduler.Call",
    SchedulerEvent: scheduler::Event = "mesos.scheduler.Event",
    ExecutorCall: executor::Call = "mesos.executor.Call",
    ExecutorEvent: executor::Event = "mesos.executor.Event",
}

/// Whether `name` is a registered message name.
pub fn is_registered(name: &str) -> bool {
    NAMES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::{FrameworkId, FrameworkInfo};
    #[test]
    fn every_name_is_the_types_full_protobuf_name() {
        for (name, full) in descriptor_names() {
            assert_eq!(name, full);
        }
        assert_eq!(NAMES.len(), 59 + 7 + 4);
    }

    #[test]
    fn the_registry_covers_every_internal_message_in_messages_proto() {
        let pool = &*mesos_proto::DESCRIPTOR_POOL;
        let file =
            pool.files().find(|f| f.name().ends_with("messages/messages.proto")).expect("messages.proto in the pool");
        let mut missing = Vec::new();
        for msg in file.messages() {
            if !is_registered(msg.full_name()) {
                missing.push(msg.full_name().to_string());
            }
        }
        assert!(missing.is_empty(), "not registered: {missing:?}");
        assert_eq!(file.messages().count(), 59);
    }

    #[test]
    fn decode_roundtrips_and_rejects_what_libprocess_would_drop() {
        let msg = mi::RegisterFrameworkMessage {
            framework: FrameworkInfo { user: "u".into(), name: "n".into(), ..Default::default() },
        };
        let body = msg.encode_to_vec();
        let decoded = Message::decode(mi::RegisterFrameworkMessage::NAME, &body).unwrap();
        assert_eq!(decoded, Message::from(msg.clone()));
        assert!(matches!(&decoded, Message::RegisterFrameworkMessage(m) if m.framework.user == "u"));
        assert_eq!(decoded.name(), "mesos.internal.RegisterFrameworkMessage");
        assert_eq!(decoded.encode(), body);

        assert_eq!(
            Message::decode("mesos.internal.NoSuchMessage", &body),
            Err(RegistryError::UnknownName("mesos.internal.NoSuchMessage".into()))
        );
        // An empty body lacks the required `framework`: C++ would drop it.
        assert!(matches!(
            Message::decode(mi::RegisterFrameworkMessage::NAME, &[]),
            Err(RegistryError::Malformed { .. })
        ));
        // Truncated bytes are malformed, never a panic.
        assert!(matches!(
            Message::decode(mi::RegisterFrameworkMessage::NAME, &body[..body.len() - 1]),
            Err(RegistryError::Malformed { .. })
        ));
        // A message whose fields are all optional decodes from nothing.
        assert!(Message::decode(mi::PongSlaveMessage::NAME, &[]).is_ok());
    }

    #[test]
    fn wire_message_writes_the_same_bytes_for_every_form() {
        let msg = mi::FrameworkRegisteredMessage {
            framework_id: FrameworkId { value: "f".into() },
            master_info: Default::default(),
        };
        let typed = msg.encode_to_vec();
        let mut via_trait = Vec::new();
        msg.write_body(&mut via_trait);
        assert_eq!(via_trait, typed);
        assert_eq!(msg.body_len(), typed.len());
        let raw = RawMessage { name: "x".into(), body: typed.clone().into() };
        assert_eq!(raw.message_name(), "x");
        assert_eq!(raw.body_len(), typed.len());
        let via_enum = Message::from(msg);
        assert_eq!(via_enum.message_name(), "mesos.internal.FrameworkRegisteredMessage");
        assert_eq!(via_enum.encode(), typed);
    }
}
