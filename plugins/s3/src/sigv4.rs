//! AWS Signature Version 4 (header form) for S3 requests: the canonical
//! request, the string to sign, the signing key and the headers that carry
//! the signature. It signs what it is given; which request to send, and its
//! URL encoding, is the client's business.

use tributary_sdk::crypto::{hmac_sha256, sha256_hex};
use tributary_sdk::encoding::hex;

use crate::time::AmzDate;

/// The SHA-256 of an empty payload: every request this connector sends.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What a request is signed with. `Debug` never shows the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Temporary credentials' token, sent as `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// One request as SigV4 sees it. Path and query must already be encoded
/// exactly as they will be sent (see [`canonical_query`]).
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    pub method: &'a str,
    /// The `host` header the request will carry: the URL's authority.
    pub host: &'a str,
    /// The URI-encoded path, e.g. `/bucket/my%20key`.
    pub path: &'a str,
    /// The canonical query string (sorted, URI-encoded), without `?`.
    pub query: &'a str,
    /// Further headers to sign besides `host` and the `x-amz-*` ones added here.
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body.
    pub payload_sha256: &'a str,
}

/// Signs `request` for `region` and `service` at `date`; returns the headers
/// to add to it: `x-amz-date`, `x-amz-content-sha256`, the session token if
/// any, and `authorization`.
pub fn sign(
    keys: &SigningKeys,
    region: &str,
    service: &str,
    date: &AmzDate,
    request: &RequestToSign<'_>,
) -> Vec<(String, String)> {
    let mut added = vec![
        (
            "x-amz-content-sha256".to_owned(),
            request.payload_sha256.to_owned(),
        ),
        ("x-amz-date".to_owned(), date.date_time.clone()),
    ];
    if let Some(token) = &keys.session_token {
        added.push(("x-amz-security-token".to_owned(), token.clone()));
    }
    let mut signed: Vec<(String, String)> = vec![("host".to_owned(), request.host.to_owned())];
    signed.extend(
        request
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    signed.extend(added.iter().cloned());
    let canonical = canonical_request(
        request.method,
        request.path,
        request.query,
        &signed,
        request.payload_sha256,
    );
    let scope = format!("{}/{region}/{service}/aws4_request", date.date);
    let to_sign = string_to_sign(&date.date_time, &scope, &canonical.text);
    let key = signing_key(&keys.secret_access_key, &date.date, region, service);
    let signature = hex(&hmac_sha256(&key, to_sign.as_bytes()));
    added.push((
        "authorization".to_owned(),
        format!(
            "{ALGORITHM} Credential={}/{scope},SignedHeaders={},Signature={signature}",
            keys.access_key_id, canonical.signed_headers
        ),
    ));
    added
}

/// A canonical request and the `SignedHeaders` list it implies.
struct CanonicalRequest {
    text: String,
    signed_headers: String,
}

/// Method, path, query, the headers lowercased, trimmed and sorted, the
/// signed header names and the payload hash, one per line.
fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    payload_sha256: &str,
) -> CanonicalRequest {
    let mut headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), collapse_spaces(value)))
        .collect();
    headers.sort();
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let path = if path.is_empty() { "/" } else { path };
    CanonicalRequest {
        text: format!(
            "{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_sha256}"
        ),
        signed_headers,
    }
}

fn string_to_sign(date_time: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{date_time}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let date_key = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let region_key = hmac_sha256(&date_key, region.as_bytes());
    let service_key = hmac_sha256(&region_key, service.as_bytes());
    hmac_sha256(&service_key, b"aws4_request")
}

/// Trims a header value and collapses inner runs of spaces to one.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical query string of `params`: each name and value URI-encoded
/// (everything but `A-Z a-z 0-9 - . _ ~`), sorted by name then value, joined
/// with `&`. A parameter without a value is written `name=`. Send exactly this
/// string as the URL's query so that what is signed is what is sent.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    use tributary_sdk::encoding::percent_encode;
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(name, value)| (percent_encode(name, false), percent_encode(value, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials of AWS's S3 SigV4 examples ("Authenticating Requests:
    /// Using the Authorization Header", 2013-05-24, us-east-1).
    fn example_keys() -> SigningKeys {
        SigningKeys {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    fn example_date() -> AmzDate {
        AmzDate {
            date: "20130524".into(),
            date_time: "20130524T000000Z".into(),
        }
    }

    fn authorization(headers: &[(String, String)]) -> &str {
        &headers
            .iter()
            .find(|(name, _)| name == "authorization")
            .unwrap()
            .1
    }

    #[test]
    fn aws_example_get_object_with_range() {
        let headers = sign(
            &example_keys(),
            "us-east-1",
            "s3",
            &example_date(),
            &RequestToSign {
                method: "GET",
                host: "examplebucket.s3.amazonaws.com",
                path: "/test.txt",
                query: "",
                headers: &[("Range", "bytes=0-9")],
                payload_sha256: EMPTY_PAYLOAD_SHA256,
            },
        );
        assert_eq!(
            authorization(&headers),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert!(headers.contains(&("x-amz-date".into(), "20130524T000000Z".into())));
        assert!(headers.contains(&("x-amz-content-sha256".into(), EMPTY_PAYLOAD_SHA256.into())));
    }

    #[test]
    fn aws_example_list_objects() {
        let query = canonical_query(&[("prefix", "J"), ("max-keys", "2")]);
        assert_eq!(query, "max-keys=2&prefix=J");
        let headers = sign(
            &example_keys(),
            "us-east-1",
            "s3",
            &example_date(),
            &RequestToSign {
                method: "GET",
                host: "examplebucket.s3.amazonaws.com",
                path: "/",
                query: &query,
                headers: &[],
                payload_sha256: EMPTY_PAYLOAD_SHA256,
            },
        );
        assert!(authorization(&headers).ends_with(
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date,\
             Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        ));
    }

    #[test]
    fn aws_example_get_bucket_lifecycle_with_a_valueless_parameter() {
        let query = canonical_query(&[("lifecycle", "")]);
        assert_eq!(query, "lifecycle=");
        let headers = sign(
            &example_keys(),
            "us-east-1",
            "s3",
            &example_date(),
            &RequestToSign {
                method: "GET",
                host: "examplebucket.s3.amazonaws.com",
                path: "/",
                query: &query,
                headers: &[],
                payload_sha256: EMPTY_PAYLOAD_SHA256,
            },
        );
        assert!(authorization(&headers).ends_with(
            "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        ));
    }

    /// `get-vanilla` from AWS's SigV4 test suite (service `service`, no payload header).
    #[test]
    fn aws_test_suite_get_vanilla() {
        let canonical = canonical_request(
            "GET",
            "/",
            "",
            &[
                ("Host".into(), "example.amazonaws.com".into()),
                ("X-Amz-Date".into(), "20150830T123600Z".into()),
            ],
            EMPTY_PAYLOAD_SHA256,
        );
        assert_eq!(
            canonical.text,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             host;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let scope = "20150830/us-east-1/service/aws4_request";
        let to_sign = string_to_sign("20150830T123600Z", scope, &canonical.text);
        assert_eq!(
            to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "service",
        );
        assert_eq!(
            hex(&hmac_sha256(&key, to_sign.as_bytes())),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// AWS's documented signing-key derivation example (IAM, 2012-02-15).
    #[test]
    fn aws_example_signing_key() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let mut keys = example_keys();
        keys.session_token = Some("the-token".into());
        let request = RequestToSign {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/",
            query: "",
            headers: &[],
            payload_sha256: EMPTY_PAYLOAD_SHA256,
        };
        let headers = sign(&keys, "us-east-1", "s3", &example_date(), &request);
        assert!(headers.contains(&("x-amz-security-token".into(), "the-token".into())));
        assert!(authorization(&headers)
            .contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
        let without = sign(
            &example_keys(),
            "us-east-1",
            "s3",
            &example_date(),
            &request,
        );
        assert_ne!(authorization(&headers), authorization(&without));
    }

    #[test]
    fn canonical_query_encodes_sorts_and_keeps_empty_values() {
        assert_eq!(
            canonical_query(&[
                ("prefix", "a b/ü+%"),
                ("list-type", "2"),
                ("continuation-token", "1/x=="),
                ("encoding-type", "url"),
            ]),
            "continuation-token=1%2Fx%3D%3D&encoding-type=url&list-type=2&prefix=a%20b%2F%C3%BC%2B%25"
        );
        assert_eq!(canonical_query(&[]), "");
    }

    #[test]
    fn debug_hides_the_secrets() {
        let mut keys = example_keys();
        keys.session_token = Some("token-value".into());
        let shown = format!("{keys:?}");
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"));
        assert!(!shown.contains("wJalrXUtnFEMI"));
        assert!(!shown.contains("token-value"));
    }
}
