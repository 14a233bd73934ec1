//! Assembling one page: candidates go through the filters, drops are counted.

use crate::filter::{FilterSet, Rejection};
use crate::types::{FileEntry, FileFailure, FilteredCounts, Page};

/// Collects one [`Page`]: offer each candidate file, record per-file failures, then
/// [`finish`](PageBuilder::finish) with the cursor.
///
/// ```
/// use tributary_sdk::{filter::FilterSet, FileEntry, Filters, PageBuilder};
///
/// let filters = FilterSet::new(&Filters {
///     extensions: vec!["jpg".into()],
///     ..Filters::default()
/// })?;
/// let mut page = PageBuilder::new(&filters);
/// page.offer(FileEntry { key: "cat.jpg".into(), ..FileEntry::default() });
/// page.offer(FileEntry { key: "cat.txt".into(), ..FileEntry::default() });
/// let page = page.finish(None);
/// assert_eq!(page.entries.len(), 1);
/// assert_eq!(page.filtered.by_extension, 1);
/// # Ok::<(), tributary_sdk::ConnectorError>(())
/// ```
#[derive(Debug)]
pub struct PageBuilder<'f> {
    filters: &'f FilterSet,
    entries: Vec<FileEntry>,
    failures: Vec<FileFailure>,
    filtered: FilteredCounts,
}

impl<'f> PageBuilder<'f> {
    /// An empty page that checks entries against `filters`.
    pub fn new(filters: &'f FilterSet) -> Self {
        Self {
            filters,
            entries: Vec::new(),
            failures: Vec::new(),
            filtered: FilteredCounts::default(),
        }
    }

    /// Adds `entry` if it passes the filters, otherwise counts the filter that dropped
    /// it. Returns whether it was added.
    pub fn offer(&mut self, entry: FileEntry) -> bool {
        match self.filters.check_entry(&entry) {
            Ok(()) => {
                self.entries.push(entry);
                true
            }
            Err(rejection) => {
                self.filtered.record(rejection);
                false
            }
        }
    }

    /// Counts a file that the connector dropped itself, e.g. after
    /// [`FilterSet::check_key`] ruled it out before its metadata was fetched.
    pub fn reject(&mut self, rejection: Rejection) {
        self.filtered.record(rejection);
    }

    /// Adds a file that could not be read or described.
    pub fn fail(&mut self, failure: FileFailure) {
        self.failures.push(failure);
    }

    /// The filters this page checks against.
    pub fn filters(&self) -> &'f FilterSet {
        self.filters
    }

    /// Entries plus failures so far: what counts against the page size.
    pub fn len(&self) -> usize {
        self.entries.len() + self.failures.len()
    }

    /// Whether the page has neither entries nor failures (it may still have counted
    /// filtered files).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Files examined so far: entries, failures and filtered files.
    pub fn examined(&self) -> u64 {
        self.len() as u64 + self.filtered.total()
    }

    /// The finished page, resuming after `cursor` (`None` on the last page).
    pub fn finish(self, cursor: Option<String>) -> Page {
        Page {
            entries: self.entries,
            failures: self.failures,
            cursor,
            filtered: self.filtered,
        }
    }
}
