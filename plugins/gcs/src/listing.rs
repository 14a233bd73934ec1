//! One listing of a bucket: the prefix it asks for (the source path's, narrowed
//! by the include patterns' literal prefix), one `objects.list` request per
//! page, the filters, and the cursor, which is the API's `nextPageToken`, so a
//! resumed listing continues with the page after the last one checkpointed.

use tributary_sdk::filter::FilterSet;
use tributary_sdk::{ConnectorError, ListRequest, Listing, Page, PageBuilder};

use crate::config::{Settings, SourcePath};
use crate::storage::{ListQuery, Storage, MAX_RESULTS_LIMIT};

/// A listing in progress. Holds a position (the page token), never the files seen.
pub struct GcsListing {
    storage: Storage,
    bucket: String,
    /// `None` when the source path and the include patterns cannot both match
    /// anything: the listing is empty without asking.
    prefix: Option<String>,
    filters: FilterSet,
    max_results: u32,
    /// The token of the next page to fetch; `None` before the first page.
    page_token: Option<String>,
    started: bool,
    finished: bool,
}

impl GcsListing {
    /// Checks the request; makes no request yet.
    pub fn open(request: &ListRequest) -> Result<Self, ConnectorError> {
        let settings = Settings::parse(&request.config)?;
        let source = SourcePath::parse(&request.source_path)?;
        let filters = FilterSet::for_request(request)?;
        let prefix = filters.listing_prefix(&source.prefix);
        Ok(Self {
            storage: Storage::new(&settings)?,
            bucket: source.bucket,
            prefix,
            filters,
            max_results: (request.page_size() as u32).clamp(1, MAX_RESULTS_LIMIT),
            page_token: request
                .resume_cursor
                .clone()
                .filter(|cursor| !cursor.is_empty()),
            started: false,
            finished: false,
        })
    }
}

impl Listing for GcsListing {
    /// The next page, or `None` once the API's last page was returned.
    fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        if self.finished {
            return Ok(None);
        }
        let Some(prefix) = &self.prefix else {
            self.finished = true;
            // One empty page, so the host sees the listing happen.
            return Ok((!std::mem::replace(&mut self.started, true))
                .then(|| PageBuilder::new(&self.filters).finish(None)));
        };
        self.started = true;
        let list = self.storage.list_objects(&ListQuery {
            bucket: &self.bucket,
            prefix: Some(prefix),
            page_token: self.page_token.as_deref(),
            max_results: self.max_results,
        })?;
        let mut page = PageBuilder::new(&self.filters);
        for object in list.items {
            if object.is_folder_placeholder() {
                continue;
            }
            if let Err(rejection) = self.filters.check_key(&object.name) {
                page.reject(rejection);
                continue;
            }
            page.offer(object.into_entry(&self.bucket));
        }
        let cursor = list.next_page_token.filter(|token| !token.is_empty());
        self.finished = cursor.is_none();
        self.page_token.clone_from(&cursor);
        Ok(Some(page.finish(cursor)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_sdk::Filters;

    fn request(source_path: &str, include: &[&str]) -> ListRequest {
        ListRequest {
            config: r#"{"endpoint_url": "http://127.0.0.1:4443"}"#.into(),
            source_path: source_path.into(),
            filters: Filters {
                include_patterns: include.iter().map(|p| p.to_string()).collect(),
                ..Filters::default()
            },
            page_size_hint: 0,
            ..ListRequest::default()
        }
    }

    #[test]
    fn opening_pushes_the_include_prefix_down_and_reads_the_cursor() {
        let listing = GcsListing::open(&request("b/photos/", &["photos/2024/**/*.jpg"])).unwrap();
        assert_eq!(listing.bucket, "b");
        assert_eq!(listing.prefix.as_deref(), Some("photos/2024/"));
        assert_eq!(listing.max_results, 1000);
        assert_eq!(listing.page_token, None);

        let mut resumed = request("b", &[]);
        resumed.resume_cursor = Some("next-token".into());
        resumed.page_size_hint = 250;
        let listing = GcsListing::open(&resumed).unwrap();
        assert_eq!(listing.page_token.as_deref(), Some("next-token"));
        assert_eq!(listing.max_results, 250);
        assert_eq!(listing.prefix.as_deref(), Some(""));
    }

    #[test]
    fn disjoint_prefixes_give_one_empty_last_page_without_a_request() {
        let mut listing = GcsListing::open(&request("b/videos/", &["photos/*"])).unwrap();
        let page = listing.next_page().unwrap().unwrap();
        assert!(page.entries.is_empty());
        assert_eq!(page.cursor, None);
        assert_eq!(listing.next_page().unwrap(), None);
    }

    #[test]
    fn a_bad_source_path_or_filter_fails_to_open() {
        assert!(matches!(
            GcsListing::open(&request("", &[])),
            Err(ConnectorError::InvalidConfig(_))
        ));
        assert!(matches!(
            GcsListing::open(&request("b", &["[oops"])),
            Err(ConnectorError::InvalidConfig(_))
        ));
    }
}
