//! The cloud connectors end to end: each provider's real emulator, the real
//! `tributary serve` binary and its API (connection → sync config → trigger
//! → objects), with the plugin built into `plugins/dist`.
//!
//! Every scenario is one function over `&dyn Provider`; `cloud_suite!` at the
//! bottom turns them into one test module per provider, one `#[test]` per
//! scenario. **Adding a provider is one line** in that invocation:
//!
//! ```text
//! name => path::to::Emulator::start,
//! ```
//!
//! where `start()` returns a running emulator implementing
//! `tributary_e2e::providers::Provider` (installed by `scripts/install/`).
//! Run one provider with `cargo test -p tributary-e2e --test cloud_connectors s3::`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tributary_e2e::flow::{batched_objects, objects, setup_sync_tested, trigger};
use tributary_e2e::providers::Provider;
use tributary_e2e::proxy::{query_params, Proxy};
use tributary_e2e::Server;

/// Objects in the main data set: 3 pages of 1000, 30 batches of 100.
const OBJECTS: usize = 3_000;

/// A smaller data set for the filter scenario.
const FILTER_OBJECTS: usize = 600;

/// The key of object `i`: nested prefixes, and names with spaces, unicode,
/// `+` and `%` (and plain ones).
fn key(i: usize) -> String {
    let top = ["docs", "photos", "media files", "données"][i % 4];
    let name = match i % 5 {
        0 => format!("report {i}.txt"),
        1 => format!("café_{i}.jpg"),
        2 => format!("a+b {i}.png"),
        3 => format!("100% {i}.pdf"),
        _ => format!("plain-{i}.bin"),
    };
    format!("{top}/{}/sub {}/{name}", i % 7, i % 3)
}

/// The contents of object `i` at `version`: sizes spread over 10..~600 bytes.
fn contents(i: usize, version: usize) -> Vec<u8> {
    format!("object {i} version {version};")
        .repeat(1 + i % 23)
        .into_bytes()
}

fn dataset(count: usize) -> Vec<(String, Vec<u8>)> {
    (0..count).map(|i| (key(i), contents(i, 1))).collect()
}

/// A server with an empty local root (cloud connections need none).
fn start_server() -> (Server, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    (Server::start(root.path()), root)
}

/// A tested connection to `endpoint`, a bucket and a sync config of the
/// provider's whole bucket, with `sync` fields added.
fn sync_through(
    server: &Server,
    provider: &dyn Provider,
    endpoint: &str,
    sync: Value,
) -> (String, String) {
    let mut body = json!({ "source_path": provider.source_path() });
    body.as_object_mut()
        .unwrap()
        .extend(sync.as_object().unwrap().clone());
    let (bucket, sync, _) = setup_sync_tested(
        server,
        provider.provider_type(),
        provider.connection_config(endpoint),
        body,
        true,
    );
    (bucket, sync)
}

/// key → (size, etag) of every object the bucket holds, checking each
/// object's provider type on the way.
fn synced(
    server: &Server,
    bucket: &str,
    provider: &dyn Provider,
) -> BTreeMap<String, (u64, String)> {
    let mut synced = BTreeMap::new();
    for object in objects(server, bucket) {
        assert_eq!(object["source"]["provider_type"], provider.provider_type());
        let key = object["key"].as_str().unwrap().to_string();
        let size = object["blobs"][0]["details"]["size_bytes"]
            .as_u64()
            .unwrap();
        let etag = object["source"]["etag"]
            .as_str()
            .unwrap_or_else(|| panic!("{key:?} has no etag: {object}"))
            .to_string();
        assert!(
            synced.insert(key.clone(), (size, etag)).is_none(),
            "{key:?} is in the bucket twice"
        );
    }
    synced
}

/// key → (size, etag) as the emulator reports them.
fn remote(provider: &dyn Provider) -> BTreeMap<String, (u64, String)> {
    provider
        .list()
        .into_iter()
        .map(|object| (object.key, (object.size, object.etag)))
        .collect()
}

fn metric(job: &Value, name: &str) -> u64 {
    job["metrics"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no metric {name}: {job}"))
}

/// The `prefix` parameter of every recorded request that has one (listings).
fn listing_prefixes(proxy: &Proxy) -> Vec<String> {
    proxy
        .requests()
        .iter()
        .filter_map(|line| {
            query_params(line)
                .into_iter()
                .find(|(name, _)| name == "prefix")
                .map(|(_, prefix)| prefix)
        })
        .collect()
}

/// 3,000 odd keys: a full sync creates exactly them, with the emulator's
/// sizes and etags, in 30 disjoint batches; then 20 new and 5 overwritten
/// objects are created and updated; then 3 deleted ones are reconciled away.
fn full_sync_incremental_and_reconcile(provider: &dyn Provider) {
    provider.put_objects(&dataset(OBJECTS));
    let expected = remote(provider);
    assert_eq!(expected.len(), OBJECTS, "the emulator holds the data set");
    let proxy = Proxy::start(&provider.endpoint());
    let (server, _root) = start_server();
    let (bucket, sync) = sync_through(&server, provider, &proxy.url(), json!({}));

    let started = Instant::now();
    let job = trigger(&server, &bucket, &sync, false);
    eprintln!(
        "{}: full sync of {OBJECTS} objects in {:?}",
        provider.provider_type(),
        started.elapsed()
    );
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(metric(&job, "files_discovered"), OBJECTS as u64, "{job}");
    assert_eq!(metric(&job, "objects_created"), OBJECTS as u64, "{job}");
    assert_eq!(metric(&job, "files_failed"), 0, "{job}");
    assert_eq!(metric(&job, "batches_created"), 30, "{job}");
    assert_eq!(synced(&server, &bucket, provider), expected);
    let ids: BTreeSet<String> = objects(&server, &bucket)
        .iter()
        .map(|o| o["object_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        batched_objects(&server, &bucket),
        ids,
        "30 batches cover every object once"
    );
    // The proxy saw every request of the run: at least one per page, on
    // connections the plugin runtime keeps alive between requests.
    let pages = metric(&job, "pages");
    let requests = proxy.requests().len() as u64;
    let connections = proxy.connections();
    eprintln!(
        "{}: {pages} pages, {requests} requests on {connections} connections",
        provider.provider_type(),
    );
    assert!(pages >= 3, "{job}");
    assert!(requests >= pages, "{requests} requests for {pages} pages");
    assert!(
        connections < requests,
        "{requests} requests on {connections} connections: none was reused"
    );

    // Incremental: 20 new objects, 5 overwritten (same sizes, new contents).
    let mut changes: Vec<(String, Vec<u8>)> = (OBJECTS..OBJECTS + 20)
        .map(|i| (key(i), contents(i, 1)))
        .collect();
    changes.extend((0..5).map(|i| (key(i * 101), contents(i * 101, 2))));
    provider.put_objects(&changes);
    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(metric(&job, "objects_created"), 20, "{job}");
    assert_eq!(metric(&job, "objects_updated"), 5, "{job}");
    assert_eq!(metric(&job, "files_failed"), 0, "{job}");
    let now = synced(&server, &bucket, provider);
    assert_eq!(now, remote(provider));
    assert_ne!(
        now[&key(101)],
        expected[&key(101)],
        "the overwrite changed the etag"
    );
    let overwritten = server.list_all(
        &format!("/v1/buckets/{bucket}/objects/list"),
        json!({ "key_prefix": key(101) }),
    );
    assert_eq!(overwritten.len(), 1);
    assert_eq!(overwritten[0]["version"], 2);

    // Reconciliation: 3 deleted objects are deleted from the bucket.
    let gone: Vec<String> = [7, 1234, 2999].iter().map(|i| key(*i)).collect();
    provider.delete_objects(&gone);
    server.ok(
        "PATCH",
        &format!("/v1/buckets/{bucket}/syncs/{sync}"),
        Some(json!({ "reconcile_on_sync": true })),
    );
    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(metric(&job, "objects_deleted"), 3, "{job}");
    assert_eq!(metric(&job, "objects_created"), 0, "{job}");
    let after = synced(&server, &bucket, provider);
    assert_eq!(after.len(), OBJECTS + 20 - 3);
    assert!(gone.iter().all(|key| !after.contains_key(key)));
    assert_eq!(after, remote(provider));
}

/// One filter scenario: the sync's `file_filters`, the prefix every listing
/// must stay under, and which keys of the data set they select.
struct FilterCase<'a> {
    name: &'static str,
    filters: Value,
    listed_under: &'static str,
    selects: Box<dyn Fn(&str) -> bool + 'a>,
}

/// Include/exclude globs, extensions and sizes select exactly the expected
/// keys; an include glob's literal prefix is the only prefix listed.
fn filters_select_exact_subsets(provider: &dyn Provider) {
    let data = dataset(FILTER_OBJECTS);
    provider.put_objects(&data);
    let size_of: BTreeMap<&str, u64> = data
        .iter()
        .map(|(key, contents)| (key.as_str(), contents.len() as u64))
        .collect();
    let proxy = Proxy::start(&provider.endpoint());
    let (server, _root) = start_server();

    let cases = [
        FilterCase {
            name: "include photos/** but not photos/3/**",
            filters: json!({ "include_patterns": ["photos/**"], "exclude_patterns": ["photos/3/**"] }),
            listed_under: "photos/",
            selects: Box::new(|key| key.starts_with("photos/") && !key.starts_with("photos/3/")),
        },
        FilterCase {
            name: "a literal prefix with a space and unicode",
            filters: json!({ "include_patterns": ["données/2/sub 1/*"] }),
            listed_under: "données/2/sub 1/",
            selects: Box::new(|key| key.starts_with("données/2/sub 1/")),
        },
        FilterCase {
            name: "names anywhere: **/a+b *.png",
            filters: json!({ "include_patterns": ["**/a+b *.png"] }),
            listed_under: "",
            selects: Box::new(|key| {
                let name = key.rsplit('/').next().unwrap();
                name.starts_with("a+b ") && name.ends_with(".png")
            }),
        },
        FilterCase {
            name: "extensions jpg and PDF",
            filters: json!({ "extensions": ["jpg", "PDF"] }),
            listed_under: "",
            selects: Box::new(|key| key.ends_with(".jpg") || key.ends_with(".pdf")),
        },
        FilterCase {
            name: "sizes 100..=300 outside docs/",
            filters: json!({ "min_size_bytes": 100, "max_size_bytes": 300, "exclude_patterns": ["docs/**"] }),
            listed_under: "",
            selects: Box::new(|key| {
                (100..=300).contains(&size_of[key]) && !key.starts_with("docs/")
            }),
        },
    ];
    for FilterCase {
        name,
        filters,
        listed_under,
        selects,
    } in cases
    {
        proxy.clear();
        let (bucket, sync) = sync_through(
            &server,
            provider,
            &proxy.url(),
            json!({ "file_filters": filters }),
        );
        let job = trigger(&server, &bucket, &sync, false);
        assert_eq!(job["status"], "COMPLETED", "{name}: {job}");
        let expected: BTreeSet<String> = data
            .iter()
            .map(|(key, _)| key.clone())
            .filter(|key| selects(key))
            .collect();
        assert!(!expected.is_empty(), "{name} selects nothing");
        let got: BTreeSet<String> = synced(&server, &bucket, provider).into_keys().collect();
        assert_eq!(got, expected, "{name}");
        assert_eq!(
            metric(&job, "objects_created"),
            expected.len() as u64,
            "{name}: {job}"
        );

        let prefixes = listing_prefixes(&proxy);
        assert!(
            listed_under.is_empty() || !prefixes.is_empty(),
            "{name}: no listing under a prefix recorded: {:?}",
            proxy.requests()
        );
        for prefix in &prefixes {
            assert!(
                prefix.starts_with(listed_under),
                "{name}: listed under {prefix:?}, outside {listed_under:?}"
            );
        }
    }
}

/// Wrong credentials: the connection test fails with an unauthorized
/// message that says what to check, a run fails with it, and the secret
/// shows up nowhere.
fn wrong_credentials_fail_clearly(provider: &dyn Provider) {
    provider.put_objects(&dataset(10));
    let (server, _root) = start_server();
    let (config, secret) = provider.wrong_credentials_config(&provider.endpoint());
    let mut seen = Vec::new();

    // Tested before saving: refused.
    let (status, refused) = server.call(
        "POST",
        "/v1/organizations/connections",
        Some(json!({
            "name": "wrong-credentials-tested",
            "provider_type": provider.provider_type(),
            "provider_config": config,
        })),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_credentials", "{refused}");
    seen.push(refused);

    // Saved untested: the test endpoint and a run both fail.
    let (bucket, sync, connection) = setup_sync_tested(
        &server,
        provider.provider_type(),
        config,
        json!({ "source_path": provider.source_path() }),
        false,
    );
    let test = server.ok(
        "POST",
        &format!("/v1/organizations/connections/{connection}/test"),
        None,
    );
    assert_eq!(test["success"], false, "{test}");
    assert_eq!(test["details"]["code"], "invalid_credentials", "{test}");
    let message = test["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("unauthorized: "), "{message}");
    assert!(
        message.contains("check"),
        "the message should say what to check: {message}"
    );

    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["error"]["type"], "unauthorized", "{job}");
    let job_message = job["error"]["message"].as_str().unwrap();
    let plugin_message = message.trim_start_matches("unauthorized: ");
    assert!(
        job_message.contains(plugin_message),
        "{job_message}\nvs the test's {message}"
    );
    assert_eq!(metric(&job, "objects_created"), 0);
    seen.push(test);
    seen.push(job);
    seen.push(server.ok(
        "GET",
        &format!("/v1/organizations/connections/{connection}"),
        None,
    ));

    let everything = format!("{seen:?}{}", server.log());
    assert!(
        !everything.contains(&secret),
        "the secret leaked: {everything}"
    );
}

/// The provider goes away mid-run (a page and a half before the end): the
/// job fails with a clear error after bounded retries; once it is back, the
/// next trigger resumes from the checkpoint and creates every remaining
/// object exactly once.
fn unreachable_provider_fails_then_resumes(provider: &dyn Provider) {
    provider.put_objects(&dataset(OBJECTS));
    let proxy = Proxy::start(&provider.endpoint());
    let (server, _root) = start_server();

    // A complete run first measures what the run costs in requests, so that
    // the provider can go away at a known point of the next run.
    let (bucket, sync) = sync_through(&server, provider, &proxy.url(), json!({}));
    proxy.clear();
    let measured = trigger(&server, &bucket, &sync, false);
    assert_eq!(measured["status"], "COMPLETED", "{measured}");
    let pages = metric(&measured, "pages");
    assert!(
        pages >= 2,
        "a single page cannot be cut mid-run: {measured}"
    );
    let requests = proxy.requests().len() as u64;
    // Whatever a run costs besides its pages (a token, a probe) comes first
    // or last: counting back a page and a half from the end lands mid-run.
    let forwarded = requests.saturating_sub((requests / pages * 3).div_ceil(2));
    assert!(forwarded > 0, "{requests} requests for {pages} pages");

    let (bucket, sync) = sync_through(&server, provider, &proxy.url(), json!({}));
    proxy.go_away_after(forwarded);
    let started = Instant::now();
    let failed = trigger(&server, &bucket, &sync, false);
    eprintln!(
        "{}: the run failed {:?} after it started, the provider gone after {} requests: {}",
        provider.provider_type(),
        started.elapsed(),
        forwarded,
        failed["error"]
    );
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert!(
        matches!(
            failed["error"]["type"].as_str(),
            Some("transient" | "throttled")
        ),
        "{failed}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "retries are not bounded: {failed}"
    );
    let created_before = metric(&failed, "objects_created");
    assert!(
        created_before > 0 && created_before < OBJECTS as u64,
        "{failed}"
    );

    proxy.set_reachable(true);
    let resumed = trigger(&server, &bucket, &sync, false);
    assert_eq!(resumed["status"], "COMPLETED", "{resumed}");
    // Resumed from the checkpoint: nothing already created is listed again.
    assert_eq!(metric(&resumed, "duplicates_skipped"), 0, "{resumed}");
    let all = synced(&server, &bucket, provider);
    assert_eq!(all, remote(provider));
    assert_eq!(all.len(), OBJECTS);
    let versions: BTreeSet<u64> = objects(&server, &bucket)
        .iter()
        .map(|o| o["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, BTreeSet::from([1]), "no object was written twice");
    assert_eq!(batched_objects(&server, &bucket).len(), OBJECTS);
}

/// One module per provider, one test per scenario.
macro_rules! cloud_suite {
    ($($provider:ident => $start:path),* $(,)?) => {
        $(
            mod $provider {
                #[test]
                fn full_sync_incremental_and_reconcile() {
                    super::full_sync_incremental_and_reconcile(&$start());
                }

                #[test]
                fn filters_select_exact_subsets() {
                    super::filters_select_exact_subsets(&$start());
                }

                #[test]
                fn wrong_credentials_fail_clearly() {
                    super::wrong_credentials_fail_clearly(&$start());
                }

                #[test]
                fn unreachable_provider_fails_then_resumes() {
                    super::unreachable_provider_fails_then_resumes(&$start());
                }
            }
        )*
    };
}

cloud_suite! {
    s3 => tributary_e2e::providers::s3::S3Emulator::start,
    azure_blob => tributary_e2e::providers::azure_blob::Azurite::start,
    gcs => tributary_e2e::providers::gcs::FakeGcs::start,
}
