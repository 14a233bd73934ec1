//! The `local` plugin lists a real folder tree through the sandbox, and its
//! filters select exactly the files an independent computation selects.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tributary_e2e::{run_ok, stderr, stdout, tributary};

const FILES: usize = 5_200;
const DAY_MS: i64 = 86_400_000;
const BASE_MS: i64 = 1_700_000_000_000;

struct FileSpec {
    key: String,
    size: u64,
    modified_ms: i64,
}

fn specs() -> Vec<FileSpec> {
    (0..FILES)
        .map(|i| {
            let ext = ["txt", "png", "JPG", "pdf", "md"][i % 5];
            let key = match i % 4 {
                0 => format!("docs/{}/{}/f{i}.{ext}", i % 7, i % 3),
                1 => format!("images/{}/f{i}.{ext}", i % 20),
                2 => format!("docs/tmp/{}/f{i}.{ext}", i % 5),
                _ => format!("media/deep/{}/{}/{}/f{i}.{ext}", i % 2, i % 3, i % 4),
            };
            FileSpec {
                key,
                size: (i as u64 * 37) % 5_000,
                modified_ms: BASE_MS + (i as i64 % 100) * DAY_MS,
            }
        })
        .collect()
}

fn write_tree(root: &Path, specs: &[FileSpec]) {
    for spec in specs {
        let path = root.join(&spec.key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(spec.size).unwrap();
        let mtime = UNIX_EPOCH + Duration::from_millis(spec.modified_ms as u64);
        file.set_modified(mtime).unwrap();
    }
    assert!(SystemTime::now() > UNIX_EPOCH);
}

fn list(root: &Path, source_path: &str, filters: &serde_json::Value) -> (BTreeSet<String>, String) {
    let data = tempfile::tempdir().unwrap();
    let config = serde_json::json!({ "root": root }).to_string();
    let out = run_ok(
        tributary(data.path())
            .args(["plugin", "list-files", "local", "--page-size", "500"])
            .args(["--config", &config, "--source-path", source_path])
            .args(["--filters", &filters.to_string()])
            .arg("--allow-local-root")
            .arg(root),
    );
    let keys: BTreeSet<String> = stdout(&out).lines().map(str::to_string).collect();
    (keys, stderr(&out))
}

#[test]
fn filters_select_exactly_the_expected_keys() {
    let tree = tempfile::tempdir().unwrap();
    let specs = specs();
    write_tree(tree.path(), &specs);

    let after = BASE_MS + 10 * DAY_MS;
    let before = BASE_MS + 80 * DAY_MS;
    let filters = serde_json::json!({
        "include_patterns": ["docs/**", "images/*/*", "media/**/f*1.*"],
        "exclude_patterns": ["docs/tmp/**", "**/*.md"],
        "extensions": ["txt", "png", "jpg"],
        "min_size_bytes": 100,
        "max_size_bytes": 4000,
        "modified_after": after,
        "modified_before": before,
    });
    let (keys, summary) = list(tree.path(), "", &filters);

    // The same selection, computed without any glob engine.
    let expected: BTreeSet<String> = specs
        .iter()
        .filter(|f| {
            let k = f.key.as_str();
            let name = k.rsplit('/').next().unwrap();
            let (stem, ext) = name.rsplit_once('.').unwrap();
            let included = k.starts_with("docs/")
                || (k.starts_with("images/") && k.matches('/').count() == 2)
                || (k.starts_with("media/") && stem.starts_with('f') && stem.ends_with('1'));
            let excluded = k.starts_with("docs/tmp/") || ext == "md";
            included
                && !excluded
                && ["txt", "png", "jpg"].contains(&ext.to_ascii_lowercase().as_str())
                && (100..=4000).contains(&f.size)
                && (after..=before).contains(&f.modified_ms)
        })
        .map(|f| f.key.clone())
        .collect();
    assert!(expected.len() > 500, "the filters should keep a real share");
    assert_eq!(keys.len(), expected.len(), "{summary}");
    assert_eq!(keys, expected);
    // Excluded subtrees (`docs/tmp/**`) are pruned without being read, so
    // they count neither as listed nor as filtered out.
    let pruned = specs
        .iter()
        .filter(|f| f.key.starts_with("docs/tmp/"))
        .count();
    let dropped = FILES - pruned - expected.len();
    assert!(
        summary.contains(&format!("; {dropped} filtered out, 0 failed")),
        "{summary}"
    );
}

#[test]
fn source_path_and_modified_since_narrow_the_listing() {
    let tree = tempfile::tempdir().unwrap();
    let specs = specs();
    write_tree(tree.path(), &specs);

    let (keys, _) = list(tree.path(), "images", &serde_json::json!({}));
    let expected: BTreeSet<String> = specs
        .iter()
        .filter(|f| f.key.starts_with("images/"))
        .map(|f| f.key.clone())
        .collect();
    assert_eq!(keys, expected);

    // Incremental: only files modified at or after the watermark.
    let since = BASE_MS + 90 * DAY_MS;
    let data = tempfile::tempdir().unwrap();
    let config = serde_json::json!({ "root": tree.path() }).to_string();
    let out = run_ok(
        tributary(data.path())
            .args(["plugin", "list-files", "local", "--config", &config])
            .args(["--modified-since", &since.to_string()])
            .arg("--allow-local-root")
            .arg(tree.path()),
    );
    let keys: BTreeSet<String> = stdout(&out).lines().map(str::to_string).collect();
    let expected: BTreeSet<String> = specs
        .iter()
        .filter(|f| f.modified_ms >= since)
        .map(|f| f.key.clone())
        .collect();
    assert_eq!(keys, expected);
}

#[test]
fn a_root_outside_the_allowed_roots_is_refused() {
    let tree = tempfile::tempdir().unwrap();
    let allowed = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = serde_json::json!({ "root": tree.path() }).to_string();
    let out = tributary(data.path())
        .args(["plugin", "list-files", "local", "--config", &config])
        .arg("--allow-local-root")
        .arg(allowed.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("outside the allowed local roots"),
        "{}",
        stderr(&out)
    );
}
