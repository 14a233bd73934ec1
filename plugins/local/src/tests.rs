//! Native tests: the walk runs against a scratch folder standing in for the mount.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use tributary_sdk::{ConnectorError, Filters, ListRequest, Listing, Page};

use super::{normalize_source_path, LocalListing};

/// A scratch folder removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(files: &[&str]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tributary-local-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        let scratch = Self(path);
        for file in files {
            scratch.write(file, file.as_bytes());
        }
        scratch
    }

    fn write(&self, key: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(key);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, contents).unwrap();
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn request(source_path: &str, page_size: u32) -> ListRequest {
    ListRequest {
        config: String::new(),
        source_path: source_path.into(),
        page_size_hint: page_size,
        ..ListRequest::default()
    }
}

fn open(scratch: &Scratch, request: &ListRequest) -> Result<LocalListing, ConnectorError> {
    LocalListing::open(scratch.path(), "/data/root/", request)
}

fn pages(scratch: &Scratch, request: &ListRequest) -> Vec<Page> {
    let mut listing = open(scratch, request).unwrap();
    let mut pages = Vec::new();
    while let Some(page) = listing.next_page().unwrap() {
        pages.push(page);
        assert!(pages.len() < 10_000, "the listing does not end");
    }
    pages
}

fn keys(pages: &[Page]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|page| page.entries.iter().map(|entry| entry.key.clone()))
        .collect()
}

#[test]
fn lists_every_file_in_byte_wise_key_order() {
    let scratch = Scratch::new(&["a0", "a/b", "a.txt", "a-b", "b/c/d.jpg", "b/c.txt", "B"]);
    let all = keys(&pages(&scratch, &request("", 0)));
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert_eq!(
        all,
        ["B", "a-b", "a.txt", "a/b", "a0", "b/c.txt", "b/c/d.jpg"]
    );
}

#[test]
fn entries_describe_the_file() {
    let scratch = Scratch::new(&[]);
    let path = scratch.write("photos/cat.JPG", b"meow!");
    let modified = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let pages = pages(&scratch, &request("", 0));
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].cursor, None);
    let entry = &pages[0].entries[0];
    assert_eq!(entry.key, "photos/cat.JPG");
    assert_eq!(entry.uri, "file:///data/root/photos/cat.JPG");
    assert_eq!(entry.size, 5);
    assert_eq!(entry.last_modified, Some(1_700_000_000_123));
    assert_eq!(entry.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(
        entry.etag.as_deref(),
        Some(format!("5-{:x}", 1_700_000_000_123_000_000i128).as_str())
    );
    assert!(entry.metadata.is_empty());
}

#[test]
fn pages_hold_the_hinted_number_of_entries_and_resume_from_their_cursor() {
    let files: Vec<String> = (0..25)
        .map(|i| format!("d{}/f{:02}.txt", i % 3, i))
        .collect();
    let scratch = Scratch::new(&files.iter().map(String::as_str).collect::<Vec<_>>());
    let pages = pages(&scratch, &request("", 10));
    let sizes: Vec<usize> = pages.iter().map(|page| page.entries.len()).collect();
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(pages[2].cursor, None);
    let all = keys(&pages);
    assert_eq!(all.len(), 25);

    // Resuming from each page's cursor lists exactly what came after it.
    for (index, page) in pages.iter().enumerate() {
        let Some(cursor) = &page.cursor else { continue };
        assert_eq!(cursor, &page.entries.last().unwrap().key);
        let mut resumed = request("", 10);
        resumed.resume_cursor = Some(cursor.clone());
        let rest = keys(&self::pages(&scratch, &resumed));
        let expected: Vec<String> = pages[index + 1..]
            .iter()
            .flat_map(|page| page.entries.iter().map(|entry| entry.key.clone()))
            .collect();
        assert_eq!(rest, expected);
    }
}

#[test]
fn a_page_boundary_at_the_end_is_followed_by_none() {
    let scratch = Scratch::new(&["a", "b"]);
    let mut listing = open(&scratch, &request("", 2)).unwrap();
    let page = listing.next_page().unwrap().unwrap();
    assert_eq!(page.entries.len(), 2);
    assert_eq!(page.cursor.as_deref(), Some("b"));
    assert_eq!(listing.next_page().unwrap(), None);
    assert_eq!(listing.next_page().unwrap(), None);
}

#[test]
fn an_empty_folder_gives_one_empty_last_page() {
    let scratch = Scratch::new(&[]);
    let mut listing = open(&scratch, &request("", 0)).unwrap();
    let page = listing.next_page().unwrap().unwrap();
    assert!(page.entries.is_empty());
    assert_eq!(page.cursor, None);
    assert_eq!(listing.next_page().unwrap(), None);
}

#[test]
fn resume_skips_directories_before_the_cursor() {
    let scratch = Scratch::new(&["a/1", "a/2", "b/1", "b/2", "c/1"]);
    let mut resumed = request("", 0);
    resumed.resume_cursor = Some("b/1".into());
    assert_eq!(keys(&pages(&scratch, &resumed)), ["b/2", "c/1"]);
    resumed.resume_cursor = Some("b".into());
    assert_eq!(keys(&pages(&scratch, &resumed)), ["b/1", "b/2", "c/1"]);
    resumed.resume_cursor = Some("z".into());
    assert_eq!(keys(&pages(&scratch, &resumed)), Vec::<String>::new());
}

#[test]
fn source_path_is_a_sub_path_and_keys_stay_relative_to_the_root() {
    let scratch = Scratch::new(&["top.txt", "photos/2024/a.jpg", "photos/2023/b.jpg"]);
    for source in ["photos/2024", "/photos/2024/", "./photos/./2024"] {
        assert_eq!(
            keys(&pages(&scratch, &request(source, 0))),
            ["photos/2024/a.jpg"],
            "{source}"
        );
    }
    for source in ["", ".", "/"] {
        assert_eq!(keys(&pages(&scratch, &request(source, 0))).len(), 3);
    }
}

#[test]
fn escaping_or_missing_source_paths_are_refused() {
    let scratch = Scratch::new(&["a.txt"]);
    assert!(matches!(
        open(&scratch, &request("../etc", 0)),
        Err(ConnectorError::InvalidConfig(_))
    ));
    assert!(matches!(
        open(&scratch, &request("photos/../../x", 0)),
        Err(ConnectorError::InvalidConfig(_))
    ));
    let Err(ConnectorError::NotFound(message)) = open(&scratch, &request("missing", 0)) else {
        panic!("a missing source path should be NotFound");
    };
    assert!(message.contains("file:///data/root/missing"), "{message}");
    assert!(matches!(
        open(&scratch, &request("a.txt", 0)),
        Err(ConnectorError::NotFound(_))
    ));
    assert_eq!(normalize_source_path("a//b/./c/").unwrap(), "a/b/c");
}

#[test]
fn filters_apply_and_are_counted() {
    let scratch = Scratch::new(&[
        "photos/a.jpg",
        "photos/b.png",
        "photos/c.txt",
        "photos/big.jpg",
        "videos/x.jpg",
    ]);
    scratch.write("photos/big.jpg", &[0u8; 100]);
    let mut request = request("", 0);
    request.filters = Filters {
        include_patterns: vec!["photos/**".into()],
        extensions: vec!["jpg".into(), "png".into()],
        max_size_bytes: Some(50),
        mime_types: vec!["image/jpeg".into()],
        ..Filters::default()
    };
    let pages = pages(&scratch, &request);
    assert_eq!(keys(&pages), ["photos/a.jpg"]);
    let filtered = pages[0].filtered;
    // `videos/` is never entered: the include prefix is pushed down.
    assert_eq!(filtered.by_pattern, 0);
    assert_eq!(filtered.by_extension, 1);
    assert_eq!(filtered.by_size, 1);
    assert_eq!(filtered.by_mime_type, 1);
}

#[test]
fn exclude_patterns_prune_and_count() {
    let scratch = Scratch::new(&["keep/a", "skip/b", "keep/c.tmp"]);
    let mut request = request("", 0);
    request.filters.exclude_patterns = vec!["**/*.tmp".into(), "skip/**".into()];
    let pages = pages(&scratch, &request);
    assert_eq!(keys(&pages), ["keep/a"]);
    assert_eq!(pages[0].filtered.by_pattern, 1);
}

#[test]
fn disjoint_source_path_and_include_prefix_list_nothing() {
    let scratch = Scratch::new(&["a/x", "b/y"]);
    let mut request = request("a", 0);
    request.filters.include_patterns = vec!["b/*".into()];
    assert!(keys(&pages(&scratch, &request)).is_empty());
    request.filters.include_patterns = vec!["a/nothing/here/*".into()];
    assert!(keys(&pages(&scratch, &request)).is_empty());
}

#[test]
fn modified_since_skips_older_files_and_counts_them() {
    let scratch = Scratch::new(&[]);
    let old = scratch.write("old.txt", b"old");
    scratch.write("new.txt", b"new");
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    let mut request = request("", 0);
    request.modified_since = Some(
        (SystemTime::now() - Duration::from_secs(60))
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let pages = pages(&scratch, &request);
    assert_eq!(keys(&pages), ["new.txt"]);
    assert_eq!(pages[0].filtered.by_modified, 1);
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_not_followed() {
    let scratch = Scratch::new(&["real/file.txt"]);
    std::os::unix::fs::symlink(scratch.path().join("real"), scratch.path().join("link")).unwrap();
    std::os::unix::fs::symlink(
        scratch.path().join("real/file.txt"),
        scratch.path().join("file-link.txt"),
    )
    .unwrap();
    assert_eq!(keys(&pages(&scratch, &request("", 0))), ["real/file.txt"]);
}

#[cfg(unix)]
#[test]
fn unreadable_files_are_failures_not_page_errors() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new(&["a.txt", "secret.txt", "z.txt"]);
    let secret = scratch.path().join("secret.txt");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::File::open(&secret).is_ok() {
        // Running as root: permissions do not stop reads, nothing to test.
        return;
    }
    let pages = pages(&scratch, &request("", 0));
    assert_eq!(keys(&pages), ["a.txt", "z.txt"]);
    assert_eq!(pages[0].failures.len(), 1);
    assert_eq!(pages[0].failures[0].key, "secret.txt");
    assert!(matches!(
        pages[0].failures[0].error,
        ConnectorError::Fatal(_)
    ));
}

#[test]
fn heavily_filtered_pages_stop_early_with_a_cursor() {
    let files: Vec<String> = (0..12_050).map(|i| format!("f{i:05}.skip")).collect();
    let scratch = Scratch::new(&files.iter().map(String::as_str).collect::<Vec<_>>());
    scratch.write("z.keep", b"1");
    let mut request = request("", 100);
    request.filters.extensions = vec!["keep".into()];
    let pages = pages(&scratch, &request);
    assert!(pages.len() >= 2, "one call examined every file");
    assert!(pages[0].entries.is_empty());
    assert!(pages[0].cursor.is_some());
    assert_eq!(keys(&pages), ["z.keep"]);
    let dropped: u64 = pages.iter().map(|page| page.filtered.by_extension).sum();
    assert_eq!(dropped, 12_050);
}
