//! The client side of CRAM-MD5 authentication, sans-IO: what Mesos's
//! `CRAMMD5Authenticatee` does for a scheduler driver.
//!
//! The caller runs it as a libprocess process of its own: it sends
//! [`Authenticatee::start`]'s message to the master, feeds every message that
//! process receives to [`Authenticatee::handle`], sends each
//! [`AuthenticateeStep::Reply`] back to that message's sender, and stops at
//! the first [`AuthenticateeStep::Finished`]. A timeout is the caller's:
//! [`Authenticatee::discard`] ends an attempt nobody waits for any more.

use crate::proto::mesos::internal as mi;
use crate::proto::mesos::Credential;
use crate::v0_compat::{Message, Upid};

use super::cram_md5::{self, MECHANISM};

/// How an attempt ended, as the driver reads Mesos's `Future<bool>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The master accepted the credential (the future is `true`).
    Authenticated,
    /// The master refused it (`AuthenticationFailedMessage`), or there is no
    /// secret to authenticate with (the future is `false`). The driver gives up.
    Refused,
    /// Something else went wrong (the future failed); the driver retries.
    Failed(String),
}

/// What to do after a message.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthenticateeStep {
    /// Send this to the sender of the message just handled.
    Reply(Message),
    /// The attempt is over.
    Finished(Outcome),
    /// Nothing (the attempt is already over, or the message is not one of ours).
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Starting,
    Stepping,
    /// The challenge has been answered; only completion may follow.
    Responded,
    Done,
}

/// One authentication attempt.
#[derive(Debug, Clone)]
pub struct Authenticatee {
    credential: Credential,
    /// The UPID being authenticated (the scheduler's), sent in `AuthenticateMessage.pid`.
    client: Upid,
    state: State,
}

impl Authenticatee {
    /// An attempt to authenticate `client` with `credential`.
    pub fn new(credential: Credential, client: Upid) -> Authenticatee {
        Authenticatee { credential, client, state: State::Ready }
    }

    /// Starts the attempt: the message for the master, or at once the outcome
    /// when there is no secret (Mesos's authenticatee answers `false` then).
    pub fn start(&mut self) -> Result<mi::AuthenticateMessage, Outcome> {
        if self.state != State::Ready {
            return Err(Outcome::Failed("Authentication already started".to_string()));
        }
        if self.credential.secret.is_none() {
            tracing::warn!("Authentication failed; secret needed by CRAM-MD5 authenticatee");
            self.state = State::Done;
            return Err(Outcome::Refused);
        }
        self.state = State::Starting;
        Ok(mi::AuthenticateMessage { pid: self.client.to_string() })
    }

    /// Whether the attempt is over.
    pub fn is_finished(&self) -> bool {
        self.state == State::Done
    }

    /// Ends an attempt nobody waits for any more (a timeout, a new master).
    pub fn discard(&mut self) -> Outcome {
        self.state = State::Done;
        Outcome::Failed("Authentication discarded".to_string())
    }

    fn fail(&mut self, message: impl Into<String>) -> AuthenticateeStep {
        self.state = State::Done;
        AuthenticateeStep::Finished(Outcome::Failed(message.into()))
    }

    /// Handles a message the authenticatee process received.
    pub fn handle(&mut self, message: &Message) -> AuthenticateeStep {
        if self.state == State::Done {
            return AuthenticateeStep::Ignored;
        }
        match message {
            Message::AuthenticationMechanismsMessage(m) => {
                if self.state != State::Starting {
                    return self.fail("Unexpected authentication 'mechanisms' received");
                }
                tracing::info!("Received SASL authentication mechanisms: {}", m.mechanisms.join(","));
                if !m.mechanisms.iter().any(|name| name == MECHANISM) {
                    return self.fail(
                        "Failed to start the SASL client: SASL(-4): no mechanism available: No worthy mechs found",
                    );
                }
                tracing::info!("Attempting to authenticate with mechanism '{MECHANISM}'");
                self.state = State::Stepping;
                // CRAM-MD5 is server-first: the start carries no data.
                let start = mi::AuthenticationStartMessage { mechanism: MECHANISM.to_string(), data: Some(Vec::new()) };
                AuthenticateeStep::Reply(start.into())
            }
            Message::AuthenticationStepMessage(m) => {
                if self.state == State::Responded {
                    return self.fail("Failed to perform authentication step: SASL(-1): generic failure");
                }
                if self.state != State::Stepping {
                    return self.fail("Unexpected authentication 'step' received");
                }
                tracing::info!("Received SASL authentication step");
                if m.data.is_empty() {
                    return self.fail("Failed to perform authentication step: SASL(-5): bad protocol / cancel");
                }
                let secret = self.credential.secret.as_deref().unwrap_or_default();
                let answer = cram_md5::response(&self.credential.principal, secret.as_bytes(), &m.data);
                self.state = State::Responded;
                AuthenticateeStep::Reply(mi::AuthenticationStepMessage { data: answer }.into())
            }
            Message::AuthenticationCompletedMessage(_) => {
                if self.state != State::Stepping && self.state != State::Responded {
                    return self.fail("Unexpected authentication 'completed' received");
                }
                tracing::info!("Authentication success");
                self.state = State::Done;
                AuthenticateeStep::Finished(Outcome::Authenticated)
            }
            Message::AuthenticationFailedMessage(_) => {
                self.state = State::Done;
                AuthenticateeStep::Finished(Outcome::Refused)
            }
            Message::AuthenticationErrorMessage(m) => {
                let error = m.error.clone().unwrap_or_default();
                self.fail(format!("Authentication error: {error}"))
            }
            _ => AuthenticateeStep::Ignored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::authentication::{AuthenticatorSession, Credentials, SessionOutcome};

    fn client() -> Upid {
        "scheduler-1@127.0.0.1:4000".parse().unwrap()
    }

    fn credential(secret: Option<&str>) -> Credential {
        Credential { principal: "fw".into(), secret: secret.map(str::to_string) }
    }

    /// Runs one attempt against a session holding `known`, message by message.
    fn exchange(secret: &str, known: &[(&str, &str)]) -> (Outcome, SessionOutcome) {
        let creds = Credentials::from_list(
            &known
                .iter()
                .map(|(p, s)| Credential { principal: p.to_string(), secret: Some(s.to_string()) })
                .collect::<Vec<_>>(),
        );
        let mut client = Authenticatee::new(credential(Some(secret)), client());
        let hello = client.start().unwrap();
        assert_eq!(hello.pid, "scheduler-1@127.0.0.1:4000");
        let (mut session, mechanisms) = AuthenticatorSession::new(b"<7.8@master>".to_vec());
        let mut to_client: Message = mechanisms.into();
        loop {
            match client.handle(&to_client) {
                AuthenticateeStep::Reply(reply) => {
                    let step = session.handle(&reply, &creds);
                    match (step.send, step.outcome) {
                        (Some(next), None) => to_client = next,
                        (Some(last), Some(server)) => match client.handle(&last) {
                            AuthenticateeStep::Finished(outcome) => return (outcome, server),
                            other => panic!("{other:?}"),
                        },
                        other => panic!("{other:?}"),
                    }
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn authenticates_against_our_authenticator() {
        let (client, server) = exchange("s3cret", &[("fw", "s3cret")]);
        assert_eq!(client, Outcome::Authenticated);
        assert_eq!(server, SessionOutcome::Authenticated("fw".into()));
    }

    #[test]
    fn wrong_secret_and_unknown_principal_are_refused() {
        assert_eq!(exchange("nope", &[("fw", "s3cret")]), (Outcome::Refused, SessionOutcome::Refused));
        assert_eq!(exchange("s3cret", &[("other", "s3cret")]), (Outcome::Refused, SessionOutcome::Refused));
    }

    #[test]
    fn no_secret_is_refused_without_a_message() {
        let mut a = Authenticatee::new(credential(None), client());
        assert_eq!(a.start(), Err(Outcome::Refused));
        assert!(a.is_finished());
    }

    #[test]
    fn out_of_order_messages_fail_the_attempt() {
        let step: Message = mi::AuthenticationStepMessage { data: b"<1.2@h>".to_vec() }.into();
        let mut a = Authenticatee::new(credential(Some("s")), client());
        a.start().unwrap();
        assert!(matches!(a.handle(&step), AuthenticateeStep::Finished(Outcome::Failed(m)) if m.contains("'step'")));
        // Once over, everything is ignored.
        assert_eq!(a.handle(&mi::AuthenticationCompletedMessage {}.into()), AuthenticateeStep::Ignored);

        let mut a = Authenticatee::new(credential(Some("s")), client());
        a.start().unwrap();
        assert!(matches!(
            a.handle(&mi::AuthenticationCompletedMessage {}.into()),
            AuthenticateeStep::Finished(Outcome::Failed(m)) if m.contains("'completed'")
        ));

        // A server offering no CRAM-MD5 cannot be talked to.
        let mut a = Authenticatee::new(credential(Some("s")), client());
        a.start().unwrap();
        let other = mi::AuthenticationMechanismsMessage { mechanisms: vec!["PLAIN".into()] };
        assert!(matches!(a.handle(&other.into()), AuthenticateeStep::Finished(Outcome::Failed(_))));

        // Errors carry the server's text; unrelated messages are ignored.
        let mut a = Authenticatee::new(credential(Some("s")), client());
        a.start().unwrap();
        assert_eq!(a.handle(&mi::PingSlaveMessage { connected: true }.into()), AuthenticateeStep::Ignored);
        let err = mi::AuthenticationErrorMessage { error: Some("boom".into()) };
        assert_eq!(
            a.handle(&err.into()),
            AuthenticateeStep::Finished(Outcome::Failed("Authentication error: boom".into()))
        );
        assert_eq!(a.discard(), Outcome::Failed("Authentication discarded".into()));
    }
}
