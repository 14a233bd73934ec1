//! The JSON API's `objects.list` answer, limited to the fields a listing asks for
//! (see [`LIST_FIELDS`]), and how one object becomes a [`FileEntry`].

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use tributary_sdk::filter::mime_from_extension;
use tributary_sdk::FileEntry;

use tributary_sdk::time::parse_rfc3339_millis;

/// The partial response a listing asks for: nothing it does not use.
pub const LIST_FIELDS: &str =
    "nextPageToken,items(name,size,etag,md5Hash,updated,contentType,metadata)";

/// One page of `objects.list`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectList {
    /// Absent when the page is empty.
    #[serde(default)]
    pub items: Vec<Object>,
    /// Absent on the last page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// One object as `objects.list` describes it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    pub name: String,
    /// A decimal string in the JSON API (uint64 does not fit JSON numbers).
    #[serde(default, deserialize_with = "u64_from_string_or_number")]
    pub size: u64,
    #[serde(default)]
    pub etag: Option<String>,
    /// Base64 MD5 of the content; absent for composite objects.
    #[serde(default)]
    pub md5_hash: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub updated: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    /// User metadata; a key set to null is skipped.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, Option<String>>>,
}

impl Object {
    /// A folder placeholder (`photos/`, zero bytes, as the Cloud Console creates
    /// them), not a file.
    pub fn is_folder_placeholder(&self) -> bool {
        self.name.ends_with('/') && self.size == 0
    }

    /// The file entry for this object of `bucket`: the key is the object's full
    /// name, the etag the object's `etag` (or its MD5 when there is none), the
    /// content type the object's own or else one guessed from the extension.
    pub fn into_entry(self, bucket: &str) -> FileEntry {
        let uri = format!("gs://{bucket}/{}", self.name);
        let content_type = self
            .content_type
            .filter(|content_type| !content_type.trim().is_empty())
            .or_else(|| mime_from_extension(&self.name).map(str::to_owned));
        let metadata = self
            .metadata
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| (key, value)))
            .collect();
        FileEntry {
            last_modified: self.updated.as_deref().and_then(parse_rfc3339_millis),
            etag: self
                .etag
                .or(self.md5_hash)
                .map(|tag| tag.trim_matches('"').to_owned())
                .filter(|tag| !tag.is_empty()),
            key: self.name,
            uri,
            size: self.size,
            content_type,
            metadata,
        }
    }
}

fn u64_from_string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(u64),
        Text(String),
    }
    match Size::deserialize(deserializer)? {
        Size::Number(size) => Ok(size),
        Size::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("size {text:?} is not a number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"{
      "kind": "storage#objects",
      "nextPageToken": "CgtwaG90b3MvYi5qcGc=",
      "items": [
        {
          "name": "photos/a b+c%d é.jpg",
          "size": "22",
          "etag": "CJ+Bq4Lx8OgCEAE=",
          "md5Hash": "vTeJlrLbotxXV1RxLPPXsQ==",
          "updated": "2023-11-14T22:13:20.123Z",
          "contentType": "image/jpeg",
          "metadata": {"owner": "ana", "camera": "x100", "gone": null}
        },
        {"name": "docs/", "size": "0", "etag": "e"},
        {"name": "notes/n.txt", "size": 7, "md5Hash": "IgRRvTk95iBRiea1x/AHtw=="}
      ]
    }"#;

    #[test]
    fn a_page_parses_with_its_token_and_objects() {
        let list: ObjectList = serde_json::from_str(PAGE).unwrap();
        assert_eq!(
            list.next_page_token.as_deref(),
            Some("CgtwaG90b3MvYi5qcGc=")
        );
        assert_eq!(list.items.len(), 3);
        assert!(!list.items[0].is_folder_placeholder());
        assert!(list.items[1].is_folder_placeholder());
        assert_eq!(list.items[2].size, 7);
    }

    #[test]
    fn an_object_becomes_a_file_entry() {
        let list: ObjectList = serde_json::from_str(PAGE).unwrap();
        let mut items = list.items.into_iter();
        let entry = items.next().unwrap().into_entry("my-bucket");
        assert_eq!(
            entry,
            FileEntry {
                key: "photos/a b+c%d é.jpg".into(),
                uri: "gs://my-bucket/photos/a b+c%d é.jpg".into(),
                size: 22,
                etag: Some("CJ+Bq4Lx8OgCEAE=".into()),
                last_modified: Some(1_700_000_000_123),
                content_type: Some("image/jpeg".into()),
                metadata: vec![
                    ("camera".into(), "x100".into()),
                    ("owner".into(), "ana".into())
                ],
            }
        );
        // Without an etag the MD5 stands in; without a content type the extension tells.
        let entry = items.nth(1).unwrap().into_entry("b");
        assert_eq!(entry.etag.as_deref(), Some("IgRRvTk95iBRiea1x/AHtw=="));
        assert_eq!(entry.content_type.as_deref(), Some("text/plain"));
        assert_eq!(entry.last_modified, None);
        assert!(entry.metadata.is_empty());
    }

    #[test]
    fn an_empty_last_page_has_neither_items_nor_token() {
        let list: ObjectList = serde_json::from_str(r#"{"kind": "storage#objects"}"#).unwrap();
        assert!(list.items.is_empty());
        assert_eq!(list.next_page_token, None);
    }

    #[test]
    fn a_malformed_size_is_an_error_naming_it() {
        let error =
            serde_json::from_str::<ObjectList>(r#"{"items": [{"name": "a", "size": "x"}]}"#)
                .unwrap_err();
        assert!(error.to_string().contains("size \"x\""), "{error}");
    }
}
