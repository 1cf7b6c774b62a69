//! CRAM-MD5 (RFC 2195) as Cyrus SASL's `cram` plugin speaks it, which is
//! what Mesos's authenticatee and authenticator use underneath, and the
//! credentials the master checks responses against.
//!
//! - The server's challenge is `<random.time@hostname>`.
//! - The client's response is its user name, one space, and the lower-case
//!   hex of HMAC-MD5 keyed with the secret over the challenge.
//! - The server splits the response at its *last* space (a user name may
//!   contain spaces), looks the user up, and compares digests.

use std::collections::HashMap;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;

use crate::proto::mesos::{Credential, Credentials as CredentialsProto};

/// The SASL mechanism name, as announced and chosen on the wire.
pub const MECHANISM: &str = "CRAM-MD5";

/// A server challenge: `<random.time@hostname>`, as Cyrus SASL forms it.
pub fn challenge(random: u64, unix_secs: u64, hostname: &str) -> Vec<u8> {
    format!("<{random}.{unix_secs}@{hostname}>").into_bytes()
}

/// The lower-case hex HMAC-MD5 of `challenge` keyed with `secret`.
pub fn digest(secret: &[u8], challenge: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(challenge);
    let bytes = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes.iter() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// The client's answer to `challenge`: `principal SP digest`.
pub fn response(principal: &str, secret: &[u8], challenge: &[u8]) -> Vec<u8> {
    format!("{principal} {}", digest(secret, challenge)).into_bytes()
}

/// Why a response was not accepted (Cyrus's `SASL_NOUSER`, `SASL_BADAUTH`
/// and `SASL_BADPROT`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("user '{0}' not found")]
    NoUser(String),
    #[error("incorrect digest for user '{0}'")]
    BadAuth(String),
    #[error("malformed CRAM-MD5 response")]
    Malformed,
}

/// Checks a client `response` to `challenge` against `credentials`; the
/// authenticated principal on success.
pub fn verify(credentials: &Credentials, challenge: &[u8], response: &[u8]) -> Result<String, VerifyError> {
    let text = std::str::from_utf8(response).map_err(|_| VerifyError::Malformed)?;
    let (principal, hex) = text.rsplit_once(' ').ok_or(VerifyError::Malformed)?;
    if principal.is_empty() || hex.len() != 32 {
        return Err(VerifyError::Malformed);
    }
    let secret = credentials.secret(principal).ok_or_else(|| VerifyError::NoUser(principal.to_string()))?;
    if digest(secret.as_bytes(), challenge).eq_ignore_ascii_case(hex) {
        Ok(principal.to_string())
    } else {
        Err(VerifyError::BadAuth(principal.to_string()))
    }
}

/// Why a credentials file is unusable (texts as Mesos's `credentials::read`).
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("Failed to read credentials file '{path}': {source}")]
    Read { path: String, source: std::io::Error },
    #[error("Invalid json format: {0}")]
    Json(String),
    #[error("Failed to parse credentials: {0}")]
    Parse(String),
}

/// The principals and secrets a master accepts (`--credentials`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    secrets: HashMap<String, String>,
}

impl Credentials {
    /// From the `mesos.Credentials` message. A credential without a secret
    /// can never authenticate with CRAM-MD5 and is left out; a later entry
    /// for the same principal wins.
    pub fn from_proto(proto: &CredentialsProto) -> Credentials {
        Credentials::from_list(&proto.credentials)
    }

    /// From a list of credentials (see [`Credentials::from_proto`]).
    pub fn from_list(list: &[Credential]) -> Credentials {
        let secrets = list.iter().filter_map(|c| c.secret.as_ref().map(|s| (c.principal.clone(), s.clone()))).collect();
        Credentials { secrets }
    }

    /// Reads a `--credentials` file: Mesos JSON for `mesos.Credentials`
    /// (`{"credentials": [{"principal": "...", "secret": "..."}]}`).
    /// `Ok(None)` for an empty file, as Mesos treats it.
    pub fn read(path: &Path) -> Result<Option<Credentials>, CredentialsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| CredentialsError::Read { path: path.display().to_string(), source })?;
        if text.is_empty() {
            return Ok(None);
        }
        Credentials::parse(&text).map(Some)
    }

    /// Parses the JSON form of `mesos.Credentials`.
    pub fn parse(text: &str) -> Result<Credentials, CredentialsError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| CredentialsError::Json(e.to_string()))?;
        if !value.is_object() {
            return Err(CredentialsError::Json("Expecting a JSON object".to_string()));
        }
        let proto: CredentialsProto =
            crate::http_api::json::from_value(&value).map_err(|e| CredentialsError::Parse(e.to_string()))?;
        Ok(Credentials::from_proto(&proto))
    }

    /// The secret of `principal`, if known.
    pub fn secret(&self, principal: &str) -> Option<&str> {
        self.secrets.get(principal).map(String::as_str)
    }

    /// How many principals can authenticate.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether no principal can authenticate.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2195_example() {
        // The worked example of RFC 2195, section 2.
        let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
        assert_eq!(digest(b"tanstaaftanstaaf", challenge), "b913a602c7eda7a495b4e6e7334d3890");
        assert_eq!(response("tim", b"tanstaaftanstaaf", challenge), b"tim b913a602c7eda7a495b4e6e7334d3890".to_vec());
    }

    #[test]
    fn challenges_have_cyrus_shape() {
        assert_eq!(challenge(42, 1_700_000_000, "host"), b"<42.1700000000@host>".to_vec());
    }

    #[test]
    fn verify_accepts_good_digests_and_names_what_is_wrong() {
        let creds = Credentials::from_list(&[
            Credential { principal: "tim".into(), secret: Some("tanstaaftanstaaf".into()) },
            Credential { principal: "has space".into(), secret: Some("s".into()) },
            Credential { principal: "nosecret".into(), secret: None },
        ]);
        assert_eq!(creds.len(), 2);
        let ch = b"<1.2@h>";
        assert_eq!(verify(&creds, ch, &response("tim", b"tanstaaftanstaaf", ch)), Ok("tim".into()));
        // Upper-case hex is accepted too.
        let upper = format!("tim {}", digest(b"tanstaaftanstaaf", ch).to_uppercase());
        assert_eq!(verify(&creds, ch, upper.as_bytes()), Ok("tim".into()));
        assert_eq!(verify(&creds, ch, &response("has space", b"s", ch)), Ok("has space".into()));
        assert_eq!(verify(&creds, ch, &response("tim", b"wrong", ch)), Err(VerifyError::BadAuth("tim".into())));
        assert_eq!(verify(&creds, ch, &response("bob", b"x", ch)), Err(VerifyError::NoUser("bob".into())));
        assert_eq!(verify(&creds, ch, &response("nosecret", b"", ch)), Err(VerifyError::NoUser("nosecret".into())));
        for bad in [&b""[..], b"tim", b"tim abc", b" 0123456789abcdef0123456789abcdef", b"\xff\xfe 1"] {
            assert_eq!(verify(&creds, ch, bad), Err(VerifyError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn credentials_files_are_mesos_json() {
        let creds =
            Credentials::parse(r#"{"credentials":[{"principal":"a","secret":"x"},{"principal":"b"}]}"#).unwrap();
        assert_eq!(creds.secret("a"), Some("x"));
        assert_eq!(creds.secret("b"), None);
        assert!(matches!(Credentials::parse("principal secret"), Err(CredentialsError::Json(_))));
        assert!(matches!(Credentials::parse("[]"), Err(CredentialsError::Json(_))));
        assert!(matches!(Credentials::parse(r#"{"credentials":[{"secret":"x"}]}"#), Err(CredentialsError::Parse(_))));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(&path, "").unwrap();
        assert_eq!(Credentials::read(&path).unwrap(), None);
        std::fs::write(&path, r#"{"credentials":[{"principal":"a","secret":"x"}]}"#).unwrap();
        assert_eq!(Credentials::read(&path).unwrap().unwrap().secret("a"), Some("x"));
        assert!(matches!(Credentials::read(&dir.path().join("missing")), Err(CredentialsError::Read { .. })));
    }
}
