//! Azure Storage Shared Key signing: the string-to-sign of one request and the
//! `Authorization` header made from it.
//!
//! Pure functions over a request's parts (method, encoded path, decoded query
//! parameters, headers); sending requests and choosing credentials live in
//! `service`.

use tributary_sdk::crypto::hmac_sha256;
use tributary_sdk::encoding::base64_encode;

/// The standard headers of the string-to-sign, in the order the spec lists
/// them (service version 2009-09-19 and later).
const SIGNED_STANDARD_HEADERS: [&str; 11] = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
];

/// What of a request the signature covers.
pub struct RequestParts<'a> {
    /// `GET`, `PUT`, …
    pub method: &'a str,
    /// The URL's path exactly as sent (percent-encoded), starting with `/`.
    /// For path-style endpoints (Azurite) it starts with the account name.
    pub encoded_path: &'a str,
    /// The query parameters, names and values decoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Every header the request carries.
    pub headers: &'a [(String, String)],
}

/// The Shared Key string-to-sign of `request` for `account`: the verb, the
/// standard headers, the canonicalized `x-ms-` headers and the canonicalized
/// resource, as the Azure Storage "Authorize with Shared Key" spec defines them.
pub fn string_to_sign(account: &str, request: &RequestParts<'_>) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(&request.method.to_ascii_uppercase());
    out.push('\n');
    for name in SIGNED_STANDARD_HEADERS {
        let value = header_values(request.headers, name).join(",");
        // Since 2015-02-21 a zero Content-Length is signed as empty.
        if !(name == "content-length" && value == "0") {
            out.push_str(&value);
        }
        out.push('\n');
    }
    out.push_str(&canonicalized_headers(request.headers));
    out.push_str(&canonicalized_resource(
        account,
        request.encoded_path,
        request.query,
    ));
    out
}

/// The `Authorization` header value: `SharedKey <account>:<signature>`, the
/// signature being the base64 HMAC-SHA256 of `string_to_sign` under the
/// decoded account key.
pub fn authorization(account: &str, key: &[u8], string_to_sign: &str) -> String {
    let signature = base64_encode(&hmac_sha256(key, string_to_sign.as_bytes()));
    format!("SharedKey {account}:{signature}")
}

/// The values of header `name` (lowercase), in order.
fn header_values<'h>(headers: &'h [(String, String)], name: &str) -> Vec<&'h str> {
    headers
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
        .collect()
}

/// Every `x-ms-` header as `name:value\n`: names lowercase and sorted, values
/// trimmed with runs of whitespace folded to one space, a repeated header's
/// values joined by commas.
fn canonicalized_headers(headers: &[(String, String)]) -> String {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(name, _)| name.trim().to_ascii_lowercase())
        .filter(|name| name.starts_with("x-ms-"))
        .collect();
    names.sort();
    names.dedup();
    let mut out = String::new();
    for name in names {
        let values: Vec<String> = header_values(headers, &name)
            .into_iter()
            .map(fold_whitespace)
            .collect();
        out.push_str(&name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

/// `/<account><encoded path>`, then one `\nname:value` line per query
/// parameter: names lowercase and sorted, a repeated parameter's values sorted
/// and joined by commas.
fn canonicalized_resource(account: &str, encoded_path: &str, query: &[(&str, &str)]) -> String {
    let mut out = format!("/{account}{encoded_path}");
    let mut names: Vec<String> = query
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let mut values: Vec<&str> = query
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(&name))
            .map(|(_, value)| *value)
            .collect();
        values.sort_unstable();
        out.push('\n');
        out.push_str(&name);
        out.push(':');
        out.push_str(&values.join(","));
    }
    out
}

fn fold_whitespace(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_sdk::encoding::base64_decode;

    /// Azurite's well-known development account key (public, documented).
    const DEV_KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn list_blobs_string_to_sign_follows_the_spec_layout() {
        let headers = headers(&[
            ("X-MS-Version", "2023-11-03"),
            ("x-ms-date", "Thu, 03 Dec 2026 18:48:27 GMT"),
            ("user-agent", "not signed"),
        ]);
        let query = [
            ("restype", "container"),
            ("comp", "list"),
            ("prefix", "2024/a b+c%d/"),
            ("marker", "2!96!MDAwMDE2"),
            ("maxresults", "5000"),
            ("include", "metadata"),
        ];
        let request = RequestParts {
            method: "get",
            encoded_path: "/devstoreaccount1/photos",
            query: &query,
            headers: &headers,
        };
        // Twelve lines for the verb and the eleven standard headers (all empty),
        // the x-ms- headers sorted, then the resource with the account twice
        // (path-style emulator URL) and the decoded query parameters sorted.
        let expected = "GET\n\n\n\n\n\n\n\n\n\n\n\n\
            x-ms-date:Thu, 03 Dec 2026 18:48:27 GMT\n\
            x-ms-version:2023-11-03\n\
            /devstoreaccount1/devstoreaccount1/photos\n\
            comp:list\n\
            include:metadata\n\
            marker:2!96!MDAwMDE2\n\
            maxresults:5000\n\
            prefix:2024/a b+c%d/\n\
            restype:container";
        let signed = string_to_sign("devstoreaccount1", &request);
        assert_eq!(signed, expected);

        // Computed independently (Python's hmac/hashlib/base64) from the same
        // string-to-sign and key.
        let key = base64_decode(DEV_KEY).unwrap();
        assert_eq!(
            authorization("devstoreaccount1", &key, &signed),
            "SharedKey devstoreaccount1:NUoZTK1MoTyAvhCFaD5tgIg9IPiM/z69c+jQ08WqieI="
        );
    }

    #[test]
    fn standard_headers_are_signed_in_order_and_zero_length_is_empty() {
        let headers = headers(&[
            ("Content-Type", "text/plain"),
            ("Content-Length", "0"),
            ("Range", "bytes=0-9"),
            ("x-ms-meta-Tag", "  two   words "),
            ("x-ms-meta-tag", "second"),
            ("x-ms-date", "d"),
        ]);
        let request = RequestParts {
            method: "PUT",
            encoded_path: "/c/a%20b.txt",
            query: &[],
            headers: &headers,
        };
        let signed = string_to_sign("acct", &request);
        let lines: Vec<&str> = signed.split('\n').collect();
        assert_eq!(lines[0], "PUT");
        assert_eq!(lines[3], "", "a zero content-length is signed as empty");
        assert_eq!(lines[5], "text/plain");
        assert_eq!(lines[11], "bytes=0-9");
        assert_eq!(lines[12], "x-ms-date:d");
        assert_eq!(lines[13], "x-ms-meta-tag:two words,second");
        assert_eq!(lines[14], "/acct/c/a%20b.txt");
        assert_eq!(lines.len(), 15);

        let sized = headers_with_length("12");
        let request = RequestParts {
            method: "PUT",
            encoded_path: "/c/x",
            query: &[],
            headers: &sized,
        };
        assert_eq!(
            string_to_sign("acct", &request).split('\n').nth(3),
            Some("12")
        );
    }

    fn headers_with_length(length: &str) -> Vec<(String, String)> {
        headers(&[("content-length", length)])
    }

    #[test]
    fn repeated_query_parameters_are_sorted_and_joined() {
        let query = [
            ("Include", "snapshots"),
            ("include", "metadata"),
            ("comp", "list"),
        ];
        let resource = canonicalized_resource("a", "/", &query);
        assert_eq!(resource, "/a/\ncomp:list\ninclude:metadata,snapshots");
    }

    #[test]
    fn a_different_key_gives_a_different_signature() {
        let key = base64_decode(DEV_KEY).unwrap();
        let mut other = key.clone();
        other[0] ^= 1;
        assert_ne!(
            authorization("a", &key, "GET\n"),
            authorization("a", &other, "GET\n")
        );
    }
}
