//! Reading one List Blobs response (`EnumerationResults`) into blobs and the
//! next marker, and Azure's error bodies into their code and message.
//!
//! Pure parsing over `tributary_sdk::xml`; turning blobs into file entries is
//! the listing's job.

use tributary_sdk::encoding::percent_decode;
use tributary_sdk::time::parse_http_date_millis;
use tributary_sdk::xml::{self, Element};
use tributary_sdk::Timestamp;

/// One blob as the listing describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// The blob's name (its key in the container), unescaped.
    pub name: String,
    /// `Content-Length`.
    pub size: u64,
    /// The entity tag without surrounding quotes.
    pub etag: Option<String>,
    /// `Last-Modified`, in milliseconds since the epoch.
    pub last_modified: Option<Timestamp>,
    /// `Content-Type`, when set.
    pub content_type: Option<String>,
    /// User metadata (`include=metadata`), in listing order.
    pub metadata: Vec<(String, String)>,
}

impl Blob {
    /// Whether the blob only marks a directory (accounts with a hierarchical
    /// namespace list their folders as empty blobs with `hdi_isfolder=true`).
    pub fn is_folder_marker(&self) -> bool {
        self.metadata
            .iter()
            .any(|(name, value)| name.eq_ignore_ascii_case("hdi_isfolder") && value == "true")
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPage {
    pub blobs: Vec<Blob>,
    /// Where the next page starts; `None` on the last page.
    pub next_marker: Option<String>,
}

/// Parses a List Blobs response body. The error says what is wrong with it.
pub fn parse_blob_page(body: &str) -> Result<BlobPage, String> {
    let root = xml::parse(body).map_err(|error| error.to_string())?;
    if root.name() != "EnumerationResults" {
        return Err(format!(
            "expected <EnumerationResults>, got <{}>",
            root.name()
        ));
    }
    let [blobs, next_marker] = root.first_children(["Blobs", "NextMarker"]);
    let blobs = match blobs {
        Some(blobs) => blobs
            .children_named("Blob")
            .map(parse_blob)
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let next_marker = next_marker
        .map(|marker| marker.text())
        .filter(|marker| !marker.is_empty());
    Ok(BlobPage { blobs, next_marker })
}

/// One `<Blob>`: each of its parts and properties found in one walk.
fn parse_blob(blob: Element<'_>) -> Result<Blob, String> {
    let [name_element, properties, metadata] =
        blob.first_children(["Name", "Properties", "Metadata"]);
    let name_element = name_element.ok_or_else(|| "a <Blob> has no <Name>".to_string())?;
    // Names with characters XML cannot carry come percent-encoded.
    let name = if name_element.attribute("Encoded").as_deref() == Some("true") {
        percent_decode(&name_element.text(), false)
    } else {
        name_element.text()
    };
    let properties = properties.ok_or_else(|| format!("the blob {name:?} has no <Properties>"))?;
    let [size, etag, last_modified, content_type] = properties
        .first_children(["Content-Length", "Etag", "Last-Modified", "Content-Type"])
        .map(|field| field.map(|field| field.text()));
    let size = size.ok_or_else(|| format!("the blob {name:?} has no <Content-Length>"))?;
    let size = size
        .trim()
        .parse()
        .map_err(|_| format!("the blob {name:?} has the size {size:?}"))?;
    let etag = etag
        .map(|etag| etag.trim().trim_matches('"').to_owned())
        .filter(|etag| !etag.is_empty());
    let last_modified = match last_modified {
        Some(text) => Some(
            parse_http_date_millis(&text)
                .ok_or_else(|| format!("the blob {name:?} has the Last-Modified {text:?}"))?,
        ),
        None => None,
    };
    let content_type = content_type
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty());
    let metadata = metadata
        .map(|metadata| {
            metadata
                .children()
                .map(|item| (item.name().to_owned(), item.text()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Blob {
        name,
        size,
        etag,
        last_modified,
        content_type,
        metadata,
    })
}

/// An error response's `<Code>` and `<Message>` (either may be missing, or
/// the body may not be XML at all).
pub fn parse_error(body: &str) -> (Option<String>, Option<String>) {
    let Ok(root) = xml::parse(body) else {
        return (None, None);
    };
    let field = |name: &str| {
        root.child_text(name)
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    };
    (field("Code"), field("Message"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape Azure and Azurite answer with (trimmed), with odd names.
    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="photos">
  <Prefix>2024/</Prefix>
  <MaxResults>5000</MaxResults>
  <Blobs>
    <Blob>
      <Name>2024/a b+c%d &amp; ünï.txt</Name>
      <Properties>
        <Creation-Time>Thu, 03 Dec 2026 18:48:27 GMT</Creation-Time>
        <Last-Modified>Thu, 03 Dec 2026 18:48:27 GMT</Last-Modified>
        <Etag>"0x1F2C3D4E5F60718"</Etag>
        <Content-Length>12</Content-Length>
        <Content-Type>text/plain</Content-Type>
        <Content-MD5 />
        <BlobType>BlockBlob</BlobType>
      </Properties>
      <Metadata><Owner>ana</Owner><Note> two words </Note></Metadata>
    </Blob>
    <Blob>
      <Name Encoded="true">2024/bell%07.bin</Name>
      <Properties>
        <Last-Modified>Thu, 01 Jan 1970 00:00:01 GMT</Last-Modified>
        <Etag>0x8D</Etag>
        <Content-Length>0</Content-Length>
        <Content-Type />
      </Properties>
      <Metadata />
    </Blob>
    <Blob>
      <Name>2024/folder</Name>
      <Properties><Content-Length>0</Content-Length></Properties>
      <Metadata><hdi_isfolder>true</hdi_isfolder></Metadata>
    </Blob>
  </Blobs>
  <NextMarker>2!96!MDAwMDE2IXBob3Rvcy8yMDI0L2ZvbGRlciEwMDAwMjgh</NextMarker>
</EnumerationResults>"#;

    #[test]
    fn a_page_gives_blobs_with_unescaped_names_and_the_next_marker() {
        let page = parse_blob_page(PAGE).unwrap();
        assert_eq!(
            page.next_marker.as_deref(),
            Some("2!96!MDAwMDE2IXBob3Rvcy8yMDI0L2ZvbGRlciEwMDAwMjgh")
        );
        assert_eq!(page.blobs.len(), 3);
        assert_eq!(
            page.blobs[0],
            Blob {
                name: "2024/a b+c%d & ünï.txt".into(),
                size: 12,
                etag: Some("0x1F2C3D4E5F60718".into()),
                // 2026-12-03T18:48:27Z
                last_modified: Some(1_796_323_707_000),
                content_type: Some("text/plain".into()),
                metadata: vec![
                    ("Owner".into(), "ana".into()),
                    ("Note".into(), " two words ".into())
                ],
            }
        );
        let second = &page.blobs[1];
        assert_eq!(second.name, "2024/bell\u{7}.bin");
        assert_eq!(second.etag.as_deref(), Some("0x8D"));
        assert_eq!(second.last_modified, Some(1000));
        assert_eq!(second.content_type, None);
        assert!(second.metadata.is_empty());
        assert!(!second.is_folder_marker());
        assert!(page.blobs[2].is_folder_marker());
        assert_eq!(page.blobs[2].last_modified, None);
    }

    #[test]
    fn the_last_page_has_no_marker_and_may_have_no_blobs() {
        let last =
            parse_blob_page("<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>")
                .unwrap();
        assert_eq!(
            last,
            BlobPage {
                blobs: vec![],
                next_marker: None
            }
        );
    }

    #[test]
    fn malformed_pages_say_what_is_wrong() {
        for (body, problem) in [
            ("<Error><Code>X</Code></Error>", "expected <EnumerationResults>"),
            ("<EnumerationResults><Blobs>", "never closed"),
            (
                "<EnumerationResults><Blobs><Blob><Properties/></Blob></Blobs></EnumerationResults>",
                "no <Name>",
            ),
            (
                "<EnumerationResults><Blobs><Blob><Name>k</Name><Properties><Content-Length>-1</Content-Length></Properties></Blob></Blobs></EnumerationResults>",
                "size",
            ),
            (
                "<EnumerationResults><Blobs><Blob><Name>k</Name><Properties><Content-Length>1</Content-Length><Last-Modified>yesterday</Last-Modified></Properties></Blob></Blobs></EnumerationResults>",
                "Last-Modified",
            ),
        ] {
            let error = parse_blob_page(body).unwrap_err();
            assert!(error.contains(problem), "{body}: {error}");
        }
    }

    #[test]
    fn error_bodies_give_code_and_message() {
        let body = r#"<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request.
RequestId:1</Message></Error>"#;
        let (code, message) = parse_error(body);
        assert_eq!(code.as_deref(), Some("AuthenticationFailed"));
        assert!(message.unwrap().starts_with("Server failed"));
        assert_eq!(parse_error("not xml"), (None, None));
    }
}
