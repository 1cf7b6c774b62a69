//! Authentication of frameworks (and agents) to the master, as Mesos 1.x does
//! it over libprocess: SASL's CRAM-MD5 mechanism carried in the
//! `mesos.internal.Authentication*` messages of `authentication.proto`.
//!
//! # The exchange
//! Three libprocess processes take part: the *authenticatee* (a process of
//! its own next to the scheduler driver, `crammd5-authenticatee(N)`), the
//! master, and a per-attempt *authenticator session* the master starts.
//! ```text
//! authenticatee                    master / session
//!   AuthenticateMessage{pid}   -->  master           (pid: the scheduler's UPID)
//!                              <--  session: AuthenticationMechanismsMessage{["CRAM-MD5"]}
//!   AuthenticationStartMessage -->  session          (mechanism "CRAM-MD5", empty data)
//!                              <--  session: AuthenticationStepMessage{challenge}
//!   AuthenticationStepMessage  -->  session          ("<principal> <hex HMAC-MD5(secret, challenge)>")
//!                              <--  session: AuthenticationCompletedMessage
//!                                            | AuthenticationFailedMessage (unknown principal, bad digest)
//!                                            | AuthenticationErrorMessage{error}
//! ```
//! The authenticatee answers each message to whoever sent it, as Mesos's does
//! (`reply`), so the session may live under any id.
//!
//! # Layout
//! - [`cram_md5`]: the mechanism itself (challenge, response, verification)
//!   and the `--credentials` file.
//! - [`authenticatee`]: the client side, sans-IO, as the scheduler driver runs it.
//! - [`authenticator`]: one server-side session, sans-IO, for a master that
//!   authenticates frameworks (`--authenticate_frameworks`, `--credentials`).
//!
//! Neither side does I/O or reads a clock: the caller delivers messages,
//! sends what comes back, and supplies the challenge's randomness and time.

pub mod authenticatee;
pub mod authenticator;
pub mod cram_md5;

pub use authenticatee::{Authenticatee, AuthenticateeStep, Outcome};
pub use authenticator::{AuthenticatorSession, SessionOutcome, SessionStep};
pub use cram_md5::{Credentials, CredentialsError, MECHANISM};
