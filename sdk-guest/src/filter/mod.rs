//! The filter engine: one implementation of the contract's file filters for every
//! connector, so that all providers filter alike.
//!
//! [`FilterSet`] compiles the host's [`Filters`] once per listing and checks each
//! candidate file in a fixed order — pattern, extension, size, modified, MIME type —
//! reporting the first filter that dropped it as a [`Rejection`], which
//! [`FilteredCounts::record`] tallies for the page. Connectors over hierarchical
//! stores prune whole directories with [`FilterSet::may_match_under`]; connectors over
//! prefix listings push [`FilterSet::include_prefix`] down to the provider.

mod glob;
mod mime;

pub use glob::{literal_prefix, Glob, GlobError};
pub(crate) use mime::extension_of;
pub use mime::mime_from_extension;

use crate::error::ConnectorError;
use crate::types::{FileEntry, FilteredCounts, Filters, ListRequest, Timestamp};

/// Which filter dropped a file: the first one, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The key matched no include pattern, or matched an exclude pattern.
    Pattern,
    /// The key's extension is not in the extension list.
    Extension,
    /// The size is outside `min_size_bytes..=max_size_bytes`.
    Size,
    /// The modification time is outside the modified window, unknown while a window
    /// is set, or before the incremental watermark.
    Modified,
    /// The content type is not in the MIME type list, or unknown while the list is set.
    MimeType,
}

impl FilteredCounts {
    /// Counts one file dropped by `rejection`.
    pub fn record(&mut self, rejection: Rejection) {
        let counter = match rejection {
            Rejection::Pattern => &mut self.by_pattern,
            Rejection::Extension => &mut self.by_extension,
            Rejection::Size => &mut self.by_size,
            Rejection::Modified => &mut self.by_modified,
            Rejection::MimeType => &mut self.by_mime_type,
        };
        *counter += 1;
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &FilteredCounts) {
        self.by_pattern += other.by_pattern;
        self.by_extension += other.by_extension;
        self.by_size += other.by_size;
        self.by_modified += other.by_modified;
        self.by_mime_type += other.by_mime_type;
    }

    /// All files dropped, whatever the filter.
    pub fn total(&self) -> u64 {
        self.by_pattern + self.by_extension + self.by_size + self.by_modified + self.by_mime_type
    }
}

/// Compiled filters, ready to check files against.
#[derive(Debug, Clone, Default)]
pub struct FilterSet {
    include: Vec<Glob>,
    include_patterns: Vec<String>,
    exclude: Vec<Glob>,
    /// Lowercase, without the dot.
    extensions: Vec<String>,
    min_size: Option<u64>,
    max_size: Option<u64>,
    modified_after: Option<Timestamp>,
    modified_before: Option<Timestamp>,
    modified_since: Option<Timestamp>,
    mime_types: Vec<MimePattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MimePattern {
    Any,
    Family(String),
    Exact(String),
}

impl FilterSet {
    /// Compiles `filters`. An invalid glob, an empty extension, a MIME type that is not
    /// `type/subtype` or `type/*`, or an empty size or time window is an
    /// [`ConnectorError::InvalidConfig`] that says which one.
    pub fn new(filters: &Filters) -> Result<Self, ConnectorError> {
        let compile = |patterns: &[String], which: &str| {
            patterns
                .iter()
                .map(|pattern| {
                    Glob::new(pattern).map_err(|error| {
                        ConnectorError::InvalidConfig(format!("{which} pattern: {error}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let include = compile(&filters.include_patterns, "include")?;
        let exclude = compile(&filters.exclude_patterns, "exclude")?;

        let extensions = filters
            .extensions
            .iter()
            .map(|extension| {
                let normalized = extension.trim().trim_start_matches('.').to_lowercase();
                if normalized.is_empty() {
                    Err(ConnectorError::InvalidConfig(format!(
                        "the extension filter {extension:?} is empty"
                    )))
                } else {
                    Ok(normalized)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mime_types = filters
            .mime_types
            .iter()
            .map(|mime| parse_mime_pattern(mime))
            .collect::<Result<Vec<_>, _>>()?;

        if let (Some(min), Some(max)) = (filters.min_size_bytes, filters.max_size_bytes) {
            if min > max {
                return Err(ConnectorError::InvalidConfig(format!(
                    "min_size_bytes ({min}) is larger than max_size_bytes ({max})"
                )));
            }
        }
        if let (Some(after), Some(before)) = (filters.modified_after, filters.modified_before) {
            if after > before {
                return Err(ConnectorError::InvalidConfig(format!(
                    "modified_after ({after}) is later than modified_before ({before})"
                )));
            }
        }

        Ok(Self {
            include,
            include_patterns: filters.include_patterns.clone(),
            exclude,
            extensions,
            min_size: filters.min_size_bytes,
            max_size: filters.max_size_bytes,
            modified_after: filters.modified_after,
            modified_before: filters.modified_before,
            modified_since: None,
            mime_types,
        })
    }

    /// Compiles a listing's filters together with its incremental watermark
    /// (`modified_since`, see [`FilterSet::with_modified_since`]).
    pub fn for_request(request: &ListRequest) -> Result<Self, ConnectorError> {
        Ok(Self::new(&request.filters)?.with_modified_since(request.modified_since))
    }

    /// Adds the incremental watermark: files modified before `since` are rejected as
    /// [`Rejection::Modified`]. Unlike the modified window, a file whose modification
    /// time is unknown passes, since it may have changed.
    pub fn with_modified_since(mut self, since: Option<Timestamp>) -> Self {
        self.modified_since = since;
        self
    }

    /// Whether no filter is set (every file passes).
    pub fn is_empty(&self) -> bool {
        self.include.is_empty()
            && self.exclude.is_empty()
            && self.extensions.is_empty()
            && self.min_size.is_none()
            && self.max_size.is_none()
            && self.modified_after.is_none()
            && self.modified_before.is_none()
            && self.modified_since.is_none()
            && self.mime_types.is_empty()
    }

    /// Checks a file, returning the first filter that drops it, in the order pattern,
    /// extension, size, modified, MIME type.
    pub fn check(
        &self,
        key: &str,
        size: u64,
        last_modified: Option<Timestamp>,
        content_type: Option<&str>,
    ) -> Result<(), Rejection> {
        self.check_key(key)?;
        if self.min_size.is_some_and(|min| size < min)
            || self.max_size.is_some_and(|max| size > max)
        {
            return Err(Rejection::Size);
        }
        self.check_modified(last_modified)?;
        self.check_mime_type(content_type)
    }

    /// Checks a [`FileEntry`] (see [`FilterSet::check`]).
    pub fn check_entry(&self, entry: &FileEntry) -> Result<(), Rejection> {
        self.check(
            &entry.key,
            entry.size,
            entry.last_modified,
            entry.content_type.as_deref(),
        )
    }

    /// Checks only what the key alone decides (patterns, then extension), so that a
    /// connector can skip fetching metadata for files that are dropped anyway.
    pub fn check_key(&self, key: &str) -> Result<(), Rejection> {
        if !self.include.is_empty() && !self.include.iter().any(|glob| glob.is_match(key)) {
            return Err(Rejection::Pattern);
        }
        if self.exclude.iter().any(|glob| glob.is_match(key)) {
            return Err(Rejection::Pattern);
        }
        if !self.extensions.is_empty() {
            let matched = extension_of(key).is_some_and(|extension| {
                let extension = extension.to_lowercase();
                self.extensions.contains(&extension)
            });
            if !matched {
                return Err(Rejection::Extension);
            }
        }
        Ok(())
    }

    fn check_modified(&self, last_modified: Option<Timestamp>) -> Result<(), Rejection> {
        if let (Some(since), Some(modified)) = (self.modified_since, last_modified) {
            if modified < since {
                return Err(Rejection::Modified);
            }
        }
        if self.modified_after.is_none() && self.modified_before.is_none() {
            return Ok(());
        }
        let Some(modified) = last_modified else {
            return Err(Rejection::Modified);
        };
        if self.modified_after.is_some_and(|after| modified < after)
            || self.modified_before.is_some_and(|before| modified > before)
        {
            return Err(Rejection::Modified);
        }
        Ok(())
    }

    fn check_mime_type(&self, content_type: Option<&str>) -> Result<(), Rejection> {
        if self.mime_types.is_empty() {
            return Ok(());
        }
        let Some(content_type) = content_type else {
            return Err(Rejection::MimeType);
        };
        // Compare the essence: `text/plain; charset=utf-8` is `text/plain`.
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        let (family, _) = essence.split_once('/').unwrap_or((essence.as_str(), ""));
        let accepted = self.mime_types.iter().any(|pattern| match pattern {
            MimePattern::Any => true,
            MimePattern::Family(wanted) => wanted == family,
            MimePattern::Exact(wanted) => *wanted == essence,
        });
        if accepted {
            Ok(())
        } else {
            Err(Rejection::MimeType)
        }
    }

    /// Whether some file under the directory `dir` (given without a trailing `/`; `""`
    /// is the root) could pass the patterns: it could match an include pattern, and no
    /// exclude pattern drops everything under it. A walker skips the directories for
    /// which this is `false`.
    pub fn may_match_under(&self, dir: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|glob| glob.may_match_under(dir)))
            && !self
                .exclude
                .iter()
                .any(|glob| glob.matches_everything_under(dir))
    }

    /// The literal prefix shared by all include patterns, cut back to a `/` (see
    /// [`literal_prefix`]): a provider listing may start there without missing a match.
    pub fn include_prefix(&self) -> String {
        literal_prefix(&self.include_patterns)
    }

    /// Where a provider listing under `source_prefix` (the prefix part of
    /// the sync's source path) should start: the deeper of it and
    /// [`Self::include_prefix`] when one lies within the other; `None` when
    /// they diverge, since no name can start with both and nothing needs
    /// listing.
    pub fn listing_prefix(&self, source_prefix: &str) -> Option<String> {
        narrower_prefix(source_prefix, &self.include_prefix())
    }
}

fn narrower_prefix(source_prefix: &str, include_prefix: &str) -> Option<String> {
    if include_prefix.starts_with(source_prefix) {
        Some(include_prefix.to_owned())
    } else if source_prefix.starts_with(include_prefix) {
        Some(source_prefix.to_owned())
    } else {
        None
    }
}

fn parse_mime_pattern(mime: &str) -> Result<MimePattern, ConnectorError> {
    let normalized = mime.trim().to_lowercase();
    if normalized == "*" || normalized == "*/*" {
        return Ok(MimePattern::Any);
    }
    match normalized.split_once('/') {
        Some((family, "*")) if !family.is_empty() && family != "*" => {
            Ok(MimePattern::Family(family.to_owned()))
        }
        Some((family, subtype))
            if !family.is_empty()
                && !subtype.is_empty()
                && !family.contains('*')
                && !subtype.contains(['*', '/']) =>
        {
            Ok(MimePattern::Exact(normalized))
        }
        _ => Err(ConnectorError::InvalidConfig(format!(
            "the MIME type filter {mime:?} is neither `type/subtype` nor `type/*`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(filters: Filters) -> FilterSet {
        FilterSet::new(&filters).unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn the_listing_starts_at_the_deeper_prefix_and_disjoint_ones_list_nothing() {
        let under = |include: &[&str], source: &str| {
            set(Filters {
                include_patterns: strings(include),
                ..Filters::default()
            })
            .listing_prefix(source)
        };
        assert_eq!(under(&[], ""), Some(String::new()));
        assert_eq!(under(&[], "photos/"), Some("photos/".into()));
        assert_eq!(
            under(&["photos/2024/*.jpg"], ""),
            Some("photos/2024/".into())
        );
        assert_eq!(
            under(&["photos/2024/*.jpg"], "photos"),
            Some("photos/2024/".into())
        );
        assert_eq!(
            under(&["photos/**"], "photos/2024/x"),
            Some("photos/2024/x".into())
        );
        assert_eq!(under(&["photos/**"], "videos/"), None);
    }

    #[test]
    fn no_filters_accept_everything() {
        let filters = set(Filters::default());
        assert!(filters.is_empty());
        assert_eq!(filters.check("any/key", 0, None, None), Ok(()));
        assert!(filters.may_match_under("any"));
        assert_eq!(filters.include_prefix(), "");
    }

    #[test]
    fn include_patterns_any_of_them() {
        let filters = set(Filters {
            include_patterns: strings(&["photos/**", "*.txt"]),
            ..Filters::default()
        });
        assert_eq!(filters.check("photos/a/b.jpg", 1, None, None), Ok(()));
        assert_eq!(filters.check("notes.txt", 1, None, None), Ok(()));
        assert_eq!(
            filters.check("docs/notes.txt", 1, None, None),
            Err(Rejection::Pattern)
        );
    }

    #[test]
    fn exclude_patterns_none_of_them() {
        let filters = set(Filters {
            exclude_patterns: strings(&["**/*.tmp", "cache/**"]),
            ..Filters::default()
        });
        assert_eq!(filters.check("a/b.jpg", 1, None, None), Ok(()));
        assert_eq!(
            filters.check("a/b.tmp", 1, None, None),
            Err(Rejection::Pattern)
        );
        assert_eq!(
            filters.check("cache/x", 1, None, None),
            Err(Rejection::Pattern)
        );
        assert!(!filters.may_match_under("cache"));
        assert!(filters.may_match_under("a"));
    }

    #[test]
    fn include_and_exclude_combine() {
        let filters = set(Filters {
            include_patterns: strings(&["photos/**"]),
            exclude_patterns: strings(&["photos/private/**"]),
            ..Filters::default()
        });
        assert_eq!(filters.check("photos/cat.jpg", 1, None, None), Ok(()));
        assert_eq!(
            filters.check("photos/private/cat.jpg", 1, None, None),
            Err(Rejection::Pattern)
        );
        assert!(filters.may_match_under("photos"));
        assert!(!filters.may_match_under("photos/private"));
        assert!(!filters.may_match_under("videos"));
        assert_eq!(filters.include_prefix(), "photos/");
    }

    #[test]
    fn extensions_are_case_insensitive_and_dotless() {
        let filters = set(Filters {
            extensions: strings(&["JPG", ".png"]),
            ..Filters::default()
        });
        assert_eq!(filters.check("a/cat.jpg", 1, None, None), Ok(()));
        assert_eq!(filters.check("a/cat.JPG", 1, None, None), Ok(()));
        assert_eq!(filters.check("a/cat.Png", 1, None, None), Ok(()));
        assert_eq!(
            filters.check("a/cat.gif", 1, None, None),
            Err(Rejection::Extension)
        );
        assert_eq!(
            filters.check("a.jpg/cat", 1, None, None),
            Err(Rejection::Extension)
        );
        assert_eq!(
            filters.check("a/jpg", 1, None, None),
            Err(Rejection::Extension)
        );
        assert_eq!(
            filters.check("a/cat.jpg.bak", 1, None, None),
            Err(Rejection::Extension)
        );
    }

    #[test]
    fn sizes_are_inclusive() {
        let filters = set(Filters {
            min_size_bytes: Some(10),
            max_size_bytes: Some(20),
            ..Filters::default()
        });
        assert_eq!(filters.check("k", 9, None, None), Err(Rejection::Size));
        assert_eq!(filters.check("k", 10, None, None), Ok(()));
        assert_eq!(filters.check("k", 20, None, None), Ok(()));
        assert_eq!(filters.check("k", 21, None, None), Err(Rejection::Size));
        let only_min = set(Filters {
            min_size_bytes: Some(1),
            ..Filters::default()
        });
        assert_eq!(only_min.check("k", 0, None, None), Err(Rejection::Size));
        assert_eq!(only_min.check("k", u64::MAX, None, None), Ok(()));
    }

    #[test]
    fn modified_window_is_inclusive_and_needs_a_time() {
        let filters = set(Filters {
            modified_after: Some(1_000),
            modified_before: Some(2_000),
            ..Filters::default()
        });
        assert_eq!(
            filters.check("k", 1, Some(999), None),
            Err(Rejection::Modified)
        );
        assert_eq!(filters.check("k", 1, Some(1_000), None), Ok(()));
        assert_eq!(filters.check("k", 1, Some(2_000), None), Ok(()));
        assert_eq!(
            filters.check("k", 1, Some(2_001), None),
            Err(Rejection::Modified)
        );
        assert_eq!(filters.check("k", 1, None, None), Err(Rejection::Modified));
        let only_before = set(Filters {
            modified_before: Some(0),
            ..Filters::default()
        });
        assert_eq!(only_before.check("k", 1, Some(-5), None), Ok(()));
        assert_eq!(
            only_before.check("k", 1, None, None),
            Err(Rejection::Modified)
        );
    }

    #[test]
    fn modified_since_drops_older_files_but_keeps_unknown_times() {
        let filters = set(Filters::default()).with_modified_since(Some(5_000));
        assert!(!filters.is_empty());
        assert_eq!(
            filters.check("k", 1, Some(4_999), None),
            Err(Rejection::Modified)
        );
        assert_eq!(filters.check("k", 1, Some(5_000), None), Ok(()));
        assert_eq!(filters.check("k", 1, None, None), Ok(()));
    }

    #[test]
    fn for_request_uses_the_watermark() {
        let request = ListRequest {
            modified_since: Some(10),
            filters: Filters {
                extensions: strings(&["txt"]),
                ..Filters::default()
            },
            ..ListRequest::default()
        };
        let filters = FilterSet::for_request(&request).unwrap();
        assert_eq!(
            filters.check("a.txt", 1, Some(9), None),
            Err(Rejection::Modified)
        );
        assert_eq!(
            filters.check("a.md", 1, Some(9), None),
            Err(Rejection::Extension)
        );
    }

    #[test]
    fn mime_types_exact_or_family() {
        let filters = set(Filters {
            mime_types: strings(&["image/*", "application/PDF"]),
            ..Filters::default()
        });
        assert_eq!(filters.check("k", 1, None, Some("image/png")), Ok(()));
        assert_eq!(filters.check("k", 1, None, Some("IMAGE/JPEG")), Ok(()));
        assert_eq!(filters.check("k", 1, None, Some("application/pdf")), Ok(()));
        assert_eq!(
            filters.check("k", 1, None, Some("application/pdf; charset=binary")),
            Ok(())
        );
        assert_eq!(
            filters.check("k", 1, None, Some("video/mp4")),
            Err(Rejection::MimeType)
        );
        assert_eq!(
            filters.check("k", 1, None, Some("application/pdfx")),
            Err(Rejection::MimeType)
        );
        assert_eq!(filters.check("k", 1, None, None), Err(Rejection::MimeType));
        let any = set(Filters {
            mime_types: strings(&["*/*"]),
            ..Filters::default()
        });
        assert_eq!(any.check("k", 1, None, Some("x/y")), Ok(()));
        assert_eq!(any.check("k", 1, None, None), Err(Rejection::MimeType));
    }

    #[test]
    fn the_first_failing_filter_is_reported() {
        let filters = set(Filters {
            include_patterns: strings(&["keep/**"]),
            extensions: strings(&["jpg"]),
            min_size_bytes: Some(10),
            modified_after: Some(100),
            mime_types: strings(&["image/jpeg"]),
            ..Filters::default()
        });
        let check = |key, size, modified, mime| filters.check(key, size, modified, mime);
        assert_eq!(check("drop/a.png", 1, None, None), Err(Rejection::Pattern));
        assert_eq!(
            check("keep/a.png", 1, None, None),
            Err(Rejection::Extension)
        );
        assert_eq!(check("keep/a.jpg", 1, None, None), Err(Rejection::Size));
        assert_eq!(
            check("keep/a.jpg", 10, None, None),
            Err(Rejection::Modified)
        );
        assert_eq!(
            check("keep/a.jpg", 10, Some(100), Some("image/png")),
            Err(Rejection::MimeType)
        );
        assert_eq!(
            check("keep/a.jpg", 10, Some(100), Some("image/jpeg")),
            Ok(())
        );
    }

    #[test]
    fn check_entry_reads_the_entry() {
        let filters = set(Filters {
            mime_types: strings(&["text/*"]),
            ..Filters::default()
        });
        let mut entry = FileEntry {
            key: "a.txt".into(),
            content_type: Some("text/plain".into()),
            ..FileEntry::default()
        };
        assert_eq!(filters.check_entry(&entry), Ok(()));
        entry.content_type = None;
        assert_eq!(filters.check_entry(&entry), Err(Rejection::MimeType));
    }

    #[test]
    fn invalid_filters_are_invalid_config_with_a_clear_message() {
        let error = FilterSet::new(&Filters {
            include_patterns: strings(&["photos/[abc"]),
            ..Filters::default()
        })
        .unwrap_err();
        let ConnectorError::InvalidConfig(message) = &error else {
            panic!("{error:?}");
        };
        assert!(message.contains("include pattern"), "{message}");
        assert!(message.contains("photos/[abc"), "{message}");
        assert!(message.contains("not closed"), "{message}");

        let error = FilterSet::new(&Filters {
            exclude_patterns: strings(&["{a"]),
            ..Filters::default()
        })
        .unwrap_err();
        assert!(error.message().contains("exclude pattern"), "{error}");

        for filters in [
            Filters {
                extensions: strings(&[" . "]),
                ..Filters::default()
            },
            Filters {
                mime_types: strings(&["image"]),
                ..Filters::default()
            },
            Filters {
                mime_types: strings(&["*/png"]),
                ..Filters::default()
            },
            Filters {
                min_size_bytes: Some(2),
                max_size_bytes: Some(1),
                ..Filters::default()
            },
            Filters {
                modified_after: Some(2),
                modified_before: Some(1),
                ..Filters::default()
            },
        ] {
            let error = FilterSet::new(&filters).unwrap_err();
            assert!(
                matches!(error, ConnectorError::InvalidConfig(_)),
                "{filters:?}: {error:?}"
            );
        }
    }

    #[test]
    fn counts_record_by_rejection() {
        let mut counts = FilteredCounts::default();
        for rejection in [
            Rejection::Pattern,
            Rejection::Pattern,
            Rejection::Extension,
            Rejection::Size,
            Rejection::Modified,
            Rejection::MimeType,
        ] {
            counts.record(rejection);
        }
        assert_eq!(
            counts,
            FilteredCounts {
                by_pattern: 2,
                by_extension: 1,
                by_size: 1,
                by_modified: 1,
                by_mime_type: 1,
            }
        );
        assert_eq!(counts.total(), 6);
        let mut sum = FilteredCounts::default();
        sum.add(&counts);
        sum.add(&counts);
        assert_eq!(sum.total(), 12);
        assert_eq!(sum.by_pattern, 4);
    }
}
