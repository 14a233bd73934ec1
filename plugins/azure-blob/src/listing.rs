//! One sync run's listing of a container: the prefix to list under (the
//! source path narrowed by the include patterns' literal prefix), List Blobs
//! pages followed by their markers, and each blob offered to the filters as a
//! file entry. A page's cursor is the `NextMarker`, so a resumed run asks for
//! the page after the last one it checkpointed.

use tributary_sdk::filter::{mime_from_extension, FilterSet};
use tributary_sdk::{ConnectorError, FileEntry, ListRequest, Listing, Page, PageBuilder};

use crate::blob_list::Blob;
use crate::config::Settings;
use crate::service::{BlobService, MAX_RESULTS_PER_PAGE};

/// A listing in progress: where it is, never what it has seen.
pub struct BlobListing {
    service: BlobService,
    container: String,
    /// Blob names start with this (`""`: the whole container).
    prefix: String,
    filters: FilterSet,
    /// The marker of the next page; `None` before the first one.
    marker: Option<String>,
    /// Blobs per request: the host's page-size hint, up to Azure's 5000.
    page_size: u32,
    finished: bool,
}

impl BlobListing {
    /// Checks the request and works out what to list; sends nothing yet.
    pub fn open(request: &ListRequest) -> Result<Self, ConnectorError> {
        let settings = Settings::parse(&request.config)?;
        let filters = FilterSet::for_request(request)?;
        let (container, source_prefix) = settings.locate(&request.source_path)?;
        let prefix = filters.listing_prefix(&source_prefix);
        Ok(Self {
            service: BlobService::new(settings),
            container,
            finished: prefix.is_none(),
            prefix: prefix.unwrap_or_default(),
            filters,
            page_size: u32::try_from(request.page_size())
                .unwrap_or(MAX_RESULTS_PER_PAGE)
                .min(MAX_RESULTS_PER_PAGE),
            marker: request
                .resume_cursor
                .clone()
                .filter(|cursor| !cursor.is_empty()),
        })
    }

    fn entry(&self, blob: Blob) -> FileEntry {
        let content_type = blob
            .content_type
            .or_else(|| mime_from_extension(&blob.name).map(str::to_owned));
        FileEntry {
            uri: format!(
                "azure://{}/{}/{}",
                self.service.account(),
                self.container,
                blob.name
            ),
            key: blob.name,
            size: blob.size,
            etag: blob.etag,
            last_modified: blob.last_modified,
            content_type,
            metadata: blob.metadata,
        }
    }
}

impl Listing for BlobListing {
    fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        if self.finished {
            return Ok(None);
        }
        let listed = self.service.list_blobs(
            &self.container,
            &self.prefix,
            self.marker.as_deref(),
            self.page_size,
        )?;
        tributary_sdk::log::debug(format!(
            "listed {} blobs of the container {} under {:?}",
            listed.blobs.len(),
            self.container,
            self.prefix
        ));
        let mut page = PageBuilder::new(&self.filters);
        for blob in listed.blobs {
            if !blob.is_folder_marker() {
                page.offer(self.entry(blob));
            }
        }
        self.finished = listed.next_marker.is_none();
        self.marker.clone_from(&listed.next_marker);
        Ok(Some(page.finish(listed.next_marker)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_sdk::Filters;

    fn request(source_path: &str, include: &[&str], cursor: Option<&str>) -> ListRequest {
        ListRequest {
            config: serde_json::json!({
                "account_name": "devstoreaccount1",
                "account_key": "a2V5",
                "endpoint_url": "http://127.0.0.1:10000/devstoreaccount1"
            })
            .to_string(),
            source_path: source_path.into(),
            filters: Filters {
                include_patterns: include.iter().map(|p| p.to_string()).collect(),
                ..Filters::default()
            },
            resume_cursor: cursor.map(str::to_owned),
            ..ListRequest::default()
        }
    }

    #[test]
    fn the_include_prefix_narrows_the_source_path() {
        let listing = BlobListing::open(&request("photos/2024/", &["2024/raw/**"], None)).unwrap();
        assert_eq!(listing.container, "photos");
        assert_eq!(listing.prefix, "2024/raw/");
        assert!(!listing.finished);

        let listing = BlobListing::open(&request("photos/2024/raw/", &["2024/**"], None)).unwrap();
        assert_eq!(listing.prefix, "2024/raw/");

        let listing = BlobListing::open(&request("photos", &["**/*.jpg"], None)).unwrap();
        assert_eq!(listing.prefix, "");
    }

    #[test]
    fn disjoint_prefixes_list_nothing_without_a_request() {
        let mut listing = BlobListing::open(&request("photos/2024/", &["2023/**"], None)).unwrap();
        assert!(listing.finished);
        assert_eq!(listing.next_page().unwrap(), None);
    }

    #[test]
    fn pages_follow_the_hint_up_to_azures_limit() {
        let mut hinted = request("photos", &[], None);
        assert_eq!(BlobListing::open(&hinted).unwrap().page_size, 1000);
        hinted.page_size_hint = 200;
        assert_eq!(BlobListing::open(&hinted).unwrap().page_size, 200);
        hinted.page_size_hint = 100_000;
        assert_eq!(BlobListing::open(&hinted).unwrap().page_size, 5000);
    }

    #[test]
    fn a_resume_cursor_is_the_next_marker() {
        let listing = BlobListing::open(&request("photos", &[], Some("2!96!abc"))).unwrap();
        assert_eq!(listing.marker.as_deref(), Some("2!96!abc"));
        let listing = BlobListing::open(&request("photos", &[], Some(""))).unwrap();
        assert_eq!(listing.marker, None);
    }

    #[test]
    fn blobs_become_entries_with_a_uri_and_a_guessed_type() {
        let listing = BlobListing::open(&request("photos", &[], None)).unwrap();
        let entry = listing.entry(Blob {
            name: "a b/ünï+%.png".into(),
            size: 3,
            etag: Some("0x8D".into()),
            last_modified: Some(5),
            content_type: None,
            metadata: vec![("k".into(), "v".into())],
        });
        assert_eq!(entry.key, "a b/ünï+%.png");
        assert_eq!(entry.uri, "azure://devstoreaccount1/photos/a b/ünï+%.png");
        assert_eq!(entry.content_type.as_deref(), Some("image/png"));
        assert_eq!(entry.metadata, [("k".to_string(), "v".to_string())]);
    }
}
