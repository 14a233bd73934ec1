//! The GCS connector's service-account flow end to end: the plugin signs an
//! RS256 assertion in the guest, the local token endpoint verifies it with the
//! test account's public key and issues a token, and fake-gcs-server is only
//! reachable with that token. The scenario suite (`cloud_connectors`) covers
//! listing; this file covers the token: one exchange per run however many
//! pages it has, a connection test that signs in and lists, and refusals that
//! say what to check without leaking the key.

use serde_json::{json, Value};
use tributary_e2e::flow::{setup_sync, trigger};
use tributary_e2e::oauth::TestServiceAccount;
use tributary_e2e::providers::gcs::FakeGcs;
use tributary_e2e::providers::{Provider, TEST_BUCKET};
use tributary_e2e::Server;

/// More than two pages of 1000.
const OBJECTS: usize = 2_100;

fn metric(job: &Value, name: &str) -> u64 {
    job["metrics"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no metric {name}: {job}"))
}

fn connect(server: &Server, name: &str, config: Value) -> (u16, Value) {
    server.call(
        "POST",
        "/v1/organizations/connections",
        Some(json!({ "name": name, "provider_type": "gcs", "provider_config": config })),
    )
}

#[test]
fn one_token_serves_every_page_of_a_run() {
    let gcs = FakeGcs::start();
    let objects: Vec<(String, Vec<u8>)> = (0..OBJECTS)
        .map(|i| {
            (
                format!("pages/{}/n° {i}+1%.txt", i % 10),
                format!("object {i}").into_bytes(),
            )
        })
        .collect();
    gcs.put_objects(&objects);
    let root = tempfile::tempdir().unwrap();
    let server = Server::start(root.path());
    let front = gcs.token_server();

    let (bucket, sync, _) = setup_sync(
        &server,
        "gcs",
        gcs.connection_config(&gcs.endpoint()),
        json!({ "source_path": TEST_BUCKET }),
    );
    assert_eq!(
        front.exchanges(),
        1,
        "the connection test before saving signed in once"
    );

    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(metric(&job, "objects_created"), OBJECTS as u64, "{job}");
    let pages = metric(&job, "pages");
    assert!(pages >= 3, "{job}");
    assert_eq!(
        front.exchanges(),
        2,
        "one token exchange for a run of {pages} pages"
    );
    // Every page, and the connection test's peek, went through the front
    // with a token it issued.
    assert!(front.forwarded() > pages, "{}", front.forwarded());
    assert_eq!(front.rejected_bearers(), 0);
    assert!(front.refusals().is_empty(), "{:?}", front.refusals());
}

#[test]
fn the_connection_test_signs_in_and_refusals_say_what_to_check() {
    let gcs = FakeGcs::start();
    let root = tempfile::tempdir().unwrap();
    let server = Server::start(root.path());
    let front = gcs.token_server();
    let account = TestServiceAccount::shared();

    let (status, created) = connect(&server, "gcs-ok", gcs.connection_config(&gcs.endpoint()));
    assert!((200..300).contains(&status), "{status}: {created}");
    assert_eq!(
        created["provider_config"]["credentials"]["private_key"], "***REDACTED***",
        "{created}"
    );
    let id = created["connection_id"].as_str().unwrap();
    let test = server.ok(
        "POST",
        &format!("/v1/organizations/connections/{id}/test"),
        None,
    );
    assert_eq!(test["success"], true, "{test}");
    let message = test["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "Listed bucket {TEST_BUCKET} with service account {}",
            account.client_email
        )),
        "{message}"
    );
    assert_eq!(front.exchanges(), 2, "each connection test signs in");

    // A key the token endpoint does not know: refused on its signature.
    let impostor = TestServiceAccount::impostor();
    let (status, refused) = connect(
        &server,
        "gcs-wrong-key",
        gcs.config_for(impostor, &gcs.endpoint()),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_credentials", "{refused}");
    let text = refused.to_string();
    assert!(
        text.contains("invalid_grant: Invalid JWT Signature."),
        "{text}"
    );
    assert!(text.contains(&account.client_email), "{text}");
    assert!(
        text.contains("check that credentials holds a current JSON key"),
        "{text}"
    );
    assert!(!text.contains(&impostor.private_key_fragment()), "{text}");
    assert_eq!(front.refusals(), ["Invalid JWT Signature."]);
    assert_eq!(front.exchanges(), 2, "a refused assertion gets no token");

    // No credentials at all: the storage requests are refused.
    let anonymous = json!({ "endpoint_url": gcs.endpoint(), "bucket": TEST_BUCKET });
    let (status, refused) = connect(&server, "gcs-anonymous", anonymous);
    assert_eq!(status, 400, "{refused}");
    let text = refused.to_string();
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("this connection has none"), "{text}");
    assert_eq!(front.rejected_bearers(), 1);

    assert!(!server.log().contains(&impostor.private_key_fragment()));
    assert!(!server.log().contains(&account.private_key_fragment()));
}
