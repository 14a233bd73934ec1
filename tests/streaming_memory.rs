//! A listing streams page by page: the host's peak memory does not grow with
//! the number of files.

use tributary_e2e::{run_ok, stderr, tributary};

/// Lists `count` synthetic entries and returns (files listed, peak RSS KiB).
fn list_synthetic(count: u64) -> (u64, u64) {
    let data = tempfile::tempdir().unwrap();
    let config = format!(r#"{{"count": {count}, "seed": 7}}"#);
    let out = run_ok(tributary(data.path()).args([
        "plugin",
        "list-files",
        "synthetic",
        "--config",
        &config,
        "--output",
        "summary",
    ]));
    let summary = stderr(&out);
    let line = summary
        .lines()
        .find(|l| l.starts_with("listed "))
        .expect(&summary);
    let number_after = |word: &str| -> u64 {
        let rest = &line[line.find(word).unwrap_or_else(|| panic!("{line}")) + word.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (number_after("listed "), number_after("peak RSS "))
}

#[test]
fn peak_memory_is_flat_from_100k_to_1m_entries() {
    let (small_files, small_rss) = list_synthetic(100_000);
    let (large_files, large_rss) = list_synthetic(1_000_000);
    assert_eq!(small_files, 100_000);
    assert_eq!(large_files, 1_000_000);
    let growth_mib = large_rss.saturating_sub(small_rss) as f64 / 1024.0;
    eprintln!("peak RSS: 100k → {small_rss} KiB, 1M → {large_rss} KiB (+{growth_mib:.1} MiB)");
    assert!(
        growth_mib < 30.0,
        "peak RSS grew by {growth_mib:.1} MiB from 100k to 1M entries"
    );
}
