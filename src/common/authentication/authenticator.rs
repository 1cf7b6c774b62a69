//! One server-side CRAM-MD5 authentication session, sans-IO: what Mesos's
//! `CRAMMD5AuthenticatorSession` does for a master with
//! `--authenticate_frameworks` (or `--authenticate_agents`).
//!
//! How a master mounts it: on `AuthenticateMessage{pid}` from some process
//! `A` (the authenticatee), start a session for `A` with a fresh
//! [`cram_md5::challenge`] (one session per `A`;
//! Mesos refuses a second concurrent one with "Authentication session already
//! active"), send the returned mechanisms message to `A` from a process of
//! its own (Mesos spawns `crammd5-authenticator-session(N)`), link to `A`,
//! feed that process's messages from `A` to [`AuthenticatorSession::handle`],
//! send [`SessionStep::send`] to `A`, and on an outcome record the principal
//! as authenticated for `pid` (Mesos keeps `authenticated[pid] = principal`
//! and checks it when that framework subscribes). An exit of `A` before the
//! end is [`AuthenticatorSession::exited`].

use crate::proto::mesos::internal as mi;
use crate::v0_compat::Message;

use super::cram_md5::{self, Credentials, VerifyError, MECHANISM};

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutcome {
    /// The authenticatee proved it holds the secret of this principal.
    Authenticated(String),
    /// Unknown principal or wrong secret (`AuthenticationFailedMessage` was sent).
    Refused,
    /// A protocol error (`AuthenticationErrorMessage` was sent, or the peer left).
    Error(String),
}

/// What to do after a message: send `send` to the authenticatee, and if
/// `outcome` is set, the session is over.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionStep {
    pub send: Option<Message>,
    pub outcome: Option<SessionOutcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Stepping,
    Done,
}

/// One authentication session with one authenticatee.
#[derive(Debug, Clone)]
pub struct AuthenticatorSession {
    challenge: Vec<u8>,
    state: State,
}

impl AuthenticatorSession {
    /// A session that will send `challenge` (see
    /// [`cram_md5::challenge`]), and the
    /// mechanisms message that opens it.
    pub fn new(challenge: Vec<u8>) -> (AuthenticatorSession, mi::AuthenticationMechanismsMessage) {
        let mechanisms = mi::AuthenticationMechanismsMessage { mechanisms: vec![MECHANISM.to_string()] };
        (AuthenticatorSession { challenge, state: State::Starting }, mechanisms)
    }

    /// Whether the session is over.
    pub fn is_finished(&self) -> bool {
        self.state == State::Done
    }

    fn error(&mut self, text: String) -> SessionStep {
        self.state = State::Done;
        let message = mi::AuthenticationErrorMessage { error: Some(text.clone()) };
        SessionStep { send: Some(message.into()), outcome: Some(SessionOutcome::Error(text)) }
    }

    /// Handles a message from the authenticatee.
    pub fn handle(&mut self, message: &Message, credentials: &Credentials) -> SessionStep {
        let nothing = SessionStep { send: None, outcome: None };
        if self.state == State::Done {
            return nothing;
        }
        match message {
            Message::AuthenticationStartMessage(start) => {
                if self.state != State::Starting {
                    return self.error("Unexpected authentication 'start' received".to_string());
                }
                tracing::info!("Received SASL authentication start");
                if start.mechanism != MECHANISM {
                    return self.error(format!(
                        "SASL(-4): no mechanism available: mechanism '{}' is not supported",
                        start.mechanism
                    ));
                }
                if start.data.as_ref().is_some_and(|d| !d.is_empty()) {
                    return self.error("SASL(-5): bad protocol / cancel: CRAM-MD5 takes no initial response".into());
                }
                tracing::info!("Authentication requires more steps");
                self.state = State::Stepping;
                let step = mi::AuthenticationStepMessage { data: self.challenge.clone() };
                SessionStep { send: Some(step.into()), outcome: None }
            }
            Message::AuthenticationStepMessage(step) => {
                if self.state != State::Stepping {
                    return self.error("Unexpected authentication 'step' received".to_string());
                }
                tracing::info!("Received SASL authentication step");
                match cram_md5::verify(credentials, &self.challenge, &step.data) {
                    Ok(principal) => {
                        tracing::info!("Authentication success");
                        self.state = State::Done;
                        SessionStep {
                            send: Some(mi::AuthenticationCompletedMessage {}.into()),
                            outcome: Some(SessionOutcome::Authenticated(principal)),
                        }
                    }
                    Err(e @ (VerifyError::NoUser(_) | VerifyError::BadAuth(_))) => {
                        tracing::warn!("Authentication failure: {e}");
                        self.state = State::Done;
                        SessionStep {
                            send: Some(mi::AuthenticationFailedMessage {}.into()),
                            outcome: Some(SessionOutcome::Refused),
                        }
                    }
                    Err(e @ VerifyError::Malformed) => self.error(format!("SASL(-5): bad protocol / cancel: {e}")),
                }
            }
            _ => nothing,
        }
    }

    /// The authenticatee went away before the end.
    pub fn exited(&mut self) -> Option<SessionOutcome> {
        if self.state == State::Done {
            return None;
        }
        self.state = State::Done;
        Some(SessionOutcome::Error("Failed to communicate with authenticatee".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::parse(r#"{"credentials":[{"principal":"fw","secret":"pw"}]}"#).unwrap()
    }

    fn start() -> Message {
        mi::AuthenticationStartMessage { mechanism: MECHANISM.into(), data: Some(vec![]) }.into()
    }

    #[test]
    fn opens_with_cram_md5_and_challenges_after_start() {
        let (mut s, mechanisms) = AuthenticatorSession::new(b"<1.2@m>".to_vec());
        assert_eq!(mechanisms.mechanisms, vec!["CRAM-MD5".to_string()]);
        let step = s.handle(&start(), &creds());
        assert_eq!(step.send, Some(mi::AuthenticationStepMessage { data: b"<1.2@m>".to_vec() }.into()));
        assert_eq!(step.outcome, None);
        let answer = mi::AuthenticationStepMessage { data: cram_md5::response("fw", b"pw", b"<1.2@m>") };
        let done = s.handle(&answer.into(), &creds());
        assert_eq!(done.send, Some(mi::AuthenticationCompletedMessage {}.into()));
        assert_eq!(done.outcome, Some(SessionOutcome::Authenticated("fw".into())));
        assert!(s.is_finished());
        assert_eq!(s.exited(), None);
    }

    #[test]
    fn protocol_errors_are_reported_to_the_peer() {
        let (mut s, _) = AuthenticatorSession::new(b"<1.2@m>".to_vec());
        let early = s.handle(&mi::AuthenticationStepMessage { data: b"x".to_vec() }.into(), &creds());
        assert!(matches!(early.outcome, Some(SessionOutcome::Error(ref e)) if e.contains("'step'")));
        assert!(matches!(early.send, Some(Message::AuthenticationErrorMessage(_))));

        let (mut s, _) = AuthenticatorSession::new(b"c".to_vec());
        let plain = mi::AuthenticationStartMessage { mechanism: "PLAIN".into(), data: None };
        assert!(matches!(s.handle(&plain.into(), &creds()).outcome, Some(SessionOutcome::Error(_))));

        let (mut s, _) = AuthenticatorSession::new(b"c".to_vec());
        s.handle(&start(), &creds());
        assert!(
            matches!(s.handle(&start(), &creds()).outcome, Some(SessionOutcome::Error(ref e)) if e.contains("'start'"))
        );

        let (mut s, _) = AuthenticatorSession::new(b"c".to_vec());
        s.handle(&start(), &creds());
        let garbage = s.handle(&mi::AuthenticationStepMessage { data: b"garbage".to_vec() }.into(), &creds());
        assert!(matches!(garbage.outcome, Some(SessionOutcome::Error(_))));

        let (mut s, _) = AuthenticatorSession::new(b"c".to_vec());
        assert_eq!(s.exited(), Some(SessionOutcome::Error("Failed to communicate with authenticatee".into())));
    }
}
