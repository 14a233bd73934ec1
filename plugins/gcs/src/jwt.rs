//! The service-account assertion: a JWT whose claims ask the token endpoint for
//! a read-only Cloud Storage token, signed RS256 with the key file's private key.
//! Owns key parsing and signing; knows nothing about HTTP.

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::RsaPrivateKey;
use serde::Serialize;
use tributary_sdk::encoding::base64url_encode;
use tributary_sdk::ConnectorError;

/// Read-only access to object listings and contents.
pub const READ_ONLY_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";

/// How long an assertion is valid: the most Google accepts.
pub const ASSERTION_LIFETIME_SECONDS: u64 = 3600;

/// The claims of a token request (RFC 7523 with Google's `scope`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The service account's email.
    pub iss: String,
    /// Space-separated OAuth scopes.
    pub scope: String,
    /// The token endpoint the assertion is for.
    pub aud: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
}

impl Claims {
    /// Claims for `client_email` at `token_uri`, issued at `now` (Unix seconds).
    pub fn read_only(client_email: &str, token_uri: &str, now: u64) -> Self {
        Self {
            iss: client_email.to_owned(),
            scope: READ_ONLY_SCOPE.to_owned(),
            aud: token_uri.to_owned(),
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECONDS,
        }
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

/// A parsed private key, ready to sign assertions. Has no `Debug`.
pub struct AssertionSigner {
    key: SigningKey<Sha256>,
    key_id: Option<String>,
}

impl AssertionSigner {
    /// Parses a PEM private key (PKCS#8 as in key files, or PKCS#1). The error never
    /// quotes the key.
    pub fn from_pem(pem: &str, key_id: Option<String>) -> Result<Self, ConnectorError> {
        // A key pasted with its newlines still escaped (`\n` as two characters).
        let pem = if pem.contains("\\n") && !pem.contains('\n') {
            pem.replace("\\n", "\n")
        } else {
            pem.to_owned()
        };
        let pem = pem.trim();
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| {
                ConnectorError::InvalidConfig(
                    "credentials.private_key is not a PEM RSA private key: paste the \
                     `private_key` of the service account's JSON key file as it is \
                     (-----BEGIN PRIVATE KEY----- …)"
                        .into(),
                )
            })?;
        Ok(Self {
            key: SigningKey::new(key),
            key_id,
        })
    }

    /// The signed assertion `header.claims.signature`, each segment base64url.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = Header {
            alg: "RS256",
            typ: "JWT",
            kid: self.key_id.as_deref(),
        };
        let header = serde_json::to_vec(&header).expect("a JWT header serialises");
        let claims = serde_json::to_vec(claims).expect("JWT claims serialise");
        let signing_input = format!(
            "{}.{}",
            base64url_encode(&header),
            base64url_encode(&claims)
        );
        // Blinded with randomness from the host (wasi:random), so the time a
        // signature takes says nothing about the key.
        let signature = self
            .key
            .sign_with_rng(&mut rsa::rand_core::OsRng, signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            base64url_encode(&signature.to_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use rsa::signature::Verifier;

    /// A fresh 1024-bit key (small, for speed: only these tests use it) as PKCS#8 PEM.
    fn test_key() -> (RsaPrivateKey, String) {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        (key, pem)
    }

    /// base64url without padding, decoded through the SDK's standard alphabet.
    fn decode(segment: &str) -> Vec<u8> {
        let mut standard = segment.replace('-', "+").replace('_', "/");
        while !standard.len().is_multiple_of(4) {
            standard.push('=');
        }
        tributary_sdk::encoding::base64_decode(&standard).unwrap()
    }

    #[test]
    fn claims_ask_for_read_only_access_for_an_hour() {
        let claims = Claims::read_only("a@p.iam.gserviceaccount.com", "https://t/token", 1000);
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "iss": "a@p.iam.gserviceaccount.com",
                "scope": "https://www.googleapis.com/auth/devstorage.read_only",
                "aud": "https://t/token",
                "iat": 1000,
                "exp": 4600
            })
        );
    }

    #[test]
    fn the_assertion_has_three_segments_and_a_valid_rs256_signature() {
        let (key, pem) = test_key();
        let signer = AssertionSigner::from_pem(&pem, Some("kid-1".into())).unwrap();
        let claims = Claims::read_only("a@b", "https://t/token", 1_700_000_000);
        let jwt = signer.sign(&claims);
        let segments: Vec<&str> = jwt.split('.').collect();
        assert_eq!(segments.len(), 3);
        assert!(!jwt.contains(['=', '+', '/']), "not base64url: {jwt}");

        let header: serde_json::Value = serde_json::from_slice(&decode(segments[0])).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"})
        );
        let body: serde_json::Value = serde_json::from_slice(&decode(segments[1])).unwrap();
        assert_eq!(body, serde_json::to_value(&claims).unwrap());

        let verifier = VerifyingKey::<Sha256>::new(key.to_public_key());
        let signature = Signature::try_from(decode(segments[2]).as_slice()).unwrap();
        let signed = format!("{}.{}", segments[0], segments[1]);
        verifier.verify(signed.as_bytes(), &signature).unwrap();
        // The signature covers the claims: a changed claim does not verify.
        let forged = format!("{}.{}", segments[0], base64url_encode(b"{\"iss\":\"x\"}"));
        assert!(verifier.verify(forged.as_bytes(), &signature).is_err());
    }

    #[test]
    fn pkcs1_and_escaped_newline_keys_are_accepted() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let (key, pem) = test_key();
        let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
        assert!(AssertionSigner::from_pem(&pkcs1, None).is_ok());
        let escaped = pem.trim_end().replace('\n', "\\n");
        let signer = AssertionSigner::from_pem(&escaped, None).unwrap();
        let jwt = signer.sign(&Claims::read_only("a@b", "https://t", 1));
        let header: serde_json::Value =
            serde_json::from_slice(&decode(jwt.split('.').next().unwrap())).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
    }

    #[test]
    fn a_bad_key_is_invalid_config_without_quoting_it() {
        let pem = "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-NOT-A-KEY\n-----END PRIVATE KEY-----";
        let Err(ConnectorError::InvalidConfig(message)) = AssertionSigner::from_pem(pem, None)
        else {
            panic!("a bad key must be refused as invalid config");
        };
        assert!(message.contains("credentials.private_key"), "{message}");
        assert!(!message.contains("TOP-SECRET"), "{message}");
    }
}
