//! What S3 answers, read from its XML: one ListObjectsV2 page
//! (`ListBucketResult`) and the `Error` document of a refused request.
//! Keys are returned as the document has them; decoding `encoding-type=url`
//! keys is the listing's decision.

use tributary_sdk::xml;

use tributary_sdk::time::parse_rfc3339_millis;

/// One ListObjectsV2 response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    pub objects: Vec<ListedObject>,
    pub is_truncated: bool,
    pub next_continuation_token: Option<String>,
    /// `url` when the store says it URL-encoded the keys.
    pub encoding_type: Option<String>,
    /// The `start-after` the store echoed, as it wrote it.
    pub start_after: Option<String>,
}

/// One `Contents` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The key as written in the document (still URL-encoded when the store
    /// honoured `encoding-type=url`).
    pub key: String,
    pub size: u64,
    /// Without quotes; `None` when the store left it out.
    pub etag: Option<String>,
    pub last_modified: Option<i64>,
}

/// Reads a `ListBucketResult` document, in one walk over the root's children
/// and one over each `Contents` (a page holds up to 1,000 of them, so looking
/// each field up from the start would read the page many times over).
pub fn parse_list_page(body: &str) -> Result<ListPage, String> {
    let root = xml::parse(body).map_err(|error| error.to_string())?;
    if root.name() != "ListBucketResult" {
        return Err(format!(
            "expected a ListBucketResult document, got <{}>",
            root.name()
        ));
    }
    let mut page = ListPage::default();
    let mut is_truncated = None;
    for child in root.children() {
        match child.name() {
            "Contents" => page.objects.push(parse_contents(child)?),
            "IsTruncated" if is_truncated.is_none() => is_truncated = Some(child.text()),
            "NextContinuationToken" if page.next_continuation_token.is_none() => {
                page.next_continuation_token = Some(child.text()).filter(|t| !t.is_empty());
            }
            "EncodingType" if page.encoding_type.is_none() => {
                page.encoding_type = Some(child.text());
            }
            "StartAfter" if page.start_after.is_none() => page.start_after = Some(child.text()),
            _ => {}
        }
    }
    page.is_truncated = match is_truncated.as_deref().map(str::trim) {
        Some("true") => true,
        Some("false") | None => false,
        Some(other) => return Err(format!("IsTruncated is {other:?}")),
    };
    Ok(page)
}

/// One `Contents` entry; the first of each field counts.
fn parse_contents(contents: xml::Element<'_>) -> Result<ListedObject, String> {
    let [key, size, etag, last_modified] = contents
        .first_children(["Key", "Size", "ETag", "LastModified"])
        .map(|field| field.map(|field| field.text()));
    let key = key.ok_or("an object in the listing has no Key")?;
    let size = size.ok_or_else(|| format!("the object {key:?} has no Size"))?;
    let size = size
        .trim()
        .parse()
        .map_err(|_| format!("the object {key:?} has the size {size:?}"))?;
    let last_modified = match last_modified {
        None => None,
        Some(text) => Some(
            parse_rfc3339_millis(&text)
                .ok_or_else(|| format!("the object {key:?} has the LastModified {text:?}"))?,
        ),
    };
    Ok(ListedObject {
        etag: etag.and_then(|etag| strip_etag(&etag)),
        key,
        size,
        last_modified,
    })
}

/// An entity tag without its quotes (and without a weak `W/` marker);
/// `None` when empty.
pub fn strip_etag(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw.strip_prefix("W/").unwrap_or(raw);
    let stripped = raw
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(raw);
    (!stripped.is_empty()).then(|| stripped.to_owned())
}

/// The `Error` document S3 sends with a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorBody {
    /// E.g. `SignatureDoesNotMatch`, `NoSuchBucket`.
    pub code: Option<String>,
    pub message: Option<String>,
    /// The region a `PermanentRedirect` or `AuthorizationHeaderMalformed` names.
    pub region: Option<String>,
}

/// Reads an `Error` document; anything else (HEAD responses have no body)
/// gives an empty [`ErrorBody`].
pub fn parse_error(body: &[u8]) -> ErrorBody {
    let Ok(text) = std::str::from_utf8(body) else {
        return ErrorBody::default();
    };
    let Ok(root) = xml::parse(text) else {
        return ErrorBody::default();
    };
    if root.name() != "Error" {
        return ErrorBody::default();
    }
    let field = |name: &str| {
        root.child_text(name)
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    };
    ErrorBody {
        code: field("Code"),
        message: field("Message"),
        region: field("Region").or_else(|| field("ExpectedRegion")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented ListObjectsV2 example, with a continuation token.
    const AWS_EXAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
    <Name>bucket</Name>
    <Prefix/>
    <KeyCount>205</KeyCount>
    <MaxKeys>1000</MaxKeys>
    <IsTruncated>true</IsTruncated>
    <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
    <Contents>
        <Key>my-image.jpg</Key>
        <LastModified>2009-10-12T17:50:30.000Z</LastModified>
        <ETag>"fba9dede5f27731c9771645a39863328"</ETag>
        <Size>434234</Size>
        <StorageClass>STANDARD</StorageClass>
    </Contents>
    <Contents>
        <Key>my-third-image.jpg</Key>
        <LastModified>2009-10-12T17:50:30.000Z</LastModified>
        <ETag>&quot;1b2cf535f27731c974343645a3985328&quot;</ETag>
        <Size>64994</Size>
        <StorageClass>STANDARD_IA</StorageClass>
    </Contents>
</ListBucketResult>"#;

    #[test]
    fn reads_the_aws_example() {
        let page = parse_list_page(AWS_EXAMPLE).unwrap();
        assert!(page.is_truncated);
        assert_eq!(
            page.next_continuation_token.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
        assert_eq!(page.encoding_type, None);
        assert_eq!(
            page.objects,
            [
                ListedObject {
                    key: "my-image.jpg".into(),
                    size: 434_234,
                    etag: Some("fba9dede5f27731c9771645a39863328".into()),
                    last_modified: Some(1_255_369_830_000),
                },
                ListedObject {
                    key: "my-third-image.jpg".into(),
                    size: 64_994,
                    etag: Some("1b2cf535f27731c974343645a3985328".into()),
                    last_modified: Some(1_255_369_830_000),
                },
            ]
        );
    }

    #[test]
    fn reads_an_encoded_last_page_without_etags() {
        let page = parse_list_page(
            "<ListBucketResult><EncodingType>url</EncodingType>\
             <StartAfter>a+b%2B</StartAfter><IsTruncated>false</IsTruncated>\
             <Contents><Key>a+b%2Bc%25</Key><Size>0</Size></Contents></ListBucketResult>",
        )
        .unwrap();
        assert!(!page.is_truncated);
        assert_eq!(page.next_continuation_token, None);
        assert_eq!(page.encoding_type.as_deref(), Some("url"));
        assert_eq!(page.start_after.as_deref(), Some("a+b%2B"));
        assert_eq!(page.objects[0].key, "a+b%2Bc%25");
        assert_eq!(page.objects[0].etag, None);
        assert_eq!(page.objects[0].last_modified, None);
    }

    #[test]
    fn an_empty_bucket_is_an_empty_last_page() {
        let page = parse_list_page(
            "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount>\
             <IsTruncated>false</IsTruncated></ListBucketResult>",
        )
        .unwrap();
        assert_eq!(page, ListPage::default());
    }

    #[test]
    fn broken_listings_are_errors() {
        for (body, expected) in [
            ("<ListBucketResult><Contents><Key>a</Key>", "never closed"),
            ("<Error><Code>x</Code></Error>", "ListBucketResult"),
            (
                "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
                "no Key",
            ),
            (
                "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
                "size",
            ),
            (
                "<ListBucketResult><Contents><Key>a</Key><Size>1</Size>\
                 <LastModified>soon</LastModified></Contents></ListBucketResult>",
                "LastModified",
            ),
            (
                "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
                "IsTruncated",
            ),
        ] {
            let error = parse_list_page(body).unwrap_err();
            assert!(error.contains(expected), "{body}: {error}");
        }
    }

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(strip_etag("\"abc\"").as_deref(), Some("abc"));
        assert_eq!(strip_etag("abc-3").as_deref(), Some("abc-3"));
        assert_eq!(strip_etag("W/\"weak\"").as_deref(), Some("weak"));
        assert_eq!(strip_etag(" \"\" "), None);
        assert_eq!(strip_etag(""), None);
    }

    #[test]
    fn error_documents_give_code_message_and_region() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        let error = parse_error(body);
        assert_eq!(error.code.as_deref(), Some("SignatureDoesNotMatch"));
        assert!(error.message.unwrap().starts_with("The request signature"));
        assert_eq!(error.region, None);

        let redirect = parse_error(
            b"<Error><Code>AuthorizationHeaderMalformed</Code><Message>wrong region</Message>\
              <Region>eu-west-3</Region></Error>",
        );
        assert_eq!(redirect.region.as_deref(), Some("eu-west-3"));
        assert_eq!(parse_error(b""), ErrorBody::default());
        assert_eq!(parse_error(b"<html>502</html>"), ErrorBody::default());
        assert_eq!(parse_error(&[0xff, 0xfe]), ErrorBody::default());
    }
}
