//! Stage 3: turning listed files into object candidates for the idempotent
//! upsert. Pure: no I/O.

use chrono::TimeZone;

use crate::model::{new_id, now, Blob, BlobDetails, BlobType, Metadata, Object, ObjectSource};
use crate::runtime::contract::FileEntry;

/// Who a run's objects belong to.
pub struct ObjectOrigin<'a> {
    pub bucket_id: &'a str,
    pub provider_type: &'a str,
    pub connection_id: &'a str,
    pub sync_config_id: &'a str,
    pub sync_job_id: &'a str,
}

/// A fresh object (version 1) for one listed file.
pub fn candidate(origin: &ObjectOrigin<'_>, entry: &FileEntry) -> Object {
    let timestamp = now();
    let last_modified = entry
        .last_modified
        .and_then(|ms| chrono::Utc.timestamp_millis_opt(ms).single());
    let filename = entry
        .key
        .rsplit('/')
        .next()
        .unwrap_or(&entry.key)
        .to_string();
    let metadata: Metadata = entry
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    Object {
        object_id: new_id("obj"),
        bucket_id: origin.bucket_id.to_string(),
        key: entry.key.clone(),
        blobs: vec![Blob {
            property: "content".into(),
            blob_type: blob_type(entry.content_type.as_deref(), &entry.key),
            url: entry.uri.clone(),
            details: BlobDetails {
                filename,
                size_bytes: entry.size,
                mime_type: entry.content_type.clone(),
                hash: entry.etag.clone(),
            },
        }],
        source: ObjectSource {
            provider_type: origin.provider_type.to_string(),
            connection_id: origin.connection_id.to_string(),
            sync_config_id: origin.sync_config_id.to_string(),
            uri: entry.uri.clone(),
            etag: entry.etag.clone(),
            last_modified,
        },
        metadata,
        version: 1,
        sync_job_id: origin.sync_job_id.to_string(),
        batch_id: None,
        created_at: timestamp,
        updated_at: timestamp,
        last_seen_job_id: origin.sync_job_id.to_string(),
    }
}

/// The blob type from the MIME type, else from the extension.
pub fn blob_type(mime: Option<&str>, key: &str) -> BlobType {
    if let Some(mime) = mime {
        let family = mime.split('/').next().unwrap_or("");
        match (family, mime) {
            ("image", _) => return BlobType::Image,
            ("video", _) => return BlobType::Video,
            ("audio", _) => return BlobType::Audio,
            ("text", _) | (_, "application/json") => return BlobType::Text,
            (_, "application/pdf") => return BlobType::Pdf,
            _ => {}
        }
    }
    let ext = key
        .rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" | "png" | "gif" | "webp" | "bmp" | "tif" | "tiff" | "svg" | "heic" => {
            BlobType::Image
        }
        "mp4" | "mov" | "webm" | "mkv" | "avi" | "m4v" => BlobType::Video,
        "mp3" | "wav" | "flac" | "ogg" | "m4a" | "aac" => BlobType::Audio,
        "txt" | "md" | "csv" | "json" | "html" | "htm" | "xml" | "yaml" | "yml" | "log" => {
            BlobType::Text
        }
        "pdf" => BlobType::Pdf,
        _ => BlobType::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_type_prefers_mime_then_extension() {
        assert_eq!(blob_type(Some("image/png"), "x.bin"), BlobType::Image);
        assert_eq!(blob_type(Some("application/pdf"), "x"), BlobType::Pdf);
        assert_eq!(blob_type(None, "a/b/Movie.MP4"), BlobType::Video);
        assert_eq!(
            blob_type(Some("application/octet-stream"), "notes.txt"),
            BlobType::Text
        );
        assert_eq!(blob_type(None, "archive.tar.gz"), BlobType::Other);
        assert_eq!(blob_type(None, "no-extension"), BlobType::Other);
    }

    #[test]
    fn candidate_carries_the_source() {
        let origin = ObjectOrigin {
            bucket_id: "bkt_1",
            provider_type: "local",
            connection_id: "conn_1",
            sync_config_id: "sync_1",
            sync_job_id: "job_1",
        };
        let entry = FileEntry {
            key: "photos/cat.jpg".into(),
            uri: "file:///data/photos/cat.jpg".into(),
            size: 42,
            etag: Some("abc".into()),
            last_modified: Some(1_700_000_000_000),
            content_type: Some("image/jpeg".into()),
            metadata: vec![("owner".into(), "ana".into())],
        };
        let object = candidate(&origin, &entry);
        assert!(object.object_id.starts_with("obj_"));
        assert_eq!(object.blobs[0].details.filename, "cat.jpg");
        assert_eq!(object.blobs[0].blob_type, BlobType::Image);
        assert_eq!(object.source.etag.as_deref(), Some("abc"));
        assert_eq!(
            object.source.last_modified.unwrap().timestamp_millis(),
            1_700_000_000_000
        );
        assert_eq!(object.metadata["owner"], "ana");
        assert_eq!(object.version, 1);
    }
}
