//! Text encodings that provider requests need: hex, base64 (standard and
//! URL-safe) and RFC 3986 percent-encoding.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 0xf) as usize] as char);
    }
    out
}

/// Standard base64 with padding (Azure keys and signatures, Content-MD5).
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64; `None` if it is not valid.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text.trim()).ok()
}

/// URL-safe base64 without padding (JWT segments).
pub fn base64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Percent-encodes every byte outside RFC 3986's unreserved set
/// (`A–Z a–z 0–9 - . _ ~`); with `keep_slash`, `/` stays as it is (object
/// keys in a path). This is the encoding AWS SigV4 canonical requests require
/// and what query parameters of every provider accept.
pub fn percent_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
        if unreserved || (keep_slash && byte == b'/') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push_str(&hex(&[byte]).to_ascii_uppercase());
        }
    }
    out
}

/// Decodes `%XX` sequences (and, with `plus_is_space`, `+` as a space, as in
/// form-encoded listings); invalid sequences are kept as they are.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (None, b'+') if plus_is_space => out.push(b' '),
            (None, other) => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(
            percent_encode("a b+c%d/é~", false),
            "a%20b%2Bc%25d%2F%C3%A9~"
        );
        assert_eq!(percent_encode("dir/a b", true), "dir/a%20b");
    }

    #[test]
    fn percent_decoding_round_trips_and_tolerates_junk() {
        let odd = "dir/ünï code+plus%percent 100%";
        assert_eq!(percent_decode(&percent_encode(odd, true), false), odd);
        assert_eq!(percent_decode("a+b%2", true), "a b%2");
        assert_eq!(percent_decode("%zz", false), "%zz");
    }

    #[test]
    fn hex_and_base64() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(base64_encode(b"hi?"), "aGk/");
        assert_eq!(base64url_encode(b"hi?"), "aGk_");
        assert_eq!(base64_decode("aGk/").unwrap(), b"hi?");
        assert_eq!(base64_decode("***"), None);
    }
}
