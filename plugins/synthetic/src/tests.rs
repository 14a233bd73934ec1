//! Native tests of the generated listing.

use tributary_sdk::{Connector, ConnectorError, Filters, ListRequest, Listing, Page};

use super::{key_of, splitmix64, Synthetic, SyntheticListing, BASE_TIME_MS, YEAR_MS};

fn request(config: &str, page_size_hint: u32) -> ListRequest {
    ListRequest {
        config: config.into(),
        page_size_hint,
        ..ListRequest::default()
    }
}

fn drain(request: &ListRequest) -> Vec<Page> {
    let mut listing = SyntheticListing::open(request).unwrap();
    let mut pages = Vec::new();
    while let Some(page) = listing.next_page().unwrap() {
        pages.push(page);
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
fn generates_count_entries_in_key_order() {
    let pages = drain(&request(r#"{"count": 25}"#, 10));
    assert_eq!(
        pages
            .iter()
            .map(|page| page.entries.len())
            .collect::<Vec<_>>(),
        [10, 10, 5]
    );
    assert_eq!(pages[0].cursor.as_deref(), Some("10"));
    assert_eq!(pages[1].cursor.as_deref(), Some("20"));
    assert_eq!(pages[2].cursor, None);
    let keys = keys(&pages);
    assert_eq!(keys[0], "file/0000/000000000.bin");
    assert_eq!(keys[24], "file/0000/000000024.bin");
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(key_of("p", 123_456), "p/0012/000123456.bin");
}

#[test]
fn entries_are_deterministic_and_within_bounds() {
    let config = r#"{"count": 500, "seed": 7, "min_size": 10, "max_size": 20, "prefix": "data"}"#;
    let first = drain(&request(config, 0));
    assert_eq!(first, drain(&request(config, 0)));
    assert_eq!(first.len(), 1);
    for (index, entry) in first[0].entries.iter().enumerate() {
        let hash = splitmix64(7 ^ index as u64);
        assert!((10..=20).contains(&entry.size));
        assert_eq!(entry.etag.as_deref(), Some(format!("{hash:016x}").as_str()));
        let modified = entry.last_modified.unwrap();
        assert!(modified >= BASE_TIME_MS && modified < BASE_TIME_MS + YEAR_MS as i64);
        assert_eq!(
            entry.content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(entry.uri, format!("synthetic://data/{}", entry.key));
    }
    let other_seed = drain(&request(r#"{"count": 500, "seed": 8}"#, 0));
    assert_ne!(first[0].entries[0].etag, other_seed[0].entries[0].etag);
}

#[test]
fn page_size_in_config_overrides_the_hint() {
    let pages = drain(&request(r#"{"count": 10, "page_size": 3}"#, 1000));
    assert_eq!(pages.len(), 4);
}

#[test]
fn resuming_from_a_cursor_continues_at_that_index() {
    let mut resumed = request(r#"{"count": 25}"#, 10);
    resumed.resume_cursor = Some("20".into());
    let pages = drain(&resumed);
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].entries[0].key, "file/0000/000000020.bin");
    assert_eq!(pages[0].cursor, None);

    resumed.resume_cursor = Some("not a number".into());
    assert!(matches!(
        SyntheticListing::open(&resumed),
        Err(ConnectorError::Fatal(_))
    ));
}

#[test]
fn zero_entries_give_one_empty_last_page() {
    let mut listing = SyntheticListing::open(&request(r#"{"count": 0}"#, 0)).unwrap();
    let page = listing.next_page().unwrap().unwrap();
    assert!(page.entries.is_empty());
    assert_eq!(page.cursor, None);
    assert_eq!(listing.next_page().unwrap(), None);
}

#[test]
fn fail_keys_become_transient_file_failures() {
    let config = r#"{"count": 5, "fail_keys": ["file/0000/000000002.bin"]}"#;
    let pages = drain(&request(config, 0));
    assert_eq!(pages[0].entries.len(), 4);
    assert_eq!(pages[0].failures.len(), 1);
    let failure = &pages[0].failures[0];
    assert_eq!(failure.key, "file/0000/000000002.bin");
    assert_eq!(failure.uri, "synthetic://file/file/0000/000000002.bin");
    assert_eq!(
        failure.error,
        ConnectorError::Transient("synthetic failure for file/0000/000000002.bin".into())
    );
}

#[test]
fn a_transient_page_error_repeats_then_clears() {
    let config = r#"{"count": 30, "transient_error_on_page": 1, "fail_transient_times": 2}"#;
    let mut listing = SyntheticListing::open(&request(config, 10)).unwrap();
    assert_eq!(
        listing.next_page().unwrap().unwrap().cursor.as_deref(),
        Some("10")
    );
    for _ in 0..2 {
        assert!(matches!(
            listing.next_page(),
            Err(ConnectorError::Transient(_))
        ));
    }
    let page = listing.next_page().unwrap().unwrap();
    assert_eq!(page.entries[0].key, "file/0000/000000010.bin");
    assert_eq!(page.cursor.as_deref(), Some("20"));
    assert!(listing.next_page().unwrap().is_some());
    assert_eq!(listing.next_page().unwrap(), None);

    // A new listing (e.g. resumed from the checkpoint) fails again.
    let mut resumed = request(config, 10);
    resumed.resume_cursor = Some("10".into());
    let mut listing = SyntheticListing::open(&resumed).unwrap();
    assert!(listing.next_page().is_err());
}

#[test]
fn filters_and_modified_since_apply() {
    let mut filtered = request(r#"{"count": 1000, "min_size": 1, "max_size": 100}"#, 0);
    filtered.filters = Filters {
        min_size_bytes: Some(50),
        ..Filters::default()
    };
    let pages = drain(&filtered);
    let page = &pages[0];
    assert!(page.entries.iter().all(|entry| entry.size >= 50));
    assert_eq!(
        page.entries.len() as u64 + page.filtered.by_size,
        1000,
        "every entry is either listed or counted"
    );
    assert!(page.filtered.by_size > 300 && page.filtered.by_size < 700);

    let mut incremental = request(r#"{"count": 1000}"#, 0);
    let half_year = BASE_TIME_MS + YEAR_MS as i64 / 2;
    incremental.modified_since = Some(half_year);
    let page = &drain(&incremental)[0];
    assert!(page
        .entries
        .iter()
        .all(|entry| entry.last_modified.unwrap() >= half_year));
    assert_eq!(page.entries.len() as u64 + page.filtered.by_modified, 1000);

    let mut patterned = request(r#"{"count": 20}"#, 0);
    patterned.filters.include_patterns = vec!["file/*/00000001?.bin".into()];
    assert_eq!(keys(&drain(&patterned)).len(), 10);
}

#[test]
fn validate_and_bad_configs() {
    assert_eq!(
        Synthetic::validate(r#"{"count": 42}"#).unwrap(),
        "synthetic source of 42 entries"
    );
    for bad in [
        "{}",
        r#"{"count": -1}"#,
        r#"{"count": 1, "min_size": 5, "max_size": 4}"#,
        r#"{"count": 1, "unknown": true}"#,
    ] {
        assert!(
            matches!(
                Synthetic::validate(bad),
                Err(ConnectorError::InvalidConfig(_))
            ),
            "{bad}"
        );
    }
    let info = Synthetic::describe();
    assert_eq!(info.id, "synthetic");
    assert!(info.allowed_hosts.is_empty() && info.capabilities.is_empty());
    let _: serde_json::Value = serde_json::from_str(&info.config_schema).unwrap();
}

#[test]
fn full_size_range_does_not_overflow() {
    let config = format!(r#"{{"count": 3, "min_size": 0, "max_size": {}}}"#, u64::MAX);
    assert_eq!(drain(&request(&config, 0))[0].entries.len(), 3);
}
