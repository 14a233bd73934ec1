//! One listing of `bucket/prefix`: ListObjectsV2 pages in key order, one
//! plugin page per S3 page, the continuation token as the resume cursor.
//!
//! The key prefix is the longer of the source path's prefix and the include
//! patterns' literal prefix. Keys come URL-encoded (`encoding-type=url`) from
//! stores that honour it; since some S3-compatible stores echo the parameter
//! without encoding anything, [`open`](S3Listing::open) first asks the store
//! to echo an awkward `start-after` and decodes keys only when it came back
//! encoded. A HEAD per file fills in what the listing lacks: content type
//! and metadata when the config asks, and the ETag from stores whose
//! listings leave it out; a page's HEADs are in flight together. A HEAD that
//! fails for a reason of its own makes a per-file failure; one that fails
//! because the store is unreachable or refuses the credentials fails the
//! whole page.

use tributary_sdk::encoding::percent_decode;
use tributary_sdk::filter::{mime_from_extension, FilterSet, Rejection};
use tributary_sdk::{
    log, ConnectorError, FileEntry, FileFailure, ListRequest, Listing, Page, PageBuilder,
};

use crate::client::{ListParams, ObjectHead, S3Client};
use crate::config::{split_source_path, Settings};
use crate::response::ListedObject;

/// Appended to the prefix to make the `start-after` of the encoding probe:
/// a space and a non-ASCII character, which URL encoding must change.
const PROBE_SUFFIX: &str = "\u{FFFD} tributary encoding probe";

/// A listing in progress.
pub struct S3Listing {
    client: S3Client,
    bucket: String,
    /// `None` when the source path and the include patterns cannot overlap:
    /// nothing is listed.
    prefix: Option<String>,
    filters: FilterSet,
    max_keys: u32,
    include_content_type: bool,
    include_metadata: bool,
    /// Whether the store URL-encodes keys when asked.
    store_encodes_keys: bool,
    /// The continuation token of the next request.
    token: Option<String>,
    finished: bool,
    /// Whether the missing-ETag fallback was already logged.
    told_about_etags: bool,
}

impl S3Listing {
    /// Checks the config and the source path, and asks the store whether it
    /// URL-encodes keys (which also proves the credentials and the bucket).
    pub fn open(request: &ListRequest) -> Result<Self, ConnectorError> {
        let settings = Settings::parse(&request.config)?;
        let (bucket, source_prefix) = split_source_path(&request.source_path)?;
        let filters = FilterSet::for_request(request)?;
        let prefix = filters.listing_prefix(&source_prefix);
        let client = S3Client::new(&settings);
        let store_encodes_keys = match &prefix {
            Some(prefix) => probe_key_encoding(&client, &bucket, prefix)?,
            None => false,
        };
        let hint = u32::try_from(request.page_size()).unwrap_or(u32::MAX);
        Ok(Self {
            client,
            bucket,
            prefix,
            filters,
            max_keys: settings.max_keys.min(hint).max(1),
            include_content_type: settings.include_content_type,
            include_metadata: settings.include_metadata,
            store_encodes_keys,
            token: request
                .resume_cursor
                .clone()
                .filter(|cursor| !cursor.is_empty()),
            finished: false,
            told_about_etags: false,
        })
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Turns one listed object into an entry for the page, with whether it
    /// needs a HEAD; `None` for a folder marker or (counted on `page`) a file
    /// the filters drop.
    fn candidate(
        &self,
        page: &mut PageBuilder<'_>,
        object: ListedObject,
        decode: bool,
    ) -> Option<(FileEntry, bool)> {
        let key = if decode {
            percent_decode(&object.key, true)
        } else {
            object.key
        };
        // A zero-byte `folder/` object is a console's folder marker, not a file.
        if key.ends_with('/') && object.size == 0 {
            return None;
        }
        let entry = FileEntry {
            uri: self.uri(&key),
            content_type: mime_from_extension(&key).map(str::to_owned),
            key,
            size: object.size,
            etag: object.etag,
            last_modified: object.last_modified,
            metadata: Vec::new(),
        };
        let needs_head = entry.etag.is_none() || self.include_content_type || self.include_metadata;
        if needs_head {
            // Only files that may pass are worth a request.
            match page.filters().check_entry(&entry) {
                Err(Rejection::MimeType) if self.include_content_type => {}
                Err(rejection) => {
                    page.reject(rejection);
                    return None;
                }
                Ok(()) => {}
            }
        }
        Some((entry, needs_head))
    }

    /// Puts the listed objects on `page` in key order, with the HEADs of
    /// those that need one in flight together.
    fn fill_page(
        &mut self,
        page: &mut PageBuilder<'_>,
        objects: Vec<ListedObject>,
        decode: bool,
    ) -> Result<(), ConnectorError> {
        let candidates: Vec<(FileEntry, bool)> = objects
            .into_iter()
            .filter_map(|object| self.candidate(page, object, decode))
            .collect();
        let keys: Vec<String> = candidates
            .iter()
            .filter(|(_, needs_head)| *needs_head)
            .map(|(entry, _)| entry.key.clone())
            .collect();
        if !self.told_about_etags && candidates.iter().any(|(e, _)| e.etag.is_none()) {
            self.told_about_etags = true;
            log::info(format!(
                "{} lists objects without ETags: reading each file's ETag with a HEAD request",
                self.client.endpoint().describe()
            ));
        }
        let mut heads = self.client.head_objects(&self.bucket, &keys);
        for (mut entry, needs_head) in candidates {
            if needs_head {
                match heads.next().expect("a HEAD for every file that needs one") {
                    Ok(Some(head)) => self.complete(&mut entry, head),
                    // Deleted since it was listed.
                    Ok(None) => continue,
                    // The store is unreachable or refuses these credentials:
                    // every other file would fail alike, so the page fails
                    // (the HEADs not yet taken are never sent) and the host
                    // retries it from the last cursor.
                    Err(error)
                        if error.is_retryable()
                            || matches!(error, ConnectorError::Unauthorized(_)) =>
                    {
                        return Err(error)
                    }
                    // Something about this one file.
                    Err(error) => {
                        page.fail(FileFailure {
                            key: entry.key,
                            uri: entry.uri,
                            error,
                        });
                        continue;
                    }
                }
            }
            page.offer(entry);
        }
        Ok(())
    }

    /// Fills in from a HEAD what the listing left out: the ETag if missing,
    /// and the content type and metadata if the config asks.
    fn complete(&self, entry: &mut FileEntry, head: ObjectHead) {
        if entry.etag.is_none() {
            entry.etag = head.etag;
        }
        if self.include_content_type && head.content_type.is_some() {
            entry.content_type = head.content_type;
        }
        if self.include_metadata {
            entry.metadata = head.metadata;
        }
    }
}

impl Listing for S3Listing {
    fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        if self.finished {
            return Ok(None);
        }
        let Some(prefix) = self.prefix.clone() else {
            self.finished = true;
            return Ok(Some(PageBuilder::new(&self.filters).finish(None)));
        };
        let listed = self.client.list_objects(
            &self.bucket,
            &ListParams {
                prefix: &prefix,
                continuation_token: self.token.as_deref(),
                start_after: None,
                max_keys: self.max_keys,
            },
        )?;
        let decode = self.store_encodes_keys && listed.encoding_type.as_deref() == Some("url");
        let cursor = match (listed.is_truncated, listed.next_continuation_token) {
            (false, _) => None,
            (true, Some(token)) => Some(token),
            (true, None) => {
                return Err(ConnectorError::Fatal(format!(
                    "{} said the listing of s3://{}/{prefix} goes on but sent no continuation \
                     token",
                    self.client.endpoint().describe(),
                    self.bucket
                )))
            }
        };
        // Borrow the filters apart from the listing state; put back below.
        let filters = std::mem::take(&mut self.filters);
        let mut page = PageBuilder::new(&filters);
        let outcome = self.fill_page(&mut page, listed.objects, decode);
        let page = page.finish(cursor.clone());
        self.filters = filters;
        outcome?;
        self.finished = cursor.is_none();
        self.token = cursor;
        Ok(Some(page))
    }
}

/// Whether the store URL-encodes keys when asked to: a one-key listing
/// under `prefix` with a `start-after` that encoding must change; the store
/// echoes `start-after`, encoded or not.
fn probe_key_encoding(
    client: &S3Client,
    bucket: &str,
    prefix: &str,
) -> Result<bool, ConnectorError> {
    let start_after = format!("{prefix}{PROBE_SUFFIX}");
    let probe = client.list_objects(
        bucket,
        &ListParams {
            prefix,
            continuation_token: None,
            start_after: Some(&start_after),
            max_keys: 1,
        },
    )?;
    Ok(store_encoded(
        probe.encoding_type.as_deref(),
        probe.start_after.as_deref(),
        &start_after,
    ))
}

/// Reads the probe's answer: the store encodes keys when it says so and did
/// not echo `start-after` verbatim.
fn store_encoded(encoding_type: Option<&str>, echoed: Option<&str>, sent: &str) -> bool {
    encoding_type == Some("url") && echoed != Some(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_sdk::encoding::percent_encode;

    #[test]
    fn the_probe_tells_encoding_stores_from_echoing_ones() {
        let sent = format!("a b/{PROBE_SUFFIX}");
        // Amazon S3 and most compatible stores encode what they echo.
        let encoded = percent_encode(&sent, true).replace("%20", "+");
        assert!(store_encoded(Some("url"), Some(&encoded), &sent));
        // A store that echoes the parameter but not the encoding.
        assert!(!store_encoded(Some("url"), Some(&sent), &sent));
        // One that ignores the parameter altogether.
        assert!(!store_encoded(None, Some(&sent), &sent));
        assert!(!store_encoded(None, None, &sent));
        // One that encodes but does not echo start-after: trust its word.
        assert!(store_encoded(Some("url"), None, &sent));
    }

    #[test]
    fn encoded_keys_decode_with_plus_as_space() {
        // What S3 sends for the key `a b+c%/ü.txt` with encoding-type=url.
        assert_eq!(
            percent_decode("a+b%2Bc%25/%C3%BC.txt", true),
            "a b+c%/ü.txt"
        );
    }
}
